"""Specification of the codec's colour conversion (gvc1d_codec.color)."""
from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest
import torch

from gvc1d_codec.color import frame_to_rgb, rgb_to_frame, rgb_to_yuv420, yuv420_to_rgb
from gvc1d_codec.errors import InputFormatError
from gvc1d_codec.frame import ColorInfo, VideoFrame

BT709_LIMITED = ColorInfo("bt709", "limited")
ALL_COLORS = [ColorInfo(m, r) for m in ("bt709", "bt601") for r in ("limited", "full")]
needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed")


def planes(y: int, u: int, v: int, height: int = 17, width: int = 33) -> tuple[torch.Tensor, ...]:
    """Constant uint8 Y, U, V planes for a ``width x height`` picture."""
    ch, cw = (height + 1) // 2, (width + 1) // 2
    return (
        torch.full((height, width), y, dtype=torch.uint8),
        torch.full((ch, cw), u, dtype=torch.uint8),
        torch.full((ch, cw), v, dtype=torch.uint8),
    )


def smooth_rgb(height: int, width: int, batch: tuple[int, ...] = ()) -> torch.Tensor:
    """Slowly varying in-gamut RGB content in [0.3, 0.7] (about 1.5 codes per pixel at most)."""
    yy, xx = torch.meshgrid(torch.linspace(0, 1, height), torch.linspace(0, 1, width), indexing="ij")
    rgb = torch.stack((0.5 + 0.2 * torch.sin(2 * xx + yy), 0.5 + 0.2 * torch.cos(xx + 2 * yy), 0.4 + 0.2 * xx * yy))
    return rgb.expand(*batch, 3, height, width).clone()


def reference_yuv420(rgb: np.ndarray, kr: float, kb: float) -> tuple[np.ndarray, ...]:
    """The documented BT.x limited-range conversion, in float64 numpy, written independently."""
    r, g, b = rgb
    y = kr * r + (1 - kr - kb) * g + kb * b
    cb = 128 + 224 * (b - y) / (2 * (1 - kb))
    cr = 128 + 224 * (r - y) / (2 * (1 - kr))
    h, w = y.shape

    def sub(c: np.ndarray) -> np.ndarray:
        c = np.pad(c, ((0, h % 2), (0, w % 2)), mode="edge")
        return (c[0::2, 0::2] + c[1::2, 0::2] + c[0::2, 1::2] + c[1::2, 1::2]) / 4

    def q(x: np.ndarray) -> np.ndarray:
        return np.clip(np.floor(x + 0.5), 0, 255).astype(np.uint8)

    return q(16 + 219 * y), q(sub(cb)), q(sub(cr))


# ----------------------------------------------------------------------------- known values


def test_bt709_limited_black_is_y16_and_neutral_chroma():
    rgb = yuv420_to_rgb(*planes(16, 128, 128), BT709_LIMITED)
    assert rgb.dtype == torch.float32 and rgb.shape == (3, 17, 33)
    assert torch.all(rgb == 0)


def test_bt709_limited_white_is_y235_and_neutral_chroma():
    assert torch.allclose(yuv420_to_rgb(*planes(235, 128, 128), BT709_LIMITED), torch.ones(3, 17, 33))


def test_full_range_black_and_white_are_y0_and_y255():
    full = ColorInfo("bt709", "full")
    assert torch.all(yuv420_to_rgb(*planes(0, 128, 128), full) == 0)
    assert torch.allclose(yuv420_to_rgb(*planes(255, 128, 128), full), torch.ones(3, 17, 33))


def test_bt709_limited_pure_red_is_63_102_240_and_back():
    red = torch.zeros(3, 17, 33)
    red[0] = 1.0
    y, u, v = rgb_to_yuv420(red, BT709_LIMITED)
    assert torch.all(y == 63) and torch.all(u == 102) and torch.all(v == 240)
    back = yuv420_to_rgb(y, u, v, BT709_LIMITED)
    assert torch.allclose(back, red, atol=3 / 255)


def test_bt601_limited_pure_red_is_81_90_240():
    red = torch.zeros(3, 4, 4)
    red[0] = 1.0
    y, u, v = rgb_to_yuv420(red, ColorInfo("bt601", "limited"))
    assert (int(y[0, 0]), int(u[0, 0]), int(v[0, 0])) == (81, 90, 240)


def test_grey_gives_neutral_chroma_in_every_matrix_and_range():
    grey = torch.full((3, 5, 7), 0.5)
    for color in ALL_COLORS:
        _, u, v = rgb_to_yuv420(grey, color)
        assert torch.all(u == 128) and torch.all(v == 128), color


# ----------------------------------------------------------------------------- shapes and exact rules


def test_odd_sizes_give_ceil_half_chroma_and_full_size_rgb():
    y, u, v = rgb_to_yuv420(smooth_rgb(17, 33))
    assert y.shape == (17, 33) and u.shape == (9, 17) and v.shape == (9, 17)
    assert y.dtype == u.dtype == v.dtype == torch.uint8
    assert yuv420_to_rgb(y, u, v).shape == (3, 17, 33)


def test_rgb_to_yuv420_matches_the_documented_formula_with_edge_replication():
    rgb = torch.rand(3, 17, 33, generator=torch.Generator().manual_seed(1))
    kr, kb = 0.2126, 0.0722
    for got, want in zip(rgb_to_yuv420(rgb, BT709_LIMITED), reference_yuv420(rgb.double().numpy(), kr, kb)):
        diff = np.abs(got.numpy().astype(int) - want.astype(int))
        assert diff.max() <= 1  # float32 vs float64 may differ exactly at a .5 tie
        assert (diff == 0).mean() > 0.99


def test_chroma_is_upsampled_bilinearly_with_half_pixel_centres_and_clamped_edges():
    # One chroma row 128, 128+a, ... : pixel 0 sits at chroma 0, pixel 1 at 0.25 between samples 0 and 1.
    y = torch.full((2, 5), 126, dtype=torch.uint8)
    v = torch.tensor([[128, 156, 212]], dtype=torch.uint8)
    u = torch.full((1, 3), 128, dtype=torch.uint8)
    red = yuv420_to_rgb(y, u, v, BT709_LIMITED)[0, 0]
    pr = (torch.tensor([128, 128 + 0.25 * 28, 128 + 0.75 * 28, 156 + 0.25 * 56, 156 + 0.75 * 56]) - 128) / 224
    expected = (126 - 16) / 219 + 2 * (1 - 0.2126) * pr
    assert torch.allclose(red, expected.clamp(0, 1), atol=1e-6)


def test_output_rgb_is_clamped_to_unit_range():
    rgb = yuv420_to_rgb(*planes(255, 0, 255), BT709_LIMITED)
    assert rgb.min() >= 0 and rgb.max() <= 1


def test_input_rgb_outside_unit_range_is_clamped_first():
    for outside, inside in ((2.0, 1.0), (-1.0, 0.0)):
        got = rgb_to_yuv420(torch.full((3, 4, 4), outside))
        want = rgb_to_yuv420(torch.full((3, 4, 4), inside))
        assert all(torch.equal(a, b) for a, b in zip(got, want))


def test_conversion_is_batched_over_leading_dimensions():
    rgb = torch.rand(2, 3, 3, 9, 11, generator=torch.Generator().manual_seed(2))
    y, u, v = rgb_to_yuv420(rgb)
    assert y.shape == (2, 3, 9, 11) and u.shape == (2, 3, 5, 6)
    for i in range(2):
        for j in range(3):
            yi, ui, vi = rgb_to_yuv420(rgb[i, j])
            assert torch.equal(y[i, j], yi) and torch.equal(u[i, j], ui) and torch.equal(v[i, j], vi)
    out = yuv420_to_rgb(y, u, v)
    assert out.shape == (2, 3, 3, 9, 11)
    assert torch.equal(out[1, 2], yuv420_to_rgb(y[1, 2], u[1, 2], v[1, 2]))


def test_mismatched_chroma_size_is_refused():
    y, u, v = planes(16, 128, 128, 17, 33)
    with pytest.raises(InputFormatError):
        yuv420_to_rgb(y, u[:-1], v[:-1])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_tensors_give_the_same_result_as_cpu():
    rgb = smooth_rgb(17, 33)
    cpu = rgb_to_yuv420(rgb)
    gpu = rgb_to_yuv420(rgb.cuda())
    assert all(g.is_cuda for g in gpu)
    assert all((c.int() - g.cpu().int()).abs().max() <= 1 for c, g in zip(cpu, gpu))
    assert torch.allclose(yuv420_to_rgb(*cpu), yuv420_to_rgb(*(c.cuda() for c in cpu)).cpu(), atol=1e-5)


# ----------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("color", ALL_COLORS, ids=lambda c: f"{c.matrix}-{c.range}")
def test_yuv_to_rgb_to_yuv_is_within_one_code_on_smooth_content(color: ColorInfo):
    y, u, v = rgb_to_yuv420(smooth_rgb(17, 33), color)
    y2, u2, v2 = rgb_to_yuv420(yuv420_to_rgb(y, u, v, color), color)
    for a, b in ((y, y2), (u, u2), (v, v2)):
        assert (a.int() - b.int()).abs().max() <= 1


@pytest.mark.parametrize("color", ALL_COLORS, ids=lambda c: f"{c.matrix}-{c.range}")
def test_rgb_to_yuv_to_rgb_is_close_on_smooth_content(color: ColorInfo):
    rgb = smooth_rgb(17, 33)
    back = yuv420_to_rgb(*rgb_to_yuv420(rgb, color), color)
    assert (back - rgb).abs().max() < 6 / 255  # chroma subsampling, quantisation, picture edges


# ----------------------------------------------------------------------------- frames


def test_rgb24_frame_round_trips_exactly():
    pixels = np.random.default_rng(3).integers(0, 256, (17, 33, 3), dtype=np.uint8)
    rgb = frame_to_rgb(VideoFrame("rgb24", (pixels,)))
    assert rgb.shape == (3, 17, 33) and rgb.dtype == torch.float32
    out = rgb_to_frame(rgb, "rgb24")
    assert out.pix_fmt == "rgb24" and np.array_equal(out.planes[0], pixels)


def test_rgb24_quantisation_rounds_half_up_and_clips():
    rgb = torch.tensor([0.5 / 255, 1.49 / 255, -0.2, 1.3]).view(1, 1, 4).expand(3, 1, 4)
    assert rgb_to_frame(rgb, "rgb24").planes[0][0, :, 0].tolist() == [1, 1, 0, 255]


def test_yuv420p_frame_goes_through_the_same_conversion_as_tensors():
    y, u, v = rgb_to_yuv420(smooth_rgb(17, 33), BT709_LIMITED)
    frame = rgb_to_frame(yuv420_to_rgb(y, u, v), "yuv420p", BT709_LIMITED).validate(33, 17)
    assert frame.pix_fmt == "yuv420p" and all(isinstance(p, np.ndarray) for p in frame.planes)
    rgb = frame_to_rgb(VideoFrame("yuv420p", tuple(p.numpy() for p in (y, u, v))), BT709_LIMITED, "cpu")
    assert torch.equal(rgb, yuv420_to_rgb(y, u, v, BT709_LIMITED))


def test_frame_to_rgb_accepts_read_only_planes():
    data = bytes(range(256)) * 2
    y = np.frombuffer(data[: 4 * 6], dtype=np.uint8).reshape(4, 6)
    c = np.frombuffer(data[100:106], dtype=np.uint8).reshape(2, 3)
    assert frame_to_rgb(VideoFrame("yuv420p", (y, c, c))).shape == (3, 4, 6)


def test_rgb_to_frame_refuses_unknown_pixel_formats():
    with pytest.raises(InputFormatError):
        rgb_to_frame(torch.zeros(3, 2, 2), "nv12")


# ----------------------------------------------------------------------------- agreement with ffmpeg


def ffmpeg_raw(source: str, vf: str, pix_fmt: str) -> np.ndarray:
    cmd = ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", source, "-frames:v", "1"]
    cmd += (["-vf", vf] if vf else []) + ["-pix_fmt", pix_fmt, "-f", "rawvideo", "-"]
    return np.frombuffer(subprocess.run(cmd, capture_output=True, check=True).stdout, dtype=np.uint8)


FFMPEG_RANGE = {"limited": "tv", "full": "pc"}


@needs_ffmpeg
@pytest.mark.parametrize("color", ALL_COLORS, ids=lambda c: f"{c.matrix}-{c.range}")
def test_luma_matches_ffmpeg_on_testsrc(color: ColorInfo):
    w, h = 35, 21
    rgb = ffmpeg_raw(f"testsrc=size={w}x{h}", "", "rgb24").reshape(h, w, 3)
    scale = f"scale=out_color_matrix={color.matrix}:out_range={FFMPEG_RANGE[color.range]}:flags=accurate_rnd"
    ff_y = ffmpeg_raw(f"testsrc=size={w}x{h}", scale, "yuv420p")[: w * h].reshape(h, w)
    y, _, _ = rgb_to_frame(frame_to_rgb(VideoFrame("rgb24", (rgb,))), "yuv420p", color).planes
    assert np.array_equal(y, ff_y)


@needs_ffmpeg
@pytest.mark.parametrize("color", ALL_COLORS, ids=lambda c: f"{c.matrix}-{c.range}")
def test_flat_colour_matches_ffmpeg(color: ColorInfo):
    w, h, hex_rgb = 16, 8, "3366CC"
    scale = f"scale=out_color_matrix={color.matrix}:out_range={FFMPEG_RANGE[color.range]}:flags=accurate_rnd"
    ff = ffmpeg_raw(f"color=c=0x{hex_rgb}:size={w}x{h},format=rgb24", scale, "yuv420p")
    rgb = torch.tensor([int(hex_rgb[i : i + 2], 16) / 255 for i in (0, 2, 4)]).view(3, 1, 1).expand(3, h, w)
    y, u, v = rgb_to_yuv420(rgb, color)
    ours = torch.cat((y.flatten(), u.flatten(), v.flatten())).numpy()
    assert np.abs(ours.astype(int) - ff.astype(int)).max() <= 1


def test_nearest_chroma_is_inverted_by_the_2x2_mean():
    """The enhancement layer's target (``chroma="nearest"``) converts back to the source's own 4:2:0
    samples exactly (in gamut, odd sizes included); bilinear chroma does not."""
    rng = np.random.default_rng(3)
    for h, w in ((16, 24), (15, 23)):
        y = torch.from_numpy(rng.integers(60, 190, (h, w), dtype=np.uint8))
        u, v = (torch.from_numpy(rng.integers(110, 146, ((h + 1) // 2, (w + 1) // 2), dtype=np.uint8)) for _ in range(2))
        for matrix in ("bt709", "bt601"):
            color = ColorInfo(matrix, "limited")
            back = rgb_to_yuv420(yuv420_to_rgb(y, u, v, color, chroma="nearest"), color)
            for a, b in zip(back, (y, u, v)):
                assert torch.equal(a, b)
            smooth = rgb_to_yuv420(yuv420_to_rgb(y, u, v, color), color)
            assert not torch.equal(smooth[1], u)
    with pytest.raises(ValueError, match="chroma upsampling"):
        yuv420_to_rgb(y, u, v, chroma="cubic")
