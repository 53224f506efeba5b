"""Object removal on photos with structure (buildings, lines, edges): holes placed across edges.

    python benchmarks/bench_structure.py [--split tune|heldout|both] [--seeds N] [--quick] [--4k]
        [--sheets DIR] [--variant NAME=module:function ...] [--out benchmarks/results_structure.md]

Photos: ``structure_photos.py`` (opencv-doc samples, frozen TUNE / HELDOUT split). Each hole is a
``masks.make_mask`` shape (``box``: boxes, ``object``: blobs) shifted to the one of a few seeded
candidate positions whose hole covers the most Canny edges of the photo, so holes cross lines.
Every method gets the photo with the hole blanked to 0. From a script::

    from bench_structure import default_fill_fns, evaluate, summarise, table
    records = evaluate({**default_fill_fns(), "mine": my_fill}, "tune", seeds=(0, 1), size=512)
    print(table(summarise(records)))

A fill function takes ``(holed_rgb_float32, mask_bool, seed)`` and returns float32 RGB.
See benchmarks/README.md for the columns and the targets.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from tqdm import tqdm  # noqa: E402

from bench_512 import mask_seed  # noqa: E402
from bench_remove import environment, jsonable  # noqa: E402
from masks import make_mask  # noqa: E402
from methods import FillFn, Method, opencv_fill, pypatchmatch_method, warm_up  # noqa: E402
from photomend import remove_array  # noqa: E402
from photomend.metrics import (  # noqa: E402
    detail_ratio, masked_psnr, masked_ssim, pooled_scores, tolerant_counts)
from sheets import comparison_sheet, crop_around, save_png  # noqa: E402
from structure_photos import SPLITS, load_structure_4k, load_structure_photo, opencv_doc_source  # noqa: E402

#: Mask kind here -> masks.make_mask kind.
KINDS = {"box": "boxes", "object": "blobs"}
COVERAGE = {512: (0.05, 0.15), "4k": (0.05, 0.20)}
BORDER_PX = 8  # every hole pixel at least this far from the image border
CANDIDATES = 8  # seeded positions tried per mask; the one covering the most edges wins
PLACEMENT_SIZE_4K = (540, 960)  # 4K holes are placed on a copy this size, then scaled up
CANNY_THRESHOLDS = (100, 200)
EDGE_TOLERANCE_PX = 2
GROSS_DELTA_E = 20.0  # CIE76 colour difference counted as a gross error
SEAM_BAND_PX = 3
OPENCV_RADIUS = 3
PEERS = ("telea", "ns", "pypatchmatch")
LABELS = {"photomend": "photomend (default engine, auto)", "telea": f"OpenCV Telea (r={OPENCV_RADIUS})",
          "ns": f"OpenCV NS (r={OPENCV_RADIUS})"}  # fmt: skip
TARGETS = {"edge_f1_margin": 0.10, "detail": (0.6, 1.4), "seam": 1.3, "time_512_s": 1.0,
           "time_4k_s": 3.0}  # fmt: skip
GROUPS = (*KINDS, "all")


# ---------------------------------------------------------------- masks


def edges(rgb: np.ndarray) -> np.ndarray:
    """Bool Canny edges (100/200) of the grey uint8 version of a float RGB image."""
    grey = cv2.cvtColor(_to_uint8(rgb), cv2.COLOR_RGB2GRAY)
    return cv2.Canny(grey, *CANNY_THRESHOLDS) > 0


def structure_mask(kind: str, rgb: np.ndarray, seed: int, coverage: tuple[float, float]) -> np.ndarray:
    """A ``kind`` hole for ``rgb``, shifted to where it covers the most Canny edges.

    The shape is ``make_mask``'s; the shifts are :data:`CANDIDATES` seeded draws among those
    that keep the hole :data:`BORDER_PX` from every side.
    """
    h, w = rgb.shape[:2]
    shape = make_mask(KINDS[kind], (h, w), seed, coverage=coverage)
    ys, xs = np.nonzero(shape)
    rng = np.random.default_rng([seed, list(KINDS).index(kind), 1])
    dys = rng.integers(BORDER_PX - ys.min(), h - BORDER_PX - ys.max(), CANDIDATES)
    dxs = rng.integers(BORDER_PX - xs.min(), w - BORDER_PX - xs.max(), CANDIDATES)
    edge_map = edges(rgb)
    hits = [int(edge_map[ys + dy, xs + dx].sum()) for dy, dx in zip(dys, dxs)]
    best = int(np.argmax(hits))
    mask = np.zeros((h, w), bool)
    mask[ys + dys[best], xs + dxs[best]] = True
    return mask


def make_case(photo: str, kind: str, seed: int, size: int | str) -> tuple[np.ndarray, np.ndarray]:
    """(truth float32 RGB, hole) of one case; ``size`` is a long side in px or "4k" (3840x2160)."""
    if size == "4k":
        truth = load_structure_4k(photo)
        small = cv2.resize(truth, PLACEMENT_SIZE_4K[::-1], interpolation=cv2.INTER_AREA)
        hole = structure_mask(kind, small, mask_seed(photo, seed), COVERAGE["4k"])
        big = cv2.resize(hole.astype(np.uint8), truth.shape[1::-1], interpolation=cv2.INTER_NEAREST)
        return truth, big.astype(bool)
    truth = load_structure_photo(photo, int(size))
    return truth, structure_mask(kind, truth, mask_seed(photo, seed), COVERAGE[512])


# ---------------------------------------------------------------- metrics


def gross_error_share(result: np.ndarray, truth: np.ndarray, mask: np.ndarray) -> float:
    """Fraction of hole pixels whose CIE76 ΔE (Lab of float RGB) from the truth exceeds 20."""
    lab_r = cv2.cvtColor(result.astype(np.float32), cv2.COLOR_RGB2Lab)[mask]
    lab_t = cv2.cvtColor(truth.astype(np.float32), cv2.COLOR_RGB2Lab)[mask]
    return float(np.mean(np.linalg.norm(lab_r - lab_t, axis=1) > GROSS_DELTA_E))


def seam_ratio(result: np.ndarray, truth: np.ndarray, mask: np.ndarray) -> float:
    """Mean Sobel gradient magnitude of the grey result in the 3-px band inside the hole's
    border, divided by the same in the truth (1 = no visible outline)."""
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * SEAM_BAND_PX + 1,) * 2)
    band = mask & ~cv2.erode(mask.astype(np.uint8), kernel, borderValue=1).astype(bool)
    energy_r, energy_t = (float(_gradient(img)[band].mean()) for img in (result, truth))
    return energy_r / energy_t if energy_t > 0 else float("inf")


def measure(result: np.ndarray, truth: np.ndarray, mask: np.ndarray) -> dict:
    """Every quality metric of one fill, inside the hole (columns: benchmarks/README.md).

    Canny runs on the whole images; the rest on a crop around the hole with enough margin that
    the values equal the whole-image ones (all the filters are local).
    """
    window = _window(mask, margin=32)
    r, t, m = result[window], truth[window], mask[window]
    counts = tolerant_counts(edges(result)[window] & m, edges(truth)[window] & m, tol=EDGE_TOLERANCE_PX)
    return {
        "psnr": masked_psnr(r, t, m, dilate=0), "ssim": masked_ssim(r, t, m, dilate=0),
        "edge_counts": counts.tolist(), "edge_f1": pooled_scores(counts)[2],
        "detail": detail_ratio(r, t, m), "gross": gross_error_share(r, t, m), "seam": seam_ratio(r, t, m),
    }  # fmt: skip


# ---------------------------------------------------------------- running


def default_fill_fns() -> dict[str, FillFn]:
    """photomend's default ``remove_array``, OpenCV Telea and NS, and PyPatchMatch if installed."""
    fns: dict[str, FillFn] = {
        "photomend": lambda rgb, mask, seed: remove_array(rgb, mask, seed=seed),
        "telea": opencv_fill(cv2.INPAINT_TELEA, OPENCV_RADIUS),
        "ns": opencv_fill(cv2.INPAINT_NS, OPENCV_RADIUS),
    }
    pm = pypatchmatch_method()
    if pm.fill is not None:
        fns["pypatchmatch"] = pm.fill
    return fns


def evaluate(
    fill_fns: Mapping[str, FillFn],
    split: str = "both",
    seeds: Sequence[int] = (0, 1),
    size: int | str = 512,
    *,
    photos: Sequence[str] | None = None,
) -> list[dict]:
    """Fill every (photo, kind, seed) case with every function; one record per case and method.

    ``split`` is "tune", "heldout" or "both"; ``size`` a long side in px or "4k" (3840x2160 crops);
    ``photos`` narrows the split's photos. The functions are warmed up first; ``time_s`` is the
    wall time of the fill call alone.
    """
    warm_up([Method(key, key, fn, peer=False) for key, fn in fill_fns.items()])
    cases = [(split_name, photo, kind, seed) for split_name in _splits(split) for photo in SPLITS[split_name]
             if photos is None or photo in photos for kind in KINDS for seed in seeds]  # fmt: skip
    records = []
    for split_name, photo, kind, seed in tqdm(cases, desc=f"structure {size}", unit="case"):
        truth, mask = make_case(photo, kind, seed, size)
        holed = np.where(mask[..., None], np.float32(0), truth)
        hole_edges = int((edges(truth) & mask).sum())
        for key, fill in fill_fns.items():
            start = time.perf_counter()
            out = fill(holed, mask, seed)
            elapsed = time.perf_counter() - start
            records.append({"split": split_name, "photo": photo, "kind": kind, "seed": seed,
                            "size": str(size), "method": key, "coverage": float(mask.mean()),
                            "hole_edge_px": hole_edges, "time_s": elapsed,
                            **measure(out, truth, mask)})  # fmt: skip
    return records


def summarise(records: Iterable[dict]) -> dict:
    """{"sizes": {size: {split: {"box"|"object"|"all": {method: statistics}}}}, "verdicts": ...}."""
    records = list(records)
    summary: dict = {}
    for r in records:
        for group in (r["kind"], "all"):
            summary.setdefault(r["size"], {}).setdefault(r["split"], {}).setdefault(group, {}) \
                .setdefault(r["method"], []).append(r)  # fmt: skip
    for by_split in summary.values():
        for by_group in by_split.values():
            for group, by_method in by_group.items():
                by_group[group] = {m: _statistics(rs) for m, rs in by_method.items()}
    return {"sizes": summary, "verdicts": verdicts(summary)}


def verdicts(sizes: dict) -> dict:
    """The targets on the HELDOUT split, for every method that is not a peer."""
    heldout = sizes.get("512", {}).get("heldout", {}).get("all")
    if not heldout:
        return {}
    peers = {m: s for m, s in heldout.items() if m in PEERS}
    if not peers:
        return {}
    best_f1 = max(s["edge_f1"] for s in peers.values())
    best_psnr = max(s["psnr"] for s in peers.values())
    best_gross = min(s["gross"] for s in peers.values())
    time_4k = sizes.get("4k", {}).get("heldout", {}).get("all", {})
    lo, hi = TARGETS["detail"]
    out = {}
    for method, s in heldout.items():
        if method in PEERS:
            continue
        checks = {
            "edge F1": (s["edge_f1"] >= best_f1 + TARGETS["edge_f1_margin"],
                        f"{s['edge_f1']:.3f} vs best peer {best_f1:.3f} + {TARGETS['edge_f1_margin']}"),
            "masked PSNR": (s["psnr"] >= best_psnr, f"{s['psnr']:.2f} vs best peer {best_psnr:.2f} dB"),
            "detail (median)": (lo <= s["detail_median"] <= hi, f"{s['detail_median']:.2f} in [{lo}, {hi}]"),
            "gross-error share": (s["gross"] <= best_gross,
                                  f"{100 * s['gross']:.1f} % vs best peer {100 * best_gross:.1f} %"),
            "seam ratio": (s["seam"] <= TARGETS["seam"], f"{s['seam']:.2f} ≤ {TARGETS['seam']}"),
            "time 512 px (mean)": (s["time_s"] <= TARGETS["time_512_s"],
                                   f"{s['time_s']:.2f} s ≤ {TARGETS['time_512_s']} s"),
        }  # fmt: skip
        if method in time_4k:
            t = time_4k[method]["time_s"]
            checks["time 4K (mean)"] = (t <= TARGETS["time_4k_s"], f"{t:.2f} s ≤ {TARGETS['time_4k_s']} s")
        out[method] = {name: {"pass": bool(ok), "detail": text} for name, (ok, text) in checks.items()}
    return out


def _statistics(rs: list[dict]) -> dict:
    counts = np.sum([r["edge_counts"] for r in rs], axis=0)
    precision, recall, f1 = pooled_scores(counts)
    details = np.array([r["detail"] for r in rs])
    return {
        "n": len(rs), "psnr": _mean(rs, "psnr"), "ssim": _mean(rs, "ssim"),
        "edge_f1": f1, "edge_precision": precision, "edge_recall": recall,
        "detail_median": float(np.median(details)), "detail_mean": float(np.mean(details)),
        "gross": _mean(rs, "gross"), "seam": _mean(rs, "seam"), "time_s": _mean(rs, "time_s"),
        "time_max_s": max(r["time_s"] for r in rs), "coverage": _mean(rs, "coverage"),
    }  # fmt: skip


# ---------------------------------------------------------------- report


def table(summary: dict, missing: Mapping[str, str] | None = None) -> str:
    """Markdown: per size and split, one row per (mask group, method); then the verdicts."""
    parts = []
    for size, by_split in summary["sizes"].items():
        for split, by_group in by_split.items():
            parts += [f"### {'4K (3840×2160)' if size == '4k' else f'{size} px'}, {split.upper()} split", "",
                      _split_table(by_group, missing or {}), ""]  # fmt: skip
    for method, checks in summary["verdicts"].items():
        overall = "PASS" if all(c["pass"] for c in checks.values()) else "FAIL"
        parts += [f"### Verdict for {_label(method)} on the HELDOUT split: **{overall}**", ""]
        parts += [f"- {name}: {'PASS' if c['pass'] else 'FAIL'} ({c['detail']})"
                  for name, c in checks.items()]
        parts.append("")
    return "\n".join(parts).rstrip()


def _split_table(by_group: dict, missing: Mapping[str, str]) -> str:
    lines = [
        "| mask | method | n | hole % | masked PSNR (dB) | masked SSIM | edge F1 (pooled) | detail median "
        "| detail mean | gross error % | seam ratio | time (ms) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for group in GROUPS:
        for method, s in by_group.get(group, {}).items():
            lines.append(
                f"| {group} | {_label(method)} | {s['n']} | {100 * s['coverage']:.1f} | {s['psnr']:.2f} "
                f"| {s['ssim']:.3f} | {s['edge_f1']:.3f} | {s['detail_median']:.2f} | {s['detail_mean']:.2f} "
                f"| {100 * s['gross']:.1f} | {s['seam']:.2f} | {1000 * s['time_s']:.0f} |"
            )
        lines += [f"| {group} | {_label(m)} | – | {why} | | | | | | | | |" for m, why in missing.items()
                  if group in by_group]  # fmt: skip
    return "\n".join(lines)


def write_sheets(records: list[dict], fill_fns: Mapping[str, FillFn], out_dir: Path, *,
                 judged: str = "photomend", worst: int = 3) -> list[Path]:  # fmt: skip
    """1:1 crop sheets (hole | truth | ``judged`` | best peer on that case) of the ``worst``
    HELDOUT 512-px cases of ``judged`` by edge F1 and by gross-error share."""
    mine = [r for r in records if r["method"] == judged and r["split"] == "heldout" and r["size"] == "512"]
    rankings = {"edge_f1": sorted(mine, key=lambda r: r["edge_f1"])[:worst],
                "gross": sorted(mine, key=lambda r: -r["gross"])[:worst]}  # fmt: skip
    written = []
    for metric, cases in rankings.items():
        for rank, case in enumerate(cases, 1):
            peer = _best_peer(records, case, metric)
            truth, mask = make_case(case["photo"], case["kind"], case["seed"], 512)
            holed = np.where(mask[..., None], np.float32(0), truth)
            window = crop_around(mask, 256)
            panels = {"truth": truth[window]}
            for key in (judged, peer):
                if key is not None:
                    panels[f"{key} {metric} {_case_value(records, case, key, metric)}"] = \
                        fill_fns[key](holed, mask, case["seed"])[window]  # fmt: skip
            stem = case["photo"].rsplit(".", 1)[0]
            name = f"worst_{metric}_{rank}_{stem}_{case['kind']}_s{case['seed']}.png"
            written.append(save_png(comparison_sheet(truth[window], mask[window], panels, title="hole"),
                                    out_dir / name))  # fmt: skip
    return written


def _best_peer(records: list[dict], case: dict, metric: str) -> str | None:
    same = [r for r in records if r["method"] in PEERS and all(r[k] == case[k] for k in
            ("photo", "kind", "seed", "size"))]  # fmt: skip
    if not same:
        return None
    pick = max if metric == "edge_f1" else min
    return pick(same, key=lambda r: r[metric])["method"]


def _case_value(records: list[dict], case: dict, method: str, metric: str) -> str:
    r = next(r for r in records if r["method"] == method and all(r[k] == case[k] for k in
             ("photo", "kind", "seed", "size")))  # fmt: skip
    return f"{r[metric]:.2f}"


# ---------------------------------------------------------------- command line


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    env = environment()
    variants = dict(_variant(v) for v in args.variant)
    fill_fns = {**default_fill_fns(), **variants}
    missing = {} if "pypatchmatch" in fill_fns else {"pypatchmatch": pypatchmatch_method().missing}
    seeds = range(1 if args.quick else args.seeds)
    photos = [p for s in _splits(args.split) for p in SPLITS[s][:2]] if args.quick else None
    started = time.perf_counter()
    records = evaluate(fill_fns, args.split, seeds, 512, photos=photos)
    if args.four_k:
        fns_4k = {**{k: fill_fns[k] for k in ("photomend", "telea")}, **variants}
        photos_4k = SPLITS["heldout"][:2] if args.quick else None
        records += evaluate(fns_4k, "heldout", (0,), "4k", photos=photos_4k)
    summary = summarise(records)
    env.update(photos_deb=opencv_doc_source(), wall_s=time.perf_counter() - started)
    report = _markdown(args, list(seeds), summary, missing, env)
    print(report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report + "\n")
    payload = {"environment": env, "split": args.split, "seeds": list(seeds), "records": records,
               "summary": summary}  # fmt: skip
    args.out.with_suffix(".json").write_text(json.dumps(jsonable(payload), indent=1) + "\n")
    if args.sheets is not None:
        written = write_sheets(records, fill_fns, args.sheets)
        print(f"wrote {len(written)} sheets into {args.sheets}", file=sys.stderr)
    print(f"wrote {args.out} and {args.out.with_suffix('.json')}", file=sys.stderr)
    return 0


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=("tune", "heldout", "both"), default="both")
    parser.add_argument("--seeds", type=int, default=2, help="seeds per photo and mask kind (default 2)")
    parser.add_argument("--quick", action="store_true", help="2 photos per split, 1 seed")
    parser.add_argument("--4k", dest="four_k", action="store_true",
                        help="also the HELDOUT photos at 3840x2160: photomend, Telea and the variants")  # fmt: skip
    parser.add_argument("--sheets", type=Path, help="folder for crop sheets of photomend's worst cases")
    parser.add_argument("--variant", action="append", default=[], metavar="NAME=module:function",
                        help="add a fill function (rgb, mask, seed) -> rgb; the module must be importable")
    parser.add_argument("--title", default="photomend structure benchmark", help="the report's heading")
    parser.add_argument("--out", type=Path, default=HERE / "results_structure.md")
    args = parser.parse_args(argv)
    if args.seeds < 1:
        parser.error("--seeds must be at least 1")
    return args


def _variant(spec: str) -> tuple[str, FillFn]:
    name, _, target = spec.partition("=")
    module, _, function = target.partition(":")
    if not (name and module and function):
        raise SystemExit(f"--variant {spec!r}: expected NAME=module:function")
    return name, getattr(importlib.import_module(module), function)


def _markdown(args: argparse.Namespace, seeds: list[int], summary: dict, missing: Mapping[str, str],
              env: dict) -> str:  # fmt: skip
    return "\n".join([
        f"# {args.title}",
        "",
        f"{env['date']} · commit `{env['commit']}` · {env['cpu']} ({env['cores']} cores) · "
        f"Python {env['python']} · numpy {env['numpy']} · numba {env['numba']} · "
        f"OpenCV {env['opencv']} · PyPatchMatch {env['pypatchmatch']} · photos: {env['photos_deb']} · "
        f"split {args.split}, seeds {seeds}{' · **--quick**' if args.quick else ''} · "
        f"total {env['wall_s'] / 60:.1f} min",
        "",
        "Holes: `box` (1–3 rectangles) and `object` (1–3 blobs), 5–15 % of the photo at 512 px "
        "(5–20 % at 4K), each shifted to the seeded candidate position covering the most Canny edges. "
        "Every metric is inside the hole only (no dilation): masked PSNR/SSIM; edge F1 of the Canny "
        f"edges (100/200) of fill vs truth, {EDGE_TOLERANCE_PX} px tolerance, pooled over the cases; "
        "detail ratio (Laplacian energy fill ÷ truth, hole eroded by 2 px); gross error = share of "
        f"hole pixels with CIE76 ΔE > {GROSS_DELTA_E:g}; seam ratio = mean Sobel gradient in the "
        f"{SEAM_BAND_PX}-px band inside the hole's border, result ÷ truth; time = the fill call, warm. "
        "SSIM at 4K is computed at full resolution.",
        "",
        table(summary, missing),
    ])


def _splits(split: str) -> tuple[str, ...]:
    if split == "both":
        return tuple(SPLITS)
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose tune, heldout or both")
    return (split,)


def _label(method: str) -> str:
    if method == "pypatchmatch":
        return pypatchmatch_method().label
    return LABELS.get(method, method)


def _mean(rs: list[dict], key: str) -> float:
    return float(np.mean([r[key] for r in rs]))


def _gradient(rgb: np.ndarray) -> np.ndarray:
    grey = cv2.cvtColor(rgb.astype(np.float32), cv2.COLOR_RGB2GRAY)
    return cv2.magnitude(cv2.Sobel(grey, cv2.CV_32F, 1, 0), cv2.Sobel(grey, cv2.CV_32F, 0, 1))


def _window(mask: np.ndarray, margin: int) -> tuple[slice, slice]:
    ys, xs = np.nonzero(mask)
    h, w = mask.shape
    return (slice(max(0, ys.min() - margin), min(h, ys.max() + 1 + margin)),
            slice(max(0, xs.min() - margin), min(w, xs.max() + 1 + margin)))  # fmt: skip


def _to_uint8(rgb: np.ndarray) -> np.ndarray:
    return np.clip(rgb * 255.0 + 0.5, 0, 255).astype(np.uint8)


if __name__ == "__main__":
    raise SystemExit(main())
