"""Links, undos, consent on another record, new harm after close, replays, and order independence:
the desk on a real store (SQLite and PostgreSQL)."""

from __future__ import annotations

import itertools
from datetime import timedelta

import orjson
import pytest
from sqlalchemy import Engine, select

from schemas.alerts import AlertChanged
from schemas.children import ChildLinkChanged
from services.common.calendar import load_registry
from services.referrals import tables
from services.referrals.desk import ReferralDesk
from services.referrals.inputs import Input
from services.referrals.policy import load_policy
from services.referrals.store import ReferralStore

from .builders import (
    AUTISTIC,
    NON_SEND,
    NOW,
    SEND,
    alert,
    call,
    held_of,
    link,
    notice,
    profile,
    reason_of,
    referrals_of,
)

pytestmark = pytest.mark.integration
CALENDARS = load_registry()


@pytest.fixture
def desk(engine: Engine) -> ReferralDesk:
    return ReferralDesk(engine, lambda: load_policy(), CALENDARS)


def open_by_agency(engine: Engine, child_id: str) -> dict[str, list]:
    found = {a: [r for r in recs if r.row["status"] in ("new", "accepted")] for a, recs in referrals_of(engine, child_id).items()}
    return {a: recs for a, recs in found.items() if recs}


def outbox_ids(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return [r.event_id for r in conn.execute(select(tables.outbox.c.event_id).order_by(tables.outbox.c.seq))]


def snapshot(engine: Engine, *child_ids: str) -> dict:
    """What the agencies see: per child and agency, each referral's status and reason keys (ids aside)."""
    out = {}
    for cid in child_ids:
        for agency, recs in referrals_of(engine, cid).items():
            out[(cid, agency)] = sorted((r.row["status"], tuple(sorted(orjson.dumps(x).decode() for x in r.reasons))) for r in recs)
    return out


# --------------------------------------------------------------------------- a link merges


def test_a_link_merges_two_open_ias_referrals_into_one(engine, desk):
    a, b = profile(**SEND), profile(**SEND)
    on_a, on_b = alert(a, "suspension_days_nearing_limit"), call(b, received_by="la_inclusion")
    desk.handle([on_a, on_b], NOW)
    (ias_a,), (ias_b,) = referrals_of(engine, a["child_id"])["ias"], referrals_of(engine, b["child_id"])["ias"]

    result = desk.handle([link(a, b)], NOW + timedelta(hours=1))

    assert "ias" not in open_by_agency(engine, a["child_id"])
    (merged,) = open_by_agency(engine, b["child_id"])["ias"]
    assert merged.row["id"] == ias_b.row["id"]
    assert sorted(map(str, merged.reasons)) == sorted(map(str, [reason_of(on_b), reason_of(on_a)]))
    closed = ReferralStore(engine).get(ias_a.row["id"])
    assert closed.row["status"] == "closed" and closed.row["outcome"] == f"merged into {merged.row['id']}"
    assert closed.reasons == []
    assert [h["action"] for h in closed.history][-1] == "merged"
    assert "merged" in [h["action"] for h in ReferralStore(engine).get(merged.row["id"]).history]
    # the REU referral of A now belongs to B: one open referral per (child, agency) everywhere
    assert [r.row["id"] for r in open_by_agency(engine, b["child_id"])["reu"]] == [referrals_of(engine, b["child_id"])["reu"][0].row["id"]]
    assert {(c.change) for c in result.changes} == {"merged"}
    # later triggers about A go to B's referrals
    later = alert(a, "suspension_days_limit_exceeded", at=NOW + timedelta(days=1))
    desk.handle([later], NOW + timedelta(days=1))
    assert reason_of(later) in open_by_agency(engine, b["child_id"])["ias"][0].reasons
    assert open_by_agency(engine, a["child_id"]) == {}  # only A's closed "merged into" referral stays on A


def test_a_replayed_link_changes_nothing(engine, desk):
    a, b = profile(**SEND), profile(**SEND)
    desk.handle([alert(a, "suspension_days_nearing_limit"), call(b)], NOW)
    item = link(a, b)
    desk.handle([item], NOW)
    before = snapshot(engine, a["child_id"], b["child_id"])
    assert desk.handle([item, item], NOW).changes == []
    assert snapshot(engine, a["child_id"], b["child_id"]) == before


# --------------------------------------------------------------------------- consent on the other record


@pytest.mark.parametrize("order", ["consent_then_link", "link_then_consent"])
def test_held_nas_reasons_are_released_by_consent_on_the_other_record(engine, desk, order):
    a, b = profile(**AUTISTIC), profile(**NON_SEND)
    nearing = alert(a, "suspension_days_nearing_limit")
    desk.handle([nearing], NOW)
    assert held_of(engine, a["child_id"]) == [("nas", f"alert:{nearing.alert.id}")]
    consent = call(b, received_by="nas", concerns=("other",), share_with_nas=True, at=NOW + timedelta(hours=1))
    steps = [[consent], [link(a, b)]] if order == "consent_then_link" else [[link(a, b)], [consent]]
    released = sum(desk.handle(step, NOW + timedelta(hours=2)).released for step in steps)

    assert released == 1
    (nas,) = open_by_agency(engine, b["child_id"])["nas"]
    assert nas.reasons == [reason_of(nearing)]
    assert held_of(engine, a["child_id"]) == []
    # and the merged profile is the autistic child's: NAS sees the needs
    assert "ASD" in nas.child["sen_needs"]


def test_a_link_makes_a_send_child_and_ias_gets_the_reasons(engine, desk):
    """The record with the need is the source: once linked, the target's reason reaches IAS too."""
    a, b = profile(sen_status="unknown", sen_needs=["ASD"]), profile(**NON_SEND)
    informal = alert(b, "informal_exclusions_repeated")
    desk.handle([informal], NOW)
    assert set(referrals_of(engine, b["child_id"])) == {"exclusions_officer"}
    desk.handle([link(a, b)], NOW + timedelta(hours=1))
    found = open_by_agency(engine, b["child_id"])
    assert set(found) == {"exclusions_officer", "ias"}
    assert found["ias"][0].reasons == [reason_of(informal)]
    # ACE and Coram were held for b without SEND (issue 11, item 7); a release re-routes on the merged
    # profile, which is SEND now, so they never receive it
    key = f"alert:{informal.alert.id}"
    assert sorted(held_of(engine, b["child_id"])) == [("ace", key), ("coram", key), ("nas", key)]


# --------------------------------------------------------------------------- undo


def test_an_undo_splits_the_referrals_back_and_is_audited(engine, desk):
    a, b = profile(**SEND), profile(**SEND)
    on_a, on_b = alert(a, "suspension_days_nearing_limit"), call(b)
    desk.handle([on_a, on_b], NOW)
    made = link(a, b, version=1)
    desk.handle([made], NOW + timedelta(hours=1))
    undo = link(a, b, linked=False, version=2, link_id=made.link_id, at=NOW + timedelta(hours=2))
    result = desk.handle([undo], NOW + timedelta(hours=2))

    a_open, b_open = open_by_agency(engine, a["child_id"]), open_by_agency(engine, b["child_id"])
    assert [r.reasons for r in a_open["ias"]] == [[reason_of(on_a)]]
    assert [r.reasons for r in b_open["ias"]] == [[reason_of(on_b)]]
    assert [r.reasons for r in a_open["reu"]] == [[reason_of(on_a)]] and "reu" not in b_open
    assert "split" in [h["action"] for h in ReferralStore(engine).get(a_open["ias"][0].row["id"]).history]
    assert "split" in [h["action"] for h in ReferralStore(engine).get(b_open["ias"][0].row["id"]).history]
    assert {c.change for c in result.changes} == {"split"}
    actions = [e["action"] for e in ReferralStore(engine).audit_entries(a["child_id"], 50)]
    assert "link_applied" in actions and "link_undone" in actions
    # an older message of the link, arriving late, is ignored
    assert desk.handle([made], NOW + timedelta(hours=3)).changes == []
    assert open_by_agency(engine, a["child_id"])["ias"][0].reasons == [reason_of(on_a)]


# --------------------------------------------------------------------------- new harm and replays


@pytest.mark.parametrize("how", ["next_episode", "evidence"])
def test_new_evidence_after_the_agency_closed_opens_a_new_referral(engine, desk, how):
    kid = profile(**NON_SEND)
    first = alert(kid, "informal_exclusions_repeated", alert_id="al-" + kid["child_id"], version=1)
    desk.handle([first], NOW)
    store = ReferralStore(engine)
    (old,) = referrals_of(engine, kid["child_id"])["exclusions_officer"]
    assert store.transition(old.row["id"], "accept", "test-eo", None, old.row["version"], NOW)
    assert store.transition(old.row["id"], "close", "test-eo", "spoke to the school", old.row["version"] + 1, NOW)

    episode = 2 if how == "next_episode" else 1
    again = alert(kid, "informal_exclusions_repeated", alert_id=first.alert.id, change="evidence", version=4, episode=episode,
                  at=NOW + timedelta(days=3))
    result = desk.handle([again], NOW + timedelta(days=3))

    closed, new = referrals_of(engine, kid["child_id"])["exclusions_officer"]
    assert closed.row["id"] == old.row["id"] and closed.row["status"] == "closed"
    assert new.row["status"] == "new" and new.reasons == [reason_of(again)]
    assert new.reasons[0]["episode"] == episode
    assert [(c.agency, c.change) for c in result.changes] == [("exclusions_officer", "created")]
    # the same message again is a replay
    assert desk.handle([again], NOW + timedelta(days=4)).changes == []


def test_new_evidence_on_an_open_referral_is_added_to_it(engine, desk):
    kid = profile(**NON_SEND)
    first = alert(kid, "informal_exclusions_repeated", version=1)
    desk.handle([first], NOW)
    more = alert(kid, "informal_exclusions_repeated", alert_id=first.alert.id, change="evidence", version=2)
    result = desk.handle([more], NOW + timedelta(days=1))
    (ref,) = referrals_of(engine, kid["child_id"])["exclusions_officer"]
    assert [h["action"] for h in ref.history] == ["created", "evidence_added"]
    assert ref.row["version"] == 2
    assert [(c.change) for c in result.changes] == ["evidence_added"]
    assert outbox_ids(engine)[-1] == f"{ref.row['id']}:v2"


def test_a_replayed_older_alert_version_changes_nothing(engine, desk):
    kid = profile(**SEND)
    alert_id = "al-" + kid["child_id"]
    v1 = alert(kid, "suspension_days_nearing_limit", alert_id=alert_id, version=1)
    v3 = alert(kid, "suspension_days_nearing_limit", alert_id=alert_id, change="evidence", version=3)
    desk.handle([v1, v3], NOW)
    before = snapshot(engine, kid["child_id"]), outbox_ids(engine)
    v2 = alert(kid, "suspension_days_nearing_limit", alert_id=alert_id, change="evidence", version=2)
    assert desk.handle([v2, v1, v3], NOW + timedelta(days=1)).changes == []
    assert (snapshot(engine, kid["child_id"]), outbox_ids(engine)) == before


def test_every_change_is_in_the_outbox_with_a_deterministic_id(engine, desk):
    kid = profile(**SEND)
    desk.handle([alert(kid, "suspension_days_nearing_limit"), notice(kid)], NOW)
    ids = outbox_ids(engine)
    refs = referrals_of(engine, kid["child_id"])
    expected = sorted(f"{r.row['id']}:v{v}" for recs in refs.values() for r in recs for v in range(1, r.row["version"] + 1))
    assert sorted(ids) == expected and len(set(ids)) == len(ids)


# --------------------------------------------------------------------------- any order


def test_the_same_events_in_any_order_give_the_same_referrals(engine, desk):
    """Deliver 4: links, consents and triggers from different topics, in any order and batch size."""
    a, b = profile(**AUTISTIC), profile(**NON_SEND)
    events = [
        alert(a, "suspension_days_nearing_limit"),
        call(b, received_by="nas", concerns=("other",), share_with_nas=True),
        link(a, b),
        notice(b),
    ]
    outcomes = set()
    for n, order in enumerate(itertools.permutations(range(len(events)))):
        if n % 4:  # a quarter of the 24 orders keeps the test quick; the first of each group differs
            continue
        a2, b2 = profile(**AUTISTIC), profile(**NON_SEND)
        rename = {a["child_id"]: a2["child_id"], b["child_id"]: b2["child_id"]}
        items = [_renamed(events[i], rename, a2, b2) for i in order]
        batches = [items] if (n // 4) % 2 else [[item] for item in items]  # one batch, or one message a batch
        for batch in batches:
            desk.handle(batch, NOW)
        shape = tuple(sorted((agency, len(recs), tuple(sorted(len(r.reasons) for r in recs)))
                             for agency, recs in referrals_of(engine, b2["child_id"]).items()))
        outcomes.add((shape, tuple(sorted(open_by_agency(engine, a2["child_id"])))))
    assert len(outcomes) == 1, outcomes
    (shape, on_a), = outcomes
    assert {agency: n for agency, n, _ in shape} == {"reu": 1, "ias": 1, "nas": 1, "exclusions_officer": 1}
    assert on_a == ()


def _renamed(item: Input, rename: dict[str, str], a2: dict, b2: dict) -> Input:
    """The same event for a fresh pair of children (new ids for alerts, calls and links too)."""
    raw = item.model_dump_json()
    for old, new in rename.items():
        raw = raw.replace(old, new)
    doc = orjson.loads(raw)
    suffix = a2["child_id"][-6:]
    if isinstance(item, AlertChanged):
        doc["alert"]["id"] += suffix
    elif isinstance(item, ChildLinkChanged):
        doc["link_id"] += suffix
    else:
        doc["source_id"] += suffix
    for key in ("child", "source_child"):
        if isinstance(doc.get(key), dict) and doc[key].get("upn"):
            doc[key]["upn"] = (a2 if doc[key]["child_id"] == a2["child_id"] else b2)["upn"]
    return type(item).model_validate(doc)


def test_a_reason_for_a_referral_closed_meanwhile_makes_the_batch_stale(engine, desk):
    """What decide() read as open was declined by the agency before the batch wrote (another transaction):
    the write refuses, the runner applies the batch again from fresh state, nothing lands on the closed referral."""
    from services.common.stream import StaleWrite
    from services.referrals.domain.decide import Attach
    from services.referrals.domain.triggers import from_alert_changed
    from services.referrals.writes import DeskResult, Writes

    kid = profile(**NON_SEND)
    desk.handle([alert(kid, "informal_exclusions_repeated")], NOW)
    (ref,) = referrals_of(engine, kid["child_id"])["exclusions_officer"]
    assert ReferralStore(engine).transition(ref.row["id"], "decline", "test-eo", "not ours", ref.row["version"], NOW)
    later = from_alert_changed(alert(kid, "suspension_days_limit_exceeded"))
    stale = Attach(ref.row["id"], "exclusions_officer", "exclusions_officer", later.key, later.reason, kid["child_id"], 1)
    with pytest.raises(StaleWrite), engine.begin() as conn:
        Writes(conn, engine, load_policy(), NOW, DeskResult(), deliver=True).apply([stale], later, frozenset(), {kid["child_id"]})
    after = ReferralStore(engine).get(ref.row["id"])
    assert after.row["status"] == "declined" and len(after.reasons) == 1
