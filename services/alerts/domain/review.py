"""Independent review of a permanent exclusion: R-IRP-APPLY, R-IRP-HOLD, R-RECON (domain.md §1.6,
§6 rules 11-13).

- R-IRP-APPLY: after the board upholds a permanent exclusion, the parent may apply for a review
  within 15 school days of the written notice of the decision [S5]. A posted application counts as
  made on the 2nd working day after posting [S5]. `irp_application_window_open` (info) stands while
  the window is open and no application is recorded; it resolves when one arrives or the window closes.
- R-IRP-HOLD: the panel must begin within 15 school days of the application [S5][S22]. With no
  outcome recorded by then, `irp_review_overdue` (high).
- R-RECON: after the panel recommends or directs reconsideration, the board must reconvene within
  10 school days of being notified [S4][S24c]. With no later board decision by then,
  `governing_board_reconsideration_overdue` (high).

Each is about one permanent exclusion (school + start date); the calendar is that school's.
"""

from __future__ import annotations

from datetime import date, timedelta

from schemas.alerts import Rule, Severity
from services.alerts.domain import deadlines
from services.alerts.domain.deadlines import CalendarOf, Outcome
from services.common.exclusions.findings import Finding
from services.common.exclusions.proceedings import DECISION, IRP_APPLICATION, IRP_DECISION, Proceedings, Step

APPLY_WITHIN = 15  # school days from the parent's written notice of the board's decision [S5]
POSTED_COUNTS_AFTER = 2  # working days after posting [S5]
HOLD_WITHIN = 15  # school days from the application [S5][S22]
RECONSIDER_WITHIN = 10  # school days from the board's notice of the panel's outcome [S4][S24c]
RECONSIDERATION = ("reconsideration_recommended", "reconsideration_directed")


def applied_on(step: Step, bank_holidays: frozenset[date]) -> date:
    """When an application counts as made: posted, the 2nd working day after posting [S5]."""
    return deadlines.working_days_after(step.on, POSTED_COUNTS_AFTER, bank_holidays) if step.detail == "post" else step.on


def detect(steps: Proceedings, *, child_id: str, calendar_of: CalendarOf, bank_holidays: frozenset[date], today: date,
           watch_school_days: int) -> Outcome:  # fmt: skip
    """The review clocks of every permanent exclusion the board upheld."""
    out = Outcome()
    decisions = steps.of(DECISION)
    upheld = [d for d in decisions if d.category == "permanent" and d.detail == "upheld"]
    first: dict[tuple[str, date], Step] = {}
    for d in upheld:  # the first upheld decision opens the window; a later one is a reconsideration
        assert d.exclusion_start is not None
        first.setdefault((d.school_urn, d.exclusion_start), d)
    for (urn, _start), decision in sorted(first.items()):
        out.extend(_exclusion(decision, steps, decisions, child_id, calendar_of(decision.la_code, urn), bank_holidays, today, watch_school_days))
    out.findings = deadlines.one_per_alert(out.findings)
    return out


def _exclusion(decision: Step, steps: Proceedings, decisions: list[Step], child_id: str, calendar: deadlines.SchoolDays,
               bank_holidays: frozenset[date], today: date, watch: int) -> Outcome:  # fmt: skip
    """The review clocks of one permanent exclusion, from the board's first upheld decision on it."""
    out = Outcome()
    urn, start = decision.school_urn, decision.exclusion_start
    assert start is not None
    term = calendar.term_for(start)
    applications = [a for a in steps.of(IRP_APPLICATION) if a.about(urn, start)]
    outcomes = [o for o in steps.of(IRP_DECISION) if o.about(urn, start)]
    evidence = tuple(sorted({decision.event_id, *(a.event_id for a in applications), *(o.event_id for o in outcomes)}))
    latest = max(d for s in (decision, *applications, *outcomes) for d in (s.on, s.until) if d is not None)

    def finding(rule: Rule, severity: Severity, due_on: date, days: int) -> Finding:
        return Finding(rule, "child", child_id, decision.la_code, term.academic_year, term.name, severity, days, days, evidence, urn,
                       due_on=due_on, quiet=deadlines.long_past(calendar, latest, today, watch))  # fmt: skip

    window_closes = deadlines.due(calendar, decision.until or decision.on, APPLY_WITHIN)
    if not applications:
        if not outcomes and today <= window_closes:
            out.findings.append(finding(Rule.irp_application_window_open, Severity.info, window_closes, APPLY_WITHIN))
            out.wake(window_closes + timedelta(days=1))
        return out
    applied = min(applied_on(a, bank_holidays) for a in applications)
    panel_by = deadlines.due(calendar, applied, HOLD_WITHIN)
    if not outcomes:
        if today > panel_by:
            out.findings.append(finding(Rule.irp_review_overdue, Severity.high, panel_by, HOLD_WITHIN))
        else:
            out.wake(panel_by + timedelta(days=1))
        return out
    outcome = max(outcomes, key=lambda o: (o.on, o.event_id))
    if outcome.detail not in RECONSIDERATION or any(d.on >= outcome.on and d.about(urn, start) for d in decisions):
        return out  # upheld by the panel, or the board reconsidered
    reconvene_by = deadlines.due(calendar, outcome.until or outcome.on, RECONSIDER_WITHIN)
    if today > reconvene_by:
        out.findings.append(finding(Rule.governing_board_reconsideration_overdue, Severity.high, reconvene_by, RECONSIDER_WITHIN))
    else:
        out.wake(reconvene_by + timedelta(days=1))
    return out
