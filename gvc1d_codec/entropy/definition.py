"""The integer entropy-model definition: the one place that owns its id, constants and tables.

A stream records ``ENTROPY_MODEL_ID`` in its header and a weights file in its metadata; a decoder
refuses either when the id differs from this module's, because any change below changes the
probabilities and therefore the symbols a payload decodes to. Bump the id on any change to:

* the fixed-point convention of the integer networks (``FRAC``, ``SHIFT``, ``ACT_MAX``,
  ``INPUT_BOUND``; :mod:`gvc1d_codec.entropy.intnet`),
* the residual alphabet and the frequency tables (``RESIDUAL_RANGE``, ``TABLE_TOTAL``,
  :func:`scale_grid`, :func:`build_freq_table`), the skip-flag table (``SKIP_FREQ``) or the
  motion-vector tables (``MV_MAX``, ``MV_FREQ``),
* the graph of the context model or the symbol order of a payload
  (:mod:`gvc1d_codec.entropy.prior`, :mod:`gvc1d_codec.entropy.model`, docs/bitstream.md).

Frequency tables
----------------
``freq[scale_index, quarter, r + RESIDUAL_RANGE]`` is the integer frequency of the residual
``r = symbol - floor(mu4 / 4)`` for ``r`` in ``[-RESIDUAL_RANGE, RESIDUAL_RANGE - 1]``, where the
mean is ``mu4 / 4`` and ``quarter = mu4 - 4 * floor(mu4 / 4)``: a discretised Gaussian of standard
deviation ``scale_grid[scale_index]`` centred at ``quarter / 4``, scaled to ``TABLE_TOTAL`` and
floored at 1 so every residual stays codable. The table is built once at export (float, on the
exporting machine) and shipped as integers in the weights file; it is never rebuilt at load time,
only checked by :func:`check_freq_table`.
"""
from __future__ import annotations

import math

import numpy as np

from ..config import ModelConfig

# 1: tokens of every window; 2: + skip flags (and motion vectors) in P frames;
# 3: + a quality code per packet (continuous quality, the two-hot condition: gvc1d_codec/quality.py);
# 4: + the enhancement layer above the highest level (entropy/residual_syntax.py; quality codes
#    above 16 were corrupt under 3, so every stream of model 3 decodes the same under 4);
# 5: + the enhancement layer's prediction modes in P frames (sub-pel; a stream of model 4 decodes
#    as before: the decoder reads modes only from streams of model 5);
# 6: byte-terminated range coding (entropy/coder.py: payloads end at the byte they need, not at a 32-bit word)
# 7: + a decoder update in every intra frame (gvc1d_codec/adaptation.py; a spread symbol, 0 = none)
# 8: model 6 with merge modes in the motion field (motion format 4, entropy/motion_syntax.py: a block
#    takes its window's, its left or its top neighbour's vector, or an explicit delta with a heavier-tailed row)
# 9: model 7 with the same merge modes (8 and 9 differ as 6 and 7 do: the intra frames' update symbol)
# 10: model 8 with neighbour classes in the enhancement layer (entropy/residual_syntax.py: a block's
#     class is coded in the row its left and top neighbours' classes choose, chroma's also by luma's)
# 11: model 9 with the same neighbour classes (10 and 11 differ as 8 and 9 do)
ENTROPY_MODEL_ID = 11
UNADAPTED_ID = 10  # what an encoder that sends no decoder updates writes: the same streams, one symbol less per intra frame
UPDATE_IDS = (7, 9, 11)  # the entropy models whose intra frames start with a decoder update (or its absence)
MERGE_MOTION_ID = 8  # from this entropy model on, motion fields are coded with merge modes (format 4)
NEIGHBOUR_CLASSES_ID = 10  # from this entropy model on, the layer's classes are coded by their neighbours
DECODABLE_IDS = (3, 4, 5, 6, 7, 8, 9, 10, 11)
# Weights files exported for these ids hold integer networks and tables this definition reads
# unchanged (model 2 only added the skip flags, whose table is a constant of this module; model 3
# only changed what is fed to the condition input, which is a one-hot at whole levels as before).
WEIGHTS_COMPATIBLE_IDS = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11)

# Integer networks (intnet.py): an activation ``a`` stands for ``a / 2**FRAC``.
FRAC = 4  # fractional bits of every activation: real = int / 16
SHIFT = 16  # fractional bits of a layer's output multiplier
ACT_MAX = 255  # clipped ReLU range [0, 255] = real [0, 15.94]
INPUT_BOUND = 2**11  # >= every layer input: activations <= 1008, symbols * 16 <= 496
EXACT_LIMIT = 2.0**53  # float64 holds every integer below this exactly

# Skip flags (P frames): one per window, coded before the tokens with a fixed integer table
# selected by the context  left + top + 3 * previous  (each 1 if that window was skipped: the
# left and top neighbours in this frame, the same window in the previous frame; 0 outside the
# frame and after an intra frame). Row = (frequency of "coded", frequency of "skipped").
SKIP_CONTEXTS = 6
SKIP_FREQ = np.array([[3072, 1024], [2048, 2048], [1024, 3072],
                      [1536, 2560], [768, 3328], [256, 3840]], dtype=np.int64)

# Motion vectors (P frames of models with ``motion_block`` > 0): one integer (dy, dx) per block,
# |component| <= MV_MAX, coded before the skip flags as window vectors and block deltas with the
# rows MV_FREQ[0] or MV_FREQ[1] (format 3: :mod:`gvc1d_codec.entropy.motion_syntax` says which).
# Residual alphabet: [-2 MV_MAX, 2 MV_MAX].
MV_MAX = 63
MV_ALPHABET = 4 * MV_MAX + 1


def _two_sided_geometric(peak: int, num: int, den: int, reach: int = 2 * MV_MAX) -> np.ndarray:
    """Integer frequencies f(r) = floor(f(|r| - 1) * num / den), f(0) = peak, floored at 1, for
    r in [-reach, reach] (integer arithmetic only: the same table on every machine)."""
    half = [peak]
    for _ in range(reach):
        half.append(max(1, half[-1] * num // den))
    return np.array(half[:0:-1] + half, dtype=np.int64)


MV_FREQ = np.stack([_two_sided_geometric(1 << 15, 1, 32),   # row 0: nothing moved (or moved with its window)
                    _two_sided_geometric(1 << 14, 1, 4)])   # row 1: moving, most often as before

# Motion format 4 (entropy model 8): each block's merge mode (window vector, left, top, explicit) with the
# row MERGE_FREQ[k] (k as for format 3's block deltas), then each explicit block's delta against its
# window vector, dy then dx, with the one row EXPLICIT_FREQ over [-2 MV_MAX, 2 MV_MAX]. The rows are
# the modes' shares on training clips (foreman, mobile, bikes, zhling720p; qualities 1, 2, 4) and a
# geometric tail of ratio 3/4: under format 3's row 0 a component of 3 or more cost about 15 bits.
MERGE_MODES = 4
MERGE_FREQ = np.array([[3712, 96, 96, 192],      # k = 0: the block moved with its window last frame
                       [1536, 512, 512, 1536]],  # k = 1: it did not
                      dtype=np.int64)
EXPLICIT_FREQ = _two_sided_geometric(1 << 14, 3, 4)[None]


# Decoder updates (intra frames from entropy model 7, gvc1d_codec/adaptation.py): first the spread
# k in 0..UPDATE_SPREADS with the uniform row UPDATE_SPREAD_FREQ (0: no update), then, for k >= 1,
# every value v in [-UPDATE_MAX, UPDATE_MAX] with the row UPDATE_FREQ[k - 1]: a two-sided geometric
# of ratio (2^k - 1) / 2^k around 0 (k = 1: most values 0 or +-1; k = 8: nearly flat).
UPDATE_MAX = 63
UPDATE_SPREADS = 8
UPDATE_SPREAD_FREQ = np.ones((1, UPDATE_SPREADS + 1), dtype=np.int64)

UPDATE_FREQ = np.stack([_two_sided_geometric(1 << 16, (1 << k) - 1, 1 << k, UPDATE_MAX)
                        for k in range(1, UPDATE_SPREADS + 1)])


def log2_ratio16(num: int, den: int) -> int:
    """floor(16 · log2(num / den)) for integers num >= den > 0, by integer squaring only (the same
    on every machine, unlike a float log2)."""
    whole = 0
    while num >= 2 * den:
        den *= 2
        whole += 1
    frac = 0
    for _ in range(4):  # four fraction bits: 1/16 bit
        num, den = num * num, den * den
        frac <<= 1
        if num >= 2 * den:
            den *= 2
            frac |= 1
    return 16 * whole + frac


# The cost in 1/16 bits of each motion residual under MV_FREQ[k] (the encoder's motion decision;
# no decoder uses it): MV_BITS16[k, r] = floor(16 · log2(sum(MV_FREQ[k]) / MV_FREQ[k, r])).
MV_BITS16 = np.array([[log2_ratio16(int(row.sum()), int(f)) for f in row] for row in MV_FREQ], dtype=np.int64)
MERGE_BITS16 = np.array([[log2_ratio16(int(row.sum()), int(f)) for f in row] for row in MERGE_FREQ], dtype=np.int64)
EXPLICIT_BITS16 = np.array([log2_ratio16(int(EXPLICIT_FREQ.sum()), int(f)) for f in EXPLICIT_FREQ[0]], dtype=np.int64)

# Residual alphabet and frequency tables.
RESIDUAL_RANGE = 64  # alphabet: 128 residuals; |symbol| <= 31 so |residual| <= 62 always fits
TABLE_TOTAL = 1 << 16
QUARTERS = 4  # the prior's mean has a resolution of 1/4


def scale_grid(cfg: ModelConfig) -> np.ndarray:
    """The standard deviations the scale indices stand for (geometric, float64)."""
    i = np.arange(cfg.scale_levels, dtype=np.float64)
    return cfg.scale_min * (cfg.scale_max / cfg.scale_min) ** (i / (cfg.scale_levels - 1))


def freq_table_shape(cfg: ModelConfig) -> tuple[int, int, int]:
    return (cfg.scale_levels, QUARTERS, 2 * RESIDUAL_RANGE)


def build_freq_table(cfg: ModelConfig) -> np.ndarray:
    """The integer frequency tables (int32 ``freq_table_shape(cfg)``), built at export only."""
    if 2 * cfg.symbol_max >= RESIDUAL_RANGE:
        raise ValueError("symbol_max too large for the residual alphabet")
    r = np.arange(-RESIDUAL_RANGE, RESIDUAL_RANGE, dtype=np.float64)
    table = np.zeros(freq_table_shape(cfg), dtype=np.int32)
    erf = np.vectorize(math.erf)
    for i, sigma in enumerate(scale_grid(cfg)):
        for q in range(QUARTERS):
            c = q / QUARTERS
            upper = 0.5 * (1 + erf((r - c + 0.5) / (sigma * math.sqrt(2))))
            lower = 0.5 * (1 + erf((r - c - 0.5) / (sigma * math.sqrt(2))))
            table[i, q] = np.maximum(1, np.floor((upper - lower) * TABLE_TOTAL + 0.5)).astype(np.int32)
    return table


def check_freq_table(table: np.ndarray, cfg: ModelConfig) -> np.ndarray:
    """Validate a shipped table and return it as float64 (exact integers, what the coder takes).

    Raises ValueError when its shape is not the config's, it is not integer, or a frequency is
    below 1 (a residual of frequency 0 could not be coded) or the row sums leave the range in
    which the coder's fixed-point model is built exactly."""
    a = np.asarray(table)
    if a.shape != freq_table_shape(cfg):
        raise ValueError(f"frequency table has shape {a.shape}, the config needs {freq_table_shape(cfg)}")
    if a.dtype.kind not in "iu":
        raise ValueError(f"frequency table must hold integers, not {a.dtype}")
    if int(a.min()) < 1:
        raise ValueError("frequency table has an entry below 1 (every residual must stay codable)")
    if int(a.astype(np.int64).sum(axis=-1).max()) >= 1 << 24:
        raise ValueError("frequency table rows sum to 2**24 or more")
    return np.ascontiguousarray(a, dtype=np.float64)


def skip_contexts(skip: np.ndarray, prev_skip: np.ndarray | None, rows: int, cols: int) -> np.ndarray:
    """The context (0..5) of every window's skip flag, windows in raster order."""
    f = np.asarray(skip, dtype=np.int64).reshape(rows, cols)
    left = np.zeros_like(f)
    left[:, 1:] = f[:, :-1]
    top = np.zeros_like(f)
    top[1:, :] = f[:-1, :]
    prev = np.zeros_like(f) if prev_skip is None else np.asarray(prev_skip, dtype=np.int64).reshape(rows, cols)
    return (left + top + 3 * prev).reshape(-1)
