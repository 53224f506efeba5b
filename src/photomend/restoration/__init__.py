"""Old-photo restoration: synthetic damage, defect detectors, and the detect -> repair pipeline.

The public verb is :func:`photomend.restore` (see :mod:`photomend.restoration.pipeline`). Note that
``photomend.restore`` is that function; import the modules of this package by their full names,
for example ``from photomend.restoration.degrade import degrade``.
"""
