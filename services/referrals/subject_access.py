"""What the referrals store holds about one child (R-SAR): referrals with their history, reasons and
deliveries, consent, held triggers, the profile it routed on, links, and the audit of who read it."""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime

from sqlalchemy import Engine, or_, select

from services.common.subject_access import Wanted, rows_about
from services.referrals import tables as t


def export(engine: Engine, child_id: str) -> dict[str, list[dict]]:
    with engine.connect() as conn:
        linked = conn.execute(select(t.links).where(or_(t.links.c.source_child_id == child_id, t.links.c.target_child_id == child_id))).all()
    ids = {child_id} | {r.source_child_id for r in linked} | {r.target_child_id for r in linked}
    parts = rows_about(engine, {
        "referrals": (t.referrals, t.referrals.c.child_id, ids),
        "reasons": (t.reasons, t.reasons.c.child_id, ids),
        **_about_the_child(ids),
        "links": (t.links, t.links.c.source_child_id, ids),
        "audit": (t.audit, t.audit.c.child_id, ids),
    })  # fmt: skip
    parts |= rows_about(engine, _off_the_referrals([r["id"] for r in parts["referrals"]]))
    return parts


def _about_the_child(ids: Collection[str]) -> Wanted:
    """What is kept by child beside the referrals: exported and erased alike."""
    return {
        "consents": (t.consents, t.consents.c.child_id, ids),
        "held": (t.held, t.held.c.child_id, ids),
        "triggers": (t.triggers, t.triggers.c.child_id, ids),
        "profiles": (t.profiles, t.profiles.c.child_id, ids),
    }


def _off_the_referrals(referral_ids: Collection[str]) -> Wanted:
    """What hangs off the child's referrals: exported and erased alike."""
    return {
        "referral_history": (t.history, t.history.c.referral_id, referral_ids),
        "referral_las": (t.referral_las, t.referral_las.c.referral_id, referral_ids),
        "deliveries": (t.deliveries, t.deliveries.c.referral_id, referral_ids),
    }


def erase(engine: Engine, child_id: str) -> dict[str, int]:
    """Erasure of a child recorded in error: referrals with everything hanging off them, consent,
    held triggers, profiles and links, in one transaction. The audit stays (pseudonymous ids only)."""
    from services.common import db, erasures
    from services.common.subject_access import delete_rows

    parts = export(engine, child_id)
    ids = {child_id} | {r["source_child_id"] for r in parts["links"]} | {r["target_child_id"] for r in parts["links"]}
    referral_ids = [r["id"] for r in parts["referrals"]]
    with db.write(engine) as conn:
        # alerts.v1, children.v1 and children.links.v1 keep messages about the child (keyed by its
        # ids) until they expire: the referrals stage skips them
        erasures.record(conn, t.erasures, ids, datetime.now(UTC))
        return delete_rows(conn, {
            **_off_the_referrals(referral_ids),
            "reasons": (t.reasons, t.reasons.c.referral_id, referral_ids),
            "referrals": (t.referrals, t.referrals.c.id, referral_ids),
            **_about_the_child(ids),
            "links_from": (t.links, t.links.c.source_child_id, ids),
            "links_to": (t.links, t.links.c.target_child_id, ids),
        })  # fmt: skip
