"""The trainer: ``python -m gvc1d_codec.train --out gvc1d_codec/models/gvc1d-tiny.safetensors ...``.

Resumable and seeded. It starts from a weights file (``--init``, e.g. the committed one) or from
scratch (``--config tiny``), keeps the optimiser state beside the output (``<out>.opt.safetensors``)
so an interrupted run continues with ``--resume``, saves every ``--save-every`` steps and when the
``--minutes`` budget is spent, and logs one JSON line per ``--log-every`` steps.

Stages (paper Sec. training):

1. ``recon``: 1D-token reconstruction (the rate does not shape the tokens; the prior learns).
2. ``rd``: rate-distortion, variable rate over the quality levels, sequences of ``--frames``.
3. ``memory``: rate-distortion on longer sequences, grown from 2 frames to ``--frames`` over the
   run, so the long-term memory and the global layers see long-range context.
4. ``gan``: generative fine-tuning of the decoder (encoder and context model frozen: the rate
   does not move) with MSE + LPIPS-Alex + an adaptive-weight hinge adversarial loss against a
   LeCam-regularised patch discriminator (:mod:`gvc1d_codec.train.discriminator`).
5. ``prd``: joint perceptual rate-distortion, everything learning: rate + lambda_q * (MSE +
   perceptual / 100) with ``--perceptual`` (LPIPS-VGG by default; LPIPS-Alex, which we also
   report, is cheaper but trains on the evaluation metric; DISTS) + the same adversarial term.

After any stage: ``prior`` fits the entropy model alone to the symbols of ``--frames``-frame
sequences, the transforms frozen (:mod:`gvc1d_codec.train.prior_stage`): fewer bits, the same
pictures. ``--batch`` is then (window, frame) rows per step, ``--sequences`` the size of the
symbol cache. It runs in one go (under 5 minutes here for 128 x 16 frames) and is not resumable.

Data parallel: under ``torchrun --nproc_per_node N`` (env ``WORLD_SIZE``) each process draws its
own batches and the gradients are averaged over processes (gloo on CPU, NCCL on CUDA) before
every optimiser step, so all replicas stay identical (checked at every save); rank 0 logs and
saves.
"""
from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from ..color import yuv420_to_rgb
from ..config import DEFAULT_PRESET, TRAINABLE
from ..data.clips import CLIPS, clip_names
from ..data.dataset import VideoCropDataset
from ..metrics.dists import DISTS
from ..metrics.lpips import LPIPS
from ..model.gvc1d import GVC1D
from ..weights import load_weights, save_weights
from .discriminator import LeCam, PatchDiscriminator, adaptive_weight, hinge_d_loss
from .loss import sequence_generative_loss, sequence_perceptual_rd_loss, sequence_rd_loss
from .prior_stage import build_cache, train_prior

STAGES = ["recon", "rd", "memory", "gan", "prd", "prior"]
PERCEPTUAL = ("vgg", "alex", "dists")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m gvc1d_codec.train", description="Train a GVC1D model on real clips.")
    p.add_argument("--out", required=True, help="output weights (.safetensors)")
    p.add_argument("--init", help="start from this weights file (registry name or path)")
    p.add_argument("--resume", action="store_true", help="continue from --out and its optimiser state")
    p.add_argument("--config", default=DEFAULT_PRESET, choices=sorted(TRAINABLE),
                   help=f"architecture when starting from scratch: a shipped model's preset (default {DEFAULT_PRESET}) or 'paper'")
    p.add_argument("--stage", default="rd", choices=STAGES)
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--minutes", type=float, default=0, help="stop (and save) after this wall time; 0 = no limit")
    p.add_argument("--batch", type=int, default=6)
    p.add_argument("--frames", type=int, default=3, help="frames per training sequence")
    p.add_argument("--crop", default="256",
                   help="crop size, or comma-separated sizes used in turn, one per step (e.g. 256,128: "
                        "clips smaller than 256 px still train at 128)")
    p.add_argument("--lr", type=float, default=4e-4)
    p.add_argument("--motion-overlap", action="store_true",
                   help="switch a block-motion model to overlapped block motion compensation (stored in the config)")
    p.add_argument("--lambdas", help="comma-separated rate-distortion lambdas, one per quality level (stored in the config)")
    p.add_argument("--rate-noise", action="store_true",
                   help="stages recon/rd/memory: estimate the rate on y·gain + uniform noise (mixed quantisation) "
                        "instead of the rounded symbols, so unused token channels can come back")
    p.add_argument("--warmup", type=int, default=50)
    p.add_argument("--clips", default="train", help="comma-separated clip names, or 'train'")
    p.add_argument("--data", help="train on the clips packed in this .npz (scripts/pack_training_data.py) "
                                  "instead of the clip cache: for machines without network")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--save-every", type=int, default=100)
    p.add_argument("--ema", type=float, default=0.0, metavar="DECAY",
                   help="also keep an exponential moving average of the weights (decay per step, e.g. 0.99: about "
                        "100 steps), saved beside --out as <out>.ema.safetensors, a weights file like --out; "
                        "0 = none. Generative training moves perceptual quality by +-10-90 %% between checkpoints; "
                        "the average is steadier")
    p.add_argument("--log-every", type=int, default=10)
    p.add_argument("--log", "--train-log", dest="log", help="JSONL log file (default: <out>.log.jsonl)")
    p.add_argument("--device", default="cpu")
    prior = p.add_argument_group("entropy-model stage (--stage prior)")
    prior.add_argument("--sequences", type=int, default=128, help="random training sequences in the symbol cache")
    gan = p.add_argument_group("generative stages (--stage gan, prd)")
    gan.add_argument("--perceptual", default="vgg", choices=PERCEPTUAL,
                     help="stage prd's perceptual distance: LPIPS-VGG, LPIPS-Alex or DISTS (stage gan: LPIPS-Alex)")
    gan.add_argument("--disc-weight", type=float, default=0.1, help="scale of the adaptive adversarial weight")
    gan.add_argument("--disc-start", type=int, default=100, help="steps of discriminator-only warm-up before the adversarial term")
    gan.add_argument("--disc-lr", type=float, default=1e-4)
    gan.add_argument("--disc-init", help="with --init: start the discriminator from this file (another run's "
                                         ".disc.safetensors) instead of from scratch, so a run continued from a "
                                         "candidate keeps its trained critic")
    gan.add_argument("--adaptive-every", type=int, default=8, help="recompute the adaptive weight every N steps (it costs two extra backward passes)")
    gan.add_argument("--lecam", type=float, default=0.001, help="LeCam regularisation weight")
    return p


def _perceptual(name: str) -> torch.nn.Module:
    """The perceptual distance of the generative stages (frozen; weights fetched once)."""
    return DISTS() if name == "dists" else LPIPS(name)


def _optimizer(model: GVC1D, lr: float) -> torch.optim.Optimizer:
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (no_decay if p.ndim < 2 or "tokens" in name or "pos" in name or "gain" in name or "frame_type" in name else decay).append(p)
    return torch.optim.AdamW([{"params": decay, "weight_decay": 1e-4}, {"params": no_decay, "weight_decay": 0.0}], lr=lr, betas=(0.9, 0.999))


def _decoder_only(model: GVC1D) -> None:
    """Freeze everything but the synthesis (stage ``gan``)."""
    synthesis = ("mask_tokens", "context_embed", "dec_", "from_tokens", "token_scatter", "decoder",
                 "head", "refine", "log_inv_gain", "context_pyramid", "conv_decoder")
    for name, p in model.named_parameters():
        p.requires_grad_(name.startswith(synthesis))


def _clip_list(spec: str) -> list[str]:
    """``--clips``: comma-separated names, or ``train`` for the whole training split."""
    return clip_names("train") if spec == "train" else spec.split(",")


def _packed_clips(path: str) -> dict:
    """``--data``: ``{name: (Y, U, V)}`` from an .npz of scripts/pack_training_data.py (plain
    arrays, loaded without pickle); held-out clips are refused as for the clip cache."""
    with np.load(path, allow_pickle=False) as z:
        names = sorted({k.rsplit(".", 1)[0] for k in z.files})
        for n in names:
            if n in CLIPS and CLIPS[n].split != "train":
                raise SystemExit(f"--data {path}: clip {n} is {CLIPS[n].split!r}: training never sees it")
        return {n: (z[f"{n}.y"], z[f"{n}.u"], z[f"{n}.v"]) for n in names}


def _crops(spec: str) -> list[int]:
    """``--crop``: one size, or comma-separated sizes used in turn (one dataset each)."""
    return [int(c) for c in str(spec).split(",")]


def _config_changes(args) -> dict | str:
    """The config fields the options change (``--lambdas``, ``--motion-overlap``), or an error line."""
    changes: dict = {}
    if args.lambdas:
        try:
            changes["lambdas"] = tuple(float(v) for v in args.lambdas.split(","))
        except ValueError:
            return f"--lambdas needs comma-separated numbers, got {args.lambdas!r}"
    if args.motion_overlap:
        changes["motion_overlap"] = True
    return changes


def _applicable(changes: dict, cfg) -> dict:
    """``changes`` checked against the config they apply to (ValueError with the option's message)."""
    if "lambdas" in changes and len(changes["lambdas"]) != cfg.qualities:
        raise ValueError(f"--lambdas needs {cfg.qualities} values")
    if changes.get("motion_overlap") and not cfg.motion_block:
        raise ValueError("--motion-overlap needs a model with block motion (motion_block > 0)")
    return changes


def _prior_stage(args, model: GVC1D, out: Path, log_path: Path, history: dict) -> int:
    """Stage ``prior``: cache the frozen transforms' symbols, fit the prior to them, save."""
    t_start = time.time()

    def log(msg: str) -> None:
        print(f"[{time.time() - t_start:7.1f} s] {msg}", file=sys.stderr, flush=True)

    names = _clip_list(args.clips)
    data = VideoCropDataset(names, seq_len=args.frames, crop=_crops(args.crop)[0], seed=args.seed, skip_unfit=True)
    log(f"stage prior: caching the symbols of {args.sequences} sequences x {args.frames} frames from {','.join(data.names)}")
    model.eval()
    cache = build_cache(model, data, args.sequences, args.seed)
    log(f"cache: {cache['s'].shape[0]} (window, frame) rows")
    fitted, rows = train_prior(model.context_model, "full", cache, args.steps, args.batch, args.lr, args.seed,
                               model.cfg.window, log)
    model.context_model.load_state_dict(fitted.state_dict())
    record = dict(history)
    stages = dict(history.get("stages", {}))
    stages["prior"] = stages.get("prior", 0) + args.steps
    record.update({"steps": int(history.get("steps", 0)) + args.steps, "last_stage": "prior", "stages": stages,
                   "wall_seconds": round(float(history.get("wall_seconds", 0.0)) + time.time() - t_start, 1),
                   "prior": {"clips": data.names, "frames": args.frames, "crop": args.crop, "sequences": args.sequences,
                             "rows_per_step": args.batch, "lr": args.lr, "seed": args.seed}})
    save_weights(model, out, {"training": record})
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "a") as f:
        for row in rows:
            f.write(json.dumps({**row, "stage": "prior", "frames": args.frames}) + "\n")
    log(f"saved {out}")
    return 0


def _save_optimizer(opt: torch.optim.Optimizer, path: Path, step: int, stage: str = "") -> None:
    tensors = {}
    for i, (p, st) in enumerate(((p, opt.state[p]) for g in opt.param_groups for p in g["params"])):
        for k in ("exp_avg", "exp_avg_sq"):
            if k in st:
                tensors[f"{i}.{k}"] = st[k].contiguous()
    tmp = path.with_name(path.name + ".tmp")
    save_file(tensors, str(tmp), metadata={"step": str(step), "stage": stage})
    tmp.replace(path)


def _load_optimizer(opt: torch.optim.Optimizer, path: Path, stage: str | None = None) -> bool:
    """Restore Adam's moments saved by :func:`_save_optimizer`; False (fresh state) when they
    belong to another stage, whose parameter set differs."""
    with safe_open(str(path), "pt") as f:
        meta = f.metadata() or {}
    if stage is not None and meta.get("stage", stage) != stage:
        return False
    step = float(meta.get("step", 0))
    tensors = load_file(str(path))
    for i, p in enumerate(p for g in opt.param_groups for p in g["params"]):
        if f"{i}.exp_avg" in tensors:  # Adam's bias correction continues from the saved step
            opt.state[p] = {"step": torch.tensor(step), "exp_avg": tensors[f"{i}.exp_avg"], "exp_avg_sq": tensors[f"{i}.exp_avg_sq"]}
    return True


def _moving_average(model: GVC1D, path: Path | None) -> GVC1D:
    """The weights' moving average: a copy of ``model``, or the average saved at ``path`` (a resumed
    run) when it is there and has the model's configuration."""
    ema = copy.deepcopy(model).eval().requires_grad_(False)
    if path is not None and path.exists():
        saved = load_weights(path).model
        if saved.cfg == model.cfg:
            ema.load_state_dict(saved.state_dict())
    return ema


def to_rgb_batch(planes) -> torch.Tensor:
    y, u, v = planes
    return yuv420_to_rgb(y, u, v)  # [B, T, 3, H, W]


class _Replicas:
    """Data-parallel bookkeeping (one process when not under ``torchrun``)."""

    def __init__(self, device: str):
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        if self.world > 1:
            self.dist = dist
            dist.init_process_group("nccl" if str(device).startswith("cuda") else "gloo")

    @property
    def main(self) -> bool:
        return self.rank == 0

    def average_gradients(self, params) -> None:
        if self.world == 1:
            return
        for p in params:
            if p.grad is not None:
                self.dist.all_reduce(p.grad)
                p.grad /= self.world

    def any(self, flag: bool) -> bool:
        """True on every replica when it is true on any: decisions taken from the wall clock (the
        --minutes budget) must be the same everywhere, or one replica leaves the loop while the
        other waits in an all-reduce (gloo then aborts it)."""
        if self.world == 1:
            return flag
        t = torch.tensor([1.0 if flag else 0.0])
        self.dist.all_reduce(t, op=self.dist.ReduceOp.MAX)
        return bool(t.item() > 0)

    def check_identical(self, model: torch.nn.Module) -> None:
        """Raise if the replicas' parameters have drifted apart (they must be bit-identical)."""
        if self.world == 1:
            return
        with torch.no_grad():
            total = torch.stack([p.double().sum() for p in model.parameters()]).sum().reshape(1)
        lo, hi = total.clone(), total.clone()
        self.dist.all_reduce(lo, op=self.dist.ReduceOp.MIN)
        self.dist.all_reduce(hi, op=self.dist.ReduceOp.MAX)
        if lo.item() != hi.item():
            raise RuntimeError(f"data-parallel replicas diverged ({lo.item()} != {hi.item()})")

    def close(self) -> None:
        if self.world > 1:
            # wait until every replica is done (the main one saves last): tearing the group down
            # while the other still writes made gloo abort it on a busy machine
            self.dist.barrier()
            self.dist.destroy_process_group()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    replicas = _Replicas(args.device)
    torch.manual_seed(args.seed)
    out = Path(args.out)
    opt_path = out.with_name(out.stem + ".opt.safetensors")
    disc_path = out.with_name(out.stem + ".disc.safetensors")
    ema_path = out.with_name(out.stem + ".ema.safetensors")
    log_path = Path(args.log) if args.log else out.with_name(out.stem + ".log.jsonl")
    step = 0
    history: dict = {}
    changes = _config_changes(args)  # made before the model is built, never patched into it
    if isinstance(changes, str):
        print(changes, file=sys.stderr)
        return 2
    if args.resume or args.init:
        src = str(out) if args.resume else args.init
        try:
            loaded = load_weights(src, config_changes=lambda cfg: _applicable(changes, cfg))
        except ValueError as e:
            print(e, file=sys.stderr)
            return 2
        model = loaded.model.train()
        history = json.loads(loaded.metadata.get("training", "{}"))
        step = int(history.get("steps", 0)) if args.resume else 0
    else:
        base = TRAINABLE[args.config]
        try:
            model = GVC1D(dataclasses.replace(base, **_applicable(changes, base))).train()
        except ValueError as e:
            print(e, file=sys.stderr)
            return 2
    if args.stage == "prior":
        if replicas.world > 1:
            print("stage prior runs in one process", file=sys.stderr)
            return 2
        return _prior_stage(args, model.to(args.device), out, log_path, history)
    generative = args.stage in ("gan", "prd")
    if args.stage == "gan":
        _decoder_only(model)
    model.to(args.device)
    ema = _moving_average(model, ema_path if args.resume else None) if args.ema else None
    opt = _optimizer(model, args.lr)
    resumed_opt = args.resume and opt_path.exists() and _load_optimizer(opt, opt_path, args.stage)
    disc = lpips = lecam = opt_d = None
    if generative:
        lpips = _perceptual(args.perceptual if args.stage == "prd" else "alex").to(args.device)
        disc = PatchDiscriminator().to(args.device)
        if args.resume and disc_path.exists():
            disc.load_state_dict(load_file(str(disc_path)))
        elif args.disc_init:
            disc.load_state_dict(load_file(args.disc_init))
        opt_d = torch.optim.Adam(disc.parameters(), lr=args.disc_lr, betas=(0.5, 0.9))
        lecam = LeCam()
    if args.data:
        packed = _packed_clips(args.data)
        names = list(packed)
        datasets = [VideoCropDataset.from_arrays(packed, seq_len=args.frames, crop=c, seed=args.seed, skip_unfit=True)
                    for c in _crops(args.crop)]
    else:
        names = _clip_list(args.clips)
        datasets = [VideoCropDataset(names, seq_len=args.frames, crop=c, seed=args.seed, skip_unfit=True)
                    for c in _crops(args.crop)]
    data = datasets[0]
    all_names = sorted({n for d in datasets for n in d.names}, key=names.index)
    gen = torch.Generator().manual_seed((args.seed * 1_000_003 + step) * replicas.world + replicas.rank)
    cfg = model.cfg
    trainable = [p for p in model.parameters() if p.requires_grad]
    t_start = time.time()
    prior_wall = float(history.get("wall_seconds", 0.0))
    first_step = step
    stats_acc: dict[str, float] = {}
    acc_steps = 0
    adv_w = None
    if replicas.main:
        print(f"training {cfg.name} stage={args.stage} from step {step} on {','.join(all_names)}"
              f"{f' ({replicas.world} data-parallel processes)' if replicas.world > 1 else ''}", file=sys.stderr)

    def save() -> None:
        replicas.check_identical(model)
        if not replicas.main:
            return
        record = dict(history)
        record.update({
            "steps": step, "wall_seconds": round(prior_wall + time.time() - t_start, 1),
            "last_stage": args.stage, "clips": all_names, "crop": args.crop, "frames": args.frames,
            "batch": args.batch * replicas.world, "lr": args.lr, "seed": args.seed,
        })
        stages = dict(history.get("stages", {}))
        stages[args.stage] = stages.get(args.stage, 0) + (step - first_step)
        record["stages"] = stages
        save_weights(model, out, {"training": record})
        if ema is not None:
            save_weights(ema, ema_path, {"training": {**record, "ema_decay": args.ema}})
        _save_optimizer(opt, opt_path, step, args.stage)
        if disc is not None:
            tmp = disc_path.with_name(disc_path.name + ".tmp")
            save_file({k: v.contiguous() for k, v in disc.state_dict().items()}, str(tmp))
            tmp.replace(disc_path)

    def seq_len() -> int:
        if args.stage != "memory":
            return args.frames
        progress = (step - first_step) / max(1, args.steps - first_step)
        if args.minutes:
            progress = max(progress, (time.time() - t_start) / (args.minutes * 60))
        return min(args.frames, 2 + int((args.frames - 1) * progress))

    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "a") if replicas.main else open(os.devnull, "w") as log:
        while step < args.steps:
            warm = step - first_step + 1 + (args.warmup if resumed_opt else 0)  # a fresh optimiser warms up
            lr = args.lr * min(1.0, warm / args.warmup)
            for g in opt.param_groups:
                g["lr"] = lr
            data = datasets[step % len(datasets)]
            frames = to_rgb_batch(data.sample_batch(args.batch, gen)).to(args.device)[:, :seq_len()]
            quality = torch.randint(0, cfg.qualities, (args.batch,), generator=gen).to(args.device)
            if generative:
                objective = sequence_perceptual_rd_loss if args.stage == "prd" else sequence_generative_loss
                nll, adv, fakes, stats = objective(model, frames, quality, lpips, disc)
                if step - first_step >= args.disc_start or resumed_opt:
                    if adv_w is None or (step - first_step) % args.adaptive_every == 0:
                        adv_w = adaptive_weight(nll, adv, model.last_layer(), args.disc_weight)
                    w = adv_w
                else:
                    w = nll.new_zeros(())
                loss = nll + w * adv
                stats.update(adv=float(adv.detach()), adv_w=float(w))
            else:
                loss, stats = sequence_rd_loss(model, frames, quality, rate_to_encoder=args.stage != "recon",
                                               rate_noise=args.rate_noise)
            opt.zero_grad(set_to_none=True)
            if disc is not None:
                disc.requires_grad_(False)
            loss.backward()
            replicas.average_gradients(trainable)
            torch.nn.utils.clip_grad_norm_(trainable, 0.5)
            opt.step()
            if ema is not None:
                with torch.no_grad():
                    for e, p in zip(ema.parameters(), model.parameters()):
                        e.lerp_(p.detach(), 1 - args.ema)
            if disc is not None:  # the discriminator's step, on this step's reconstructions
                disc.requires_grad_(True)
                real = frames.flatten(0, 1)
                fake = torch.stack(fakes, 1).detach().clamp(0, 1).flatten(0, 1)
                d_real, d_fake = disc(real), disc(fake)
                d_loss = hinge_d_loss(d_real, d_fake) + args.lecam * lecam.penalty(d_real, d_fake)
                opt_d.zero_grad(set_to_none=True)
                d_loss.backward()
                replicas.average_gradients(disc.parameters())
                opt_d.step()
                stats.update(d_loss=float(d_loss.detach()), d_real=float(d_real.detach().mean()),
                             d_fake=float(d_fake.detach().mean()))
            step += 1
            stats["loss"] = float(loss.detach())
            for k, v in stats.items():
                stats_acc[k] = stats_acc.get(k, 0.0) + v
            acc_steps += 1
            if step % args.log_every == 0:  # means over the steps since the last row (fewer after a resume)
                row = {k: round(v / acc_steps, 5) for k, v in stats_acc.items()}
                row.update(step=step, stage=args.stage, frames=frames.shape[1], lr=lr, elapsed=round(time.time() - t_start, 1))
                log.write(json.dumps(row) + "\n")
                log.flush()
                if replicas.main:
                    print(json.dumps(row), file=sys.stderr)
                stats_acc, acc_steps = {}, 0
            if step % args.save_every == 0:
                save()
            if args.minutes and replicas.any(time.time() - t_start > args.minutes * 60):
                break
            if not math.isfinite(stats["loss"]):
                print("loss is not finite; stopping without saving", file=sys.stderr)
                return 1
    save()
    if replicas.main:
        print(f"saved {out} at step {step}", file=sys.stderr)
    replicas.close()
    return 0
