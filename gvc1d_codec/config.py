"""Model configuration: data, not code paths.

A :class:`ModelConfig` is serialised (JSON) into the metadata of every weights file, so a weights
file fully describes the network it holds; its ``name`` is the architecture id a stream's header
records. :data:`PRESETS` holds one configuration per shipped architecture, keyed by the registry
name of its weights (gvc1d_codec/registry.py):

* ``gvc1d-tiny`` (architecture ``tiny4``): the default model (also ``gvc1d-tiny-v2``, ``gvc1d-tiny-mse``). Sized to
  train on 2 CPU cores: convolutions at the pixels (model/conv.py), 64 px windows of 16 tokens x
  64 channels, block motion.
* ``gvc1d-tiny-v1`` (architecture ``tiny``): the first release's Transformer-only model (also
  ``gvc1d-tiny-v1-mse``), kept for comparison.

:data:`PAPER` is the paper's scale (TA-TiTok ViT-B encoder / ViT-L decoder, 256 px windows, 32
tokens x 16 channels per window) for users with GPUs; no weights ship for it. Values the paper does
not give are our choice.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields

# Coding defaults (not part of a model): an intra frame every 32 frames (1.3 s at 25 fps), like a
# finite keyint in x264/x265, so that a lost or corrupt packet damages at most 32 frames. -1 (only
# the first frame is intra) stays available (--intra-period -1); it costs fewer bits but one bad
# packet then spoils the rest of the video.
DEFAULT_INTRA_PERIOD = 32


RETIRED_FIELDS = {"refine_width": 0, "refine_blocks": None, "conv_blocks": 0, "conv_design": None}
"""Fields older weights files record for features this version removed: accepted and dropped at the
value that means "not used" (None: any value), refused otherwise. ``refine_*``: the pixel refiner,
an experiment no shipped model used (docs/results.md, "Pixel refiner"). ``conv_blocks``,
``conv_design``: the 3x3 / residual-block convolution layout (design 1, never shipped); design 2 is
the only layout now (checked in :meth:`ModelConfig.from_json`)."""


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
    # Convolutional analysis on x ⊕ warped reference and a contextual convolutional decoder with a
    # per-pixel copy gate (model/conv.py); 0 = the first release's patch embedding and linear head.
    conv_width: int = 0
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
        if data.get("conv_width") and data.get("conv_design", 2) != 2:
            raise ValueError("config needs convolution design 1 (presets tiny2, tiny3), which this version no "
                             "longer has: use weights of gvc1d-tiny")
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
    "gvc1d-tiny": ModelConfig(
        name="tiny4", patch_size=16, window=64,
        enc_width=96, enc_blocks=1, enc_local_layers=1,
        dec_width=96, dec_blocks=1, dec_local_layers=2, heads=4, mlp_ratio=2.0,
        conv_width=16, motion_block=16, motion_search=16, motion_overlap=True, global_tokens=4,
        latent_tokens=16, token_dim=64, ar_groups=16,
        lambdas=(4.0, 30.0, 200.0, 1500.0),
    ),
    "gvc1d-tiny-v1": ModelConfig(),
}
"""One configuration per shipped architecture, keyed by its weights' registry name."""

DEFAULT_PRESET = "gvc1d-tiny"

PAPER = ModelConfig(
    name="paper", patch_size=16, window=256,
    enc_width=768, enc_blocks=2, enc_local_layers=5,
    dec_width=1024, dec_blocks=2, dec_local_layers=11, heads=16, mlp_ratio=4.0,
    qualities=8, lambdas=tuple(round(6.0 * (384.0 / 6.0) ** (i / 7), 2) for i in range(8)),
    memory_tokens=16, memory_dim=64, prior_hidden=256,
)
"""The paper's scale, for users with GPUs (no weights ship): ``--config paper`` in the trainer."""

TRAINABLE = {**PRESETS, "paper": PAPER}
"""What the trainer's ``--config`` accepts."""
