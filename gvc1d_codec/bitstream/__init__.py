"""The ``.gvc`` container: stream header and self-delimiting, CRC-protected frame packets.

See ``docs/bitstream.md`` for the normative layout. Packet payloads are opaque here.
"""
from . import compact
from .container import (
    FORMAT_VERSION,
    READABLE_VERSIONS,
    Framer,
    HEADER_SIZE_V1,
    MAGIC,
    MAX_PAYLOAD_CAP,
    PACKET_OVERHEAD,
    QUALITY_VARIABLE,
    Packet,
    PacketLoss,
    PacketReader,
    StreamHeader,
    StreamWriter,
    default_max_payload,
    pack_packet,
    read_header,
)

__all__ = [
    "FORMAT_VERSION",
    "READABLE_VERSIONS",
    "Framer",
    "compact",
    "HEADER_SIZE_V1",
    "MAGIC",
    "MAX_PAYLOAD_CAP",
    "PACKET_OVERHEAD",
    "QUALITY_VARIABLE",
    "Packet",
    "PacketLoss",
    "PacketReader",
    "StreamHeader",
    "StreamWriter",
    "default_max_payload",
    "pack_packet",
    "read_header",
]
