"""The face step shared by the HTTP API, the studio and the batch runner: a photo (or its
restored / upscaled version) with every face restored by GFPGAN or replaced by PULSE's.

:func:`check_faces` refuses bad options and missing weights before any work (one line naming
the command that installs them); :func:`apply_faces` finds the faces on ``original``, works
on ``target`` (``original`` by default; e.g. its upscale) and returns the new pixels with a
JSON-ready summary (faces found, skipped, PULSE's verdict per face and its identity note).
:func:`face_methods` says which methods this installation can run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from photomend.errors import InputError

#: The methods: name -> (zoo entries it needs, what it does).
METHODS = {
    "gfpgan": (("gfpgan-v1.4",), "GFPGAN v1.4: restores each face (ONNX Runtime, ~seconds a "
               "face); strength blends it with the input face"),
    "pulse": (("pulse-stylegan-ffhq", "pulse-gaussian-fit"),
              "PULSE: replaces each face by one StyleGAN invents that downscales to it (torch "
              "extra, minutes a face); not the person's identity"),
}


@dataclass
class FacesOutcome:
    """What :func:`apply_faces` did: the pixels, and ``summary`` (JSON-ready)."""

    rgb: np.ndarray
    summary: dict = field(default_factory=dict)


def check_faces(method: str, *, strength: float = 1.0, steps: int = 100,
                eps: float = 2e-3) -> None:
    """Raise InputError for an unknown method or option out of range, and ModelMissingError
    (with the command that installs them) / OptionalDependencyError when the method's weights
    or torch are missing.

    >>> check_faces("codeformer")
    Traceback (most recent call last):
    ...
    photomend.errors.InputError: unknown face method 'codeformer': choose gfpgan or pulse
    """
    if method not in METHODS:
        raise InputError(f"unknown face method {method!r}: choose {' or '.join(METHODS)}")
    if not 0.0 <= strength <= 1.0:
        raise InputError(f"face strength must be between 0 and 1, got {strength}")
    if method == "pulse":
        if steps < 1:
            raise InputError(f"face steps must be >= 1, got {steps}")
        if not eps > 0:
            raise InputError(f"face eps must be > 0, got {eps}")
        _pulse_module()
    from photomend import zoo

    for name in METHODS[method][0]:
        zoo.model_path(name)


def _pulse_module():
    from photomend.errors import OptionalDependencyError

    try:
        from photomend.faces import pulse_search
    except ImportError as exc:
        raise OptionalDependencyError(f"faces=pulse needs torch: pip install "
                                      f"'photomend[torch]' ({exc})") from None
    return pulse_search


def apply_faces(original: np.ndarray, target: np.ndarray | None = None, *, method: str,
                strength: float = 1.0, steps: int = 100, eps: float = 2e-3,
                seed: int | None = None,
                progress: Callable[[str, int, int], None] | None = None) -> FacesOutcome:
    """``target`` (float32 RGB; default ``original``) with every face found on ``original``
    restored (``gfpgan``) or replaced (``pulse``). No face: an unchanged copy and a note.

    >>> import numpy as np
    >>> out = apply_faces(np.zeros((64, 64, 3), np.float32), method="gfpgan")
    >>> out.summary["faces"], out.summary["note"]
    (0, 'no face found; the photo is unchanged')
    """
    from photomend.faces.api import find_faces

    if method not in METHODS:
        check_faces(method)
    original = np.asarray(original, np.float32)
    target = original if target is None else np.asarray(target, np.float32)
    faces = find_faces(original)
    summary: dict = {"method": method, "faces": len(faces),
                     "skipped_small": faces.skipped_small,
                     "boxes": [[round(float(v), 1) for v in f.box] for f in faces]}
    if not faces:
        summary["note"] = "no face found; the photo is unchanged"
        return FacesOutcome(np.array(target, np.float32, copy=True), summary)
    if method == "gfpgan":
        from photomend.faces.gfpgan import restore_faces

        rgb, _ = restore_faces(original, target, strength=strength, faces=faces,
                               progress=progress)
        summary["strength"] = strength
        return FacesOutcome(rgb, summary)
    from photomend.faces.enhance import pulse_faces

    pulse = _pulse_module()
    bar = None if progress is None else (lambda done, total: progress("faces", done, total))
    rgb, reports, _ = pulse_faces(original, target, steps=steps, eps=eps, seed=seed,
                                  faces=faces, progress=bar)
    summary["pulse"] = [r.to_dict() for r in reports]
    summary["note"] = pulse.IDENTITY_NOTE
    return FacesOutcome(rgb, summary)


def face_methods() -> list[dict]:
    """Each method: name, description, the zoo entries it needs and whether it is ready.

    >>> [m["name"] for m in face_methods()]
    ['gfpgan', 'pulse']
    """
    from photomend import zoo

    rows = []
    for name, (models, description) in METHODS.items():
        ready = all(zoo.installed_path(m) is not None for m in models)
        if ready and name == "pulse":
            try:
                import torch  # noqa: F401
            except ImportError:
                ready = False
        rows.append({"name": name, "description": description, "models": list(models),
                     "installed": ready})
    return rows
