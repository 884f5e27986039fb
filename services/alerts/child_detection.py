"""The child stage's detection: every detector over the facts of a child's linked records, the alert
changes that follow, the statutory clocks' next check, and whether near-match proposals are urgent.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from schemas.alerts import Alert
from services.alerts import child_rules
from services.alerts.child_events import Batch
from services.alerts.child_records import Records
from services.alerts.child_state import StageResult
from services.alerts.domain import (
    clocks,
    informal,
    urgency,
)
from services.common.exclusions import (
    grey_facts,
    proceedings,
    suspension_days,
)
from services.common.exclusions.findings import Finding


class Detection(Records):
    """ChildStage's detection methods (mixed in: they read the stage's records and alert book)."""

    def _detect(self, b: Batch, result: StageResult) -> None:
        """Run the detectors for every root whose records changed; resolve alerts that no longer hold."""
        roots = sorted({self._root(c) for c in b.touched})
        linked_away = sorted(c for c in b.touched if self._root(c) != c)
        profiles = {root: self._group_profile(root) for root in roots}
        self.book.alerts_of(roots + linked_away)
        found: set[str] = set()
        for root in roots:
            findings = self._findings(root, profiles[root])
            found |= self.book.apply(findings, result, b.now, lambda cid: profiles.get(cid) or self._group_profile(cid))
        self.book.settle(roots, found, _no_longer_holds, result, b.now,
                         lambda cid: profiles.get(cid))  # fmt: skip
        for cid in linked_away:
            self.book.settle([cid], set(), _saying(f"linked to child {self._root(cid)}"), result, b.now, self._group_profile)
            self._set_next_check(cid, None)

    def _findings(self, root: str, profile: dict) -> list[Finding]:
        members = self._members(root)
        rules = self.rules
        findings: list[Finding] = []
        years = sorted({y for m in members for y in m.years})
        records = grey_facts.combine(m.records for m in members)
        steps = proceedings.combine(m.steps for m in members)
        calendar = self.calendars.for_school(profile.get("la_code"), profile.get("school_urn"))
        standing = {}  # each year's suspensions less those lawfully cancelled: every rule counts these
        for year in years:
            combined = standing[year] = child_rules.standing(suspension_days.combine(m.years[year] for m in members if year in m.years), records, rules,
                                                             steps)  # fmt: skip
            findings += child_rules.project(suspension_days.detect(combined, child_id=root, academic_year=year, config=rules.suspension_days),
                                            combined, year, calendar, rules)  # fmt: skip
        findings += child_rules.detect(root, profile, standing, records, self.calendars, rules)
        incidents = informal.combine(m.incidents for m in members)
        if incidents.by_day:
            calendar = self.calendars.for_school(profile.get("la_code"), profile.get("school_urn"))
            findings += informal.detect(incidents, child_id=root, academic_year_of=calendar.academic_year, school_days_between=calendar.school_days_between,
                                        config=rules.informal_exclusions)  # fmt: skip
        findings += self._clock_findings(root, list(standing.values()), steps)
        las = set(profile.get("la_codes") or ())
        la_codes: dict[str, tuple[str, ...]] = {}  # per finding's LA (mostly one): the child's LAs and it
        for finding in findings:
            if finding.la_code not in la_codes:
                la_codes[finding.la_code] = tuple(sorted(las | {finding.la_code}))
        return [finding.with_la_codes(la_codes[finding.la_code]) for finding in findings]

    def _clock_findings(self, root: str, years: list[suspension_days.YearSuspensions], steps: proceedings.Proceedings) -> list[Finding]:
        """Issue 11: the statutory clocks over every linked record's facts, as of today; the day they next
        change is stored with the root (the tick's `next_check`)."""
        if clocks.history(years, steps, today=self.today, config=self.rules.deadlines) and not any(
            a.rule in clocks.RULES for a in self.book.alerts_of([root])
        ):
            self._set_next_check(root, None)
            return []  # only quiet findings, and no clock alert for them to update (a replay of past years)
        outcome = clocks.detect(years, steps, child_id=root,
                                calendar_of=self.calendars.for_school, bank_holidays=self.calendars.bank_holidays, today=self.today,
                                config=self.rules.deadlines)  # fmt: skip
        self._set_next_check(root, outcome.wake_on)
        return outcome.findings

    def _set_next_check(self, cid: str, day: date | None) -> None:
        state = self._state(cid)
        if state is not None and state.next_check != day:
            state.next_check = day
            self._changed(state)

    # ---------------------------------------------------------------- proposals and their urgency
    def _facts(self, cid: str) -> urgency.Facts:
        members = self._members(self._root(cid))
        records = grey_facts.combine(m.records for m in members)  # cancelled suspensions do not count (issue 11)
        steps = proceedings.combine(m.steps for m in members)
        years = {y: child_rules.standing(suspension_days.combine(m.years[y] for m in members if y in m.years), records, self.rules, steps)
                 for y in {y for m in members for y in m.years}}  # fmt: skip
        return urgency.Facts(years, informal.combine(m.incidents for m in members))

    def _urgency(self, source: str, target: str) -> str | None:
        if self._root(source) == self._root(target):
            return None
        profile = self._group_profile(self._root(target))
        calendar = self.calendars.for_school(profile.get("la_code"), profile.get("school_urn"))
        return urgency.urgency(self._facts(source), self._facts(target), self.rules, calendar.academic_year, calendar.school_days_between)

    def _proposals(self, b: Batch, result: StageResult) -> None:
        """New proposals, and whether each pending one touched by this batch is urgent now."""
        self._load({c for p in b.proposals.values() for c in (p.source, p.target)})
        for p in b.proposals.values():
            if p.id in result.writes.candidates:
                continue
            why = self._urgency(p.source, p.target)
            result.writes.candidates[p.id] = {
                "id": p.id, "child_id": p.source, "candidate_child_id": p.target, "la_code": p.source_la, "candidate_la_code": p.target_la,
                "reason": p.reason[:100], "status": "pending", "urgent": why is not None, "urgent_reason": why, "created_at": b.now,
                "decided_by": None, "decided_at": None, "note": None, "applied": True, "version": 1,
            }  # fmt: skip
        if not b.touched:
            return
        members = sorted({m.child_id for c in b.touched for m in self._members(self._root(c))})
        self.gate.wait()  # candidates the batch in flight proposes or updates are stored first
        for row in self.store.pending_candidates_of(members):
            if result.writes.candidate_updates.get(row["id"], {}).get("status") not in (None, "pending"):
                continue
            self._load({row["child_id"], row["candidate_child_id"]})
            why = self._urgency(row["child_id"], row["candidate_child_id"])
            if (why is not None, why) != (bool(row["urgent"]), row["urgent_reason"]):
                result.writes.candidate_updates.setdefault(row["id"], {}).update(urgent=why is not None, urgent_reason=why)


def _no_longer_holds(alert: Alert) -> str:
    why = clocks.NO_LONGER_HOLDS.get(alert.rule)
    return f"no longer holds: {why}" if why else "no longer holds: the evidence no longer reaches the rule's threshold (a correction, or a link undone)"


def _saying(reason: str) -> Callable[[Alert], str]:
    """The reason an alert no longer holds, whatever the alert."""
    return lambda _alert: reason
