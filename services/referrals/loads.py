"""The desk's reads inside its transaction: the store's rows turned into the domain's plain data.

The statements are built once, at import, with bind parameters (lists expand): building a
SQLAlchemy statement per call cost about 60 of the 80 µs of a small read, several per alert change.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import orjson
from sqlalchemy import Connection, bindparam, select

from services.common.db import aware
from services.referrals import tables as t
from services.referrals.domain import consent, links
from services.referrals.domain import profile as profiles
from services.referrals.domain.decide import Holder, OpenReferral, SeenReasons
from services.referrals.domain.lifecycle import OPEN
from services.referrals.domain.merge import GroupReferral
from services.referrals.domain.triggers import Trigger, labels_for

_lk, _r, _rs = t.links.c, t.referrals.c, t.reasons.c
_LINKS_AROUND = select(t.links).where(_lk.linked.is_(True), _lk.source_child_id.in_(bindparam("sources", expanding=True))
                                      | _lk.target_child_id.in_(bindparam("targets", expanding=True)))  # fmt: skip
_LINK_VERSION = select(_lk.version).where(_lk.link_id == bindparam("link_id"))
_LEDGER = select(t.consents).where(t.consents.c.child_id.in_(bindparam("members", expanding=True)))
_PROFILES = select(t.profiles.c.child_id, t.profiles.c.profile).where(t.profiles.c.child_id.in_(bindparam("members", expanding=True)))
_OPEN = select(_r.id, _r.agency, _r.version).where(_r.child_id == bindparam("child_id"), _r.status.in_(sorted(OPEN)))
_SEEN = (select(_rs.agency, _rs.referral_id, _r.status, _rs.version).join(t.referrals, _r.id == _rs.referral_id)
         .where(_rs.reason_key == bindparam("key")).order_by(_r.created_at, _r.id))  # fmt: skip
_TRIGGER_VERSION = select(t.triggers.c.version).where(t.triggers.c.child_id == bindparam("child_id"), t.triggers.c.reason_key == bindparam("key"))
_HELD = select(t.held.c.agency).where(t.held.c.reason_key == bindparam("key"), t.held.c.child_id.in_(bindparam("members", expanding=True)))


def component(conn: Connection, child_id: str) -> dict[str, str]:
    """The active links around a record (its whole linked component), as source → target."""
    seen: set[str] = set()
    frontier = {child_id}
    found: list[links.Link] = []
    while frontier:
        seen |= frontier
        rows = conn.execute(_LINKS_AROUND, {"sources": sorted(frontier), "targets": sorted(frontier)})
        nxt: set[str] = set()
        for r in rows:
            link = links.Link(r.link_id, r.source_child_id, r.target_child_id, r.linked, r.version, aware(r.at))
            if link not in found:
                found.append(link)
            nxt |= {r.source_child_id, r.target_child_id}
        frontier = nxt - seen
    return links.edges(found)


def link_version(conn: Connection, link_id: str) -> int | None:
    return conn.execute(_LINK_VERSION, {"link_id": link_id}).scalar()


def ledger(conn: Connection, members: Iterable[str]) -> list[consent.ConsentRecord]:
    return [consent_record(r) for r in conn.execute(_LEDGER, {"members": sorted(members)})]


def consent_record(row: Sequence[Any]) -> consent.ConsentRecord:
    """A row of the consents table, its columns in the table's order (a Row or the driver's tuple)."""
    _child_id, recipient, source, granted, at = row
    return consent.ConsentRecord(recipient, granted, aware(at), source)


def stored_profiles(conn: Connection, members: Iterable[str]) -> dict[str, dict]:
    rows = conn.execute(_PROFILES, {"members": sorted(members)})
    return {r.child_id: orjson.loads(r.profile) for r in rows}


def group_profile(conn: Connection, effective: str, members: set[str], fresh: dict | None = None) -> dict | None:
    """The group's profile (domain/profile.py); a record on its own keeps the profile it came with."""
    return merged_profile(stored_profiles(conn, members), effective, fresh)


def merged_profile(known: dict[str, dict], effective: str, fresh: dict | None = None) -> dict | None:
    """`group_profile` over the stored profiles of the group's records (a dict of its own: popped here)."""
    if fresh is not None:
        known[fresh["child_id"]] = fresh
    if not known:
        return None
    base = known.pop(effective, None)
    if base is None:  # nothing yet from the effective record itself: the newest we have stands in
        first = sorted(known)[0]
        base = known.pop(first)
    merged = profiles.merge(base, known.values())
    merged["child_id"] = effective
    return merged


def open_referrals(conn: Connection, effective: str) -> dict[str, OpenReferral]:
    rows = conn.execute(_OPEN, {"child_id": effective})
    return {row.agency: OpenReferral(row.id, row.agency, row.version) for row in rows}


def group_referrals(conn: Connection, effective: str) -> dict[str, GroupReferral]:
    """The open referrals of an effective child, with the record each reason came from."""
    r = t.referrals.c
    rows = list(conn.execute(select(r.id, r.agency, r.status, r.child_id, r.due_by).where(r.child_id == effective, r.status.in_(sorted(OPEN)))))
    reasons: dict[str, dict[str, str]] = {row.id: {} for row in rows}
    if rows:
        for rr in conn.execute(select(t.reasons.c.referral_id, t.reasons.c.reason_key, t.reasons.c.child_id).where(t.reasons.c.referral_id.in_(list(reasons)))):
            reasons[rr.referral_id][rr.reason_key] = rr.child_id
    return {row.agency: GroupReferral(row.id, row.agency, row.status, row.child_id, reasons[row.id], row.due_by) for row in rows}


def seen(conn: Connection, trigger_child: str, key: str, members: Iterable[str]) -> SeenReasons:
    rows = conn.execute(_SEEN, {"key": key})
    version = conn.execute(_TRIGGER_VERSION, {"child_id": trigger_child, "key": key}).scalar()
    held = conn.execute(_HELD, {"key": key, "members": sorted(members)})
    return seen_from(rows, version, frozenset(h.agency for h in held))


def seen_from(rows: Iterable[Any], version: int | None, held: frozenset[str]) -> SeenReasons:
    """What was done for a reason: its referrals' rows (agency, referral_id, status, version; oldest
    first), the trigger version stored for the record, and the agencies it is held for."""
    by_agency: dict[str, Holder] = {}
    versions: list[int] = []
    for agency, ref_id, status, added_version in rows:
        by_agency[agency] = Holder(ref_id, status)
        if added_version is not None:
            versions.append(added_version)
    if version is None and versions:  # routed before triggers were stored (migrated data)
        version = max(versions)
    return SeenReasons(version, by_agency, held)


def trigger_doc(trigger: Trigger) -> str:
    return orjson.dumps({"reason": trigger.reason, "reason_label": trigger.labels["reason"], "event_kind": trigger.labels["event_kind"],
                         "extra": trigger.extra}).decode()


def stored_triggers(conn: Connection, members: Iterable[str], child: dict) -> list[Trigger]:
    """The group's standing triggers, as a re-evaluation sees them (with the group's profile)."""
    tr = t.triggers.c
    out = []
    for row in conn.execute(select(t.triggers).where(tr.child_id.in_(sorted(members)), tr.stands.is_(True)).order_by(tr.updated_at, tr.reason_key)):
        doc = orjson.loads(row.doc)
        extra = doc.get("extra") or {}
        labels = labels_for(child, reason=doc["reason_label"], event_kind=doc["event_kind"], received_by=extra.get("received_by") or "",
                            consent=extra.get("consent"))
        out.append(Trigger(row.reason_key, doc["reason"], labels, child, child_id=row.child_id, change="reevaluate", version=row.version,
                           stands=True, extra=doc.get("extra")))
    return out
