"""A run of triggers read set-wise: one query per table for a segment of them, not ~8 per trigger.

The desk splits a run of triggers (alert changes, and child events other than calls, in arrival
order) into segments of triggers of distinct records and reasons
(`distinct_prefix`) and reads, before each segment and after every write before it, everything
`_trigger` reads for each change's record and reason (profiles, links, the reason's referrals, the
trigger's stored version, held reasons, the ledger, open referrals), with IN lists chunked under
SQLite's parameter limit. A change is answered from that snapshot only while nothing the segment
applied could have changed its answer: its record is not linked (a group's reads span records;
links are rare: those read live), and no earlier change touched its record or its reason (an
action on another reason starts a new segment). So a batch decides what its messages decided one
at a time.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

import orjson
from sqlalchemy import Connection, bindparam, func, select

from services.common.db import aware
from services.referrals import loads
from services.referrals import tables as t
from services.referrals.domain.consent import ConsentRecord
from services.referrals.domain.decide import OpenReferral, SeenReasons
from services.referrals.domain.lifecycle import OPEN
from services.referrals.domain.triggers import Trigger
from services.referrals.prepared import Prepared

T = TypeVar("T")
CHUNK = 400  # ids per IN list (twice in one statement for links): under the 999 bound parameters of old SQLite builds
_lk, _r, _rs, _tr, _h, _p, _c = t.links.c, t.referrals.c, t.reasons.c, t.triggers.c, t.held.c, t.profiles.c, t.consents.c
_LINKED = Prepared(select(_lk.source_child_id, _lk.target_child_id).where(
    _lk.linked.is_(True), _lk.source_child_id.in_(bindparam("ids", expanding=True)) | _lk.target_child_id.in_(bindparam("ids", expanding=True))),
    lists=["ids"])
_PROFILES = Prepared(select(_p.child_id, _p.profile, _p.at).where(_p.child_id.in_(bindparam("ids", expanding=True))), lists=["ids"])
_SEEN = Prepared(select(_rs.reason_key, _rs.agency, _rs.referral_id, _r.status, _rs.version).join(t.referrals, _r.id == _rs.referral_id)
                 .where(_rs.reason_key.in_(bindparam("ids", expanding=True))).order_by(_r.created_at, _r.id), lists=["ids"])  # fmt: skip
_VERSIONS = Prepared(select(_tr.child_id, _tr.reason_key, _tr.version).where(_tr.reason_key.in_(bindparam("ids", expanding=True))), lists=["ids"])
_HELD = Prepared(select(_h.child_id, _h.reason_key, _h.agency).where(_h.reason_key.in_(bindparam("ids", expanding=True))), lists=["ids"])
_LEDGERS = Prepared(select(t.consents).where(_c.child_id.in_(bindparam("ids", expanding=True))), lists=["ids"])
_rl = t.referral_las.c
# Open referrals with their LA rows (a row per LA; one with None for a referral without any) and their
# reasons' last position. `status || ''`, not `status`: beside `child_id IN (...)` SQLite's planner
# (no statistics) took the status index and scanned every open referral for each segment (~5 ms with
# 10,000 open); an expression is not indexable, so the child's index is used. PostgreSQL plans by its
# statistics either way.
_LAST_POSITION = select(func.coalesce(func.max(_rs.position), 0)).where(_rs.referral_id == _r.id).scalar_subquery()
_OPENS = Prepared(select(_r.child_id, _r.id, _r.agency, _r.version, _rl.la_code, _LAST_POSITION.label("last_position"))
                  .select_from(t.referrals.outerjoin(t.referral_las, _rl.referral_id == _r.id))
                  .where(_r.child_id.in_(bindparam("ids", expanding=True)), _r.status.concat("").in_(sorted(OPEN))), lists=["ids"])  # fmt: skip


def chunks(ids: Iterable[str]) -> Iterator[list[str]]:
    ordered = sorted(set(ids))
    for start in range(0, len(ordered), CHUNK):
        yield ordered[start : start + CHUNK]


def _rows(conn: Connection, statement: Prepared, ids: Iterable[str]) -> Iterator[tuple[Any, ...]]:
    for chunk in chunks(ids):
        yield from statement.rows(conn, ids=chunk)


def records_of(trigger: Trigger) -> set[str]:
    """The records a change reads and writes per record: its subject, and the child whose profile it carries."""
    return {trigger.child_id, trigger.child["child_id"]}


def distinct_prefix(items: Sequence[T], key: Callable[[T], Trigger]) -> list[T]:
    """The longest prefix (one item at least) whose changes are of distinct records and reasons."""
    records: set[str] = set()
    keys: set[str] = set()
    out: list[T] = []
    for item in items:
        trigger = key(item)
        mine = records_of(trigger)
        if out and (mine & records or trigger.key in keys):
            break
        records |= mine
        keys.add(trigger.key)
        out.append(item)
    return out


@dataclass
class RunReads:
    """The store as it was before a segment of triggers, for the records and reasons of the segment."""

    profiles: dict[str, tuple[str, datetime]]  # child → (profile JSON, at)
    linked: set[str]
    seen_rows: dict[str, list[Any]]  # reason key → its referrals' rows (agency, referral id, status, version), oldest first
    versions: dict[tuple[str, str], int]  # (child, reason key) → stored trigger version
    held: dict[tuple[str, str], set[str]]  # (child, reason key) → agencies it is held for
    ledgers: dict[str, list[ConsentRecord]]
    opens: dict[str, dict[str, OpenReferral]]  # child → agency → open referral
    las: dict[str, set[str]]  # open referral → the LAs that see it (its referral_las rows)
    positions: dict[str, int]  # open referral → its reasons' last position (0: none)
    touched_records: set[str] = field(default_factory=set)
    touched_keys: set[str] = field(default_factory=set)

    @classmethod
    def load(cls, conn: Connection, triggers: Sequence[Trigger]) -> RunReads:
        ids = {r for tr in triggers for r in records_of(tr)}
        keys = {tr.key for tr in triggers}
        linked = {c for source, target in _rows(conn, _LINKED, ids) for c in (source, target)}
        seen_rows: dict[str, list[Any]] = defaultdict(list)
        for key, *seen in _rows(conn, _SEEN, keys):  # ordered within each chunk; a key is in one chunk only
            seen_rows[key].append(seen)  # agency, referral id, status, version
        held: dict[tuple[str, str], set[str]] = defaultdict(set)
        for child_id, key, agency in _rows(conn, _HELD, keys):
            held[child_id, key].add(agency)
        ledgers: dict[str, list[ConsentRecord]] = defaultdict(list)
        for row in _rows(conn, _LEDGERS, ids):
            ledgers[row[0]].append(loads.consent_record(row))
        opens: dict[str, dict[str, OpenReferral]] = defaultdict(dict)
        las: dict[str, set[str]] = {}
        positions: dict[str, int] = {}
        for child_id, ref_id, agency, version, la_code, last_position in _rows(conn, _OPENS, ids):  # a row per LA row (None: a referral without)
            opens[child_id][agency] = OpenReferral(ref_id, agency, version)
            positions[ref_id] = last_position
            mine = las.setdefault(ref_id, set())
            if la_code is not None:
                mine.add(la_code)
        return cls(profiles={child_id: (profile, aware(at)) for child_id, profile, at in _rows(conn, _PROFILES, ids)}, linked=linked,
                   seen_rows=seen_rows, versions={(child_id, key): version for child_id, key, version in _rows(conn, _VERSIONS, keys)},
                   held=held, ledgers=ledgers, opens=opens, las=las, positions=positions)

    def answers(self, trigger: Trigger) -> bool:
        """Whether the snapshot still answers this change's reads (see the module's docstring)."""
        records = records_of(trigger)
        return not (records & self.linked or records & self.touched_records or trigger.key in self.touched_keys)

    def touched(self, records: Iterable[str], keys: Iterable[str]) -> None:
        """A change of the run applied: what it read and wrote is no longer the snapshot's."""
        self.touched_records.update(records)
        self.touched_keys.update(keys)

    # ------------------------------------------------------------------ the reads, for an unlinked record
    def profile_at(self, child_id: str) -> datetime | None:
        held = self.profiles.get(child_id)
        return held[1] if held is not None else None

    def group_profile(self, child_id: str, fresh: dict) -> dict | None:
        held = self.profiles.get(child_id)
        return loads.merged_profile({child_id: orjson.loads(held[0])} if held is not None else {}, child_id, fresh)

    def seen(self, child_id: str, key: str) -> SeenReasons:
        return loads.seen_from(self.seen_rows.get(key, ()), self.versions.get((child_id, key)), frozenset(self.held.get((child_id, key), ())))

    def ledger(self, child_id: str) -> list[ConsentRecord]:
        return list(self.ledgers.get(child_id, ()))

    def open_referrals(self, child_id: str) -> dict[str, OpenReferral]:
        return dict(self.opens.get(child_id, {}))

    def referral_las(self, child_id: str) -> dict[str, set[str]]:
        """The child's open referrals' LA rows, a copy the change's writes keep as they write them."""
        return {ref.id: set(self.las.get(ref.id, ())) for ref in self.opens.get(child_id, {}).values()}

    def referral_positions(self, child_id: str) -> dict[str, int]:
        """The child's open referrals' last reason positions, a copy the change's writes keep."""
        return {ref.id: self.positions.get(ref.id, 0) for ref in self.opens.get(child_id, {}).values()}
