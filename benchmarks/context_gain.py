"""What better contexts would save on the enhancement layer's side information (static entropies).

    python benchmarks/context_gain.py CLIP FRAMES QUALITY      # e.g. zhling720p 6 3 (a training clip)

Codes the clip through ``Encoder`` (low delay), keeps every frame's layer as the encoder hands it to
``residual_syntax.encode``, and prints, over the P frames, the empirical conditional entropy (bytes,
no adaptation cost) of the prediction modes and of the block classes under the contexts the
current entropy model uses ("nsub": how many of the left and top blocks have a sub-pel mode;
"kind": luma or chroma) and under candidate ones (the left / top neighbours' values, the
co-located class of the previous frame). An estimate for designing entropy model 7, not a result.
"""
import sys, collections, numpy as np, torch
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from gvc1d_codec import VideoFrame
from gvc1d_codec.data.clips import load_clip
from gvc1d_codec.codec import Encoder
from gvc1d_codec.entropy import residual_syntax as rs
torch.set_num_threads(1)
dumps = []
orig = rs.encode
def enc(e, layer, grid, window, tables=None):
    dumps.append([np.array(p) for p in layer])
    return orig(e, layer, grid, window, tables)
rs.encode = enc  # the entropy model calls residual_syntax.encode through the module
clip, n, q = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
y, u, v = load_clip(clip, max_frames=n)
T, h, w = y.shape
e = Encoder(w, h, quality=q, intra_period=-1)
for i in range(T):
    e.encode_packet(VideoFrame("yuv420p", (y[i], u[i], v[i])))
def H(pairs):  # conditional entropy in bits, total
    c = collections.Counter(pairs); cc = collections.Counter(k for k, _ in pairs)
    return -sum(n * np.log2(n / cc[k]) for (k, s), n in c.items())
P = dumps[1:]  # P frames
# modes
modes = [d[3] for d in P if len(d) == 4]
tot = {"none": [], "nsub": [], "left": [], "left+top": []}
for m in modes:
    bh, bw = m.shape
    for by in range(bh):
        for bx in range(bw):
            s = int(m[by, bx]); l = int(m[by, bx-1]) if bx else -1; t = int(m[by-1, bx]) if by else -1
            ns = int(bx > 0 and l != 25) + int(by > 0 and t != 25)
            tot["none"].append((0, s)); tot["nsub"].append((ns, s)); tot["left"].append((l, s)); tot["left+top"].append(((l, t), s))
print("modes: blocks", len(tot["none"]), {k: round(H(v)/8) for k, v in tot.items()}, "bytes (static)")
# classes per plane, context: plane kind only / prev frame colocated class / left class
cls = [[rs.block_class(p) for p in d[:3]] for d in P]
res = collections.defaultdict(list)
for f in range(len(cls)):
    for k in range(3):
        c = cls[f][k]; prev = cls[f-1][k] if f else None
        for by in range(c.shape[0]):
            for bx in range(c.shape[1]):
                s = int(c[by, bx]); kind = min(k, 1)
                res["kind"].append((kind, s))
                res["kind+prev"].append(((kind, -1 if prev is None else min(int(prev[by, bx]), 4)), s))
                res["kind+left"].append(((kind, min(int(c[by, bx-1]), 4) if bx else -1), s))
                res["kind+left+top"].append(((kind, min(int(c[by, bx-1]), 3) if bx else -1, min(int(c[by-1, bx]), 3) if by else -1), s))
print("classes (all blocks incl. flagged-off windows):", {k: round(H(v)/8) for k, v in res.items()}, "bytes (static)")
