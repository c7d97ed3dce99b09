"""gvc1d-batch: encode or decode many videos, and long videos in parallel chunks, on a Ray cluster.

The package is split by concern, and only :mod:`.cli` (the driver) imports ``ray`` (lazily, when a
run starts), so the rest of ``gvc1d_codec`` never pays for it and works without the ``[batch]`` extra:

* :mod:`.items`  what to do: items from a directory, a glob or a manifest; Y4M frame index; chunk plan;
* :mod:`.work`   what a worker does with one task (plain functions on the frame-level API, no Ray);
* :mod:`.report` the JSON-lines report, and which outputs a rerun may skip;
* :mod:`.cli`    the ``gvc1d-batch`` command: Ray, scheduling, retries, progress, atomic outputs.

Why chunks can be joined byte-exactly: an intra frame restarts the coding state from nothing
(``gvc1d_codec/step.py``) and the encoder makes frame ``i`` intra when ``i % intra_period == 0``.
A chunk that starts at a multiple of the intra period, coded by a fresh :class:`~gvc1d_codec.Encoder`
with the same settings, therefore produces the same payloads as a serial encode; only the frame
index in each packet header differs, and the driver re-packs the packets with their stream index.
"""
