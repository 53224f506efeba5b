"""The peer detector of ``bench_objects.py``: OpenCV's HOG people detector (Dalal-Triggs, the
default SVM), as OpenCV's ``peopledetect.py`` sample calls it. OpenCV 5 dropped the HOG
descriptor from its main module, so this runs under any Python with OpenCV 4.x
(``pip install opencv-python-headless==4.10.0.84``) and speaks JSON:

    python hog_boxes.py < request.json > boxes.json

request: {"video": path or null, "frames": [...], "photos": [...], "upscale": [1, 2]};
answer: {"<key>@<upscale>": [[x0, y0, x1, y1], ...], "seconds": {...}} with keys "frame:N" and
"photo:PATH", boxes in the original image's pixels.
"""

from __future__ import annotations

import json
import sys
import time

import cv2


def boxes(hog, bgr, upscale: int) -> list[list[float]]:
    img = bgr if upscale == 1 else cv2.resize(bgr, None, fx=upscale, fy=upscale,
                                              interpolation=cv2.INTER_LINEAR)
    rects, _ = hog.detectMultiScale(img, winStride=(8, 8), padding=(8, 8), scale=1.05)
    return [[x / upscale, y / upscale, (x + w) / upscale, (y + h) / upscale]
            for x, y, w, h in (rects.tolist() if len(rects) else [])]


def main() -> int:
    req = json.load(sys.stdin)
    hog = cv2.HOGDescriptor()
    hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())
    images = {}
    if req.get("video"):
        wanted = set(req["frames"])
        cap = cv2.VideoCapture(req["video"])
        i = 0
        while wanted and i <= max(wanted):
            ok, frame = cap.read()
            if not ok:
                break
            if i in wanted:
                images[f"frame:{i}"] = frame
            i += 1
    for path in req.get("photos", []):
        images[f"photo:{path}"] = cv2.imread(path)
    out, seconds = {}, {}
    for key, img in images.items():
        for up in req.get("upscale", [1]):
            t = time.perf_counter()
            out[f"{key}@{up}"] = boxes(hog, img, up)
            seconds[f"{key}@{up}"] = time.perf_counter() - t
    json.dump({"boxes": out, "seconds": seconds, "opencv": cv2.__version__}, sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
