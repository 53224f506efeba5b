"""Draw docs/video_remove.jpg: a development frame of vtest.avi (frame 200; frames 400 and
later are held out) with the walking people masked, filled frame by frame by the image engine,
and filled by ``photomend.video_removal`` from the frames around it.

    python docs/make_video_remove_figure.py --data DIR   # opencv-doc's examples/data
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_objects import read_frames, truth_mask  # noqa: E402
from bench_video_remove import GROW, grow  # noqa: E402

from photomend.removal import remove_array  # noqa: E402
from photomend.video_removal.stream import clip_background, fill_frames  # noqa: E402

FRAME, RADIUS = 200, 24


def label(img: np.ndarray, text: str) -> np.ndarray:
    out = (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)[:, :, ::-1].copy()
    cv2.rectangle(out, (0, 0), (12 + 11 * len(text), 30), (0, 0, 0), -1)
    cv2.putText(out, text, (6, 21), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 1,
                cv2.LINE_AA)
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, required=True)
    args = p.parse_args()
    got = read_frames(args.data / "vtest.avi", range(0, 400))
    frames = [got[i] for i in sorted(got)]
    plate = np.median(np.stack(frames[::2]), axis=0).astype(np.float32)
    masks = [grow(truth_mask(f, plate), GROW) for f in frames]
    bg = clip_background(zip(frames, masks))
    lo, hi = FRAME - RADIUS, FRAME + RADIUS + 1
    outs = list(fill_frames(zip(frames[lo:hi], masks[lo:hi]), radius=RADIUS, background=bg))
    ours = outs[FRAME - lo]
    frame, mask = frames[FRAME], masks[FRAME]
    tinted = frame.copy()
    tinted[mask] = 0.5 * tinted[mask] + 0.5 * np.array([1.0, 0.1, 0.1], np.float32)
    single = remove_array(frame, mask, engine="patchmatch")
    top = np.hstack([label(tinted, "frame 200, people masked"),
                     label(single, "each frame on its own (patchmatch)")])
    bottom = np.hstack([label(ours, "photomend video: from the other frames"),
                        label(plate, "empty scene (temporal median)")])
    sheet = np.vstack([top, bottom])
    sheet = cv2.resize(sheet, (sheet.shape[1] * 2 // 3, sheet.shape[0] * 2 // 3),
                       interpolation=cv2.INTER_AREA)
    out = ROOT / "docs" / "video_remove.jpg"
    cv2.imwrite(str(out), sheet, [cv2.IMWRITE_JPEG_QUALITY, 85])
    print(f"wrote {out} ({out.stat().st_size // 1024} KiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
