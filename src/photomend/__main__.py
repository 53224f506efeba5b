"""``python -m photomend``: the same as the ``photomend`` command."""

from photomend.cli import main

raise SystemExit(main())
