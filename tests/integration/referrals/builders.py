"""Desk inputs: the real pydantic models (AlertChanged, ChildEventResolved, ChildLinkChanged), as the
consumer decodes them once from each message; and store peeks."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

from factories import valid_upn
from sqlalchemy import Engine, select

from schemas.alerts import Alert, AlertChanged, ChildSubject, SchoolSubject
from schemas.children import ChildEventResolved, ChildLinkChanged, ChildProfile
from schemas.intake import Consent
from schemas.topics import ALERTS, CHILD_LINKS, CHILDREN
from services.referrals import tables as t
from services.referrals.store import ReferralStore

NOW = datetime(2025, 3, 6, 10, 0, tzinfo=UTC)  # a Thursday in Bromley's spring term

NON_SEND = {"sen_status": "N", "sen_needs": []}
SEND = {"sen_status": "K", "sen_needs": ["SEMH"]}
AUTISTIC = {"sen_status": "K", "sen_needs": ["ASD"]}


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def profile(**kw) -> dict:
    base = {
        "child_id": uid("ch"),
        "la_code": "305",
        "upn": valid_upn(),
        "first_name": "Zoë",
        "last_name": "Smith-Jones",
        "date_of_birth": date(2013, 5, 1),
        "year_group": "7",
        "school_urn": "101676",
        "sen_status": "N",
        "looked_after": False,
        # False since issue 11: every reason about a child with a social worker also goes to the Virtual
        # School (R-SW-VSH); the tests of that routing say so explicitly
        "has_social_worker": False,
    }
    base.update(kw)
    return ChildProfile(**base).model_dump(mode="json")


def alert(
    kid: dict,
    rule: str,
    *,
    change: str = "raised",
    alert_id: str | None = None,
    status: str = "open",
    at: datetime = NOW,
    severity: str = "warning",
    version: int = 1,
    episode: int = 1,
) -> AlertChanged:
    alert_id = alert_id or uid("al")
    if rule == "end_of_term_spike":
        subject, child = SchoolSubject(school_urn=kid["school_urn"]), None
    else:
        subject, child = ChildSubject(child_id=kid["child_id"], upn=kid.get("upn")), kid
    model = Alert(
        id=alert_id,
        rule=rule,
        severity=severity,
        subject=subject,
        la_code=kid["la_code"],
        academic_year="2024/25",
        term="spring" if rule == "end_of_term_spike" else None,
        value=31,
        threshold=30,
        evidence=["ev-1"],
        status=status,
        created_at=at,
        updated_at=at,
        version=version,
        episode=episode,
        la_codes=[kid["la_code"]],
    )
    return AlertChanged(alert=model, change=change, child=child)


def link(source: dict, target: dict, *, linked: bool = True, version: int = 1, link_id: str | None = None, at: datetime = NOW,
         by: str = "test-inclusion_team", merged: dict | None = None) -> ChildLinkChanged:
    """A ChildLinkChanged: `merged` is the target's profile after the change (default: the target's own)."""
    return ChildLinkChanged(
        link_id=link_id or uid("cand"), source_child_id=source["child_id"], target_child_id=target["child_id"], linked=linked, by=by,
        reason="confirmed near match" if linked else "undone", at=at, version=version, child=merged or target, source_child=source,
    )


def child_event(kid: dict, source: str, source_id: str, *, at: datetime = NOW, **kw) -> ChildEventResolved:
    return ChildEventResolved(event_id=uid("ev"), source=source, source_id=source_id, occurred_at=at, child=kid, **kw)


def notice(
    kid: dict, *, category: str = "permanent", notice_id: str | None = None, at: datetime = NOW
) -> ChildEventResolved:
    return child_event(kid, "exclusion_notice", notice_id or uid("N"), at=at, category=category)


def return_record(
    kid: dict,
    *,
    kind: str = "permanent_exclusion",
    return_id: str | None = None,
    record_id: str | None = None,
    at: datetime = NOW,
) -> ChildEventResolved:
    # the separator is the one schemas/children.py documents for source_id ("return_id|record_id")
    return child_event(
        kid, "la_return_record", f"{return_id or uid('R')}|{record_id or uid('REC')}", at=at, record_kind=kind
    )


def call(
    kid: dict,
    *,
    received_by: str = "la_inclusion",
    concerns: tuple[str, ...] = ("sent_home_informally",),
    share_with_nas: bool = False,
    call_id: str | None = None,
    at: datetime = NOW,
    share_with_ace: bool = False,
) -> ChildEventResolved:
    consent = Consent(share_with_la=True, share_with_ias=True, share_with_nas=share_with_nas, share_with_ace=share_with_ace)
    return child_event(
        kid,
        "call",
        call_id or uid("C"),
        at=at,
        concerns=list(concerns),
        received_by=received_by,
        consent=consent,
    )


def referrals_of(engine: Engine, child_id: str) -> dict[str, list]:
    """agency → the child's referrals there (ReferralRecord with reasons and history), oldest first."""
    store = ReferralStore(engine)
    r = t.referrals.c
    with engine.connect() as conn:
        ids = [
            row.id
            for row in conn.execute(select(r.id).where(r.child_id == child_id).order_by(r.created_at, r.id))
        ]
    out: dict[str, list] = {}
    for ref_id in ids:
        record = store.get(ref_id)
        out.setdefault(record.row["agency"], []).append(record)
    return out


def held_of(engine: Engine, child_id: str) -> list[tuple[str, str]]:
    with engine.connect() as conn:
        rows = conn.execute(select(t.held.c.agency, t.held.c.reason_key).where(t.held.c.child_id == child_id))
        return sorted((row.agency, row.reason_key) for row in rows)


def reason_of(item: AlertChanged | ChildEventResolved) -> dict:
    """The contract reason an input should produce."""
    if isinstance(item, AlertChanged):
        return {"rule": item.alert.rule.value, "alert_id": item.alert.id, "episode": item.alert.episode}
    if item.source == "call":
        return {"source": "call", "call_id": item.source_id}
    if item.source == "exclusion_notice":
        return {"source": "exclusion_notice", "notice_id": item.source_id}
    return_id, _, record_id = item.source_id.rpartition("|")
    return {"source": "la_return", "return_id": return_id, "record_id": record_id}


TOPICS = {AlertChanged: ALERTS.name, ChildEventResolved: CHILDREN.name, ChildLinkChanged: CHILD_LINKS.name}


def topic_of(item: AlertChanged | ChildEventResolved | ChildLinkChanged) -> str:
    """The topic a desk input comes from (before the settings' prefix)."""
    return TOPICS[type(item)]


def key_of(item: AlertChanged | ChildEventResolved | ChildLinkChanged) -> bytes:
    """The message key a producer gives it: the child's id (x for an alert about a school)."""
    return item.child.child_id.encode() if item.child is not None else b"x"
