"""Model configuration: data, not code paths.

A :class:`ModelConfig` is serialised (JSON) into the metadata of every weights file, so a weights
file fully describes the network it holds. Two presets:

* ``tiny``: what we ship. Sized to train on 2 CPU cores and to decode 416x240 at >= 10 frames/s.
* ``paper``: the paper's scale (TA-TiTok ViT-B encoder / ViT-L decoder, 256 px windows, 32 tokens
  x 16 channels per window) for users with GPUs. Values the paper does not give are our choice.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields

# Coding defaults (not part of a model): an intra frame every 32 frames (1.3 s at 25 fps), like a
# finite keyint in x264/x265, so that a lost or corrupt packet damages at most 32 frames. -1 (only
# the first frame is intra) stays available (--intra-period -1); it costs fewer bits but one bad
# packet then spoils the rest of the video.
DEFAULT_INTRA_PERIOD = 32


RETIRED_FIELDS = {"refine_width": 0, "refine_blocks": None}
"""Fields older weights files record for features this version removed: accepted and dropped at the
value that means "not used" (None: any value), refused otherwise. ``refine_*``: the pixel refiner,
an experiment no shipped model used (docs/results.md, "Pixel refiner")."""


@dataclass(frozen=True)
class ModelConfig:
    name: str = "tiny"
    # Patches and windows (paper: 16 px patches; window size inferred as 256 px).
    patch_size: int = 16
    window: int = 128
    # Encoder: M_e blocks of (N_e local window layers + 1 global layer).
    enc_width: int = 160
    enc_blocks: int = 1
    enc_local_layers: int = 2
    # Decoder: same structure, then the convolutional output head.
    dec_width: int = 160
    dec_blocks: int = 1
    dec_local_layers: int = 2
    heads: int = 4
    mlp_ratio: float = 2.0
    # v2 (model/conv.py, model/motion.py): convolutional analysis on x ⊕ warped reference and a
    # contextual convolutional decoder with a per-pixel copy gate. 0 = v1 (patch embedding, linear head).
    conv_width: int = 0
    # v3: residual blocks at each of 1/4, 1/8 and 1/16 in the stem and the decoder (model/conv.py).
    conv_blocks: int = 0
    # v4: the convolutions' layout (model/conv.py): 1 = 3x3 and sub-pixel upsampling (v2, v3);
    # 2 = 5x5 stride-2 convolutions and transposed convolutions (Ballé et al.), no residual blocks.
    conv_design: int = 1
    # Block motion compensation of the short-term reference: block size in px (0 = none) and
    # search range in px (encoder side).
    motion_block: int = 0
    motion_search: int = 16
    # Overlapped block motion compensation (model/motion.py::warp_overlapped) instead of the
    # block copy: no block edges in the reference (the copy put 16 px edges into predicted frames).
    motion_overlap: bool = False
    # Latent tokens per window that take part in the global layers (0 = all): caps the global
    # attention's cost at large frames (1080p with 64 px windows: 510 windows).
    global_tokens: int = 0
    # 1D latent tokens (paper: 32 tokens x 16 channels per window).
    latent_tokens: int = 32
    token_dim: int = 16
    # Quantisation: symbols are clipped to [-symbol_max, symbol_max].
    symbol_max: int = 31
    # Variable rate: one model, `qualities` levels, each with its own lambda and quantiser gains.
    qualities: int = 4
    lambdas: tuple = (3.0, 24.0, 96.0, 384.0)
    # Long-term 1D memory: `memory_tokens` slots of `memory_dim` integer channels per window.
    memory_tokens: int = 8
    memory_dim: int = 32
    # Integer autoregressive prior.
    prior_hidden: int = 64
    ar_groups: int = 32  # 32 = token by token, as in the paper
    scale_levels: int = 64
    scale_min: float = 0.11
    scale_max: float = 48.0

    def __post_init__(self):
        if self.window % self.patch_size:
            raise ValueError("window must be a multiple of patch_size")
        if self.latent_tokens % self.ar_groups:
            raise ValueError("latent_tokens must be a multiple of ar_groups")
        if self.motion_block and not self.conv_width:
            raise ValueError("motion compensation needs the v2 transform (conv_width > 0)")
        if self.global_tokens > self.latent_tokens:
            raise ValueError("global_tokens cannot exceed latent_tokens")
        if self.conv_design not in (1, 2) or (self.conv_design == 2 and self.conv_blocks):
            raise ValueError("conv_design is 1, or 2 (which has no residual blocks)")
        if len(self.lambdas) != self.qualities:
            raise ValueError("one lambda per quality level")

    @property
    def patches_per_window(self) -> int:
        return (self.window // self.patch_size) ** 2

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "ModelConfig":
        data = json.loads(text)
        for name, default in RETIRED_FIELDS.items():  # older files record options this version dropped
            if name in data:
                value = data.pop(name)
                if default is not None and value != default:
                    raise ValueError(f"config field {name}={value!r} needs a feature this version no longer has "
                                     f"(only {name}={default!r} is accepted)")
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown config fields {sorted(unknown)}")
        if "lambdas" in data:
            data["lambdas"] = tuple(data["lambdas"])
        return cls(**data)


PRESETS: dict[str, ModelConfig] = {
    "tiny": ModelConfig(),
    # v2: 64 px windows (16 patches), 16 tokens x 16 channels per window (1/16 value per pixel,
    # as v1), convolutions at the pixels, block motion compensation, a real copy gate.
    "tiny2": ModelConfig(
        name="tiny2", patch_size=16, window=64,
        enc_width=96, enc_blocks=1, enc_local_layers=1,
        dec_width=96, dec_blocks=1, dec_local_layers=2, heads=4, mlp_ratio=2.0,
        conv_width=16, motion_block=16, motion_search=16, motion_overlap=True, global_tokens=4,
        latent_tokens=16, token_dim=16, ar_groups=16,
        lambdas=(32.0, 100.0, 300.0, 1000.0),
    ),
    # v3: tiny2 with 64 channels per token (1/4 value per pixel) and two residual blocks per scale
    # in the stem and the decoder. tiny2's float latents (no quantisation) stopped near 25.7 dB on
    # carphone whatever the level, and latents optimised directly for its frozen decoder gained
    # only ~1.5 dB: both the latent width and the synthesis limited quality. Grown from a tiny2
    # checkpoint (train --init ... --grow-to tiny3: new channels and blocks start silent), wider
    # lambdas for a wider rate range (v1 went down to 3: its lowest level is 5x cheaper than tiny2's).
    "tiny3": ModelConfig(
        name="tiny3", patch_size=16, window=64,
        enc_width=96, enc_blocks=1, enc_local_layers=1,
        dec_width=96, dec_blocks=1, dec_local_layers=2, heads=4, mlp_ratio=2.0,
        conv_width=16, motion_block=16, motion_search=16, motion_overlap=True, global_tokens=4,
        conv_blocks=2, latent_tokens=16, token_dim=64, ar_groups=16,
        lambdas=(4.0, 30.0, 200.0, 1500.0),
    ),
    # v4: tiny3 with design-2 convolutions (5x5 stride-2 convolutions down, transposed convolutions
    # up, contexts fused at every scale; no residual blocks). Trained alone as an intra autoencoder
    # (scripts/intra_ceiling.py, float latents, one CPU core) design 2 reached in 5 minutes what
    # tiny3's design needed far longer for (model card): tiny3's quality stopped at the transform.
    "tiny4": ModelConfig(
        name="tiny4", patch_size=16, window=64,
        enc_width=96, enc_blocks=1, enc_local_layers=1,
        dec_width=96, dec_blocks=1, dec_local_layers=2, heads=4, mlp_ratio=2.0,
        conv_width=16, conv_design=2, motion_block=16, motion_search=16, motion_overlap=True, global_tokens=4,
        latent_tokens=16, token_dim=64, ar_groups=16,
        lambdas=(4.0, 30.0, 200.0, 1500.0),
    ),
    "paper": ModelConfig(
        name="paper", patch_size=16, window=256,
        enc_width=768, enc_blocks=2, enc_local_layers=5,
        dec_width=1024, dec_blocks=2, dec_local_layers=11, heads=16, mlp_ratio=4.0,
        qualities=8, lambdas=tuple(round(6.0 * (384.0 / 6.0) ** (i / 7), 2) for i in range(8)),
        memory_tokens=16, memory_dim=64, prior_hidden=256,
    ),
}
