"""The peer detector of ``bench_faces.py``: OpenCV's Haar cascade (Viola-Jones,
``haarcascade_frontalface_default.xml``) called as OpenCV's face-detection tutorial does
(grey, equalised histogram, ``detectMultiScale(scaleFactor=1.1, minNeighbors=5)``). OpenCV 5's
wheel no longer ships the cascades, so this runs under any Python with OpenCV 4.x
(``pip install opencv-python-headless==4.10.0.84``) and speaks JSON:

    python haar_faces.py < request.json > boxes.json

request: {"images": [path, ...], "min_size": 20}; answer: {"boxes": {path: [[x0, y0, x1, y1],
...]}, "seconds": {path: s}, "opencv": version}.
"""

from __future__ import annotations

import json
import sys
import time

import cv2


def main() -> int:
    req = json.load(sys.stdin)
    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    ms = int(req.get("min_size", 20))
    out, seconds = {}, {}
    for path in req["images"]:
        grey = cv2.equalizeHist(cv2.cvtColor(cv2.imread(path), cv2.COLOR_BGR2GRAY))
        t = time.perf_counter()
        rects = cascade.detectMultiScale(grey, scaleFactor=1.1, minNeighbors=5, minSize=(ms, ms))
        seconds[path] = time.perf_counter() - t
        out[path] = [[x, y, x + w, y + h] for x, y, w, h in
                     (rects.tolist() if len(rects) else [])]
    json.dump({"boxes": out, "seconds": seconds, "opencv": cv2.__version__}, sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
