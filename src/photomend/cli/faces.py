"""``photomend faces``: list the faces found in a photo (JSON), and optionally write an overlay
picture and each face's FFHQ-aligned crop."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from photomend.cli.common import EXIT_OK, add_quiet_option, summary


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "faces",
        help=summary("faces"),
        description="Find faces in PHOTO (MediaPipe face detection and face mesh) and print "
        "them as JSON: score, box (x0, y0, x1, y1 in the photo's own orientation), the "
        "detector's keypoints and the points used to align each face to the FFHQ template.",
    )
    p.add_argument("photo", metavar="PHOTO", type=Path, help="image file")
    p.add_argument("--detector", choices=("auto", "short", "full"), default="auto",
                   help="auto: both models, tiles on large photos (default); short: faces "
                   "filling much of the photo; full: full range only")
    p.add_argument("--min-score", type=float, default=None, metavar="S",
                   help="detector confidence 0-1 a face needs (default: the model's own)")
    p.add_argument("--min-size", type=float, default=None, metavar="PX",
                   help="skip (and count) faces narrower than PX pixels (default: 16)")
    p.add_argument("--overlay", type=Path, default=None, metavar="FILE",
                   help="also write the photo with each face boxed and its points marked")
    p.add_argument("--aligned-dir", type=Path, default=None, metavar="DIR",
                   help="also write each face's FFHQ-aligned crop as DIR/face_K.png")
    p.add_argument("--size", type=int, default=512, metavar="PX",
                   help="side of the aligned crops (default: 512)")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")
    # (stdout holds only the JSON; notes and "wrote ..." lines go to stderr)
    add_quiet_option(p)
    p.set_defaults(run=_run_faces)


def _run_faces(args: argparse.Namespace) -> int:
    from photomend.errors import InputError
    from photomend.faces.api import DEFAULT_MIN_SIZE, align_faces, find_faces
    from photomend.faces.overlay import draw_faces
    from photomend.io import LoadedImage, read_image, write_image

    if not 16 <= args.size <= 4096:
        raise InputError(f"--size must be between 16 and 4096, got {args.size}")
    image = read_image(args.photo)
    min_size = DEFAULT_MIN_SIZE if args.min_size is None else args.min_size
    faces = find_faces(image, detector=args.detector, min_score=args.min_score,
                       min_size=min_size)
    width, height = image.size
    json.dump({"image": str(args.photo), "width": width, "height": height,
               "faces": [f.to_dict() for f in faces], "skipped_small": faces.skipped_small,
               "rejected": faces.rejected},
              sys.stdout, indent=2)
    sys.stdout.write("\n")
    if not args.quiet:
        if not faces:
            print("note: no face found", file=sys.stderr)
        if faces.skipped_small:
            print(f"note: {faces.skipped_small} face(s) narrower than {min_size:g} px skipped",
                  file=sys.stderr)
    protect = (args.photo,)
    if args.overlay is not None:
        write_image(LoadedImage(draw_faces(image.rgb, faces)), args.overlay,
                    overwrite=args.overwrite, protect=protect)
        if not args.quiet:
            print(f"wrote {args.overlay} ({len(faces)} faces)", file=sys.stderr)
    if args.aligned_dir is not None and faces:
        args.aligned_dir.mkdir(parents=True, exist_ok=True)
        for k, crop in enumerate(align_faces(image, faces, size=args.size)):
            path = args.aligned_dir / f"face_{k}.png"
            write_image(LoadedImage(crop), path, overwrite=args.overwrite, protect=protect)
            if not args.quiet:
                print(f"wrote {path}", file=sys.stderr)
    return EXIT_OK
