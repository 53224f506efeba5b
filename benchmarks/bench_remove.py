"""Benchmark object removal: quality and speed at 512 px (Part A) and end to end at 4K (Part B).

    python benchmarks/bench_remove.py [--quick] [--out benchmarks/results.md]

Writes the Markdown report (also printed) and a JSON with every measurement next to it, and
comparison sheets into benchmarks/out/. See benchmarks/README.md for the columns and data.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_4k  # noqa: E402
import bench_512  # noqa: E402
from methods import PYPATCHMATCH_PATCH_SIZE, all_methods, pypatchmatch_version, warm_up  # noqa: E402
from photos import benchmark_photos, mate_source  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="smoke test: 2 photos, 1 seed, no 4K part")  # fmt: skip
    parser.add_argument("--out", type=Path, default=HERE / "results.md", help="Markdown report path")
    parser.add_argument("--no-4k", action="store_true", help="skip Part B")
    parser.add_argument("--only-4k", action="store_true",
                        help="Part B only; Part A's 512-px figures are kept from the previous "
                             "results JSON at --out")  # fmt: skip
    args = parser.parse_args(argv)

    started = time.perf_counter()
    env = environment()  # before the run: the commit measured, not one made meanwhile
    out_dir = HERE / "out"
    photos = benchmark_photos(quick=args.quick)
    seeds = [0] if args.quick else [0, 1]
    if args.only_4k:  # Part A as last measured (its commit is named in the report)
        previous = json.loads(args.out.with_suffix(".json").read_text())
        photos, seeds = previous["photos"], previous["seeds"]
        records, summary = previous["records_512"], previous["summary_512"]
        env["part_a_from"] = previous["environment"].get("part_a_from", previous["environment"]["commit"])
    else:
        methods = all_methods()
        warm_up(methods)
        records = bench_512.run(photos, seeds, methods, out_dir / "512")
        summary = bench_512.summarise(records, methods)
    part_b = None if (args.quick or args.no_4k) else bench_4k.run(out_dir / "4k")

    env["wall_s"] = time.perf_counter() - started
    report = _markdown(args, photos, seeds, summary, part_b, env)
    print(report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report + "\n")
    payload = {
        "environment": env, "photos": photos, "seeds": seeds, "records_512": records,
        "summary_512": summary, "part_4k": part_b,
        "verdicts_4k": None if part_b is None else bench_4k.verdicts(part_b),
    }  # fmt: skip
    args.out.with_suffix(".json").write_text(json.dumps(jsonable(payload), indent=1) + "\n")
    print(f"\nwrote {args.out} and {args.out.with_suffix('.json')}; sheets in {out_dir}", file=sys.stderr)
    return 0


def _markdown(args, photos, seeds, summary, part_b, env) -> str:
    parts = [
        "# photomend remove benchmark",
        "",
        f"{env['date']} · commit `{env['commit']}` · {env['cpu']} ({env['cores']} cores) · "
        f"Python {env['python']} · numpy {env['numpy']} · numba {env['numba']} · OpenCV {env['opencv']} · "
        f"PyPatchMatch {env['pypatchmatch']} · photomend patchmatch engine: \"{env['patchmatch_engine']}\" · "
        f"total {env['wall_s'] / 60:.1f} min{' · **--quick**' if args.quick else ''}",
        "",
        f"## A. 512 px: {len(photos)} photos × 3 mask kinds × {len(seeds)} seed(s)",
        "",
        *([f"(Part A as measured at commit `{env['part_a_from']}`; this run measured Part B only.)", ""]
          if env.get("part_a_from") else []),
        "Means over photos and seeds. Masked metrics over the hole dilated by 8 px; detail ratio inside "
        "the hole eroded by 2 px (1 = as much fine detail as the truth). photomend methods run with "
        f"`hd_strategy=\"original\"`; PyPatchMatch with `patch_size={PYPATCHMATCH_PATCH_SIZE}`. "
        "Verdict targets (photomend patchmatch): SSIM ≥ best peer, PSNR ≥ best peer − 0.3 dB, "
        "0.6 ≤ detail ≤ 1.4.",
        "",
        bench_512.table(summary),
    ]
    if part_b is not None:
        parts += [
            "",
            "## B. 4K end to end (Elephants 3840×2160, read JPEG → fill → write JPEG)",
            "",
            "Each row is a fresh process. time = read + fill + write inside the process (warm: numba "
            "kernels loaded from the cache); process = the whole subprocess including interpreter start "
            "and imports; peak RSS = VmHWM of that process; × telea = time / OpenCV Telea's on the "
            "same mask. photomend rows use engine patchmatch with the named `hd_strategy`.",
            "",
            bench_4k.table(part_b),
            "",
            "### 4K verdicts",
            "",
            bench_4k.verdict_table(bench_4k.verdicts(part_b)),
        ]
    return "\n".join(parts)


def environment() -> dict:
    """Date, commit (flagging uncommitted changes in src/), CPU and library versions."""
    import cv2
    import numba
    import numpy

    from photomend.engines import available_engines

    commit = _git("rev-parse", "--short", "HEAD") or "unknown"
    if _git("status", "--porcelain", "--untracked-files=no", "--", "../src"):
        commit += " + uncommitted changes in src/"
    return {
        "date": dt.datetime.now().strftime("%Y-%m-%d %H:%M"), "commit": commit, "cpu": _cpu_name(),
        "cores": os.cpu_count(), "python": platform.python_version(), "numpy": numpy.__version__,
        "numba": numba.__version__, "opencv": cv2.__version__,
        "pypatchmatch": pypatchmatch_version() or "not installed",
        "patchmatch_engine": available_engines()["patchmatch"].description, "photos_deb": mate_source(),
    }  # fmt: skip


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=HERE, capture_output=True, text=True).stdout.strip()
    except OSError:
        return ""


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def jsonable(obj):
    """``obj`` with non-finite floats as strings, so the JSON is strict."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return str(obj)
    if isinstance(obj, dict):
        return {k: jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    return obj


if __name__ == "__main__":
    raise SystemExit(main())
