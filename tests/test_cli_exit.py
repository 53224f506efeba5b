"""The ``photomend`` program ends without the interpreter's teardown (cli.common.exit_now), but
keeps what a normal exit does: its exit code, all its output, atexit handlers, and the
non-daemon threads finish first."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from photomend.cli import main

# A program that registers an atexit handler and starts a slow non-daemon thread, then runs
# ``photomend ARGS`` as the console script does (main() with no arguments); the thread is still
# running when the command is done.
PROGRAM = """
import atexit, sys, threading, time
import photomend.cli
from photomend.cli import main

atexit.register(lambda: print("atexit ran", flush=False))
finishing, exit_now = threading.Event(), photomend.cli.exit_now
def mark_then_exit(code):
    finishing.set()
    exit_now(code)
photomend.cli.exit_now = mark_then_exit
def late():  # still running when the command is done
    finishing.wait()
    time.sleep(0.3)
    sys.stdout.write("thread done\\n")  # buffered: only a flush at exit writes it
threading.Thread(target=late).start()
sys.argv = ["photomend", *sys.argv[1:]]
main()
raise AssertionError("main() with no arguments returned")
"""


def _program(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", PROGRAM, *args], capture_output=True, text=True,
                          timeout=120, check=False, env=dict(os.environ))


def test_program_exits_with_its_code_after_threads_and_atexit():
    proc = _program("engines")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert any(line.startswith("patchmatch") for line in lines)
    assert lines[-2:] == ["thread done", "atexit ran"]
    assert proc.stderr == ""


def test_program_error_code_and_message_survive(tmp_path):
    proc = _program("remove", str(tmp_path / "nope.png"), "-m", str(tmp_path / "m.png"),
                    "-o", str(tmp_path / "o.png"))
    assert proc.returncode == 2
    assert proc.stderr.startswith("photomend: error: ") and "nope.png" in proc.stderr
    assert proc.stdout.splitlines()[-2:] == ["thread done", "atexit ran"]


def test_python_m_photomend_help_exits_zero():
    proc = subprocess.run([sys.executable, "-m", "photomend", "--help"], capture_output=True,
                          text=True, timeout=120, check=False)
    assert proc.returncode == 0
    assert "usage: photomend" in proc.stdout and proc.stdout.rstrip().endswith("options.")


def test_main_with_arguments_returns_its_code(capsys):
    assert main(["engines"]) == 0
    assert main(["--no-such-option"]) == 2
    assert "patchmatch" in capsys.readouterr().out


@pytest.mark.parametrize("code", [0, 2])
def test_exit_now_code(code):
    proc = subprocess.run([sys.executable, "-c", "from photomend.cli.common import exit_now; "
                           f"print('out', end=''); exit_now({code})"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert (proc.returncode, proc.stdout) == (code, "out")
