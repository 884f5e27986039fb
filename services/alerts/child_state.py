"""A child record's state in the child stage's memory, and a stage batch's result.

The stage's own docstring (child_stage.py) says how records, links and facts fit together.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date
from types import MappingProxyType
from typing import cast

from schemas.alerts import Alert
from services.alerts.domain import (
    informal,
    linking,
)
from services.alerts.rows import Writes
from services.common.exclusions import (
    grey_facts,
    proceedings,
    suspension_days,
)
from services.common.messages import DeadLetter, Outgoing

log = logging.getLogger(__name__)
NO_SOURCES: frozenset[str] = frozenset()  # shared: an empty set of its own would be 216 bytes a record
# Most records have no incidents, LA-return records or proceedings: they share these empty ones (~430 bytes a
# record less). Read-only (mapping proxies: a write to one fails loudly, it never reaches another child);
# `ChildState.own_facts` gives a record its own before the stage records a fact in it.
NO_INCIDENTS = informal.Incidents(cast(dict, MappingProxyType({})))
NO_RECORDS = grey_facts.ChildRecords(cast(dict, MappingProxyType({})), cast(dict, MappingProxyType({})))
NO_STEPS = proceedings.Proceedings(cast(dict, MappingProxyType({})))


@dataclass(slots=True)
class ChildState:
    """One record of a child (a UPN, or exact details without one): its own sources and facts."""

    child_id: str
    profile: dict
    times: dict
    link: linking.Link
    sources: frozenset[str]  # records linked directly into this one (most have none: the one NO_SOURCES)
    years: dict[str, suspension_days.YearSuspensions] = field(default_factory=dict)
    incidents: informal.Incidents = field(default_factory=lambda: NO_INCIDENTS)
    records: grey_facts.ChildRecords = field(default_factory=lambda: NO_RECORDS)  # issue 11: grey-exclusion records, cancellations
    steps: proceedings.Proceedings = field(default_factory=lambda: NO_STEPS)  # issue 11: what followed its exclusions
    next_check: date | None = None  # issue 11: the day its deadline clocks change (the tick looks again)
    version: int | None = None  # as stored; None: not stored yet
    identity: tuple[str, str, date, str, str] | None = None  # la, person key, dob, first, last: the first alias (new records)

    def own_facts(self, incidents: bool, records: bool, steps: bool) -> None:
        """Containers of its own for the kinds of fact about to be recorded (not the shared empty ones)."""
        if incidents and self.incidents is NO_INCIDENTS:
            self.incidents = informal.Incidents()
        if records and self.records is NO_RECORDS:
            self.records = grey_facts.ChildRecords()
        if steps and self.steps is NO_STEPS:
            self.steps = proceedings.Proceedings()

    def share_empty_facts(self) -> ChildState:
        """A record read from the store: empty containers swapped for the shared ones."""
        if not self.incidents.by_day:
            self.incidents = NO_INCIDENTS
        if not (self.records.records or self.records.cancellations):
            self.records = NO_RECORDS
        if not self.steps:
            self.steps = NO_STEPS
        return self



@dataclass
class StageResult:
    writes: Writes = field(default_factory=Writes)
    messages: list[Outgoing] = field(default_factory=list)  # produced directly, before the writes: the school stage's SuspensionCounted
    changed_alerts: list[Alert] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)  # to produce directly (unused: they go through the outbox)
    rejected: list[DeadLetter] = field(default_factory=list)  # dead-lettered by this batch (in the outbox)
    applied: int = 0
    duplicates: dict[str, int] = field(default_factory=dict)  # topic -> facts seen before (redelivery, replay, notice + return)
