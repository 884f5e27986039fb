"""Late notification of suspensions, per school (issue 11, item 5; R-LA-ALL).

Since 2022 the head must notify the LA of every suspension, whatever its length, without delay
(reg 5/14/23 as amended [S1][S11]; domain.md §1.3, §6 rule 7). A suspension that reaches the LA only
through a later LA return, never as the school's notice, or whose notice came after the return, was
notified late. A school's share of late notifications in a term at or above `late_notifications.share`
(a local choice, default 25%), over at least `min_suspensions` suspensions, raises a `warning` about
the school. The share is judged on report times, not arrival order.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from schemas.alerts import Rule, Severity
from services.alerts.domain.grey_rules import LateNotifications
from services.common.exclusions.findings import Finding


@dataclass(slots=True)
class TermReports:
    """One school's suspensions in one term: natural key -> event id -> (via, reported_at)."""

    by_key: dict[str, dict[str, tuple[str, str]]] = field(default_factory=dict)


def record(state: TermReports, key: str, event_id: str, via: str, reported_at: str) -> bool:
    reports = state.by_key.setdefault(key, {})
    if event_id in reports:
        return False
    reports[event_id] = (via, reported_at)
    return True


def is_late(reports: dict[str, tuple[str, str]]) -> bool:
    """No notice, or the first notice came after the first return."""
    notices = [at for via, at in reports.values() if via == "notice"]
    returns = [at for via, at in reports.values() if via == "return"]
    return not notices or (bool(returns) and min(notices) > min(returns))


def detect(state: TermReports, *, school_urn: str, la_code: str, academic_year: str, term: str, config: LateNotifications) -> list[Finding]:
    total = len(state.by_key)
    late = sorted(key for key, reports in state.by_key.items() if is_late(reports))
    if total < config.min_suspensions or not late or len(late) / total < config.share:
        return []
    evidence = tuple(sorted(min(state.by_key[k], key=lambda e: (state.by_key[k][e][1], e)) for k in late))
    return [Finding(Rule.late_notifications_high, "school", school_urn, la_code, academic_year, term, Severity.warning, round(len(late) / total, 4),
                    config.share, evidence, school_urn)]  # fmt: skip
