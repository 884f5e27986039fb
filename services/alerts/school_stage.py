"""The school stage: suspensions re-keyed by school → each school's term counts → end-of-term spikes.

One worker owns each school's partition, so its counts are whole whichever children's
partitions the suspensions came from (the child stage publishes them, keyed by school). A spike
that later data disproves (suspensions reported late for earlier in the term raise the school's
usual rate) is resolved by Signpost, saying why.

Each message is decoded once, at the edge (`decode`), into its schemas model, SuspensionCounted, and
the stage reads its attributes. Not validated by pydantic: the producer is our own child stage and a
national replay brings about a million of them, so the fields the stage needs are read from orjson's
dict into `model_construct` (a missing field or a bad date is still a content error: a dead letter).
"""

from __future__ import annotations

from datetime import date, datetime

import orjson

from schemas.alerts import SuspensionCounted
from services.alerts import school_reports
from services.alerts.alerting import AlertBook
from services.alerts.child_stage import StageResult
from services.alerts.domain import late_notice, spike
from services.alerts.domain.rules import RuleConfig
from services.alerts.store import AlertsStore
from services.common.calendar import CalendarRegistry
from services.common.exclusions.findings import alert_id
from services.common.messages import DeadLetter, Incoming
from services.common.stream_io import dead_letter_messages


class SchoolStage:
    def __init__(self, store: AlertsStore, calendars: CalendarRegistry, rules: RuleConfig):
        self.store, self.calendars, self.rules = store, calendars, rules
        self.book = AlertBook(store, ("end_of_term_spike", "late_notifications_high"))
        self.reset()

    def reset(self) -> None:
        self.terms: dict[tuple[str, str], spike.SchoolTerm] = {}
        self.reports: dict[tuple[str, str], late_notice.TermReports] = {}  # issue 11, R-LA-ALL
        self.book.reset()

    def process(self, batch: list[Incoming], now: datetime) -> StageResult:
        result = StageResult()
        self.book.drain()
        decoded = []
        for msg in batch:
            try:
                counted = decode(msg.value)
                calendar = self.calendars.for_school(counted.la_code, counted.school_urn)
                decoded.append((msg, counted, calendar, calendar.term_for(counted.start_date)))
            except (ValueError, KeyError, TypeError) as exc:
                result.rejected.append(DeadLetter(msg, f"invalid_payload:{type(exc).__name__}"))
        wanted = {(counted.school_urn, term.id) for _, counted, _, term in decoded} - set(self.terms)
        if wanted:
            for pair in wanted:
                self.terms[pair] = spike.SchoolTerm()
            for row in self.store.school_suspensions_of(sorted(wanted)):
                spike.record(self.terms[(row["school_urn"], row["term_id"])], row["key"], row["start_date"], row["event_id"])
        touched: dict[tuple[str, str], tuple] = {}
        late = self._reports(decoded, result)
        for msg, c, calendar, term in decoded:
            state = self.terms[(c.school_urn, term.id)]
            if spike.record(state, c.suspension_id, c.start_date, c.event_id):
                result.writes.school_suspensions.append(
                    {"school_urn": c.school_urn, "term_id": term.id, "key": c.suspension_id, "start_date": c.start_date, "event_id": c.event_id, "la_code": c.la_code}
                )
                touched[(c.school_urn, term.id)] = (c.la_code, calendar, term)
            else:
                result.duplicates[msg.topic] = result.duplicates.get(msg.topic, 0) + 1
            result.applied += 1
        config = self.rules.end_of_term_spike
        self.book.alerts_of(sorted({urn for urn, _ in touched}))
        for (urn, _), (la_code, calendar, term) in sorted(touched.items()):
            window = calendar.last_school_days(term, config.window_school_days)
            findings = spike.detect(
                self.terms[(urn, term.id)], school_urn=urn, la_code=la_code, academic_year=term.academic_year, term=term.name,
                term_school_days=len(term.school_days), window_start=window[0], config=config,
            ) if window else []  # fmt: skip
            found = self.book.apply(findings, result, now, lambda _: None)
            this_term = alert_id("end_of_term_spike", "school", urn, term.academic_year, term.name)
            if this_term not in found:  # the term's spike, if it had one, no longer holds
                self.book.settle([urn], found | {a.id for a in self.book.alerts_of([urn]) if a.id != this_term}, _not_a_spike, result, now, lambda _: None)
        self._late(late, result, now)
        result.writes.outbox += dead_letter_messages(result.rejected, "alerts")
        return result

    # ---------------------------------------------------------------- issue 11, R-LA-ALL
    def _reports(self, decoded: list, result: StageResult) -> dict[tuple[str, str], tuple]:
        """Record how each report reached the LA (messages from before issue 11 carry no `via`)."""
        with_via = [(c, term) for _, c, _, term in decoded if c.via]
        self.reports.update(school_reports.load(self.store.engine, sorted({(c.school_urn, term.id) for c, term in with_via} - set(self.reports))))
        touched: dict[tuple[str, str], tuple] = {}
        for c, term in with_via:
            urn, via, at = c.school_urn, c.via, c.reported_at or ""
            if late_notice.record(self.reports[(urn, term.id)], c.suspension_id, c.event_id, via, at):
                result.writes.school_reports.append(school_reports.row(urn, term.id, c.suspension_id, c.event_id, via, at))
                touched[(urn, term.id)] = (c.la_code, term)
        return touched

    def _late(self, touched: dict[tuple[str, str], tuple], result: StageResult, now: datetime) -> None:
        self.book.alerts_of(sorted({urn for urn, _ in touched}))
        for (urn, term_id), (la_code, term) in sorted(touched.items()):
            findings = late_notice.detect(self.reports[(urn, term_id)], school_urn=urn, la_code=la_code, academic_year=term.academic_year, term=term.name,
                                          config=self.rules.late_notifications)  # fmt: skip
            found = self.book.apply(findings, result, now, lambda _: None)
            this_term = alert_id("late_notifications_high", "school", urn, term.academic_year, term.name)
            if this_term not in found:
                self.book.settle([urn], {a.id for a in self.book.alerts_of([urn]) if a.id != this_term}, _not_late, result, now, lambda _: None)


def decode(value: bytes) -> SuspensionCounted:
    """A SuspensionCounted, read once: orjson, then `model_construct` (no validation: see the module's
    docstring). KeyError, ValueError (bad JSON, a bad date) or TypeError for content errors. `sessions`,
    `via` and `reported_at` are taken as they come: the stage never refused a message without them."""
    doc = orjson.loads(value)
    return SuspensionCounted.model_construct(
        suspension_id=doc["suspension_id"], event_id=doc["event_id"], school_urn=doc["school_urn"], la_code=doc["la_code"],
        start_date=date.fromisoformat(doc["start_date"]), sessions=doc.get("sessions"), via=doc.get("via"), reported_at=doc.get("reported_at"),
    )  # fmt: skip


def _not_a_spike(_alert: object) -> str:
    return "no longer holds: suspensions at the end of term are no longer twice the school's rate over the rest of the term"


def _not_late(_alert: object) -> str:
    return "no longer holds: the school's share of late notifications this term fell below the threshold"
