"""The trainer: ``python -m gvc1d_codec.train --out weights/gvc1d-tiny.safetensors ...``.

Resumable and seeded. It starts from a weights file (``--init``, e.g. the committed one) or from
scratch (``--config tiny``), keeps the optimiser state beside the output (``<out>.opt.safetensors``)
so an interrupted run continues with ``--resume``, saves every ``--save-every`` steps and when the
``--minutes`` budget is spent, and logs one JSON line per ``--log-every`` steps.

Stages (paper Sec. training): ``recon`` (the rate does not shape the tokens; the prior learns),
``rd`` (rate-distortion, variable rate over the quality levels, sequences of ``--frames`` frames).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import time
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from ..color import yuv420_to_rgb
from ..config import PRESETS
from ..data.clips import clip_names
from ..data.dataset import VideoCropDataset
from ..model.gvc1d import GVC1D
from ..weights import load_weights, save_weights
from .loss import sequence_rd_loss


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m gvc1d_codec.train", description="Train a GVC1D model on real clips.")
    p.add_argument("--out", required=True, help="output weights (.safetensors)")
    p.add_argument("--init", help="start from this weights file (registry name or path)")
    p.add_argument("--resume", action="store_true", help="continue from --out and its optimiser state")
    p.add_argument("--config", default="tiny", choices=sorted(PRESETS), help="preset when starting from scratch")
    p.add_argument("--stage", default="rd", choices=["recon", "rd"])
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--minutes", type=float, default=0, help="stop (and save) after this wall time; 0 = no limit")
    p.add_argument("--batch", type=int, default=6)
    p.add_argument("--frames", type=int, default=3, help="frames per training sequence")
    p.add_argument("--crop", type=int, default=256)
    p.add_argument("--lr", type=float, default=4e-4)
    p.add_argument("--lambdas", help="comma-separated rate-distortion lambdas, one per quality level (stored in the config)")
    p.add_argument("--warmup", type=int, default=50)
    p.add_argument("--clips", default="train", help="comma-separated clip names, or 'train'")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--save-every", type=int, default=100)
    p.add_argument("--log-every", type=int, default=10)
    p.add_argument("--log", help="JSONL log file (default: <out>.log.jsonl)")
    p.add_argument("--device", default="cpu")
    return p


def _optimizer(model: GVC1D, lr: float) -> torch.optim.Optimizer:
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (no_decay if p.ndim < 2 or "tokens" in name or "pos" in name or "gain" in name or "frame_type" in name else decay).append(p)
    return torch.optim.AdamW([{"params": decay, "weight_decay": 1e-4}, {"params": no_decay, "weight_decay": 0.0}], lr=lr, betas=(0.9, 0.999))


def _save_optimizer(opt: torch.optim.Optimizer, path: Path, step: int) -> None:
    tensors = {}
    for i, (p, st) in enumerate(((p, opt.state[p]) for g in opt.param_groups for p in g["params"])):
        for k in ("exp_avg", "exp_avg_sq"):
            if k in st:
                tensors[f"{i}.{k}"] = st[k].contiguous()
    tmp = path.with_name(path.name + ".tmp")
    save_file(tensors, str(tmp), metadata={"step": str(step)})
    tmp.replace(path)


def _load_optimizer(opt: torch.optim.Optimizer, path: Path) -> None:
    from safetensors import safe_open

    with safe_open(str(path), "pt") as f:
        step = float(f.metadata().get("step", 0))
    tensors = load_file(str(path))
    for i, p in enumerate(p for g in opt.param_groups for p in g["params"]):
        if f"{i}.exp_avg" in tensors:  # Adam's bias correction continues from the saved step
            opt.state[p] = {"step": torch.tensor(step), "exp_avg": tensors[f"{i}.exp_avg"], "exp_avg_sq": tensors[f"{i}.exp_avg_sq"]}


def to_rgb_batch(planes) -> torch.Tensor:
    y, u, v = planes
    return yuv420_to_rgb(y, u, v)  # [B, T, 3, H, W]


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    out = Path(args.out)
    opt_path = out.with_name(out.stem + ".opt.safetensors")
    log_path = Path(args.log) if args.log else out.with_name(out.stem + ".log.jsonl")
    step = 0
    history: dict = {}
    if args.resume or args.init:
        src = str(out) if args.resume else args.init
        loaded = load_weights(src, integer=False)
        model = loaded.model.train()
        history = json.loads(loaded.metadata.get("training", "{}"))
        step = int(history.get("steps", 0)) if args.resume else 0
    else:
        model = GVC1D(PRESETS[args.config]).train()
    if args.lambdas:
        lambdas = tuple(float(v) for v in args.lambdas.split(","))
        if len(lambdas) != model.cfg.qualities:
            print(f"--lambdas needs {model.cfg.qualities} values", file=sys.stderr)
            return 2
        model.cfg = dataclasses.replace(model.cfg, lambdas=lambdas)
        model.context_model.cfg = model.cfg
    model.to(args.device)
    opt = _optimizer(model, args.lr)
    if args.resume and opt_path.exists():
        _load_optimizer(opt, opt_path)
    names = clip_names("train") if args.clips == "train" else args.clips.split(",")
    data = VideoCropDataset(names, seq_len=args.frames, crop=args.crop, seed=args.seed, skip_unfit=True)
    gen = torch.Generator().manual_seed(args.seed * 1_000_003 + step)
    cfg = model.cfg
    t_start = time.time()
    prior_wall = float(history.get("wall_seconds", 0.0))
    first_step = step
    stats_acc: dict[str, float] = {}
    print(f"training {cfg.name} stage={args.stage} from step {step} on {','.join(data.names)}", file=sys.stderr)

    def save() -> None:
        record = dict(history)
        record.update({
            "steps": step, "wall_seconds": round(prior_wall + time.time() - t_start, 1),
            "last_stage": args.stage, "clips": data.names, "crop": args.crop, "frames": args.frames,
            "batch": args.batch, "lr": args.lr, "seed": args.seed,
        })
        stages = dict(history.get("stages", {}))
        stages[args.stage] = stages.get(args.stage, 0) + (step - first_step)
        record["stages"] = stages
        save_weights(model, out, {"training": record})
        _save_optimizer(opt, opt_path, step)

    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "a") as log:
        while step < args.steps:
            warm = step + 1 if not (args.resume and opt_path.exists()) else step - first_step + 1 + args.warmup
            lr = args.lr * min(1.0, warm / args.warmup)
            for g in opt.param_groups:
                g["lr"] = lr
            frames = to_rgb_batch(data.sample_batch(args.batch, gen)).to(args.device)
            quality = torch.randint(0, cfg.qualities, (args.batch,), generator=gen).to(args.device)
            loss, stats = sequence_rd_loss(model, frames, quality, rate_to_encoder=args.stage == "rd")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 0.5)
            opt.step()
            step += 1
            stats["loss"] = float(loss.detach())
            for k, v in stats.items():
                stats_acc[k] = stats_acc.get(k, 0.0) + v
            if step % args.log_every == 0:
                row = {k: round(v / args.log_every, 5) for k, v in stats_acc.items()}
                row.update(step=step, stage=args.stage, lr=lr, elapsed=round(time.time() - t_start, 1))
                log.write(json.dumps(row) + "\n")
                log.flush()
                print(json.dumps(row), file=sys.stderr)
                stats_acc = {}
            if step % args.save_every == 0:
                save()
            if args.minutes and time.time() - t_start > args.minutes * 60:
                break
            if not math.isfinite(stats["loss"]):
                print("loss is not finite; stopping without saving", file=sys.stderr)
                return 1
    save()
    print(f"saved {out} at step {step}", file=sys.stderr)
    return 0
