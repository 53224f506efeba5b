"""``photomend example``: defined with ``remove``, whose file handling it shares."""

from photomend.cli.remove import add_example_parser as add_parser

__all__ = ["add_parser"]
