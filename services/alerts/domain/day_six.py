"""Education from the sixth school day: R-DAY6 (domain.md §1.4, §6 rule 9).

From the 6th school day of an exclusion suitable full-time education must be arranged [S7][S43][S17]:
by the school for a suspension of more than 5 consecutive school days (suspensions back to back, the
next starting the school day after the last ends, are one run), by the LA for a permanent exclusion.
Provision is recorded by an `education-provisions` event or an `alternative_provision` return record;
it counts when it covers day 6 (started by then, not ended before). With none recorded once day 6
has come: `education_from_day_six_missing` (the school's duty; routed to the REU) or
`la_education_from_day_six_missing` (the LA's; routed to the exclusions officer), both high. A
provision recorded later that covers day 6 resolves it; a board reinstating the pupil before day 6
means there is no duty. R-DAY6-NOTICE: provision covering day 6 whose parent was told neither by the
end of the exclusion's first day nor 48 hours before it started: `education_from_day_six_notice_late`
(warning; the inclusion team works it from the alert).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from schemas.alerts import Rule, Severity
from services.alerts.domain import deadlines
from services.alerts.domain.deadlines import CalendarOf, Outcome
from services.common.exclusions.findings import Finding
from services.common.exclusions.proceedings import DECISION, LONDON, PERMANENT, PROVISION, Proceedings, Step
from services.common.exclusions.suspension_days import Report, Reports, winner

DUTY_FROM_DAY = 6  # school days: days 1-5 the school sets work; from day 6, full-time education [S7][S43]
NOTICE_AHEAD = timedelta(hours=48)  # a later notice of the provision's details: at least 48 hours before it starts [S6]


@dataclass(slots=True)
class Run:
    """Suspensions at one school back to back: its first and last school day, its days, its events."""

    school_urn: str
    la_code: str
    first: date
    last: date
    days: float
    starts: list[date] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)


def runs(counted: list[Report], calendar_of: CalendarOf) -> list[Run]:
    """Each school's suspensions, joined where one starts the school day after another ends."""
    out: list[Run] = []
    current: dict[str, Run] = {}
    for r in sorted(counted, key=lambda r: (r.school_urn, r.start_date, r.event_id)):
        calendar = calendar_of(r.la_code, r.school_urn)
        first = deadlines.first_school_day(calendar, r.start_date)
        last = calendar.add_school_days(first, max(math.ceil(r.days), 1) - 1)
        run = current.get(r.school_urn)
        if run is not None and calendar.add_school_days(run.last, 1) == first:
            run.last, run.days = max(run.last, last), run.days + r.days
        else:
            run = current[r.school_urn] = Run(r.school_urn, r.la_code, first, last, r.days)
            out.append(run)
        run.starts.append(r.start_date)
        run.evidence.append(r.event_id)
    return out


def covering(provisions: list[Step], day: date) -> list[Step]:
    return [p for p in provisions if p.on <= day and (p.until is None or p.until >= day)]


def notice_hours(provision: Step, first_day: date) -> float | None:
    """R-DAY6-NOTICE [S6]: the parent is told of day-6 provision by the end of the exclusion's first day,
    or, when its details were not known then, at least 48 hours before it starts. The hours of notice
    given before the provision started when neither was met (None: in time, or no notice recorded)."""
    if not provision.noticed:
        return None
    noticed = datetime.fromisoformat(provision.noticed.replace("Z", "+00:00"))
    starts = datetime.combine(provision.on, time(0), LONDON)
    if noticed.astimezone(LONDON).date() <= first_day or noticed <= starts - NOTICE_AHEAD:
        return None
    return round((starts - noticed).total_seconds() / 3600, 1)


def detect(suspensions: dict[str, Reports], steps: Proceedings, *, child_id: str, calendar_of: CalendarOf, today: date,
           watch_school_days: int) -> Outcome:  # fmt: skip
    out = Outcome()
    provisions = steps.of(PROVISION)
    reinstated = [d for d in steps.of(DECISION) if d.detail == "reinstated"]

    def check(rule: Rule, urn: str, la: str, first: date, starts: list[date], days: float, evidence: list[str], latest: date) -> None:
        calendar = calendar_of(la, urn)
        day6 = calendar.add_school_days(first, DUTY_FROM_DAY - 1)
        if any(d.school_urn == urn and d.exclusion_start in starts and d.on < day6 for d in reinstated):
            return  # reinstated before the duty began
        found = covering(provisions, day6)
        if found:
            late = [(hours, p) for p in found if (hours := notice_hours(p, first)) is not None]
            if late and len(late) == len(found):  # every provision covering day 6 was notified late
                hours, provision = max(late, key=lambda h: (h[0], h[1].event_id))
                term = calendar.term_for(first)
                out.findings.append(Finding(Rule.education_from_day_six_notice_late, "child", child_id, la, term.academic_year, term.name,
                                            Severity.warning, hours, NOTICE_AHEAD.total_seconds() / 3600, tuple(sorted({*evidence, provision.event_id})),
                                            urn, due_on=first, quiet=deadlines.long_past(calendar, max(latest, provision.on), today, watch_school_days)))  # fmt: skip
            return
        if today < day6:
            out.wake(day6)
            return
        term = calendar.term_for(first)
        out.findings.append(Finding(rule, "child", child_id, la, term.academic_year, term.name, Severity.high, days, DUTY_FROM_DAY - 1,
                                    tuple(sorted(evidence)), urn, due_on=day6,
                                    quiet=deadlines.long_past(calendar, latest, today, watch_school_days)))  # fmt: skip

    counted = [winner(reports) for reports in suspensions.values()]
    for run in runs(counted, calendar_of):
        if run.days > DUTY_FROM_DAY - 1:
            check(Rule.education_from_day_six_missing, run.school_urn, run.la_code, run.first, run.starts, run.days, run.evidence, max(run.starts))
    permanents: dict[tuple[str, date], list[Step]] = {}
    for p in steps.of(PERMANENT):
        assert p.exclusion_start is not None
        permanents.setdefault((p.school_urn, p.exclusion_start), []).append(p)
    for (urn, start), reports in sorted(permanents.items()):
        first = deadlines.first_school_day(calendar_of(reports[0].la_code, urn), start)
        check(Rule.la_education_from_day_six_missing, urn, reports[0].la_code, first, [start], DUTY_FROM_DAY - 1, [p.event_id for p in reports],
              max(p.on for p in reports))
    out.findings = deadlines.one_per_alert(out.findings)
    return out
