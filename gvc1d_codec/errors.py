"""Every error the codec reports to a user.

All of them derive from :class:`GVC1DError`; the CLI prints ``gvc1d-pipe: error: <message>`` for
any of them and exits non-zero. Messages are one line and say what is needed, not what crashed.
"""


class GVC1DError(Exception):
    """Base class of every error the codec raises on purpose."""


class SettingsError(GVC1DError):
    """A setting the caller chose is invalid: a quality out of range, a bad rate, an unknown device
    (the command line's bad option values, exit 2; never worth retrying)."""


class DeviceUnavailableError(GVC1DError):
    """A device that was asked for is not there (``--device cuda`` without CUDA): retrying on the
    same machine cannot help."""


class InputFormatError(GVC1DError):
    """The input video is malformed or in a format the encoder does not take."""


class BitstreamError(GVC1DError):
    """A .gvc stream cannot be parsed (bad magic, bad field, impossible size)."""


class UnsupportedStreamError(BitstreamError):
    """A well-formed stream this decoder cannot decode (other version, weights or entropy model)."""


class TruncatedStreamError(BitstreamError):
    """The stream ends inside a header or a packet. ``frame_index`` is the packet that is cut."""

    def __init__(self, message: str, frame_index: int | None = None):
        super().__init__(message)
        self.frame_index = frame_index


class CorruptPacketError(BitstreamError):
    """A packet fails its CRC-32 or its payload does not decode. ``frame_index`` names it."""

    def __init__(self, message: str, frame_index: int | None = None):
        super().__init__(message)
        self.frame_index = frame_index


class WeightsError(GVC1DError):
    """A weights file is missing, tampered with, truncated or of the wrong kind."""


class LimitError(GVC1DError):
    """An input is valid but above a configured resource limit (e.g. the pixels-per-frame budget)."""
