"""End-of-term spikes in suspensions, per school.

Exclusions rise before the end of term, before Christmas most (NCB 2019 deep dive; no
national statistic exists, so the rule is local: domain.md rule R-SPIKE). A spike: at
least 5 suspensions starting in the term's last 10 school days, and at least twice the
school's rate per school day over the rest of that term.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from schemas.alerts import Rule, Severity
from services.alerts.domain.rules import EndOfTermSpike
from services.common.exclusions.findings import Finding


@dataclass(slots=True)
class SchoolTerm:
    """One school's suspensions starting in one term, by natural key."""

    starts: dict[str, tuple[date, str]] = field(default_factory=dict)  # key -> (start date, event id)


def record(state: SchoolTerm, key: str, start: date, event_id: str) -> bool:
    if key in state.starts:
        return False
    state.starts[key] = (start, event_id)
    return True


def detect(
    state: SchoolTerm,
    *,
    school_urn: str,
    la_code: str,
    academic_year: str,
    term: str,
    term_school_days: int,
    window_start: date,
    config: EndOfTermSpike,
) -> list[Finding]:
    """`window_start` is the first of the term's last `window_school_days` school days."""
    in_window = [(d, e) for d, e in state.starts.values() if d >= window_start]
    rest = len(state.starts) - len(in_window)
    rest_days = max(term_school_days - config.window_school_days, 0)
    window_rate = len(in_window) / config.window_school_days
    rest_rate = rest / rest_days if rest_days else 0.0
    if len(in_window) < config.min_suspensions or window_rate < config.ratio * rest_rate:
        return []
    threshold = max(float(config.min_suspensions), config.ratio * rest_rate * config.window_school_days)
    evidence = tuple(e for _, e in sorted(in_window))
    return [
        Finding(Rule.end_of_term_spike, "school", school_urn, la_code, academic_year, term, Severity.warning, len(in_window), threshold, evidence, school_urn)
    ]
