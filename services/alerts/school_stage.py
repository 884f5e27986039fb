"""The school stage: suspensions re-keyed by school → each school's term counts → end-of-term spikes.

One worker owns each school's partition, so its counts are whole whichever children's
partitions the suspensions came from (the child stage publishes them, keyed by school). A spike
that later data disproves (suspensions reported late for earlier in the term raise the school's
usual rate) is resolved by Signpost, saying why.
"""

from __future__ import annotations

from datetime import date, datetime

import orjson

from services.alerts import school_reports
from services.alerts.alerting import AlertBook
from services.alerts.child_stage import StageResult
from services.alerts.domain import late_notice, spike
from services.alerts.domain.findings import alert_id
from services.alerts.domain.rules import RuleConfig
from services.alerts.store import AlertsStore
from services.common.calendar import CalendarRegistry
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
                doc = orjson.loads(msg.value)
                start = date.fromisoformat(doc["start_date"])
                calendar = self.calendars.for_school(doc["la_code"], doc["school_urn"])
                decoded.append((msg, doc, start, calendar, calendar.term_for(start)))
            except (ValueError, KeyError, TypeError) as exc:
                result.rejected.append(DeadLetter(msg, f"invalid_payload:{type(exc).__name__}"))
        wanted = {(doc["school_urn"], term.id) for _, doc, _, _, term in decoded} - set(self.terms)
        if wanted:
            for pair in wanted:
                self.terms[pair] = spike.SchoolTerm()
            for row in self.store.school_suspensions_of(sorted(wanted)):
                spike.record(self.terms[(row["school_urn"], row["term_id"])], row["key"], row["start_date"], row["event_id"])
        touched: dict[tuple[str, str], tuple] = {}
        late = self._reports(decoded, result)
        for msg, doc, start, calendar, term in decoded:
            state = self.terms[(doc["school_urn"], term.id)]
            if spike.record(state, doc["suspension_id"], start, doc["event_id"]):
                result.writes.school_suspensions.append(
                    {"school_urn": doc["school_urn"], "term_id": term.id, "key": doc["suspension_id"], "start_date": start, "event_id": doc["event_id"], "la_code": doc["la_code"]}
                )
                touched[(doc["school_urn"], term.id)] = (doc["la_code"], calendar, term)
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
        with_via = [(doc, term) for _, doc, _, _, term in decoded if doc.get("via")]
        self.reports.update(school_reports.load(self.store.engine, sorted({(doc["school_urn"], term.id) for doc, term in with_via} - set(self.reports))))
        touched: dict[tuple[str, str], tuple] = {}
        for doc, term in with_via:
            urn, via, at = doc["school_urn"], doc["via"], doc.get("reported_at") or ""
            if late_notice.record(self.reports[(urn, term.id)], doc["suspension_id"], doc["event_id"], via, at):
                result.writes.school_reports.append(school_reports.row(urn, term.id, doc["suspension_id"], doc["event_id"], via, at))
                touched[(urn, term.id)] = (doc["la_code"], term)
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


def _not_a_spike(_alert: object) -> str:
    return "no longer holds: suspensions at the end of term are no longer twice the school's rate over the rest of the term"


def _not_late(_alert: object) -> str:
    return "no longer holds: the school's share of late notifications this term fell below the threshold"
