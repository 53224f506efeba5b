"""Video removal in segments against the whole-clip run, on a real still-camera clip.

``python benchmarks/bench_video_remove_segments.py DIR [--frames 160] [--segment 40]``

DIR holds opencv-doc's ``vtest.avi`` (as bench_video_remove.py). Development frames only
(0 to ``--frames``, inside 0-399; frames 400 on are held out and never read here). The people
masks are bench_video_remove's (pixels far from the empty scene, the median of frames 0-399,
grown by 4 px), written as a numbered mask folder; the clip is re-encoded losslessly (crf 0),
and both runs write crf 0, so the comparison is of the fills, not of the codec. Reports, over
the masked pixels: PSNR of the segmented output against the whole-clip output (all frames,
and the frames of each segment's first ``radius``), both against the empty scene (masked PSNR,
mask grown by 4 as the benchmark), temporal flicker (mean |out[t+1] - out[t]| over both frames'
masks) and wall time, with the load average. Writes results_video_remove_segments.md/.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
sys.path.insert(0, str(HERE))

from bench_objects import read_frames as cv_frames  # noqa: E402
from bench_objects import truth_mask  # noqa: E402
from bench_video_remove import GROW, MEDIAN_STEP, grow  # noqa: E402

from photomend.metrics import masked_psnr  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", type=Path)
    ap.add_argument("--frames", type=int, default=160)
    ap.add_argument("--segment", type=int, default=40)
    ap.add_argument("--radius", type=int, default=24)
    ap.add_argument("--out", type=Path, default=HERE / "results_video_remove_segments")
    args = ap.parse_args()
    if args.frames > 400:
        sys.exit("frames 400 on are held out: --frames at most 400")
    import cv2

    from photomend import remove_video
    from photomend.video.reader import read_frames
    from photomend.video.writer import write_video
    from photomend.video_removal.segment import remove_video_segments

    dev = cv_frames(args.data / "vtest.avi", range(0, 400))
    plate = np.median(np.stack([dev[i] for i in range(0, 400, MEDIAN_STEP)]), axis=0)
    frames = [dev[i] for i in range(args.frames)]
    masks = [grow(truth_mask(f, plate), GROW) for f in frames]
    work = Path(tempfile.mkdtemp())
    clip = work / "clip.mp4"
    write_video(clip, iter(frames), fps=10, crf=0)
    (work / "masks").mkdir()
    for i, m in enumerate(masks):
        cv2.imwrite(str(work / "masks" / f"{i:06d}.png"), m.astype(np.uint8) * 255)
    load0 = os.getloadavg()[0]
    t = time.perf_counter()
    whole = remove_video(clip, work / "whole.mp4", work / "masks", radius=args.radius, crf=0)
    t_whole = time.perf_counter() - t
    t = time.perf_counter()
    seg = remove_video_segments(clip, work / "seg.mp4", work / "masks", frames=args.segment,
                                radius=args.radius, crf=0)
    t_seg = time.perf_counter() - t
    load1 = os.getloadavg()[0]
    a = [f.rgb for f in read_frames(whole.output)]
    b = [f.rgb for f in read_frames(seg.output)]
    src = [f.rgb for f in read_frames(clip)]
    n = len(a)
    assert len(b) == n == args.frames, (len(a), len(b))
    filled = [k for k in range(n) if masks[k].any()]
    border = [k for k in filled if k % args.segment < args.radius and k >= args.segment]

    def agree(ks):
        d = [float(np.mean((a[k][masks[k]] - b[k][masks[k]]) ** 2)) for k in ks]
        mse = float(np.mean(d)) if d else 0.0
        return 99.0 if mse == 0 else float(10 * np.log10(1 / mse))

    def truth(out):
        return float(np.mean([masked_psnr(out[k], plate, masks[k], dilate=4) for k in filled]))

    def flicker(out):
        vals = []
        for k in range(n - 1):
            region = masks[k] | masks[k + 1]
            if region.any():
                vals.append(float(np.abs(out[k + 1] - out[k])[region].mean()) * 255)
        return float(np.mean(vals))

    # outside the masks (and 4 px around them): the output against the decoded input; the
    # whole-clip run's output is compared the same way (4:2:0 chroma moved by a second RGB ->
    # YUV conversion is in both)
    far = [~grow(m, 4) for m in masks]
    outside = max(float(np.abs(b[k] - src[k])[far[k]].max()) for k in range(n))
    outside_whole = max(float(np.abs(a[k] - src[k])[far[k]].max()) for k in range(n))
    res = {
        "frames": n, "segment": args.segment, "radius": args.radius,
        "mask_fraction": float(np.mean([m.mean() for m in masks])),
        "seg_vs_whole_psnr_all": agree(filled), "seg_vs_whole_psnr_borders": agree(border),
        "border_frames": len(border),
        "max_abs_diff_in_masks": max(float(np.abs(a[k] - b[k])[masks[k]].max()) * 255
                                     for k in filled),
        "whole_psnr_vs_truth": truth(a), "seg_psnr_vs_truth": truth(b),
        "whole_flicker": flicker(a), "seg_flicker": flicker(b),
        "max_abs_diff_whole_frames": max(float(np.abs(a[k] - b[k]).max()) for k in range(n))
        * 255,
        "seg_max_abs_diff_outside_vs_input": outside * 255,
        "whole_max_abs_diff_outside_vs_input": outside_whole * 255,
        "whole_s": t_whole, "seg_s": t_seg, "load": [load0, load1],
        "whole_stats": vars(whole.stats) | {"key_frames": len(whole.stats.key_frames)},
        "seg_stats": vars(seg.stats) | {"key_frames": len(seg.stats.key_frames)},
    }
    args.out.with_suffix(".json").write_text(json.dumps(res, indent=1))
    lines = [
        f"# Video removal in segments vs the whole clip (vtest.avi dev frames 0-{n - 1})",
        "",
        f"Segments of {args.segment} frames, radius {args.radius}, people masks "
        f"({100 * res['mask_fraction']:.1f} % of the pixels), lossless in and out.",
        "",
        "| | whole clip | segments |",
        "|---|---|---|",
        f"| masked PSNR vs the empty scene | {res['whole_psnr_vs_truth']:.2f} dB | "
        f"{res['seg_psnr_vs_truth']:.2f} dB |",
        f"| flicker (0-255) | {res['whole_flicker']:.3f} | {res['seg_flicker']:.3f} |",
        f"| wall time | {t_whole:.1f} s | {t_seg:.1f} s |",
        "",
        f"Segments against the whole-clip output inside the masks: PSNR {agree(filled):.2f} dB "
        f"(all filled frames), {agree(border):.2f} dB on the {len(border)} frames within "
        f"`radius` of a cut; max difference {res['max_abs_diff_in_masks']:.0f}/255 in the "
        f"masks, {res['max_abs_diff_whole_frames']:.0f}/255 over whole frames. "
        f"Load average {load0:.1f} -> {load1:.1f} (2 shared cores).",
    ]
    args.out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    np.save(work / "frame.npy", np.stack([a[n // 2], b[n // 2]]))
    print(f"work folder: {work}")


if __name__ == "__main__":
    main()
