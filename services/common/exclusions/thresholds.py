"""The settings of the shared rules, with the contract's defaults. They sit in the rules file
(SIGNPOST_RULES_FILE) beside the alerts service's own (`services/alerts/domain/rules.py`, which
reads the file); docs/rules.md says which thresholds are law and which are local choices."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class SuspensionDays(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    warning_at: float = Field(30, description="suspension_days_nearing_limit fires (warning) at this many days")
    high_at: float = Field(40, description="... and rises to high at this many")
    limit: float = Field(45, description="suspension_days_limit_exceeded fires above this (the legal limit)")

    @model_validator(mode="after")
    def _ordered(self) -> SuspensionDays:
        if not self.warning_at <= self.high_at <= self.limit:
            raise ValueError("need warning_at <= high_at <= limit")
        return self
