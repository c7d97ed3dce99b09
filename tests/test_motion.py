"""Block motion (model/motion.py): the warp is an exact gather; estimation is integer and repeatable."""
import numpy as np
import pytest
import torch

from gvc1d_codec.model import motion
from gvc1d_codec.model.motion import estimate_motion, warp


def _picture(b=2, h=64, w=96, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(b, 3, h // 8, w // 8, generator=g)
    return torch.nn.functional.interpolate(x, size=(h, w), mode="bicubic", align_corners=False).clamp(0, 1)


def test_warp_with_zero_motion_is_the_identity():
    x = _picture()
    mv = torch.zeros(2, 2, 4, 6, dtype=torch.long)
    assert torch.equal(warp(x, mv, 16), x)


def test_warp_is_a_clamped_block_copy():
    x = torch.arange(2 * 3 * 32 * 32, dtype=torch.float32).view(2, 3, 32, 32)
    mv = torch.zeros(2, 2, 2, 2, dtype=torch.long)
    mv[0, 0, 1, 1], mv[0, 1, 1, 1] = -3, 40  # bottom-right block of picture 0: up 3, far right
    out = warp(x, mv, 16)
    assert torch.equal(out[0, :, 16:, 16:], x[0, :, 13:29, 31:32].expand(3, 16, 16))
    assert torch.equal(out[0, :, :16], x[0, :, :16]) and torch.equal(out[1], x[1])


def test_a_shifted_picture_is_recovered_exactly():
    ref = _picture(h=128, w=128, seed=1)
    for dy, dx in [(3, -5), (-11, 14), (0, 7), (16, -16)]:
        x = torch.roll(ref, shifts=(-dy, -dx), dims=(2, 3))  # x[y, x] = ref[y + dy, x + dx]
        mv = estimate_motion(x, ref, block=16, search=16)
        assert mv.dtype == torch.long and mv.shape == (2, 2, 8, 8)
        inner = mv[:, :, 1:-1, 1:-1]  # blocks whose source lies inside the picture
        assert (inner[:, 0] == dy).all() and (inner[:, 1] == dx).all(), (dy, dx, inner[0])
        pred = warp(ref, mv, 16)
        assert torch.equal(pred[:, :, 16:-16, 16:-16], x[:, :, 16:-16, 16:-16])


def test_static_content_gets_zero_vectors_and_estimation_repeats_exactly():
    ref = _picture(h=64, w=64, seed=2)
    assert not estimate_motion(ref, ref).any()
    flat = torch.full_like(ref, 0.5)
    assert not estimate_motion(flat, flat.clone()).any()  # no preference among equal costs but zero
    x = (ref + 0.02 * torch.randn(ref.shape, generator=torch.Generator().manual_seed(3))).clamp(0, 1)
    a = estimate_motion(x, torch.roll(ref, 5, dims=3))
    torch.set_num_threads(1)
    b = estimate_motion(x.clone(), torch.roll(ref, 5, dims=3).clone())
    assert torch.equal(a, b)


def test_odd_sizes_and_gradients_through_the_reference():
    ref = _picture(b=1, h=40, w=56, seed=4).requires_grad_(True)
    mv = estimate_motion(ref.detach(), ref.detach(), block=16, search=8)
    assert mv.shape == (1, 2, 3, 4)
    warp(ref, mv + 1, 16).sum().backward()
    assert ref.grad is not None and ref.grad.sum() == 3 * 40 * 56


def test_overlapped_compensation_is_the_copy_for_one_vector_and_has_no_block_edges():
    from gvc1d_codec.metrics import grid_artefact
    from gvc1d_codec.model.motion import compensate, warp, warp_overlapped

    torch.manual_seed(0)
    yy, xx = torch.meshgrid(torch.arange(64.0), torch.arange(96.0), indexing="ij")
    ref = (0.5 + 0.3 * torch.sin(xx / 5) * torch.cos(yy / 7)).expand(1, 3, 64, 96).contiguous()
    same = torch.zeros(1, 2, 4, 6, dtype=torch.long)
    same[:, 0], same[:, 1] = 2, -3
    assert torch.allclose(warp_overlapped(ref, same, 16), warp(ref, same, 16), atol=1e-6)
    mixed = torch.randint(-4, 5, (1, 2, 4, 6))
    copy, obmc = warp(ref, mixed, 16), warp_overlapped(ref, mixed, 16)
    assert torch.equal(compensate(ref, mixed, 16, False), copy)
    assert torch.equal(compensate(ref, mixed, 16, True), obmc)
    src = (ref[0, 0] * 255).numpy()
    grid_copy = grid_artefact(src, (copy[0, 0] * 255).numpy())
    grid_obmc = grid_artefact(src, (obmc[0, 0] * 255).numpy())
    assert grid_obmc < grid_copy and grid_obmc < 1.3, (grid_copy, grid_obmc)
    assert torch.equal(warp_overlapped(ref, mixed, 16), obmc)  # deterministic
    with pytest.raises(ValueError, match="does not fit"):
        warp_overlapped(ref, mixed[:, :, :3], 16)


def test_integer_log2_of_the_motion_costs():
    import math

    from gvc1d_codec.entropy.definition import MV_BITS16, MV_FREQ, MV_MAX, log2_ratio16
    for num, den in [(1, 1), (2, 1), (3, 1), (1000, 7), (34910, 32768), (1 << 20, 3)]:
        exact = 16 * math.log2(num / den)
        assert log2_ratio16(num, den) == math.floor(exact + 1e-12), (num, den)
    assert MV_BITS16.shape == MV_FREQ.shape and MV_BITS16.dtype.kind == "i"
    assert MV_BITS16[0, 2 * MV_MAX] < 2 and MV_BITS16[0, 2 * MV_MAX + 1] > 16 * 4  # zero residual nearly free


def test_rate_distortion_motion_keeps_the_cheap_vector_unless_the_picture_pays_for_another():
    from gvc1d_codec.model.motion import choose_motion_rd
    ref = _picture(b=1, h=64, w=64, seed=5)
    # a slightly noisy copy: the plain search may find non-zero vectors; RD at a low lambda keeps zero
    x = (ref + 0.01 * torch.randn(ref.shape, generator=torch.Generator().manual_seed(6))).clamp(0, 1)
    noisy = torch.roll(ref, 1, dims=3)  # a reference 1 px off: a real shift, worth its bits at a high lambda
    found = estimate_motion(x, noisy, 16, 8)
    assert not choose_motion_rd(x, noisy, found, None, 16, 64, lam=0.01).any()  # bits dominate: zero
    high = choose_motion_rd(x, noisy, found, None, 16, 64, lam=1000.0)
    assert (high[:, 1, :, :-1] == 1).all() and (high[:, 0] == 0).all()  # the shift pays (not the edge column)
    # the previous frame's vector is the prediction: kept when it is as good as the search's
    prev = torch.zeros_like(found)
    prev[:, 1] = 1
    assert torch.equal(choose_motion_rd(x, noisy, torch.zeros_like(found), prev, 16, 64, lam=1000.0)[:, :, :, :-1],
                       prev[:, :, :, :-1])


def _one_by_one(cur, ref, base, block, radius, bias):
    """The search as first written: every candidate warped and costed in turn, a strictly lower cost wins."""
    best = None
    for off in motion._candidates(radius, cur.device):
        mv = base + off.view(1, 2, 1, 1)
        cost = motion._block_sad(cur, warp(ref[:, None], mv, block)[:, 0], block)
        cost = cost - (mv == 0).all(dim=1) * (bias * block * block)
        best = (mv, cost) if best is None else motion._keep_better(best, mv, cost)
    return best


@pytest.mark.parametrize("h,w,block,radius", [(40, 56, 4, 4), (23, 37, 4, 6), (64, 48, 8, 3), (9, 70, 2, 5), (33, 50, 8, 1)])
def test_the_batched_searches_are_the_candidate_by_candidate_search(h, w, block, radius):
    """The batched searches (_search around any field, _exhaustive around zero) pick the vectors and
    costs that trying every candidate one by one picks: ties, edges and vectors that point out of
    the picture included."""
    g = torch.Generator().manual_seed(h * w + radius)
    ref = torch.randint(0, 40, (2, h, w), generator=g, dtype=torch.int32)
    cur = torch.roll(ref, (1, -2), (1, 2)) + torch.randint(0, 3, (2, h, w), generator=g, dtype=torch.int32)
    cur[1, : h // 2] = ref[1, : h // 2]  # static half: ties between the zero vector and others
    shape = (2, 2, -(-h // block), -(-w // block))
    zero = torch.zeros(shape, dtype=torch.long)
    base = torch.randint(-3 * radius - 2, 3 * radius + 3, shape, generator=g)
    base[0, :, 0] = 0  # some blocks around zero
    for bias in (0, 2):
        for got in (motion._search(cur, ref, zero, block, radius, bias), motion._exhaustive(cur, ref, block, radius, bias)):
            want = _one_by_one(cur, ref, zero, block, radius, bias)
            assert torch.equal(got[0], want[0]) and torch.equal(got[1], want[1])
        got, want = motion._search(cur, ref, base, block, radius, bias), _one_by_one(cur, ref, base, block, radius, bias)
        assert torch.equal(got[0], want[0]) and torch.equal(got[1], want[1])


def test_overlapped_compensation_is_the_sum_of_four_clamped_block_copies():
    """warp_overlapped (a padded reference, flat offsets) is, bit for bit, the weighted sum in its
    fixed order of the four surrounding blocks' clamped copies, vectors off the picture included."""
    g = torch.Generator().manual_seed(3)
    for h, w, block, reach in ((37, 53, 16, 5), (40, 24, 8, 60), (17, 9, 4, 3)):
        ref = torch.rand(2, 3, h, w, generator=g)
        bh, bw = -(-h // block), -(-w // block)
        mv = torch.randint(-reach, reach + 1, (2, 2, bh, bw), generator=g)
        mv[:, :, ::2] = 0
        want = torch.zeros_like(ref)
        p2y, p2x = 2 * torch.arange(h) + 1, 2 * torch.arange(w) + 1
        ky0 = torch.div(p2y - block, 2 * block, rounding_mode="floor")
        kx0 = torch.div(p2x - block, 2 * block, rounding_mode="floor")
        ay, ax = (p2y - block * (2 * ky0 + 1)).float() / (2 * block), (p2x - block * (2 * kx0 + 1)).float() / (2 * block)
        for ky, wy in ((ky0.clamp(0, bh - 1), 1 - ay), ((ky0 + 1).clamp(0, bh - 1), ay)):
            for kx, wx in ((kx0.clamp(0, bw - 1), 1 - ax), ((kx0 + 1).clamp(0, bw - 1), ax)):
                v = mv[:, :, ky][:, :, :, kx]
                iy = (torch.arange(h)[:, None] + v[:, 0]).clamp(0, h - 1)
                ix = (torch.arange(w)[None, :] + v[:, 1]).clamp(0, w - 1)
                copy = torch.stack([ref[i][:, iy[i], ix[i]] for i in range(2)])
                want = want + (wy[:, None] * wx[None, :]) * copy
        assert torch.equal(motion.warp_overlapped(ref, mv, block), want)


def _structured_field(bh, bw, seed, m=4):
    """A field with every format-4 case: runs copying their left or top neighbour, a vector shared
    by most of a window and explicit vectors, within +-MV_MAX."""
    g = torch.Generator().manual_seed(seed)
    f = torch.randint(-20, 21, (1, 2, bh, bw), generator=g)
    shared = torch.randint(-20, 21, (1, 2, bh // m, bw // m), generator=g)
    pick = torch.randint(0, 5, (bh, bw), generator=g)
    for r in range(bh):
        for c in range(bw):
            if pick[r, c] >= 3:
                f[0, :, r, c] = shared[0, :, r // m, c // m]
            elif pick[r, c] == 1 and c:
                f[0, :, r, c] = f[0, :, r, c - 1]
            elif pick[r, c] == 2 and r:
                f[0, :, r, c] = f[0, :, r - 1, c]
    return f


@pytest.mark.parametrize("bh,bw,m,seed", [(8, 12, 4, 0), (4, 4, 4, 1), (12, 8, 2, 2), (16, 20, 4, 3)])
def test_merge_modes_round_trip_the_field_and_name_the_first_equal_neighbour(bh, bw, m, seed):
    from gvc1d_codec.entropy import motion_syntax as S
    field = _structured_field(bh, bw, seed, m)
    prev = _structured_field(bh, bw, seed + 100, m) if seed % 2 else None
    windows = S.choose_windows(field, prev, m, merged=True)
    (r_win, k_win), (modes, k_blk), deltas = S.to_merged(field, windows, prev, m)
    assert set(modes.tolist()) == {0, 1, 2, 3} or bh * bw <= 16
    assert deltas.numel() == 2 * int((modes == S.MODE_EXPLICIT).sum())
    assert torch.equal(S.merge_field(windows, modes, deltas, m), field)
    assert torch.equal(S.merge_rows(prev, tuple(field.shape), m)[1], k_blk)
    # the modes name the first of window, left, top that holds the vector (raster neighbours)
    base = S.expand_windows(windows, m)
    for r in range(bh):
        for c in range(bw):
            v = field[0, :, r, c]
            left = field[0, :, r, c - 1] if c else base[0, :, r, c]
            top = field[0, :, r - 1, c] if r else base[0, :, r, c]
            want = 0 if torch.equal(v, base[0, :, r, c]) else 1 if torch.equal(v, left) else 2 if torch.equal(v, top) else 3
            assert modes[r * bw + c] == want
    # the bits the encoder counts are the coded rows' -log2 p, to 1/16 bit
    from gvc1d_codec.entropy.definition import EXPLICIT_FREQ, MERGE_FREQ
    exact = float(-np.log2(MERGE_FREQ[k_blk.numpy(), modes.numpy()] / MERGE_FREQ[k_blk.numpy()].sum(1)).sum()
                  - np.log2(EXPLICIT_FREQ[0, deltas.numpy()] / EXPLICIT_FREQ.sum()).sum())
    counted = int(S.merge_bits16(field, base, k_blk.view(1, bh, bw)).sum()) / 16
    assert exact - counted == pytest.approx(0, abs=bh * bw / 16 + 1e-9)


def test_merged_motion_costs_less_where_a_foreground_moves_apart_from_its_window():
    """A window half background (the window's vector) and half a foreground with its own vector:
    format 4 pays one explicit vector and merges for the rest, format 3 a delta per block."""
    from gvc1d_codec.entropy import motion_syntax as S
    field = torch.zeros(1, 2, 8, 8, dtype=torch.long)
    field[0, 0, 2:6, 2:6], field[0, 1, 2:6, 2:6] = 7, -5
    v3 = S.choose_windows(field, None, 4)
    v4 = S.choose_windows(field, None, 4, merged=True)
    k = torch.zeros(1, 8, 8, dtype=torch.long)
    old = int(S.residual_bits16(field, S.expand_windows(v3, 4), k).sum())
    new = int(S.merge_bits16(field, S.expand_windows(v4, 4), k).sum())
    assert new < old / 3, (new, old)
