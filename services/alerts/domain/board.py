"""The governing board's clocks: R-GB-5, R-GB-15, R-GB-50 (domain.md §1.5, §6 rules 3-5).

The board must consider reinstatement (regs 6, 15 and 24 of SI 2012/1033 [S2][S3]):
- a permanent exclusion, or suspensions taking the pupil's total at the school in one term over
  15 school days: decide within 15 school days of being notified [S19][S20] (R-GB-15);
- over 5 and up to 15 in the term, when the parent makes representations: within 50 school days
  of being notified [S20][S21] (R-GB-50);
- over 5 in a term, or a permanent exclusion: the board is notified without delay [S1] (R-GB-5).
Lunchtimes count half a day. The term is the school's own (its calendar's autumn, spring or summer,
half term included), the total is the pupil's at that school (the board's duty is its own school's).

One case per (school, term). `governing_board_review_due` (info) stands from the notification until a
board decision about an exclusion of that term arrives; `governing_board_decision_overdue` (high)
stands once a 15- or 50-day clock has run out without one. A decision resolves both.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta

from schemas.alerts import Rule, Severity
from services.alerts.domain import deadlines
from services.alerts.domain.deadlines import CalendarOf, Outcome
from services.common.calendar import Term
from services.common.exclusions.findings import Finding
from services.common.exclusions.proceedings import (
    DECISION,
    PERMANENT,
    REPRESENTATION,
    Proceedings,
    Step,
    uk_date,
)
from services.common.exclusions.suspension_days import Report, Reports, winner

CONSIDER_OVER = 5.0  # school days in a term: the board is notified, and must consider representations [S1][S20]
MEET_OVER = 15.0  # ... the board must meet and decide [S19][S20]
DECIDE_WITHIN = 15  # school days from the notification (permanent exclusion, or over 15) [S19][S20]
REPRESENTATION_WITHIN = 50  # school days from the notification (over 5 and up to 15, with representations) [S20][S21]


@dataclass(slots=True)
class _Case:
    school_urn: str
    la_code: str
    term: Term
    suspensions: list[tuple[Report, Reports]] = field(default_factory=list)  # the counted report, and every report of it
    permanents: list[Step] = field(default_factory=list)


def notified_on(reports: Reports) -> date:
    """When the board heard of a suspension: the school's first notice (sent to the board as to the LA,
    without delay), else its start date (an LA return names no notification)."""
    notices = [uk_date(r.reported_at) for r in reports if r.event_id.startswith("notice:") and r.reported_at]
    return min(notices) if notices else min(r.start_date for r in reports)


def detect(suspensions: dict[str, Reports], steps: Proceedings, *, child_id: str, calendar_of: CalendarOf, today: date,
           watch_school_days: int) -> Outcome:  # fmt: skip
    """The board's clocks of every (school, term) in which the child was excluded."""
    cases: dict[tuple[str, str], _Case] = {}

    def case(urn: str, la: str, start: date) -> _Case:
        term = calendar_of(la, urn).term_for(start)
        return cases.setdefault((urn, term.id), _Case(urn, la, term))

    for reports in suspensions.values():
        counted = winner(reports)
        case(counted.school_urn, counted.la_code, counted.start_date).suspensions.append((counted, reports))
    for step in steps.of(PERMANENT):
        assert step.exclusion_start is not None
        case(step.school_urn, step.la_code, step.exclusion_start).permanents.append(step)
    by_case: dict[tuple[str, str, str], list[Step]] = defaultdict(list)  # decisions and representations by (kind, school, term)
    for step in steps.of(DECISION) + steps.of(REPRESENTATION):
        if step.exclusion_start is not None:
            term = calendar_of(step.la_code, step.school_urn).term_for(step.exclusion_start)
            by_case[(step.kind, step.school_urn, term.id)].append(step)
    out = Outcome()
    for key in sorted(cases):
        c = cases[key]
        out.extend(_clock(c, by_case[(DECISION, *key)], by_case[(REPRESENTATION, *key)], child_id, calendar_of(c.la_code, c.school_urn), today,
                          watch_school_days))  # fmt: skip
    out.findings = deadlines.one_per_alert(out.findings)
    return out


def _clock(c: _Case, decisions: list[Step], representations: list[Step], child_id: str, calendar: deadlines.SchoolDays, today: date,
           watch: int) -> Outcome:  # fmt: skip
    out = Outcome()
    total, over5, over15 = 0.0, None, None
    for report, reports in sorted(c.suspensions, key=lambda s: (s[0].start_date, s[0].event_id)):
        total += report.days
        if over5 is None and total > CONSIDER_OVER:
            over5 = notified_on(reports)  # only the crossing suspension's notification matters (and parsing times costs)
        if over15 is None and total > MEET_OVER:
            over15 = notified_on(reports)
    permanent = min((p.on for p in c.permanents), default=None)
    notified = [d for d in (over5, permanent) if d is not None]
    if not notified:
        return out
    review_from = min(notified)
    clock: tuple[date, int] | None = None
    if permanent is not None or over15 is not None:
        clock = (min(d for d in (permanent, over15) if d is not None), DECIDE_WITHIN)
    elif over5 is not None and representations:
        clock = (over5, REPRESENTATION_WITHIN)
    if any(d.on >= (clock[0] if clock else review_from) for d in decisions):
        return out  # the board decided (after the notification its clock runs from): both alerts resolve
    due_on = deadlines.due(calendar, *clock) if clock else review_from
    evidence = tuple(sorted({r.event_id for r, _ in c.suspensions} | {p.event_id for p in c.permanents} | {r.event_id for r in representations}))
    threshold = MEET_OVER if clock and clock[1] == DECIDE_WITHIN else CONSIDER_OVER
    year, term = c.term.academic_year, c.term.name
    noticed = max((r.reported_at for _, reports in c.suspensions for r in reports if r.event_id.startswith("notice:") and r.reported_at), default="")
    latest = max([*notified, *(r.start_date for r, _ in c.suspensions), *(p.on for p in c.permanents), *(r.on for r in representations),
                  *([uk_date(noticed)] if noticed else [])])  # every fact's date: more facts never make the case older

    def finding(rule: Rule, severity: Severity) -> Finding:
        return Finding(rule, "child", child_id, c.la_code, year, term, severity, total, threshold, evidence, c.school_urn, due_on=due_on,
                       quiet=deadlines.long_past(calendar, latest, today, watch))  # fmt: skip

    out.findings.append(finding(Rule.governing_board_review_due, Severity.info))
    if clock is None:
        return out
    if today > due_on:
        out.findings.append(finding(Rule.governing_board_decision_overdue, Severity.high))
    else:
        out.wake(due_on + timedelta(days=1))
    return out
