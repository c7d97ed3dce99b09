"""Rewrite the measured tables of docs/results.md, weights/README.md and docs/conformance.md from fresh results.

    python benchmarks/heldout.py --frames 32 --json benchmarks/heldout/gvc1d-tiny.heldout.json
    python benchmarks/speed.py --json benchmarks/speed-result.json
    python conformance/matrix.py --out /tmp/matrix.md
    python scripts/update_measured_tables.py benchmarks/heldout/gvc1d-tiny.heldout.json benchmarks/speed-result.json /tmp/matrix.md

Only the tables between <!-- tag --> markers and the weights SHA-256 are rewritten; the prose around
them (which states conclusions) must be re-read and updated by hand.
"""
import json, re, sys
H = json.load(open(sys.argv[1])); S = json.load(open(sys.argv[2])); matrix = open(sys.argv[3]).read().strip()
sha = H["weights_sha256"]
def rep(text, tag, body):
    pat = re.compile(rf"(<!-- {tag} -->\n)(?:.*?\n)?(<!-- /{tag} -->)", re.S)  # the block may be empty
    assert pat.search(text), tag
    return pat.sub(lambda m: m.group(1) + body + "\n" + m.group(2), text)
rows = ["| clip | quality | bpp | PSNR-YUV | PSNR-RGB | MS-SSIM | LPIPS-Alex | grid | real / ideal bits | real / shadow estimate |", "|---|---|---|---|---|---|---|---|---|---|"]
for r in H["results"]:
    rows.append(f"| {r['clip']} {r['size']} | {r['quality']} | {r['bpp']:.4f} | {r['psnr_yuv']:.2f} | {r['psnr_rgb']:.2f} | {r['ms_ssim']:.4f} | {r['lpips_alex']:.4f} | {r.get('grid', float('nan')):.3f} | {100*r['payload_over_ideal']:+.2f}% | {100*r['payload_over_shadow']:+.2f}% |")
card = open("weights/README.md").read()
old = re.search(r"\| SHA-256 \| `([0-9a-f]{64})", card).group(1)  # the default's SHA-256 before this run
card = rep(card, "heldout-table", "\n".join(rows))
card = re.sub(r"(\| SHA-256 \| `)[0-9a-f]{64}", lambda m: m.group(1) + sha, card, count=1)  # the default model's card only
open("weights/README.md", "w").write(card)
by = {}
for r in H["results"]:
    by.setdefault((r["clip"], r["size"], r["frames"]), {})[r["quality"]] = r
qmax = max(r["quality"] for r in H["results"])
rows = ["| clip | quality | bpp | PSNR-YUV (dB) | LPIPS-Alex |", "|---|---|---|---|---|"]
for (c, s, f), q in by.items():
    a, b = q[0], q[qmax]
    rows.append(f"| {c} {s}, {f} frames | 0 / {qmax} | {a['bpp']:.4f} / {b['bpp']:.4f} | {a['psnr_yuv']:.2f} / {b['psnr_yuv']:.2f} | {a['lpips_alex']:.3f} / {b['lpips_alex']:.3f} |")
readme = open("docs/results.md").read()
readme = rep(readme, "heldout-summary", "\n".join(rows))
rows = ["| size | gvc1d encode fps | gvc1d decode fps | peak RSS enc / dec | x265 encode / decode fps | entropy overhead (payload / whole file) |", "|---|---|---|---|---|---|"]
for z in S["sizes"]:
    g, x = z["gvc1d"], z["x265"]
    rows.append(f"| {z['size']} ({z['clip']}{' scaled up' if 'scaled up' in z['source'] else ''}, {z['frames']} frames) | {g['enc_fps']:.2f} | {g['dec_fps']:.2f} | {g['enc_peak_rss_mib']:.0f} / {g['dec_peak_rss_mib']:.0f} MiB | {x['enc_fps']:.1f} / {x['dec_fps']:.1f} | {g['payload_overhead_pct']:+.2f}% / {g['file_overhead_pct']:+.2f}% |")
readme = rep(readme, "speed-table", "\n".join(rows))
readme = readme.replace(f"SHA-256 `{old[:8]}...`", f"SHA-256 `{sha[:8]}...`")  # the default's, not the kept models'

open("docs/results.md", "w").write(readme)
conf = open("docs/conformance.md").read()
conf = rep(conf, "matrix-table", matrix)
conf = conf.replace(f"SHA-256 `{old[:8]}...`", f"SHA-256 `{sha[:8]}...`")
open("docs/conformance.md", "w").write(conf)
print("updated")
