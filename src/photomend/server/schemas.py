"""The JSON bodies of the HTTP API (pydantic models; they also make the OpenAPI schema)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class ErrorBody(BaseModel):
    """Every 4xx/5xx answer."""

    error: str = Field(description="machine-readable code, e.g. image_too_large")
    message: str = Field(description="what went wrong, in one sentence")
    status: int = Field(description="the HTTP status, repeated")


class JobInfo(BaseModel):
    """A job's state. ``progress`` is done/total of the current ``stage``."""

    id: str = Field(description="unguessable job id; whoever holds it can read the result")
    operation: str
    state: Literal["queued", "running", "done", "failed", "cancelled"]
    stage: str | None = None
    done: int = 0
    total: int = 0
    progress: float | None = Field(None, ge=0, le=1)
    created: float = Field(description="Unix time")
    started: float | None = None
    finished: float | None = None
    error: ErrorBody | None = None
    outputs: list[str] = Field(default_factory=list,
                               description="result names: 'image', and 'mask' for restore")
    status_url: str
    events_url: str
    result_url: str


class EngineInfo(BaseModel):
    name: str
    description: str
    max_pixels: int
    synthesises_texture: bool
    default: bool


class UpscalerInfo(BaseModel):
    name: str
    description: str
    scales: list[int] = Field(description="factors it has")
    installed_scales: list[int] = Field(description="factors usable now (weights installed)")
    cost: str
    default: bool


class FaceMethodInfo(BaseModel):
    name: str = Field(description="the value of the 'faces' option of restore and upscale")
    description: str
    models: list[str] = Field(description="zoo entries it needs (photomend models fetch/import)")
    installed: bool = Field(description="usable now (weights, and torch for pulse, present)")


class ModelInfo(BaseModel):
    name: str
    task: str
    scale: int | None = None
    installed: bool
    license: str
    source: str
    description: str = ""


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    version: str
    operations: list[str]
    workers: int
    workers_alive: int
    queued: int
    queue_size: int
    running: int
    completed: int
    failed: int
    cancelled: int
    kept_results: int
