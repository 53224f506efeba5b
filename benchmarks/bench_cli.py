"""What a user pays for the command line: start-up, and each job through ``photomend`` against
the same work in a warm process and against a minimal OpenCV script.

    python benchmarks/bench_cli.py [--repeats N] [--out benchmarks/results_cli.md]

(the figures also go to ``results_cli.json``, which ``benchmarks/readme_table.py`` reads)

For each row, in one run on the same machine:

- **CLI**: the ``photomend ...`` command in a fresh process (wall clock of the whole process:
  interpreter, imports, reading, the work, writing);
- **warm**: the same arguments through :func:`photomend.cli.main` in this process after one
  untimed call, so imports are done and numba kernels and ONNX sessions are loaded: the work
  itself, with the same reading and writing. This process takes the memory policy of
  photomend's own processes first (:func:`photomend.process_memory.hold_freed_memory`, as the
  command, batch workers and server job processes do), so the two differ by start-up alone;
- **overhead** = CLI - warm (target: at most 0.5 s);
- for ``remove --engine telea`` also a minimal OpenCV script in a fresh process,
  ``cv2.imread -> cv2.inpaint(TELEA, radius 5) -> cv2.imwrite`` (JPEG quality 95), on the same
  files (target: the CLI at most 1.5x its wall);
- and the ``telea`` and ``ns`` engines against ``cv2.inpaint`` on the same arrays in this
  process (target: at most 1.2x).

Beside each wall time, the CPU time (user + system, all threads) and the minor page faults
of the same runs: of the child process for the CLI, of this process for warm. On a shared
machine these move much less with the load than wall times do; the load average at the start
and at the end of the run is reported.

Each figure is the median of ``--repeats`` runs (default 3); the fresh and warm runs of a
job alternate, and its overhead is the median of the paired differences. photomend's bytecode
is compiled before timing (see :func:`compile_bytecode`). Inputs are made from the held-out
Elephants photo (Debian ``mate-backgrounds``, see photos.py) into ``benchmarks/.cache/cli``:
the 3840x2160 JPEG with a blob mask (5-20 % coverage, as bench_4k.py), a 4000x3000 damaged scan
(seeded synthetic damage, JPEG quality 95) and a 1000x1000 crop (PNG) for ``upscale -s 2``.
The numba cache is the package's own (warm: the kernels are compiled once before timing).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from masks import make_mask
from photomend.process_memory import hold_freed_memory
from photos import CACHE, elephants_4k

HERE = Path(__file__).resolve().parent
WORK = CACHE / "cli"
OVERHEAD_TARGET_S = 0.5
TELEA_TARGET_X = 1.5
HELP_TARGET_S = 0.3
ENGINE_TARGET_X = 1.2

OPENCV_SCRIPT = """\
import sys, cv2
img = cv2.imread(sys.argv[1], cv2.IMREAD_COLOR)
mask = cv2.imread(sys.argv[2], cv2.IMREAD_GRAYSCALE)
out = cv2.inpaint(img, (mask > 0).astype("uint8"), 5, cv2.INPAINT_TELEA)
cv2.imwrite(sys.argv[3], out, [cv2.IMWRITE_JPEG_QUALITY, 95])
"""


def make_inputs() -> dict[str, Path]:
    """The input files (made once, then reused)."""
    WORK.mkdir(parents=True, exist_ok=True)
    files = {"photo4k": elephants_4k(), "mask4k": WORK / "mask4k.png",
             "scan12": WORK / "scan12mp.jpg", "photo1mp": WORK / "photo1mp.png",
             "script": WORK / "opencv_telea.py"}
    rgb = np.asarray(Image.open(files["photo4k"]).convert("RGB"))
    if not files["mask4k"].is_file():
        mask = make_mask("blobs", rgb.shape[:2], 0, coverage=(0.05, 0.20))
        Image.fromarray(mask.astype(np.uint8) * 255).save(files["mask4k"])
    if not files["scan12"].is_file():
        from photomend.restoration.degrade import degrade

        src = cv2.resize(rgb, (4000, 3000), interpolation=cv2.INTER_AREA).astype(np.float32) / 255
        damaged = degrade(src, seed=10_999, supersample=1).image
        Image.fromarray(np.clip(damaged * 255 + 0.5, 0, 255).astype(np.uint8)).save(
            files["scan12"], quality=95)
    if not files["photo1mp"].is_file():
        y, x = (rgb.shape[0] - 1000) // 2, (rgb.shape[1] - 1000) // 2
        Image.fromarray(rgb[y:y + 1000, x:x + 1000]).save(files["photo1mp"])
    files["script"].write_text(OPENCV_SCRIPT)
    return files


def jobs(f: dict[str, Path], out: Path) -> list[tuple[str, list[str]]]:
    """(label, photomend arguments) of every timed command."""
    return [
        ("photomend --help", ["--help"]),
        ("photomend engines", ["engines"]),
        ("remove 3840x2160 (default: patchmatch, auto)",
         ["remove", str(f["photo4k"]), "-m", str(f["mask4k"]), "-o", str(out / "rm.jpg")]),
        ("remove 3840x2160 --engine telea",
         ["remove", str(f["photo4k"]), "-m", str(f["mask4k"]), "-o", str(out / "telea.jpg"),
          "--engine", "telea"]),
        ("remove 3840x2160 --engine telea, PNG out",
         ["remove", str(f["photo4k"]), "-m", str(f["mask4k"]), "-o", str(out / "telea.png"),
          "--engine", "telea"]),
        ("restore 4000x3000 scan", ["restore", str(f["scan12"]), "-o", str(out / "restored.jpg")]),
        ("upscale 1000x1000 -s 2", ["upscale", str(f["photo1mp"]), "-s", "2",
                                    "-o", str(out / "up.png")]),
    ]


def _usage(who: int) -> tuple[float, float, int]:
    r = resource.getrusage(who)
    return time.perf_counter(), r.ru_utime + r.ru_stime, r.ru_minflt


def _delta(a: tuple[float, float, int], b: tuple[float, float, int]) -> dict:
    return {"wall": b[0] - a[0], "cpu": b[1] - a[1], "faults": b[2] - a[2]}


def cold(argv: list[str], env: dict | None = None) -> dict:
    """Wall seconds, CPU seconds and minor page faults of ``argv`` in a fresh process (its
    output discarded; it must succeed), with ``env`` added to the environment."""
    before = _usage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(argv, capture_output=True, text=True,
                          env=None if env is None else {**os.environ, **env})
    after = _usage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {done.returncode}: {done.stderr[-500:]}")
    return _delta(before, after)


def warm(args: list[str]) -> dict:
    """Wall seconds, CPU seconds (all threads) and minor page faults of
    ``photomend.cli.main(args)`` in this process."""
    from photomend.cli import main

    sink = io.StringIO()
    before = _usage(resource.RUSAGE_SELF)
    with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        code = main([*args, "--overwrite", "-q"] if args[0] in ("remove", "restore", "upscale")
                    else args)
    after = _usage(resource.RUSAGE_SELF)
    if code != 0:
        raise RuntimeError(f"photomend {' '.join(args)} exited {code}: {sink.getvalue()[-500:]}")
    return _delta(before, after)


def medians(n: int, fn, *args) -> dict:
    """Each figure of ``fn(*args)`` (a dict of numbers), median of ``n`` runs."""
    runs = [fn(*args) for _ in range(n)]
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


def paired(n: int, cli: list[str], args: list[str],
           env: dict | None = None) -> tuple[dict, dict, float]:
    """Medians of ``n`` fresh-process runs of ``cli`` and of ``n`` warm runs of ``args``, taken
    in turns (fresh, warm, fresh, ...), and the median of the ``n`` paired differences: the
    machine's speed drifts by more than the overhead over a minute of 12 MP restores, and a
    pair is measured under the same drift."""
    runs = [(cold(cli, env), warm(args)) for _ in range(n)]
    c = {key: statistics.median(r[0][key] for r in runs) for key in runs[0][0]}
    w = {key: statistics.median(r[1][key] for r in runs) for key in runs[0][1]}
    return c, w, statistics.median(a["wall"] - b["wall"] for a, b in runs)


def compile_bytecode() -> None:
    """Write photomend's bytecode (``__pycache__``) before timing, as ``pip install .`` does
    and as an editable install's first run does: this project's sandboxes set
    PYTHONDONTWRITEBYTECODE, under which every fresh process would compile the package's source
    again, which no user pays twice. The row "first run (no bytecode yet)" measures that cost
    (:func:`bytecode_aside`)."""
    import compileall

    import photomend

    if not compileall.compile_dir(Path(photomend.__file__).parent, quiet=2):
        raise RuntimeError("photomend's source does not compile")


@contextlib.contextmanager
def bytecode_aside():
    """photomend's ``*.pyc`` files moved away meanwhile (the numba caches beside them stay)."""
    import tempfile

    import photomend

    moved = []
    with tempfile.TemporaryDirectory(dir=WORK) as keep:  # (the same file system: rename)
        try:
            for i, pyc in enumerate(list(Path(photomend.__file__).parent.rglob("*.pyc"))):
                kept = Path(keep, f"{i}.pyc")
                pyc.rename(kept)
                moved.append((pyc, kept))  # (only once moved: the finally puts back these)
            yield
        finally:
            for pyc, kept in moved:
                kept.rename(pyc)


def engine_vs_opencv(f: dict[str, Path], repeats: int) -> list[dict]:
    """The ``telea`` and ``ns`` engines against ``cv2.inpaint`` on the same arrays (4K)."""
    from photomend.engines import create_engine
    from photomend.io import read_image, read_mask

    loaded = read_image(f["photo4k"])
    hole = read_mask(f["mask4k"], size=loaded.size)
    bgr = np.ascontiguousarray((loaded.rgb[..., ::-1] * 255 + 0.5).astype(np.uint8))
    hole8 = hole.astype(np.uint8)
    rows = []
    for name, flag in (("telea", cv2.INPAINT_TELEA), ("ns", cv2.INPAINT_NS)):
        engine = create_engine(name)

        def ours() -> float:
            t0 = time.perf_counter()
            engine.inpaint(loaded.rgb, hole)
            return time.perf_counter() - t0

        def theirs() -> float:
            t0 = time.perf_counter()
            cv2.inpaint(bgr, hole8, 5, flag)
            return time.perf_counter() - t0

        pairs = [(ours(), theirs()) for _ in range(repeats)]  # (in turns: the same drift)
        rows.append({"engine": name, "ours_s": statistics.median(a for a, _ in pairs),
                     "opencv_s": statistics.median(b for _, b in pairs),
                     "ratio": statistics.median(a / b for a, b in pairs)})
        print(f"engine {name}: {rows[-1]['ours_s']:.2f} s, cv2.inpaint "
              f"{rows[-1]['opencv_s']:.2f} s", flush=True)
    return rows


def _row(label: str, c: dict, w: dict, over: float, *, variant: bool = False) -> dict:
    """A results row from :func:`paired`'s figures (and its progress line, printed);
    ``variant``: a variant of a job shown for comparison, without a target."""
    print(f"{label}: CLI {c['wall']:.2f} s ({c['cpu']:.2f} s CPU, {c['faults']:.0f} faults), "
          f"warm {w['wall']:.2f} s ({w['cpu']:.2f} s CPU, {w['faults']:.0f} faults)", flush=True)
    return {"job": label, "cli_s": c["wall"], "warm_s": w["wall"], "overhead_s": over,
            "cli_cpu_s": c["cpu"], "warm_cpu_s": w["cpu"],
            "cli_faults": c["faults"], "warm_faults": w["faults"], "variant": variant}


def run(repeats: int) -> tuple[list[dict], list[dict]]:
    files = make_inputs()
    compile_bytecode()
    out = WORK / "out"
    out.mkdir(exist_ok=True)
    exe = [sys.executable, "-m", "photomend"]
    rows = []
    for label, args in jobs(files, out):
        writes = args[0] in ("remove", "restore", "upscale")
        cold_args = [*args, "--overwrite", "-q"] if writes else args
        warm(args)  # untimed: imports, kernels, sessions
        rows.append(_row(label, *paired(repeats, [*exe, *cold_args], args),
                         variant="PNG" in label))
        if label.startswith("remove") and "default" in label:
            # The same without photomend's bytecode: the first run of an editable install.
            with bytecode_aside():
                rows.append(_row(f"{label}, first run (no bytecode yet)",
                                 *paired(repeats, [*exe, *cold_args], args,
                                         env={"PYTHONDONTWRITEBYTECODE": "1"}), variant=True))
        if label.startswith(("remove", "restore")) and "telea" not in label:
            # The command as it was before the memory policy: glibc's and NumPy's defaults (a
            # GLIBC_TUNABLES in the environment leaves the process's malloc alone).
            rows.append(_row(f"{label}, memory as before (glibc and NumPy defaults)",
                             *paired(repeats, [*exe, *cold_args], args,
                                     env={"GLIBC_TUNABLES": ""}), variant=True))
    script = [sys.executable, str(files["script"]), str(files["photo4k"]), str(files["mask4k"]),
              str(out / "opencv.jpg")]
    opencv = medians(repeats, cold, script)
    opencv_s = opencv["wall"]
    print(f"OpenCV script: {opencv_s:.2f} s ({opencv['cpu']:.2f} s CPU)", flush=True)
    for row in rows:
        if row["job"] == "remove 3840x2160 --engine telea":
            row["opencv_s"], row["opencv_cpu_s"] = opencv_s, opencv["cpu"]
    return rows, engine_vs_opencv(files, repeats)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{os.cpu_count()} CPU cores ({cpu}), Python {platform.python_version()}, "
            f"load average {LOAD_AT_START:.1f} at the start and {_load():.1f} at the end")


def _load() -> float:
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")


LOAD_AT_START = _load()


def commit() -> str:
    """The commit of the photomend being measured (its source folder's checkout)."""
    import photomend

    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], text=True,
                              cwd=Path(photomend.__file__).parent,
                              capture_output=True).stdout.strip() or "unknown"
    except OSError:
        return "unknown"


def report(rows: list[dict], engines: list[dict], repeats: int) -> str:
    lines = [
        "# Command line: start-up and overhead",
        "",
        f"`python benchmarks/bench_cli.py`, commit {commit()}, {machine()}; median of "
        f"{repeats} runs each. **CLI**: the command in a fresh process; **warm**: the same "
        "arguments through `photomend.cli.main` in a process that has run them once "
        "(imports done, kernels and models loaded), taken in turns with the fresh runs; "
        "**overhead**: the median of the paired differences CLI - warm (so it need not equal "
        "the difference of the two medians); photomend's bytecode is compiled first, as an "
        "installed package's is. Inputs: the "
        "held-out 3840x2160 Elephants JPEG with a blob mask, a 4000x3000 damaged scan (JPEG) "
        "and a 1000x1000 crop (PNG); see the module docstring. CPU: user + system seconds of "
        "all threads; page faults: minor faults (first touches of new memory).",
        "",
        "| command | CLI | warm | overhead | target | CPU: CLI / warm "
        "| page faults: CLI / warm |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        over = r["overhead_s"]
        if r["job"] == "photomend --help":
            target = f"CLI <= {HELP_TARGET_S} s: {'met' if r['cli_s'] <= HELP_TARGET_S else 'not met'}"
        elif r["job"].startswith(("remove", "restore", "upscale")) and not r["variant"]:
            target = (f"overhead <= {OVERHEAD_TARGET_S} s: "
                      f"{'met' if over <= OVERHEAD_TARGET_S else 'not met'}")
        else:
            target = "-"
        lines.append(f"| `{r['job']}` | {r['cli_s']:.2f} s | {r['warm_s']:.2f} s | "
                     f"{over:+.2f} s | {target} | {r['cli_cpu_s']:.2f} s / "
                     f"{r['warm_cpu_s']:.2f} s | {r['cli_faults']:,.0f} / "
                     f"{r['warm_faults']:,.0f} |")
    telea = next(r for r in rows if "opencv_s" in r)
    ratio = telea["cli_s"] / telea["opencv_s"]
    lines += [
        "",
        "The same 4K Telea fill as a minimal OpenCV script in a fresh process (`cv2.imread` -> "
        f"`cv2.inpaint` -> `cv2.imwrite`, JPEG quality 95): **{telea['opencv_s']:.2f} s**; "
        f"`photomend remove --engine telea` takes **{ratio:.2f}x** its wall "
        f"(target <= {TELEA_TARGET_X}x: {'met' if ratio <= TELEA_TARGET_X else 'not met'}). "
        "photomend also keeps the ICC profile and EXIF, applies EXIF orientation, checks the "
        "pixel limit before decoding and writes atomically.",
        "",
        "Engine overhead: `create_engine(NAME).inpaint(rgb, hole)` (float32 in and out) against "
        "`cv2.inpaint` (radius 5) on the same 4K photo and mask as uint8, in this process, in "
        "turns; ratio: the median of the paired ratios "
        f"(target <= {ENGINE_TARGET_X}x):",
        "",
        "| engine | photomend | cv2.inpaint | ratio |",
        "|---|---|---|---|",
    ]
    for e in engines:
        x = e["ratio"]
        lines.append(f"| `{e['engine']}` | {e['ours_s']:.2f} s | {e['opencv_s']:.2f} s | "
                     f"{x:.2f}x ({'met' if x <= ENGINE_TARGET_X else 'not met'}) |")
    lines.append("")
    return "\n".join(lines)


def environment(repeats: int) -> dict:
    """The conditions of the run, for results_cli.json (and the README's table)."""
    return {"date": time.strftime("%Y-%m-%d %H:%M"), "commit": commit(), "machine": machine(),
            "cores": os.cpu_count(), "python": platform.python_version(),
            "load": round(_load(), 1) if hasattr(os, "getloadavg") else None,
            "load_at_start": round(LOAD_AT_START, 1) if hasattr(os, "getloadavg") else None,
            "repeats": repeats}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=3, help="runs per figure (median; default 3)")
    ap.add_argument("--out", type=Path, default=HERE / "results_cli.md",
                    help="the report; the figures also go to the same name with .json")
    args = ap.parse_args(argv)
    hold_freed_memory()  # (the warm runs: a photomend process, as the fresh ones are)
    rows, engines = run(args.repeats)
    text = report(rows, engines, args.repeats)
    args.out.write_text(text)
    args.out.with_suffix(".json").write_text(json.dumps(
        {"environment": environment(args.repeats), "targets": {
            "help_s": HELP_TARGET_S, "overhead_s": OVERHEAD_TARGET_S,
            "telea_vs_opencv_script_x": TELEA_TARGET_X, "engine_vs_cv2_x": ENGINE_TARGET_X},
         "jobs": rows, "engines": engines}, indent=1) + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
