"""Merge rd.py result files of different clips into one (then re-render it with rd.py --from-json).

    python benchmarks/rd_merge.py A.json B.json [...] --out merged.json

Used when the clips were coded by separate runs, e.g. the small clips against all four anchors and
cockatoo 720p against x265 alone (the other anchors are then listed as skipped for that clip);
inputs may reuse anchors (``--reuse-anchors``) if they all reuse them from the same earlier run:

    python benchmarks/rd.py --clips carphone,cisco_2people,cisco_men --reuse-anchors benchmarks/rd-result.json --json small.json
    python benchmarks/rd.py --clips cockatoo --anchors x265 --qualities 0,1,2,3,4,5,6 \\
        --metrics psnr_yuv,psnr_rgb,ms_ssim,lpips_alex --json cockatoo.json
    python benchmarks/rd_merge.py small.json cockatoo.json --out benchmarks/rd-result.json
    python benchmarks/rd.py --from-json benchmarks/rd-result.json --doc docs/results.md --readme docs/results.md --plot-dir benchmarks/rd-plots
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("inputs", nargs="+")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    parts = [json.loads(Path(p).read_text()) for p in a.inputs]
    merged = dict(parts[0])
    reusing = [p for p in parts if p.get("anchors_reused_from")]
    if reusing:  # say which clips' anchors were reused, not coded (all from one earlier run)
        sources = {p["anchors_reused_from"].get("json") for p in reusing}
        if len(sources) > 1:
            sys.exit(f"rd_merge.py: the inputs reuse anchors from different runs ({', '.join(sorted(map(str, sources)))})")
        commands = list(dict.fromkeys(p["anchors_reused_from"].get("command") for p in reusing))
        merged["anchors_reused_from"] = dict(reusing[0]["anchors_reused_from"], command=" + ".join(map(str, commands)),
                                             clips=[c["clip"] for p in reusing for c in p["clips"]])
    seen = {c["clip"] for c in merged["clips"]}
    for part in parts[1:]:
        clash = seen & {c["clip"] for c in part["clips"]}
        if clash:
            sys.exit(f"rd_merge.py: clip(s) {', '.join(sorted(clash))} in more than one input")
        seen |= {c["clip"] for c in part["clips"]}
        merged["clips"] = merged["clips"] + part["clips"]
        merged["points"] = merged["points"] + part["points"]
        for name, codec in part["codecs"].items():
            merged["codecs"].setdefault(name, codec)
        for name in merged["codecs"]:
            if name not in part["codecs"] and not merged["codecs"][name].get("extra"):
                for clip in part["clips"]:
                    merged.setdefault("skipped", []).append(
                        {"codec": name, "clip": clip["clip"], "reason": f"not coded on {clip['clip']} (its run had {', '.join(part['codecs'])})"})
        merged["elapsed_seconds"] = merged.get("elapsed_seconds", 0) + part.get("elapsed_seconds", 0)
    merged["command"] = " + ".join(p["command"] for p in parts) + " + python benchmarks/rd_merge.py"
    Path(a.out).write_text(json.dumps(merged, indent=1) + "\n")
    print(f"rd_merge.py: {len(merged['clips'])} clips, {len(merged['points'])} points -> {a.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
