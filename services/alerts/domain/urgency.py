"""Which proposed matches a person should decide first.

A proposal is urgent when the two records together cross a threshold that neither crosses
alone: a temporary UPN and the permanent one whose suspensions add up past 45 days, or a
call and a return whose incidents together make repeated informal exclusions. Until a
person confirms it, the combined harm is invisible: that is the missed child.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from services.alerts.domain import informal
from services.alerts.domain.rules import RuleConfig
from services.common.exclusions import suspension_days


@dataclass(slots=True)
class Facts:
    """One record's (or group's) facts."""

    years: dict[str, suspension_days.YearSuspensions] = field(default_factory=dict)
    incidents: informal.Incidents = field(default_factory=informal.Incidents)


def _level(days: float, rules: RuleConfig) -> int:
    c = rules.suspension_days
    return 3 if days > c.limit else 2 if days >= c.high_at else 1 if days >= c.warning_at else 0


LEVELS = {1: "nearing the limit", 2: "close to the limit", 3: "over the 45-day limit"}


def urgency(
    a: Facts, b: Facts, rules: RuleConfig, academic_year_of: Callable[[date], str], school_days_between: Callable[[date, date], int]
) -> str | None:
    """Why confirming the pair would raise or worsen an alert, or None."""
    for year in sorted(set(a.years) | set(b.years)):
        alone = [s.days for s in (a.years.get(year), b.years.get(year)) if s is not None]
        together = suspension_days.combine(s for s in (a.years.get(year), b.years.get(year)) if s is not None).days
        if _level(together, rules) > max(_level(d, rules) for d in alone):
            return f"together {together:g} suspension days in {year}: {LEVELS[_level(together, rules)]}"
    window, need = rules.informal_exclusions.window_school_days, rules.informal_exclusions.min_incidents

    def biggest(incidents: informal.Incidents) -> int:
        clusters = informal.clusters_by_year(incidents.days(), school_days_between, window, academic_year_of)
        return max((len(c) for c in clusters.values()), default=0)

    together = biggest(informal.combine([a.incidents, b.incidents]))
    if together >= need and max(biggest(a.incidents), biggest(b.incidents)) < need:
        return f"together {together} informal exclusions within {window} school days"
    return None
