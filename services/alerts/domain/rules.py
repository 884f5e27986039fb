"""Rule thresholds: configuration with the contract's defaults (SIGNPOST_RULES_FILE overrides them)."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field

from services.alerts.domain import grey_rules
from services.common.exclusions.thresholds import SuspensionDays


class InformalExclusions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    min_incidents: int = Field(2, ge=2)
    window_school_days: int = Field(20, ge=1)


class EndOfTermSpike(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    window_school_days: int = Field(10, ge=1)
    min_suspensions: int = Field(5, ge=1)
    ratio: float = Field(2.0, gt=0)


class Deadlines(BaseModel):
    """Issue 11 (items 1-3). The statutory periods are law, not settings (services/alerts/domain/board.py,
    review.py, day_six.py); what is local is how far back a deadline is still news."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    watch_school_days: int = Field(
        60, ge=0, description="a case whose latest fact is more than this many school days before today raises no new alert (it still "
        "updates one that exists): loading old data alerts nobody about long-closed cases",
    )


class RuleConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    suspension_days: SuspensionDays = SuspensionDays()
    informal_exclusions: InformalExclusions = InformalExclusions()
    end_of_term_spike: EndOfTermSpike = EndOfTermSpike()
    # issue 11, items 5 and 6 (services/alerts/domain/grey_rules.py)
    part_time_timetables: grey_rules.PartTimeTimetables = grey_rules.PartTimeTimetables()
    off_rolling: grey_rules.OffRolling = grey_rules.OffRolling()
    suspensions_in_term: grey_rules.SuspensionsInTerm = grey_rules.SuspensionsInTerm()
    late_notifications: grey_rules.LateNotifications = grey_rules.LateNotifications()
    deadlines: Deadlines = Deadlines()  # issue 11 (items 1-3)


def load_rules(path: Path | None) -> RuleConfig:
    if path is None:
        return RuleConfig()
    return RuleConfig.model_validate(yaml.safe_load(path.read_text()) or {})
