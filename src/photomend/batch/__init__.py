"""Batch jobs for photo archives: resumable folder/manifest processing on local worker
processes or a Ray cluster, on the same library verbs as the CLI.

>>> from photomend.batch import JobSpec, Step, run_job          # doctest: +SKIP
>>> job = JobSpec(steps=(Step("remove"),), input_dir=Path("scans"), masks_dir=Path("masks"),
...               output_dir=Path("out"))                       # doctest: +SKIP
>>> summary = run_job(job); summary.exit_code                   # doctest: +SKIP
0

See ``docs/batch.md`` for the job file format and how to run on a cluster.
"""

from photomend.batch.job import Item, JobSpec, Step, list_items, load_job, parse_steps
from photomend.batch.journal import Journal, read_journal
from photomend.batch.operations import OPERATIONS, available_operations
from photomend.batch.runner import Summary, run_job

__all__ = [
    "OPERATIONS",
    "Item",
    "JobSpec",
    "Journal",
    "Step",
    "Summary",
    "available_operations",
    "list_items",
    "load_job",
    "parse_steps",
    "read_journal",
    "run_job",
]
