"""A child record's state in the child stage's memory, and a stage batch's result.

The stage's own docstring (child_stage.py) says how records, links and facts fit together.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date

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


@dataclass(slots=True)
class ChildState:
    """One record of a child (a UPN, or exact details without one): its own sources and facts."""

    child_id: str
    profile: dict
    times: dict
    link: linking.Link
    sources: frozenset[str]  # records linked directly into this one (most have none: the one NO_SOURCES)
    years: dict[str, suspension_days.YearSuspensions] = field(default_factory=dict)
    incidents: informal.Incidents = field(default_factory=informal.Incidents)
    records: grey_facts.ChildRecords = field(default_factory=grey_facts.ChildRecords)  # issue 11: grey-exclusion records, cancellations
    steps: proceedings.Proceedings = field(default_factory=proceedings.Proceedings)  # issue 11: what followed its exclusions
    next_check: date | None = None  # issue 11: the day its deadline clocks change (the tick looks again)
    version: int | None = None  # as stored; None: not stored yet
    identity: tuple[str, str, date, str, str] | None = None  # la, person key, dob, first, last: the first alias (new records)



@dataclass
class StageResult:
    writes: Writes = field(default_factory=Writes)
    messages: list[Outgoing] = field(default_factory=list)  # produced directly, before the writes: the school stage's SuspensionCounted
    changed_alerts: list[Alert] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)  # to produce directly (unused: they go through the outbox)
    rejected: list[DeadLetter] = field(default_factory=list)  # dead-lettered by this batch (in the outbox)
    applied: int = 0
    duplicates: dict[str, int] = field(default_factory=dict)  # topic -> facts seen before (redelivery, replay, notice + return)
