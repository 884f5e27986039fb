"""The desk's reads inside its transaction: the store's rows turned into the domain's plain data."""

from __future__ import annotations

from collections.abc import Iterable

import orjson
from sqlalchemy import Connection, select

from services.common.db import aware
from services.referrals import tables as t
from services.referrals.domain import consent, links
from services.referrals.domain import profile as profiles
from services.referrals.domain.decide import Holder, OpenReferral, SeenReasons
from services.referrals.domain.lifecycle import OPEN
from services.referrals.domain.merge import GroupReferral
from services.referrals.domain.triggers import Trigger, labels_for


def component(conn: Connection, child_id: str) -> dict[str, str]:
    """The active links around a record (its whole linked component), as source → target."""
    seen: set[str] = set()
    frontier = {child_id}
    found: list[links.Link] = []
    lk = t.links.c
    while frontier:
        seen |= frontier
        rows = conn.execute(select(t.links).where(lk.linked.is_(True), (lk.source_child_id.in_(sorted(frontier))) | (lk.target_child_id.in_(sorted(frontier)))))
        nxt: set[str] = set()
        for r in rows:
            link = links.Link(r.link_id, r.source_child_id, r.target_child_id, r.linked, r.version, aware(r.at))
            if link not in found:
                found.append(link)
            nxt |= {r.source_child_id, r.target_child_id}
        frontier = nxt - seen
    return links.edges(found)


def link_version(conn: Connection, link_id: str) -> int | None:
    return conn.execute(select(t.links.c.version).where(t.links.c.link_id == link_id)).scalar()


def ledger(conn: Connection, members: Iterable[str]) -> list[consent.ConsentRecord]:
    rows = conn.execute(select(t.consents).where(t.consents.c.child_id.in_(sorted(members))))
    return [consent.ConsentRecord(r.recipient, r.granted, aware(r.at), r.source) for r in rows]


def stored_profiles(conn: Connection, members: Iterable[str]) -> dict[str, dict]:
    rows = conn.execute(select(t.profiles.c.child_id, t.profiles.c.profile).where(t.profiles.c.child_id.in_(sorted(members))))
    return {r.child_id: orjson.loads(r.profile) for r in rows}


def group_profile(conn: Connection, effective: str, members: set[str], fresh: dict | None = None) -> dict | None:
    """The group's profile (domain/profile.py); a record on its own keeps the profile it came with."""
    known = stored_profiles(conn, members)
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
    r = t.referrals.c
    rows = conn.execute(select(r.id, r.agency, r.version).where(r.child_id == effective, r.status.in_(sorted(OPEN))))
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
    rs, r = t.reasons.c, t.referrals.c
    rows = conn.execute(
        select(rs.agency, rs.referral_id, r.status, rs.version).join(t.referrals, r.id == rs.referral_id)
        .where(rs.reason_key == key).order_by(r.created_at, r.id)
    )
    by_agency: dict[str, Holder] = {}
    versions: list[int] = []
    for row in rows:
        by_agency[row.agency] = Holder(row.referral_id, row.status)
        if row.version is not None:
            versions.append(row.version)
    version = conn.execute(select(t.triggers.c.version).where(t.triggers.c.child_id == trigger_child, t.triggers.c.reason_key == key)).scalar()
    if version is None and versions:  # routed before triggers were stored (migrated data)
        version = max(versions)
    held = conn.execute(select(t.held.c.agency).where(t.held.c.reason_key == key, t.held.c.child_id.in_(sorted(members))))
    return SeenReasons(version, by_agency, frozenset(h.agency for h in held))


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
