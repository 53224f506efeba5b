"""Defaults shared by the library and the CLI (no heavy imports: ``photomend --help`` reads
them)."""

#: Frames before and after the one filled that it may copy from.
DEFAULT_RADIUS = 24
#: How the camera is treated: decided per window, still (temporal median), moving (flow).
CAMERAS = ("auto", "static", "moving")
