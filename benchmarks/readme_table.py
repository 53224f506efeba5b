"""The README's table of headline results, written from the committed benchmark results.

    python benchmarks/readme_table.py           # rewrite the table in README.md
    python benchmarks/readme_table.py --check   # exit 1 if README.md's table is out of date

The table sits between ``<!-- results-table:begin -->`` and ``<!-- results-table:end -->`` in
README.md. Every figure in it is read from a ``benchmarks/results_*.json`` file that a benchmark
wrote (``results.json``: bench_remove.py, ``results_structure.json``: bench_structure.py,
``results_cli.json``: bench_cli.py), and every row names its conditions: the commit measured,
the date, the photos and masks, the machine. Re-run a benchmark, then this script, and commit
both; ``tests/test_readme_table.py`` fails while they disagree. Standard library only.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
README = HERE.parent / "README.md"
BEGIN = "<!-- results-table:begin -->"
END = "<!-- results-table:end -->"
NOTE = ("<!-- written by `python benchmarks/readme_table.py` from benchmarks/results_*.json; "
        "do not edit by hand -->")


def _load(name: str) -> dict | None:
    path = HERE / name
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def _met(ok: bool) -> str:
    return "met" if ok else "**not met**"


def _figure(detail: str) -> str:
    """A verdict's detail without its target: '23.11 vs best peer 23.16 - 0.3' -> '23.11 vs best
    peer 23.16'; '1.17 in [0.6, 1.4]' -> '1.17'; '0.79 ≤ 1.3' -> '0.79'."""
    for cut in (" - ", " + ", " in [", " ≤ "):
        detail = detail.split(cut)[0]
    return detail


def _when(env: dict) -> str:
    return f"commit {env['commit']}, {env['date'][:10]}"


def removal_rows(results: dict) -> list[list[str]]:
    """Rows of bench_remove.py's results.json: 512 px quality and the 4K end-to-end fill."""
    env = results["environment"]
    part_a = {**env, "commit": env.get("part_a_from", env["commit"])}
    where = (f"{len(results['photos'])} held-out photos x {len(results['seeds'])} seeds, "
             f"512 px; {_when(part_a)}")
    rows = []
    kinds = list(results["summary_512"])
    verdicts = {k: results["summary_512"][k]["verdict"] for k in kinds}
    for key, label, target in (
            ("psnr", "masked PSNR (dB) vs the best peer", ">= best peer - 0.3 dB"),
            ("ssim", "masked SSIM vs the best peer", ">= best peer"),
            ("detail", "detail ratio (fill / truth)", "0.6-1.4")):
        values = "; ".join(f"{k} {_figure(verdicts[k][key]['detail'])}" for k in kinds)
        ok = all(verdicts[k][key]["pass"] for k in kinds)
        rows.append(["remove, 512 px", label, values, target, _met(ok),
                     f"[results.md](benchmarks/results.md): {where}"])
    v4k = results["verdicts_4k"]
    kinds4k = [k for k in v4k if k != "first call"]
    where4k = (f"3840x2160 JPEG read -> fill -> write, {', '.join(kinds4k)} masks; "
               f"{_when(env)}, {env['cores']}-core {env['cpu']}")
    for key, label, target in (("auto warm time ≤ 3 s", "default (`auto`) end to end, warm", "<= 3 s"),
                               ("auto detail ratio in [0.6, 1.4]", "default (`auto`) detail ratio",
                                "0.6-1.4"),
                               ("cra warm time ≤ 3 s", "`cra` end to end, warm", "<= 3 s"),
                               ("cra detail ratio in [0.6, 1.4]", "`cra` detail ratio",
                                "0.6-1.4"),
                               ("cra peak RSS ≤ 1.5 GB", "`cra` peak RSS", "<= 1.5 GB"),
                               ("cra masked PSNR ≥ resize", "`cra` masked PSNR vs `resize`",
                                ">= resize")):
        if not all(key in v4k[k] for k in kinds4k):
            continue  # (a results.json from before the target existed)
        values = "; ".join(f"{k} {v4k[k][key][1]}" for k in kinds4k)
        ok = all(v4k[k][key][0] for k in kinds4k)
        rows.append(["remove, 4K", label, values, target, _met(ok),
                     f"[results.md](benchmarks/results.md): {where4k}"])
    return rows


def structure_rows(results: dict) -> list[list[str]]:
    """Rows of bench_structure.py's results_structure.json: held-out photos at 512 px and 4K."""
    env = results["environment"]
    verdicts = results["summary"]["verdicts"]["photomend"]
    sizes = results["summary"]["sizes"]
    n512 = sizes["512"]["heldout"]["all"]["photomend"]["n"]
    where = (f"HELDOUT split, box and object holes over edges, {n512} cases at 512 px; "
             f"{_when(env)}")
    rows = []
    for key, label, target in (("masked PSNR", "masked PSNR (dB)", ">= best peer"),
                               ("edge F1", "edge F1 of the fill", ">= best peer + 0.1"),
                               ("gross-error share", "gross-error share", "<= best peer"),
                               ("seam ratio", "seam ratio", "<= 1.3")):
        v = verdicts[key]
        rows.append(["remove, structure", label, _figure(v["detail"]), target,
                     _met(v["pass"]),
                     f"[results_structure.md](benchmarks/results_structure.md): {where}"])
    four_k = sizes.get("4k", {}).get("heldout", {}).get("all", {}).get("photomend")
    if four_k is not None:
        where4k = f"HELDOUT split, {four_k['n']} cases at 3840x2160; {_when(env)}"
        rows.append(["remove, structure", "seam ratio at 4K", f"{four_k['seam']:.2f}", "-", "-",
                     f"[results_structure.md](benchmarks/results_structure.md): {where4k}"])
    return rows


def cli_rows(results: dict) -> list[list[str]]:
    """Rows of bench_cli.py's results_cli.json: start-up and the CLI's overhead."""
    env, targets = results["environment"], results["targets"]
    where = (f"{_when(env)}, {env['cores']} cores, load {env['load']}, median of "
             f"{env['repeats']}")
    link = "[results_cli.md](benchmarks/results_cli.md)"
    rows = []
    for job in results["jobs"]:
        name, over = job["job"], job["overhead_s"]
        if name == "photomend --help":
            rows.append(["command line", "`photomend --help`", f"{job['cli_s']:.2f} s",
                         f"<= {targets['help_s']} s", _met(job["cli_s"] <= targets["help_s"]),
                         f"{link}: fresh process; {where}"])
        elif name.startswith(("remove", "restore", "upscale")) and not job["variant"]:
            rows.append(["command line", f"overhead of `{name}`",
                         f"{over:+.2f} s ({job['cli_s']:.2f} s vs {job['warm_s']:.2f} s warm)",
                         f"<= {targets['overhead_s']} s", _met(over <= targets["overhead_s"]),
                         f"{link}: fresh process minus the same arguments in a warm one; {where}"])
        if "opencv_s" in job:
            x = job["cli_s"] / job["opencv_s"]
            rows.append(["command line", "`remove --engine telea` vs an OpenCV script",
                         f"{x:.2f}x ({job['cli_s']:.2f} s vs {job['opencv_s']:.2f} s)",
                         f"<= {targets['telea_vs_opencv_script_x']}x",
                         _met(x <= targets["telea_vs_opencv_script_x"]),
                         f"{link}: 3840x2160 JPEG, both in a fresh process; {where}"])
    for eng in results["engines"]:
        x = eng["ratio"]
        rows.append(["command line", f"`{eng['engine']}` engine vs `cv2.inpaint`", f"{x:.2f}x",
                     f"<= {targets['engine_vs_cv2_x']}x", _met(x <= targets["engine_vs_cv2_x"]),
                     f"{link}: the same 4K arrays, in one process; {where}"])
    return rows


def table() -> str:
    """The table (with its begin/end markers), from whatever results files exist."""
    rows: list[list[str]] = []
    for name, make in (("results.json", removal_rows), ("results_structure.json", structure_rows),
                       ("results_cli.json", cli_rows)):
        results = _load(name)
        if results is not None:
            rows += make(results)
    lines = [BEGIN, NOTE, "",
             "| job | measure | result | target | | conditions (report) |",
             "|---|---|---|---|---|---|"]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    lines += ["", END]
    return "\n".join(lines)


def rewrite(text: str) -> str:
    """``text`` (README.md) with its table replaced by :func:`table`."""
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        raise SystemExit(f"README.md has no {BEGIN} ... {END} section")
    return text[:start] + table() + text[end + len(END):]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true",
                    help="only check that README.md's table is up to date (exit 1 if not)")
    args = ap.parse_args(argv)
    text = README.read_text(encoding="utf-8")
    new = rewrite(text)
    if args.check:
        if new != text:
            print("README.md's results table is out of date: run python "
                  "benchmarks/readme_table.py", file=sys.stderr)
            return 1
        return 0
    if new != text:
        README.write_text(new, encoding="utf-8")
        print("README.md: results table rewritten")
    return 0


if __name__ == "__main__":
    sys.exit(main())
