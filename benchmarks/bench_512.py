"""Part A: every photo x mask kind x seed at 512 px, every method; means per kind and verdicts."""

from __future__ import annotations

import time
import zlib
from pathlib import Path

import numpy as np
from tqdm import tqdm

from masks import MASK_KINDS, make_mask
from methods import Method
from photomend.metrics import detail_ratio, masked_psnr, masked_ssim
from photos import load_photo
from sheets import comparison_sheet, save_png

#: Targets for photomend patchmatch against the best peer, per mask kind.
PSNR_SLACK_DB = 0.3
DETAIL_RANGE = (0.6, 1.4)


def mask_seed(photo: str, seed: int) -> int:
    """A mask seed tied to the photo name, so adding photos does not change the others' masks."""
    return zlib.crc32(photo.encode()) * 16 + seed


def run(
    photos: list[str], seeds: list[int], methods: list[Method], sheet_dir: Path | None
) -> list[dict]:
    """Fill every case with every available method; one record per (case, method)."""
    cases = [(p, k, s) for p in photos for k in MASK_KINDS for s in seeds]
    records: list[dict] = []
    for photo, kind, seed in tqdm(cases, desc="512 px", unit="case"):
        truth = load_photo(photo)
        mask = make_mask(kind, truth.shape[:2], mask_seed(photo, seed))
        holed = np.where(mask[..., None], np.float32(0), truth)
        results = {}
        for m in methods:
            if m.fill is None:
                continue
            start = time.perf_counter()
            out = m.fill(holed, mask, seed)
            elapsed = time.perf_counter() - start
            results[m.label] = out
            records.append({
                "photo": photo, "kind": kind, "seed": seed, "method": m.key,
                "coverage": float(mask.mean()),
                "psnr": masked_psnr(out, truth, mask),
                "ssim": masked_ssim(out, truth, mask),
                "detail": detail_ratio(out, truth, mask),
                "time_s": elapsed,
            })  # fmt: skip
        if sheet_dir is not None and seed == seeds[0]:
            name = photo.replace(":", "_").rsplit(".", 1)[0]
            save_png(comparison_sheet(truth, mask, results, columns=5), sheet_dir / f"{name}_{kind}.png")
    return records


def summarise(records: list[dict], methods: list[Method]) -> dict:
    """Means per (kind, method) and the verdict per kind."""
    summary: dict = {}
    for kind in MASK_KINDS:
        rows = {}
        for m in methods:
            rs = [r for r in records if r["kind"] == kind and r["method"] == m.key]
            if m.missing or not rs:
                rows[m.key] = {"label": m.label, "missing": m.missing or "no cases"}
                continue
            rows[m.key] = {
                "label": m.label, "n": len(rs),
                **{k: float(np.mean([r[k] for r in rs])) for k in ("psnr", "ssim", "detail", "time_s")},
            }  # fmt: skip
        summary[kind] = {"methods": rows, "verdict": _verdict(rows, methods)}
    return summary


def _verdict(rows: dict, methods: list[Method]) -> dict:
    pm = rows.get("patchmatch", {})
    peers = [rows[m.key] for m in methods if m.peer and "n" in rows[m.key]]
    if "n" not in pm or not peers:
        return {"overall": "n/a"}
    best_ssim = max(p["ssim"] for p in peers)
    best_psnr = max(p["psnr"] for p in peers)
    checks = {
        "ssim": (pm["ssim"] >= best_ssim, f"{pm['ssim']:.3f} vs best peer {best_ssim:.3f}"),
        "psnr": (pm["psnr"] >= best_psnr - PSNR_SLACK_DB,
                 f"{pm['psnr']:.2f} vs best peer {best_psnr:.2f} - {PSNR_SLACK_DB}"),
        "detail": (DETAIL_RANGE[0] <= pm["detail"] <= DETAIL_RANGE[1],
                   f"{pm['detail']:.2f} in [{DETAIL_RANGE[0]}, {DETAIL_RANGE[1]}]"),
    }  # fmt: skip
    out = {k: {"pass": bool(ok), "detail": text} for k, (ok, text) in checks.items()}
    out["overall"] = "PASS" if all(ok for ok, _ in checks.values()) else "FAIL"
    return out


def table(summary: dict) -> str:
    """Markdown: one row per (kind, method), then the kind's verdict row."""
    lines = [
        "| mask | method | n | masked PSNR (dB) | masked SSIM | detail ratio | time (ms) |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for kind, block in summary.items():
        for row in block["methods"].values():
            if "n" not in row:
                lines.append(f"| {kind} | {row['label']} | – | {row['missing']} | | | |")
                continue
            lines.append(
                f"| {kind} | {row['label']} | {row['n']} | {row['psnr']:.2f} | {row['ssim']:.3f} "
                f"| {row['detail']:.2f} | {1000 * row['time_s']:.0f} |"
            )
        v = block["verdict"]
        if v["overall"] == "n/a":
            lines.append(f"| {kind} | **verdict** | | n/a | n/a | n/a | |")
            continue
        cell = {k: f"{'PASS' if v[k]['pass'] else 'FAIL'} ({v[k]['detail']})" for k in ("psnr", "ssim", "detail")}
        lines.append(
            f"| {kind} | **verdict: {v['overall']}** | | {cell['psnr']} | {cell['ssim']} | {cell['detail']} | |"
        )
    return "\n".join(lines)
