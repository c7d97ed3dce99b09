"""Specification of the trainer (``python -m gvc1d_codec.train``): it starts from scratch, saves
weights the codec loads, and ``--resume`` continues where it stopped."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import cli_env, moving_gradient

TRAIN = [sys.executable, "-m", "gvc1d_codec.train"]
SMALL_RUN = ["--batch", "1", "--frames", "2", "--crop", "128", "--clips", "foreman", "--log-every", "1",
             "--save-every", "1000"]


def train(*args: str) -> tuple[subprocess.CompletedProcess, float]:
    t0 = time.monotonic()
    proc = subprocess.run(TRAIN + list(args), capture_output=True, text=True, env=cli_env(), timeout=300)
    return proc, time.monotonic() - t0


def log_steps(path: Path) -> list[int]:
    return [json.loads(line)["step"] for line in path.read_text().splitlines()]


def test_trainer_runs_from_scratch_resumes_and_its_output_encodes(foreman, tmp_path):
    from gvc1d_codec.codec import Decoder, Encoder
    from gvc1d_codec.weights import load_weights

    out = tmp_path / "w.safetensors"
    proc, seconds = train("--out", str(out), "--config", "gvc1d-tiny-v1", "--steps", "2", *SMALL_RUN)
    assert proc.returncode == 0, proc.stderr
    assert seconds < 60, f"2 training steps took {seconds:.1f} s"
    first = load_weights(out)
    record = json.loads(first.metadata["training"])
    assert record["steps"] == 2 and record["stages"] == {"rd": 2} and record["clips"] == ["foreman"]
    assert (tmp_path / "w.opt.safetensors").is_file()
    assert log_steps(tmp_path / "w.log.jsonl") == [1, 2]

    proc, _ = train("--out", str(out), "--resume", "--steps", "3", *SMALL_RUN)
    assert proc.returncode == 0, proc.stderr
    assert "from step 2" in proc.stderr
    resumed = load_weights(out)
    record = json.loads(resumed.metadata["training"])
    assert record["steps"] == 3 and record["stages"] == {"rd": 3}
    assert log_steps(tmp_path / "w.log.jsonl") == [1, 2, 3]
    assert resumed.sha256 != first.sha256, "the resumed step must change the weights"

    # the trained file is a codec model like any other
    assert resumed.config.name == "tiny"
    frame = moving_gradient(64, 48, 1)[0]
    enc = Encoder(64, 48, weights=resumed)
    packet = enc.encode_packet(frame)
    dec = Decoder(enc.header, weights=resumed)
    assert dec.decode(packet).width == 64


def _tensors(path: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(path))


def _generative_start(tmp_path):
    """The starting weights of a generative-stage test (one rd step of the first release's small
    model); skips when the LPIPS weights cannot be had."""
    from gvc1d_codec.metrics import MetricWeightsUnavailable, fetch_metric_weights

    try:
        fetch_metric_weights()
    except MetricWeightsUnavailable as e:
        pytest.skip(f"LPIPS weights unavailable: {e}")
    start = tmp_path / "start.safetensors"
    proc, _ = train("--out", str(start), "--config", "gvc1d-tiny-v1", "--steps", "1", *SMALL_RUN)
    assert proc.returncode == 0, proc.stderr
    return start


def test_generative_stage_trains_the_decoder_only_and_resumes(foreman, tmp_path):
    start = _generative_start(tmp_path)
    out = tmp_path / "g.safetensors"
    gan = ["--stage", "gan", "--disc-start", "1", "--adaptive-every", "1"]
    proc, _ = train("--out", str(out), "--init", str(start), "--steps", "2", *gan, *SMALL_RUN)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "g.disc.safetensors").is_file()
    rows = [json.loads(line) for line in (tmp_path / "g.log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2]
    assert rows[0]["adv_w"] == 0.0 and rows[1]["adv_w"] > 0.0, "the adversarial term starts after --disc-start"
    assert all(0.0 < r["lpips"] < 1.5 for r in rows)
    disc_before = _tensors(tmp_path / "g.disc.safetensors")
    proc, _ = train("--out", str(out), "--resume", "--steps", "3", *gan, *SMALL_RUN)
    assert proc.returncode == 0, proc.stderr
    from gvc1d_codec.weights import load_weights

    assert json.loads(load_weights(out).metadata["training"])["stages"] == {"rd": 1, "gan": 3}
    before, after = _tensors(start), _tensors(out)
    encoder = [k for k in before if k.startswith(("patch_embed", "encoder.", "to_tokens", "log_gain", "context_model"))]
    decoder = [k for k in before if k.startswith(("decoder.", "head", "refine", "from_tokens"))]
    assert encoder and decoder
    assert all(torch_equal(before[k], after[k]) for k in encoder), "the encoder and the context model are frozen"
    assert sum(not torch_equal(before[k], after[k]) for k in decoder) >= len(decoder) // 2, "the decoder learns"
    assert not all(torch_equal(disc_before[k], v) for k, v in _tensors(tmp_path / "g.disc.safetensors").items())


def test_perceptual_rd_stage_trains_encoder_prior_and_decoder(foreman, tmp_path, perceptual="alex"):
    """Stage prd (with LPIPS-Alex, the cheapest network; the default VGG is the same code path)."""
    start = _generative_start(tmp_path)
    out = tmp_path / "p.safetensors"
    prd = ["--stage", "prd", "--perceptual", perceptual, "--disc-start", "1", "--adaptive-every", "1"]
    proc, _ = train("--out", str(out), "--init", str(start), "--steps", "2", *prd, *SMALL_RUN)
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in (tmp_path / "p.log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2]
    assert rows[0]["adv_w"] == 0.0 and rows[1]["adv_w"] > 0.0
    assert all(0.0 < r["perceptual"] < 1.5 and r["bpp"] > 0 for r in rows)
    from gvc1d_codec.weights import load_weights

    assert json.loads(load_weights(out).metadata["training"])["stages"] == {"rd": 1, "prd": 2}
    before, after = _tensors(start), _tensors(out)
    for part in ("patch_embed", "encoder.", "to_tokens", "context_model", "decoder."):
        keys = [k for k in before if k.startswith(part)]
        assert keys and any(not torch_equal(before[k], after[k]) for k in keys), f"{part} learns in stage prd"


def torch_equal(a, b) -> bool:
    import torch

    return bool(torch.equal(a, b))


def test_memory_stage_grows_the_sequences(foreman, tmp_path):
    out = tmp_path / "m.safetensors"
    args = ["--batch", "1", "--crop", "128", "--clips", "foreman", "--log-every", "1", "--save-every", "1000"]
    proc, _ = train("--out", str(out), "--config", "gvc1d-tiny-v1", "--stage", "memory", "--frames", "4", "--steps", "4", "--rate-noise", *args)
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in (tmp_path / "m.log.jsonl").read_text().splitlines()]
    lengths = [r["frames"] for r in rows]
    assert lengths[0] == 2 and lengths[-1] == 4 and lengths == sorted(lengths), lengths


def test_data_parallel_on_two_gloo_processes(foreman, tmp_path):
    """torchrun with 2 CPU processes: each draws its own batches; the averaged gradients keep the
    replicas identical (the trainer checks it at every save and fails if they drift)."""
    out = tmp_path / "d.safetensors"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "gvc1d_codec.train", "--out", str(out), "--config", "gvc1d-tiny-v1", "--steps", "2",
           "--threads", "1", "--save-every", "1", *SMALL_RUN]
    # the time budget ends the run on both replicas together (one leaving alone aborted the other)
    timed = cmd[:cmd.index("--steps")] + ["--steps", "50", "--minutes", "0.0001"] + cmd[cmd.index("--steps") + 2:]
    timed[timed.index("--out") + 1] = str(tmp_path / "t.safetensors")
    proc = subprocess.run(timed, capture_output=True, text=True, env=cli_env(), timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=cli_env(), timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "2 data-parallel processes" in proc.stderr
    from gvc1d_codec.weights import load_weights

    record = json.loads(load_weights(out).metadata["training"])
    assert record["steps"] == 2 and record["batch"] == 2
    assert log_steps(tmp_path / "d.log.jsonl") == [1, 2], "only rank 0 logs"


def test_prior_stage_changes_the_entropy_model_only(foreman, tmp_path):
    """Stage ``prior`` fits the prior alone: the transforms and the memory update (which conditions
    them) stay bit-identical, so the symbols and pictures do not move; the prior's layers learn and
    the saved file carries their new integer export."""
    start = tmp_path / "start.safetensors"
    proc, _ = train("--out", str(start), "--config", "gvc1d-tiny-v1", "--steps", "1", *SMALL_RUN)
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "p.safetensors"
    proc, _ = train("--out", str(out), "--init", str(start), "--stage", "prior", "--frames", "3", "--steps", "3",
                    "--batch", "64", "--sequences", "2", "--crop", "128", "--clips", "foreman", "--lr", "1e-2")
    assert proc.returncode == 0, proc.stderr
    before, after = _tensors(start), _tensors(out)
    assert before.keys() == after.keys()
    changed = {k for k in before if not torch_equal(before[k], after[k])}
    assert changed and all(k.startswith(("context_model.", "entropy.int.")) for k in changed), sorted(changed)
    assert not any(".mem_update." in k or ".mem_embed." in k or ".mem_gather." in k for k in changed)
    assert any(k.startswith("entropy.int.") for k in changed), "the integer export follows the fitted prior"
    from gvc1d_codec.weights import load_weights

    assert json.loads(load_weights(out).metadata["training"])["stages"] == {"rd": 1, "prior": 3}
    rows = [json.loads(line) for line in (tmp_path / "p.log.jsonl").read_text().splitlines()]
    assert rows[-1]["stage"] == "prior" and rows[-1]["step"] == 3


def test_trainer_reads_packed_clips_and_refuses_held_out_ones(tmp_path):
    """--data: the clips of scripts/pack_training_data.py's .npz (machines without network)."""
    rng = np.random.default_rng(0)
    y = rng.integers(16, 236, (3, 128, 160), dtype=np.uint8)
    u = rng.integers(16, 240, (3, 64, 80), dtype=np.uint8)
    packed = tmp_path / "clips.npz"
    np.savez(packed, **{"synthetic.y": y, "synthetic.u": u, "synthetic.v": u.copy()})
    out = tmp_path / "d.safetensors"
    args = ["--batch", "1", "--frames", "2", "--crop", "128", "--log-every", "1", "--save-every", "1000"]
    proc, _ = train("--out", str(out), "--config", "gvc1d-tiny-v1", "--steps", "1", "--data", str(packed), *args)
    assert proc.returncode == 0, proc.stderr
    from gvc1d_codec.weights import load_weights

    assert json.loads(load_weights(out).metadata["training"])["clips"] == ["synthetic"]
    held = tmp_path / "held.npz"
    np.savez(held, **{"carphone.y": y, "carphone.u": u, "carphone.v": u})
    proc, _ = train("--out", str(tmp_path / "h.safetensors"), "--config", "gvc1d-tiny-v1", "--steps", "1", "--data", str(held), *args)
    assert proc.returncode != 0 and "training never sees it" in proc.stderr


def test_motion_overlap_switch_needs_block_motion(tmp_path):
    proc, _ = train("--out", str(tmp_path / "m.safetensors"), "--config", "gvc1d-tiny-v1", "--steps", "1", "--motion-overlap",
                    *SMALL_RUN)
    assert proc.returncode == 2 and "needs a model with block motion" in proc.stderr


def test_presets_are_the_shipped_architectures_and_the_default_uses_overlapped_motion():
    from gvc1d_codec.config import DEFAULT_PRESET, PRESETS
    from gvc1d_codec.registry import DEFAULT_MODEL, REGISTRY
    from gvc1d_codec.weights import load_weights

    assert set(PRESETS) <= set(REGISTRY) and DEFAULT_PRESET == DEFAULT_MODEL
    assert PRESETS[DEFAULT_PRESET].motion_block and PRESETS[DEFAULT_PRESET].motion_overlap
    assert load_weights(DEFAULT_MODEL).config == PRESETS[DEFAULT_PRESET]


def test_rate_noise_changes_the_rate_estimate_only():
    """--rate-noise (mixed quantisation): the rate is estimated on y·gain + U(-1/2, 1/2), within
    half a step of y·gain and not rounded; the pictures, and so the distortion, are those of the
    rounded symbols; a channel whose symbols all round to zero still gets a rate gradient."""
    import torch

    from gvc1d_codec.config import PRESETS
    from gvc1d_codec.model.gvc1d import GVC1D
    from gvc1d_codec.step import CodingState, step
    from gvc1d_codec.train.loss import sequence_rd_loss

    torch.manual_seed(0)
    model = GVC1D(PRESETS["gvc1d-tiny"]).train()
    frames = torch.rand(1, 2, 3, 64, 128)
    q = torch.tensor([2])
    out, _ = step(model, model.context_model, CodingState(), intra=True, quality=q, x=frames[:, 0], rate_noise=True)
    with torch.no_grad():
        yg = model.scaled(model.analysis(frames[:, 0], None, None, True), q.repeat(2))
    assert out.rate_symbols.shape == out.symbols.shape
    assert (out.rate_symbols - yg).abs().max() <= 0.5 + 1e-6
    assert not torch.equal(out.rate_symbols, out.rate_symbols.round())
    assert torch.equal(out.symbols, yg.round().clamp(-31, 31))
    torch.manual_seed(1)
    _, plain = sequence_rd_loss(model, frames, q)
    torch.manual_seed(1)
    loss, noisy = sequence_rd_loss(model, frames, q, rate_noise=True)
    assert noisy["mse"] == plain["mse"] and noisy["bpp"] != plain["bpp"]
    with torch.no_grad():  # a channel silenced at the analysis output: every symbol of it rounds to 0
        model.to_tokens.weight[5].zero_()
        model.to_tokens.bias[5] = 0.01
    import dataclasses

    model.cfg = dataclasses.replace(model.cfg, lambdas=(0.0,) * 4)  # the loss is the rate alone
    torch.manual_seed(1)
    loss, _ = sequence_rd_loss(model, frames, q, rate_noise=True)
    loss.backward()
    assert float(model.to_tokens.bias.grad[5].abs()) > 0


def test_prior_scale_below_the_range_gets_a_gradient_back_up():
    """The shadow prior clamps its scale index to the table; a plain clamp would give a scale
    pushed below the smallest one no gradient ever again (a dead channel's prior). clamp_ste keeps
    the clamp's values and lets a gradient through when descent moves the value back inside."""
    import torch

    from gvc1d_codec.entropy.intnet import clamp_ste

    x = torch.tensor([-3.0, 0.5, 5.0, -3.0, 5.0], requires_grad=True)
    y = clamp_ste(x, 0.0, 4.0)
    assert torch.equal(y.detach(), x.detach().clamp(0, 4))
    (y * torch.tensor([-1.0, 1.0, 1.0, 1.0, -1.0])).sum().backward()
    # below the range: passes when descent raises it (grad < 0), not when it would lower it further
    assert x.grad.tolist() == [-1.0, 1.0, 1.0, 0.0, 0.0]


def test_moving_average_of_the_weights_is_saved_beside_the_output_and_resumed(foreman, tmp_path):
    """--ema DECAY: <out>.ema.safetensors is a weights file whose parameters are the running average
    of the run's (lerp by 1 - DECAY per step), and a resumed run continues that average."""
    from gvc1d_codec.weights import load_weights

    start = tmp_path / "start.safetensors"
    proc, _ = train("--out", str(start), "--config", "gvc1d-tiny-v1", "--steps", "1", *SMALL_RUN)
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "w.safetensors"
    proc, _ = train("--out", str(out), "--init", str(start), "--steps", "2", "--ema", "0.5", *SMALL_RUN)
    assert proc.returncode == 0, proc.stderr
    ema_path = tmp_path / "w.ema.safetensors"
    s0, s2, e2 = _tensors(start), _tensors(out), _tensors(ema_path)
    record = json.loads(load_weights(ema_path).metadata["training"])
    assert record["ema_decay"] == 0.5 and record["steps"] == 2
    moved = [k for k in s0 if not k.startswith("entropy.") and not torch.equal(s0[k], s2[k])]
    assert moved, "training moved no weight"
    for k in moved:  # an average of the start and the two steps, neither the start nor the end
        assert not torch.equal(e2[k], s2[k]) and not torch.equal(e2[k], s0[k])
    proc, _ = train("--out", str(out), "--resume", "--steps", "3", "--ema", "0.5", *SMALL_RUN)
    assert proc.returncode == 0, proc.stderr
    s3, e3 = _tensors(out), _tensors(ema_path)
    k = moved[0]
    assert torch.allclose(e3[k], 0.5 * e2[k] + 0.5 * s3[k], atol=1e-6)  # continued from the saved average


def test_a_run_started_from_weights_can_keep_another_runs_discriminator(foreman, tmp_path):
    """--init with --disc-init: the discriminator starts from the given .disc file (with a zero
    learning rate it stays exactly that file); without it, from a fresh one."""
    start = _generative_start(tmp_path)
    gan = ["--stage", "gan", "--disc-start", "1", "--adaptive-every", "1"]
    proc, _ = train("--out", str(tmp_path / "a.safetensors"), "--init", str(start), "--steps", "2", *gan, *SMALL_RUN)
    assert proc.returncode == 0, proc.stderr
    critic = _tensors(tmp_path / "a.disc.safetensors")
    for name, extra in (("kept", ["--disc-init", str(tmp_path / "a.disc.safetensors")]), ("fresh", [])):
        proc, _ = train("--out", str(tmp_path / f"{name}.safetensors"), "--init", str(start), "--steps", "1",
                        "--disc-lr", "0", *extra, *gan, *SMALL_RUN)
        assert proc.returncode == 0, proc.stderr
    kept, fresh = _tensors(tmp_path / "kept.disc.safetensors"), _tensors(tmp_path / "fresh.disc.safetensors")
    assert all(torch_equal(critic[k], kept[k]) for k in critic)
    assert not all(torch_equal(critic[k], fresh[k]) for k in critic)
