"""Transformer layers: pre-norm self-attention blocks, applied per window (local) or across windows (global)."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class TransformerLayer(nn.Module):
    """Pre-norm Transformer layer: x + Attn(LN(x)), then x + MLP(LN(x)). Input [N, T, D]."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float):
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, t, d = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(n, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(q, k, v)
        x = x + self.proj(a.transpose(1, 2).reshape(n, t, d))
        return x + self.mlp(self.norm2(x))


def window_position_embedding(rows: int, cols: int, dim: int, device) -> torch.Tensor:
    """Fixed 2D sine-cosine embedding of window coordinates, [rows*cols, dim]: lets the global
    layer know where each window sits, for any frame size."""
    quarter = dim // 4
    freq = torch.exp(-math.log(100.0) * torch.arange(quarter, device=device, dtype=torch.float32) / quarter)
    r = torch.arange(rows, device=device, dtype=torch.float32)[:, None] * freq
    c = torch.arange(cols, device=device, dtype=torch.float32)[:, None] * freq
    er = torch.cat([r.sin(), r.cos()], dim=1)[:, None, :].expand(rows, cols, 2 * quarter)
    ec = torch.cat([c.sin(), c.cos()], dim=1)[None, :, :].expand(rows, cols, 2 * quarter)
    emb = torch.cat([er, ec], dim=2).reshape(rows * cols, 4 * quarter)
    return F.pad(emb, (0, dim - 4 * quarter))


class LocalGlobalStack(nn.Module):
    """M blocks of (N local layers + 1 global layer), the paper's encoder/decoder body.

    Local layers see one window's sequence [patch tokens | latent tokens | context tokens].
    The global layer sees the latent tokens of every window of a frame at once (cross-window
    correlation at a cost linear in the number of patch tokens), or only the first
    ``global_tokens`` of each window (its attention is quadratic in the number of windows).
    """

    def __init__(self, dim: int, heads: int, mlp_ratio: float, blocks: int, local_layers: int, global_tokens: int = 0):
        super().__init__()
        self.global_tokens = global_tokens  # latent tokens per window in the global layer (0 = all)
        self.local = nn.ModuleList(
            nn.ModuleList(TransformerLayer(dim, heads, mlp_ratio) for _ in range(local_layers)) for _ in range(blocks)
        )
        self.global_ = nn.ModuleList(TransformerLayer(dim, heads, mlp_ratio) for _ in range(blocks))

    def forward(self, seq: torch.Tensor, frames: int, latent_slice: slice, window_pos: torch.Tensor) -> torch.Tensor:
        """seq: [frames * windows, T, D]; window_pos: [windows, D]."""
        nw = seq.shape[0] // frames
        for local_layers, global_layer in zip(self.local, self.global_):
            for layer in local_layers:
                seq = layer(seq)
            if self.global_tokens:
                latent_slice = slice(latent_slice.start, latent_slice.start + self.global_tokens)
            lat = seq[:, latent_slice]
            n_lat = lat.shape[1]
            g = (lat + window_pos.repeat(frames, 1)[:, None, :]).reshape(frames, nw * n_lat, -1)
            g = global_layer(g).reshape(frames * nw, n_lat, -1) - window_pos.repeat(frames, 1)[:, None, :]
            seq = torch.cat([seq[:, : latent_slice.start], g, seq[:, latent_slice.stop :]], dim=1)
        return seq
