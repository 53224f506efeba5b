"""What every ``photomend`` subcommand shares: exit codes, messages, progress bars, the
options every file-writing command takes, and the folder loop with per-file error accounting.

A subcommand module (``photomend.cli.<name>``) has one public function, ``add_parser(sub)``,
which adds its parser to the ``sub`` action and sets ``run=`` to a function
``(argparse.Namespace) -> int``. Library errors propagate: :func:`photomend.cli.main` turns
``InputError``/``OutputError`` into exit 2 and anything else into exit 1, one line each.
"""

from __future__ import annotations

import argparse
import atexit
import os
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

from photomend.errors import InputError, OutputError
from photomend.formats import IMAGE_SUFFIXES

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2

#: The subcommands, in the order ``photomend --help`` lists them: name -> (the module of
#: ``photomend.cli`` that defines it, its one-line help). Only the module of the command being
#: run is imported, so ``photomend --help`` loads no image library at all.
COMMANDS = {
    "remove": ("remove", "remove objects marked by a mask, or people found automatically"),
    "objects": ("objects", "find people and objects in a photo (JSON, overlay, masks)"),
    "faces": ("faces", "find and align faces in a photo (JSON, overlay, aligned crops)"),
    "example": ("example", "run the bundled example photo"),
    "engines": ("engines", "list the inpainting engines and whether they are ready"),
    "models": ("models", "list, fetch and import model weights"),
    "serve": ("serve", "run the web studio and HTTP API"),
    "batch": ("batch", "process a folder or manifest of photos, resumably, locally or on Ray"),
    "upscale": ("upscale", "upscale images x2, x3 or x4 (super-resolution)"),
    "colorize": ("colorize", "colorize black-and-white photos"),
    "restore": ("restore", "repair old scans: find scratches, dust, cracks, folds, tears and "
                "fill them"),
    "degrade": ("degrade", "make a synthetic old scan (and its defect mask) from a clean photo"),
}
#: Help of the ``--traceback`` option, which every command takes.
TRACEBACK_HELP = "show the full traceback of an error (also: PHOTOMEND_DEBUG=1)"


def exit_now(code: int) -> NoReturn:
    """End the process with exit status ``code``, skipping the interpreter's teardown.

    What a normal exit does that matters is kept: non-daemon threads are joined, ``atexit``
    handlers run (logging, multiprocessing, Ray, coverage) and stdout and stderr are flushed;
    output files are already complete (written atomically and synced). What is skipped is the
    teardown of every module: with numba's kernels loaded it costs a fresh ``photomend remove``
    about 0.3 s of CPU (measured on 2 cores: 0.29-0.35 s of process CPU after ``main``
    returned, 0.03-0.04 s with this), and nothing is left to clean up once the work is done.
    """
    try:
        for thread in threading.enumerate():
            if thread is not threading.main_thread() and not thread.daemon:
                thread.join()
        atexit._run_exitfuncs()
    except KeyboardInterrupt:
        code = 130
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe or stream: nothing more can be said
            pass
    os._exit(code if isinstance(code, int) else EXIT_FAILURE)


def summary(command: str) -> str:
    """The one-line help of ``command`` (what ``photomend --help`` lists)."""
    return COMMANDS[command][1]


def add_output_options(parser: argparse.ArgumentParser) -> None:
    """``--overwrite``, ``--quality``, ``--compression``, ``--max-pixels``, ``--quiet`` and
    ``--traceback``, which every command that writes images takes."""
    parser.add_argument("--overwrite", action="store_true",
                        help="replace existing output files, even the input itself")
    parser.add_argument("--quality", type=quality, default=95, metavar="Q",
                        help="JPEG/WebP quality 1-100 (default: 95)")
    parser.add_argument("--compression", type=compression_level, default=1, metavar="L",
                        help="PNG compression 0-9: 1 fastest (default), 9 smallest, 0 none; "
                        "TIFF: 0 uncompressed, else LZW")
    parser.add_argument("--max-pixels", type=positive_int, default=None, metavar="N",
                        help="refuse larger images (default: $PHOTOMEND_MAX_PIXELS or 200000000)")
    add_quiet_option(parser)


def add_quiet_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quiet", "-q", action="store_true", help="print errors only")
    parser.add_argument("--traceback", action="store_true", default=argparse.SUPPRESS,
                        help=TRACEBACK_HELP)


def process_folder(
    items: list[Path], work: Callable[[Path], None], *, quiet: bool, out_dir: Path,
    unit: str = "image",
) -> int:
    """Run ``work(item)`` on each item with a progress bar; one bad file never stops the rest.

    Returns the exit code: 0 all done, 2 some failed on bad input or output, 1 an unexpected
    error. Prints a summary line unless ``quiet``.
    """
    from tqdm import tqdm

    started, failed, unexpected = time.perf_counter(), 0, False
    bar = tqdm(items, unit=unit, file=sys.stderr, disable=quiet or not sys.stderr.isatty())
    for item in bar:
        bar.set_postfix_str(item.name)
        try:
            work(item)
        except (InputError, OutputError) as exc:
            failed += 1
            message = str(exc)  # most messages name the file; say which one when they don't
            say("error", message if item.name in message else f"{item.name}: {message}")
        except Exception as exc:  # noqa: BLE001  (one broken file must not stop the batch)
            failed, unexpected = failed + 1, True
            say("error", f"{item.name}: {describe(exc)}")
    bar.close()
    if not quiet:
        tail = f"; {failed} failed" if failed else ""
        print(f"processed {len(items) - failed} of {len(items)} {unit}s into {out_dir} "
              f"in {time.perf_counter() - started:.1f} s{tail}")
    return EXIT_FAILURE if unexpected else EXIT_USAGE if failed else EXIT_OK


def check_folder_output(src: Path, out_dir: Path, *, overwrite: bool) -> None:
    """Refuse an output that is a file, or the input folder itself without ``--overwrite``."""
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputError(f"{src} is a folder, so -o must be a folder too; {out_dir} is a file")
    if out_dir.exists() and out_dir.resolve() == src.resolve() and not overwrite:
        raise OutputError(f"the output folder is the input folder {src}; pass --overwrite to "
                          "replace the images")


def claim_output(out: Path, inputs: tuple[Path, ...], *, overwrite: bool,
                 what: str = "image") -> tuple[Path, ...]:
    """Check the output file ``out`` before any slow work: a format we write, not the input
    (``inputs[0]``, called ``what``) unless ``overwrite``, and free (see
    :func:`photomend.io.check_destination`). Returns what ``write_image`` must protect."""
    from photomend.io import check_destination, format_for_path

    format_for_path(out)
    protect = () if overwrite else inputs
    if not overwrite and out.exists() and same_file(out, inputs[0]):
        raise OutputError(f"{out} is the input {what}; pass --overwrite to replace it")
    check_destination(out, overwrite=overwrite, protect=protect)
    return protect


@contextmanager
def reported_warnings(label: str, *, quiet: bool, kind: str = "warning") -> Iterator[list]:
    """Collect the warnings raised inside the block and, unless ``quiet``, print the
    UserWarnings as ``photomend: KIND: LABEL: message`` once it is done (library deprecation
    chatter is for developers, not users). Yields the list of caught warnings."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield caught
    if not quiet:
        for w in caught:
            if issubclass(w.category, UserWarning):
                say(kind, f"{label}: {w.message}")


class StageBars:
    """A ``progress(stage, done, total)`` callback drawing one tqdm bar per stage on stderr."""

    def __init__(self, *, enabled: bool) -> None:
        self.enabled, self.stage, self.bar = enabled, None, None

    @classmethod
    def for_args(cls, args: argparse.Namespace) -> StageBars:
        """Bars unless ``--quiet`` or stderr is not a terminal."""
        return cls(enabled=not getattr(args, "quiet", False) and sys.stderr.isatty())

    def __call__(self, stage: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        if stage != self.stage or self.bar is None:
            self.close()
            from tqdm import tqdm

            self.stage = stage
            self.bar = tqdm(total=total, desc=stage, file=sys.stderr, leave=False)
        if total != self.bar.total:
            self.bar.total = total
        self.bar.update(done - self.bar.n)  # update() rate-limits redraws; n = n is free

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        self.stage, self.bar = None, None


def list_images(folder: Path, *, skip_masks: bool = False) -> list[Path]:
    """The image files of ``folder`` (not recursive, no hidden files), sorted by name."""
    return sorted(
        p for p in folder.iterdir()
        if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")
        and not (skip_masks and p.stem.endswith("_mask"))
    )


def make_folder(folder: Path, option: str) -> None:
    """Create the output folder ``folder`` (given with ``option``) or raise OutputError."""
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"{option} must be a folder; {folder} is a file")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        problem = exc.strerror or exc
        raise OutputError(f"cannot create the output folder {folder}: {problem}") from None


def same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def say(kind: str, message: str) -> None:
    """One ``photomend: KIND: message`` line on stderr (tqdm.write keeps any bar intact)."""
    _write(f"photomend: {kind}: {' '.join(message.split())}", sys.stderr)


def report(line: str) -> None:
    _write(line, sys.stdout)


def _write(line: str, file) -> None:
    tqdm = sys.modules.get("tqdm")  # no tqdm imported: no bar to keep intact
    if tqdm is None:
        print(line, file=file)
    else:
        tqdm.tqdm.write(line, file=file)


def env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


def describe(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def whole_number(text: str) -> int:
    """``text`` as an int (argparse type; the range checks are the callers')."""
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None


def positive_int(text: str) -> int:
    value = whole_number(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {value}")
    return value


def compression_level(text: str) -> int:
    value = whole_number(text)
    if not 0 <= value <= 9:
        raise argparse.ArgumentTypeError(f"must be between 0 and 9, got {value}")
    return value


def quality(text: str) -> int:
    value = positive_int(text)
    if value > 100:
        raise argparse.ArgumentTypeError(f"must be between 1 and 100, got {value}")
    return value


class FrameBars:
    """tqdm bars counting frames, one per stage of a video job (tqdm shows frames/s and the
    ETA); ``names`` maps a stage to its bar's label (others get ``default``).

    >>> bars = FrameBars(enabled=False)
    >>> bars("scan", 1, 10); bars.close()
    """

    def __init__(self, *, enabled: bool, names: dict[str, str] | None = None,
                 default: str = "frames") -> None:
        self.enabled, self.bar, self.stage = enabled, None, None
        self.names, self.default = names or {}, default

    def __call__(self, stage: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        if self.bar is None or stage != self.stage:
            self.close()
            from tqdm import tqdm

            self.stage = stage
            self.bar = tqdm(total=total or None, unit="frame",
                            desc=self.names.get(stage, self.default), file=sys.stderr,
                            leave=False)
        if total and total != self.bar.total:
            self.bar.total = total
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
