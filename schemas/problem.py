"""RFC 9457 problem details: every error body Signpost returns."""

from __future__ import annotations

from pydantic import BaseModel, Field


class FieldError(BaseModel):
    loc: list[str | int] = Field(description="path to the field, e.g. [\"pupil\", \"upn\"] or [\"records\", 3, \"sessions\"]")
    msg: str


class Problem(BaseModel):
    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[FieldError] | None = None
