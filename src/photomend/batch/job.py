"""A batch job: what to read, which steps to run, where to write. Loaded from a TOML file
(:func:`load_job`) or built in code (:class:`JobSpec`), then expanded into :class:`Item`\\ s.

See ``docs/batch.md`` for the file format. Paths in a job file are relative to the file's
folder; paths in a manifest are relative to the manifest's folder.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import tomllib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from photomend.errors import InputError
from photomend.files import HINT_SUFFIXES, IMAGE_SUFFIXES, CompanionIndex
from photomend.io import FORMATS_BY_SUFFIX

#: Output formats a job may name (``same`` keeps each input's suffix).
OUTPUT_FORMATS = {"same": None, "jpg": ".jpg", "jpeg": ".jpg", "png": ".png", "webp": ".webp",
                  "tif": ".tif", "tiff": ".tif"}
#: File name of the journal inside the output folder unless the job names another.
JOURNAL_NAME = ".photomend-batch.sqlite"
ENGINES = ("local", "ray")


@dataclass(frozen=True)
class Step:
    """One operation of the chain: a name from :data:`photomend.batch.operations.OPERATIONS`,
    or ``"package.module:function"``, and its keyword options."""

    op: str
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Item:
    """One photo of a job. Plain data, so it pickles cheaply to worker processes and Ray."""

    key: str            # the journal's id: path relative to the input folder, or as listed
    input: str
    output: str
    mask: str | None = None
    hints: str | None = None
    problem: str | None = None  # known before any work (e.g. no mask): fails without running
    adopt: bool = False         # an earlier run was interrupted: an existing output is its work
    segment: int | None = None  # a video's segment number (photomend.batch.video); output: its part


@dataclass(frozen=True)
class JobSpec:
    """Everything a batch run needs. Build it with :func:`load_job` or directly.

    Exactly one of ``input_dir`` and ``manifest`` is set. ``name`` is a template for the output
    file name without suffix: ``{stem}`` (input name without suffix), ``{name}``, ``{suffix}``
    (without the dot) and ``{parent}`` (the input's folder name).
    """

    steps: tuple[Step, ...]
    output_dir: Path
    input_dir: Path | None = None
    manifest: Path | None = None
    masks_dir: Path | None = None
    hints_dir: Path | None = None
    recursive: bool = False
    name: str = "{stem}"
    format: str = "same"
    quality: int = 95
    max_pixels: int | None = None
    journal: Path | None = None
    retries: int = 2
    workers: int | None = None
    engine: str = "local"
    ray_address: str | None = None

    def __post_init__(self) -> None:
        if not self.steps:
            raise InputError("the job has no steps; give at least one, e.g. steps = [\"remove\"]")
        if (self.input_dir is None) == (self.manifest is None):
            raise InputError("a job needs exactly one of input.folder and input.manifest")
        if self.format.lower() not in OUTPUT_FORMATS:
            raise InputError(f"unknown output format {self.format!r}; use one of "
                             f"{', '.join(OUTPUT_FORMATS)}")
        if not 1 <= int(self.quality) <= 100:
            raise InputError(f"quality must be between 1 and 100, got {self.quality}")
        if int(self.retries) < 0:
            raise InputError(f"retries must be 0 or more, got {self.retries}")
        if self.workers is not None and int(self.workers) < 1:
            raise InputError(f"workers must be 1 or more, got {self.workers}")
        if self.engine not in ENGINES:
            raise InputError(f"unknown engine {self.engine!r}; use local or ray")
        try:
            self.name.format(stem="a", name="a.jpg", suffix="jpg", parent="p")
        except (KeyError, IndexError, ValueError) as exc:
            raise InputError(f"bad output name template {self.name!r}: {exc}; fields are "
                             "{stem}, {name}, {suffix}, {parent}") from None

    @property
    def journal_path(self) -> Path:
        return self.journal if self.journal is not None else self.output_dir / JOURNAL_NAME

    def with_overrides(self, **changes: Any) -> JobSpec:
        """A copy with the fields given (None values are ignored: "not given on the command line")."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    def fingerprint(self) -> str:
        """Hash of what decides the outputs (steps, naming, format, quality): a journal written
        under another fingerprint belongs to another job."""
        what = {"steps": [[s.op, dict(sorted(s.options.items()))] for s in self.steps],
                "name": self.name, "format": self.format.lower(), "quality": int(self.quality)}
        return hashlib.sha256(json.dumps(what, sort_keys=True, default=str).encode()).hexdigest()

    def describe(self) -> dict[str, Any]:
        out = asdict(self)
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in out.items()}


# ---------------------------------------------------------------------------------------------
# Loading a job file
# ---------------------------------------------------------------------------------------------

_TOP_KEYS = {"input", "output", "steps", "run"}
_INPUT_KEYS = {"folder", "manifest", "masks", "hints", "recursive"}
_OUTPUT_KEYS = {"folder", "name", "format", "quality", "journal"}
_RUN_KEYS = {"workers", "engine", "retries", "ray_address", "max_pixels"}


def load_job(path: str | os.PathLike[str]) -> JobSpec:
    """Read a job file (TOML; see ``docs/batch.md``) into a :class:`JobSpec`.

    Raises InputError for a missing or malformed file, unknown keys, or a missing section.
    """
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"job file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read job file {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"job file {path} is not valid TOML: {exc}") from None
    return job_from_dict(data, base=path.parent, where=str(path))


def job_from_dict(data: Mapping[str, Any], *, base: Path = Path("."),
                  where: str = "job") -> JobSpec:
    """Build a :class:`JobSpec` from the parsed TOML (relative paths are resolved from ``base``)."""
    _no_unknown(data, _TOP_KEYS, where)
    inp, out, run = (_table(data, k, where) for k in ("input", "output", "run"))
    _no_unknown(inp, _INPUT_KEYS, f"{where} [input]")
    _no_unknown(out, _OUTPUT_KEYS, f"{where} [output]")
    _no_unknown(run, _RUN_KEYS, f"{where} [run]")
    if "folder" not in out:
        raise InputError(f"{where}: [output] folder is required")

    def p(value: Any) -> Path | None:
        return None if value is None else (base / Path(str(value)).expanduser())

    from photomend.batch.video import resolve_paths

    return JobSpec(
        steps=tuple(resolve_paths(s, base) for s in parse_steps(data.get("steps", ()),
                                                                 where=where)),
        output_dir=p(out["folder"]), input_dir=p(inp.get("folder")),
        manifest=p(inp.get("manifest")), masks_dir=p(inp.get("masks")),
        hints_dir=p(inp.get("hints")), recursive=bool(inp.get("recursive", False)),
        name=str(out.get("name", "{stem}")), format=str(out.get("format", "same")),
        quality=int(out.get("quality", 95)), journal=p(out.get("journal")),
        max_pixels=run.get("max_pixels"), retries=int(run.get("retries", 2)),
        workers=run.get("workers"), engine=str(run.get("engine", "local")),
        ray_address=run.get("ray_address"),
    )


def parse_steps(raw: Any, *, where: str = "job") -> tuple[Step, ...]:
    """``["restore", "colorize"]``, ``"restore,colorize"`` or ``[{op = "upscale", scale = 2}]``."""
    if isinstance(raw, str):
        raw = [s.strip() for s in raw.split(",") if s.strip()]
    steps = []
    for entry in raw:
        if isinstance(entry, str):
            steps.append(Step(entry))
        elif isinstance(entry, Mapping) and isinstance(entry.get("op"), str):
            options = {k: v for k, v in entry.items() if k != "op"}
            steps.append(Step(entry["op"], options))
        else:
            raise InputError(f"{where}: each step is an operation name or a table with op = "
                             f"\"NAME\" and its options, got {entry!r}")
    return tuple(steps)


def _table(data: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, Mapping):
        raise InputError(f"{where}: [{key}] must be a table")
    return value


def _no_unknown(data: Mapping[str, Any], known: set[str], where: str) -> None:
    unknown = sorted(set(data) - known)
    if unknown:
        raise InputError(f"{where}: unknown key(s) {', '.join(unknown)}; known: "
                         f"{', '.join(sorted(known))}")


# ---------------------------------------------------------------------------------------------
# Expanding a job into items
# ---------------------------------------------------------------------------------------------


def list_items(job: JobSpec, *, needs_mask: bool, wants_hints: bool) -> list[Item]:
    """The job's items, sorted by key, each with its output path and companion files.

    A missing mask (when a step needs one) is recorded as the item's ``problem``, not raised:
    one photo without a mask must not stop the job. Raises InputError for a missing input
    folder or manifest, an empty job, or two inputs that would write the same output.
    """
    rows = _manifest_rows(job.manifest) if job.manifest is not None else _folder_rows(job)
    if not rows:
        where = job.manifest if job.manifest is not None else job.input_dir
        raise InputError(f"no images in {where} (looked for {', '.join(IMAGE_SUFFIXES)})")
    suffix = OUTPUT_FORMATS[job.format.lower()]
    items, owners = [], {}
    masks = _index(job.masks_dir, "mask") if job.masks_dir is not None else None
    hint_files = _index(job.hints_dir, "hints") if job.hints_dir is not None and wants_hints \
        else None
    for row in rows:
        src = Path(row["path"])
        if row.get("output"):
            out = job.output_dir / row["output"]
        else:
            stem = job.name.format(stem=src.stem, name=src.name, suffix=src.suffix.lstrip("."),
                                   parent=src.parent.name)
            out = job.output_dir / row.get("subdir", "") / f"{stem}{suffix or src.suffix}"
        if out.suffix.lower() not in FORMATS_BY_SUFFIX:
            raise InputError(f"cannot write {out}: unknown file type; set [output] format")
        out_key = os.path.normcase(os.path.abspath(out))
        if out_key in owners:
            raise InputError(f"{owners[out_key]} and {row['key']} would both be written to {out}; "
                             "change [output] name or format")
        owners[out_key] = row["key"]
        mask, hints, problem = row.get("mask"), row.get("hints"), None
        if mask is None and masks is not None:
            found = masks.find(src)
            mask = None if found is None else str(found)
        if hints is None and hint_files is not None:
            found = hint_files.find(src)
            hints = None if found is None else str(found)
        originals = [p for p in (str(src), mask, hints) if p]
        if any(os.path.abspath(p) == os.path.abspath(out) for p in originals):
            problem = f"its output {out} would overwrite an original; change the output name"
        elif needs_mask and mask is None:
            where = job.masks_dir if job.masks_dir is not None else "the manifest"
            problem = f"no mask for {src.name} in {where}"
        items.append(Item(key=row["key"], input=str(src), output=str(out), mask=mask,
                          hints=hints, problem=problem))
    return sorted(items, key=lambda it: it.key)


def _index(folder: Path, tag: str) -> CompanionIndex:
    suffixes = HINT_SUFFIXES if tag == "hints" else IMAGE_SUFFIXES
    try:
        return CompanionIndex(folder, tag=tag, suffixes=suffixes)
    except OSError as exc:
        raise InputError(f"cannot list the {tag} folder {folder}: {exc.strerror or exc}") from None


def _folder_rows(job: JobSpec) -> list[dict[str, str]]:
    folder = job.input_dir
    assert folder is not None
    if not folder.is_dir():
        raise InputError(f"input folder {folder} does not exist or is not a folder")
    if job.output_dir.resolve() == folder.resolve():
        raise InputError(f"the output folder is the input folder {folder}: results would be "
                         "taken for originals; give the output a folder of its own")
    pattern = "**/*" if job.recursive else "*"
    skip = {p.resolve() for p in (job.output_dir, job.masks_dir, job.hints_dir) if p is not None}
    rows = []
    for path in folder.glob(pattern):
        rel = path.relative_to(folder)
        if (not path.is_file() or path.suffix.lower() not in IMAGE_SUFFIXES
                or any(part.startswith(".") for part in rel.parts)
                or any(parent.resolve() in skip for parent in path.parents)):
            continue
        if job.masks_dir is not None and job.masks_dir.resolve() == folder.resolve() \
                and path.stem.endswith("_mask"):
            continue  # masks beside the photos
        rows.append({"key": rel.as_posix(), "path": str(path),
                     "subdir": rel.parent.as_posix() if rel.parent != Path(".") else ""})
    return rows


def _manifest_rows(manifest: Path) -> list[dict[str, str]]:
    try:
        text = manifest.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError(f"manifest {manifest} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read manifest {manifest}: {exc}") from None
    if manifest.suffix.lower() in (".jsonl", ".ndjson"):
        raw = []
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"{manifest}:{n}: not JSON: {exc}") from None
            raw.append(entry if isinstance(entry, dict) else {"path": entry})
    else:
        reader = csv.DictReader(text.splitlines())
        if reader.fieldnames is None or "path" not in reader.fieldnames:
            raise InputError(f"manifest {manifest} needs a header row with a 'path' column "
                             "(optional: mask, hints, output)")
        raw = list(reader)
    rows, base = [], manifest.parent
    for n, entry in enumerate(raw, 1):
        path = str(entry.get("path") or "").strip()
        if not path:
            raise InputError(f"{manifest}: entry {n} has no path")
        row = {"key": path, "path": str(base / path)}
        for col in ("mask", "hints"):
            if str(entry.get(col) or "").strip():
                row[col] = str(base / str(entry[col]).strip())
        if str(entry.get("output") or "").strip():
            row["output"] = str(entry["output"]).strip()
        rows.append(row)
    keys = [r["key"] for r in rows]
    if len(set(keys)) != len(keys):
        dup = sorted({k for k in keys if keys.count(k) > 1})[:3]
        raise InputError(f"manifest {manifest} lists some paths twice: {', '.join(dup)}")
    return rows
