"""ReferralDesk + ReferralStore on SQLite and PostgreSQL: routing by the default policy, one open referral
per (child, agency), NAS consent, service levels and escalation, custom policies and reload."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import Engine

from schemas.alerts import AlertChanged
from schemas.children import ChildEventResolved
from services.common.calendar import load_registry
from services.referrals.desk import ReferralDesk
from services.referrals.policy import PolicyHolder, load_policy
from services.referrals.store import ReferralStore

from .builders import (
    AUTISTIC,
    NON_SEND,
    NOW,
    SEND,
    alert,
    call,
    held_of,
    notice,
    profile,
    reason_of,
    referrals_of,
    return_record,
)

pytestmark = pytest.mark.integration

CALENDARS = load_registry()


@pytest.fixture
def desk(engine: Engine) -> ReferralDesk:
    return ReferralDesk(engine, lambda: load_policy(), CALENDARS)


@pytest.fixture
def store(engine: Engine) -> ReferralStore:
    return ReferralStore(engine)


def agencies(engine: Engine, child_id: str) -> dict[str, int]:
    return {agency: len(records) for agency, records in referrals_of(engine, child_id).items()}


# --------------------------------------------------------------------------- the default policy, row by row

ROWS = [
    # (what arrives, SEND?, agencies that get a referral)
    ("nearing", NON_SEND, {"reu"}),
    ("nearing", SEND, {"reu", "ias"}),
    ("exceeded", NON_SEND, {"exclusions_officer"}),
    ("exceeded", SEND, {"exclusions_officer", "ias"}),
    ("informal", NON_SEND, {"exclusions_officer"}),
    ("informal", SEND, {"exclusions_officer", "ias"}),
    ("permanent_notice", NON_SEND, {"exclusions_officer"}),
    ("permanent_notice", SEND, {"exclusions_officer", "ias"}),
    ("permanent_return_record", NON_SEND, {"exclusions_officer"}),
    ("permanent_return_record", SEND, {"exclusions_officer", "ias"}),
    ("call_by_la_inclusion", SEND, {"ias"}),
    ("call_by_exclusions_officer", SEND, {"ias"}),
    ("call_by_la_inclusion", NON_SEND, set()),
    ("call_by_ias", SEND, set()),
    ("call_without_exclusion_concern", SEND, set()),
    ("suspension_notice", SEND, set()),
    ("suspension_return_record", SEND, set()),
    ("end_of_term_spike", SEND, set()),
]
SUSPECTED = {"sen_status": "N", "sen_needs": [], "suspected_send": True}


def make_input(what: str, kid: dict) -> AlertChanged | ChildEventResolved:
    return {
        "nearing": lambda: alert(kid, "suspension_days_nearing_limit"),
        "exceeded": lambda: alert(kid, "suspension_days_limit_exceeded", severity="critical"),
        "informal": lambda: alert(kid, "informal_exclusions_repeated", severity="high"),
        "permanent_notice": lambda: notice(kid),
        "permanent_return_record": lambda: return_record(kid),
        "call_by_la_inclusion": lambda: call(kid, received_by="la_inclusion"),
        "call_by_exclusions_officer": lambda: call(
            kid, received_by="exclusions_officer", concerns=("other", "part_time_timetable")
        ),
        "call_by_ias": lambda: call(kid, received_by="ias"),
        "call_without_exclusion_concern": lambda: call(kid, received_by="la_inclusion", concerns=("other",)),
        "suspension_notice": lambda: notice(kid, category="suspension"),
        "suspension_return_record": lambda: return_record(kid, kind="suspension"),
        "end_of_term_spike": lambda: alert(kid, "end_of_term_spike"),
    }[what]()


@pytest.mark.parametrize(
    "what, send, expected", ROWS, ids=[f"{w}-{'send' if s is SEND else 'nosend'}" for w, s, _ in ROWS]
)
def test_default_policy_row(engine, desk, what, send, expected):
    kid = profile(**send)
    item = make_input(what, kid)
    result = desk.handle([item], NOW)

    found = referrals_of(engine, kid["child_id"])
    assert set(found) == expected
    assert {c.agency for c in result.changes} == expected
    assert all(c.change == "created" for c in result.changes)
    # issue 11, item 7: repeated informal exclusion of a child without SEND is held for ACE and Coram until consent
    assert sorted(result.held) == (["ace", "coram"] if what == "informal" and send is NON_SEND else [])
    for records in found.values():
        assert len(records) == 1
        record = records[0]
        assert record.row["status"] == "new"
        assert record.reasons == [reason_of(item)]
        assert record.child == kid
        assert [(h["by"], h["action"]) for h in record.history] == [("signpost", "created")]


def test_suspected_send_counts_as_send(engine, desk):
    kid = profile(**SUSPECTED)
    desk.handle([alert(kid, "suspension_days_nearing_limit")], NOW)
    assert agencies(engine, kid["child_id"]) == {"reu": 1, "ias": 1}


# --------------------------------------------------------------------------- one open referral per (child, agency)


def test_new_reasons_attach_to_the_one_open_referral(engine, desk):
    kid = profile(**SEND)
    nearing, exceeded = (
        alert(kid, "suspension_days_nearing_limit"),
        alert(kid, "suspension_days_limit_exceeded"),
    )
    desk.handle([nearing], NOW)
    result = desk.handle([exceeded], NOW + timedelta(days=7))

    found = referrals_of(engine, kid["child_id"])
    assert {a: len(v) for a, v in found.items()} == {"reu": 1, "ias": 1, "exclusions_officer": 1}
    ias = found["ias"][0]
    assert ias.reasons == [reason_of(nearing), reason_of(exceeded)]
    assert [h["action"] for h in ias.history] == ["created", "reason_added"]
    assert found["reu"][0].reasons == [reason_of(nearing)]
    assert found["exclusions_officer"][0].reasons == [reason_of(exceeded)]
    assert {(c.agency, c.change) for c in result.changes} == {
        ("exclusions_officer", "created"),
        ("ias", "reason_added"),
    }


@pytest.mark.parametrize("again", ["redelivery", "updated"])
def test_the_same_alert_again_adds_nothing(engine, desk, again):
    kid = profile(**SEND)
    first = alert(kid, "suspension_days_nearing_limit", alert_id="al-same")
    desk.handle([first], NOW)
    before = {
        a: [(r.row["id"], r.reasons, len(r.history)) for r in v]
        for a, v in referrals_of(engine, kid["child_id"]).items()
    }

    if again == "redelivery":
        repeat = first
    else:  # the alert rose to `high`: an "updated" change of the same alert
        repeat = alert(
            kid,
            "suspension_days_nearing_limit",
            alert_id="al-same",
            change="updated",
            severity="high",
            at=NOW + timedelta(days=3),
        )
    result = desk.handle([repeat, repeat], NOW + timedelta(days=3))

    assert result.changes == []
    after = {
        a: [(r.row["id"], r.reasons, len(r.history)) for r in v]
        for a, v in referrals_of(engine, kid["child_id"]).items()
    }
    assert after == before


def test_a_batch_with_the_same_alert_twice_makes_one_referral(engine, desk):
    kid = profile(**NON_SEND)
    item = alert(kid, "informal_exclusions_repeated")
    result = desk.handle([item, item], NOW)
    assert [(c.agency, c.change) for c in result.changes] == [("exclusions_officer", "created")]
    assert agencies(engine, kid["child_id"]) == {"exclusions_officer": 1}


def test_after_decline_and_close_a_new_reason_opens_a_new_referral_but_an_old_one_does_not(
    engine, desk, store
):
    kid = profile(**SEND)
    nearing, exceeded = (
        alert(kid, "suspension_days_nearing_limit"),
        alert(kid, "suspension_days_limit_exceeded"),
    )
    desk.handle([nearing, exceeded], NOW)
    (old,) = referrals_of(engine, kid["child_id"])["ias"]
    assert store.transition(
        old.row["id"], "decline", "test-ias", "not SEND-related", old.row["version"], NOW + timedelta(hours=1)
    )
    declined = store.get(old.row["id"])
    assert declined.row["status"] == "declined" and declined.row["decline_reason"] == "not SEND-related"
    assert store.transition(
        old.row["id"],
        "close",
        "test-ias",
        "signposted elsewhere",
        declined.row["version"],
        NOW + timedelta(hours=2),
    )

    # the old reasons again (redelivery or an update): nothing reopens
    result = desk.handle(
        [
            nearing,
            alert(
                kid, "suspension_days_limit_exceeded", alert_id=exceeded.alert.id, change="updated"
            ),
        ],
        NOW + timedelta(days=1),
    )
    assert result.changes == []
    assert len(referrals_of(engine, kid["child_id"])["ias"]) == 1

    # a new reason: a new ias referral, with that reason only; exclusions_officer's open one gets it added
    informal = alert(kid, "informal_exclusions_repeated")
    result = desk.handle([informal], NOW + timedelta(days=2))
    found = referrals_of(engine, kid["child_id"])
    assert len(found["ias"]) == 2
    closed, new = found["ias"]
    assert (
        closed.row["id"] == old.row["id"]
        and closed.row["status"] == "closed"
        and closed.row["outcome"] == "signposted elsewhere"
    )
    assert new.row["id"] != old.row["id"] and new.row["status"] == "new"
    assert new.reasons == [reason_of(informal)]
    assert closed.reasons == [reason_of(nearing), reason_of(exceeded)]
    assert {(c.agency, c.change) for c in result.changes} == {
        ("ias", "created"),
        ("exclusions_officer", "reason_added"),
    }
    assert found["exclusions_officer"][0].reasons == [reason_of(exceeded), reason_of(informal)]

    # and the old reasons still reach nothing
    assert desk.handle([nearing, exceeded], NOW + timedelta(days=3)).changes == []
    assert referrals_of(engine, kid["child_id"])["ias"][1].reasons == [reason_of(informal)]


def test_children_do_not_share_referrals(engine, desk):
    a, b = profile(**NON_SEND), profile(**NON_SEND)
    desk.handle([alert(a, "informal_exclusions_repeated"), alert(b, "informal_exclusions_repeated")], NOW)
    assert agencies(engine, a["child_id"]) == {"exclusions_officer": 1}
    assert agencies(engine, b["child_id"]) == {"exclusions_officer": 1}


# --------------------------------------------------------------------------- NAS: consent first


def test_nas_reason_is_held_without_consent_and_routed_when_consent_arrives(engine, desk):
    kid = profile(**AUTISTIC)
    nearing = alert(kid, "suspension_days_nearing_limit")
    result = desk.handle([nearing], NOW)
    assert result.held == ["nas"]
    assert set(referrals_of(engine, kid["child_id"])) == {"reu", "ias"}
    assert held_of(engine, kid["child_id"]) == [("nas", f"alert:{nearing.alert.id}")]

    # the same alert again is still held once
    desk.handle([nearing], NOW + timedelta(minutes=5))
    assert len(held_of(engine, kid["child_id"])) == 1

    # a call that is no exclusion concern, but records share_with_nas: the held reason is routed now
    consent_call = call(
        kid, received_by="nas", concerns=("other",), share_with_nas=True, at=NOW + timedelta(hours=1)
    )
    result = desk.handle([consent_call], NOW + timedelta(hours=1))
    assert result.released == 1
    found = referrals_of(engine, kid["child_id"])
    assert set(found) == {"reu", "ias", "nas"}
    (nas,) = found["nas"]
    assert nas.reasons == [reason_of(nearing)]
    assert nas.row["status"] == "new"
    assert held_of(engine, kid["child_id"]) == []
    assert [(c.agency, c.change) for c in result.changes] == [("nas", "created")]


def test_consent_in_the_same_call_routes_the_call_to_nas_at_once(engine, desk):
    kid = profile(**AUTISTIC)
    item = call(kid, received_by="la_inclusion", share_with_nas=True)
    result = desk.handle([item], NOW)
    assert result.held == []
    found = referrals_of(engine, kid["child_id"])
    assert set(found) == {"ias", "nas"}
    assert found["nas"][0].reasons == [reason_of(item)]


def test_an_unticked_box_on_a_later_call_does_not_withdraw(engine, desk):
    kid = profile(**AUTISTIC)
    desk.handle([call(kid, received_by="la_inclusion", share_with_nas=True)], NOW)
    later = call(kid, received_by="la_inclusion", share_with_nas=False, at=NOW + timedelta(days=1))
    result = desk.handle([later], NOW + timedelta(days=1))
    assert result.held == []
    assert referrals_of(engine, kid["child_id"])["nas"][0].reasons[-1] == reason_of(later)


def test_after_withdrawal_new_reasons_are_held_again(engine, desk, store):
    kid = profile(**AUTISTIC)
    nearing = alert(kid, "suspension_days_nearing_limit")
    desk.handle([nearing], NOW)
    desk.handle(
        [call(kid, received_by="nas", concerns=("other",), share_with_nas=True, at=NOW + timedelta(hours=1))],
        NOW + timedelta(hours=1),
    )
    assert referrals_of(engine, kid["child_id"])["nas"][0].reasons == [reason_of(nearing)]

    store.withdraw(
        kid["child_id"], "nas", "test-inclusion_team", "the family withdrew consent", NOW + timedelta(hours=2)
    )
    consents = store.consents(kid["child_id"])
    assert [(c["recipient"], c["granted"]) for c in consents if c["recipient"] == "nas"] == [
        ("nas", True),
        ("nas", False),
    ]

    exceeded = alert(kid, "suspension_days_limit_exceeded")
    result = desk.handle([exceeded], NOW + timedelta(days=1))
    assert result.held == ["nas"]
    assert {c.agency for c in result.changes} == {"exclusions_officer", "ias"}
    found = referrals_of(engine, kid["child_id"])
    assert len(found["nas"]) == 1 and found["nas"][0].reasons == [reason_of(nearing)]  # not routed
    assert held_of(engine, kid["child_id"]) == [("nas", f"alert:{exceeded.alert.id}")]

    # a call with the NAS box unticked is no new consent: still held
    desk.handle(
        [call(kid, received_by="la_inclusion", concerns=("other",), at=NOW + timedelta(days=2))],
        NOW + timedelta(days=2),
    )
    assert len(held_of(engine, kid["child_id"])) == 1
    assert referrals_of(engine, kid["child_id"])["nas"][0].reasons == [reason_of(nearing)]


def test_a_grant_older_than_the_withdrawal_arriving_late_does_not_release(engine, desk, store):
    kid = profile(**AUTISTIC)
    store.withdraw(kid["child_id"], "nas", "test-inclusion_team", None, NOW + timedelta(days=1))
    desk.handle([alert(kid, "informal_exclusions_repeated")], NOW + timedelta(days=2))
    # a call taken before the withdrawal, delivered late
    desk.handle(
        [call(kid, received_by="reu", concerns=("other",), share_with_nas=True, at=NOW)],
        NOW + timedelta(days=2),
    )
    assert "nas" not in referrals_of(engine, kid["child_id"])
    assert len(held_of(engine, kid["child_id"])) == 1


def test_withdrawal_drops_the_reasons_held_for_that_recipient(engine, desk, store):
    kid = profile(**AUTISTIC)
    desk.handle([alert(kid, "suspension_days_nearing_limit")], NOW)
    assert len(held_of(engine, kid["child_id"])) == 1
    store.withdraw(kid["child_id"], "nas", "test-inclusion_team", None, NOW + timedelta(hours=1))
    assert held_of(engine, kid["child_id"]) == []


# --------------------------------------------------------------------------- service levels, overdue, escalation


@pytest.mark.parametrize(
    "la_code, created, exclusions_officer_due, ias_due",
    [
        # Bromley (305), Thursday 6 March 2025: Fri 7, (weekend), Mon 10 .. Thu 13; IAS 10 days: Thu 20
        ("305", datetime(2025, 3, 6, 10, 0), date(2025, 3, 13), date(2025, 3, 20)),
        # a Saturday: the first school day after it is Monday 10 March
        ("305", datetime(2025, 3, 8, 10, 0), date(2025, 3, 14), date(2025, 3, 21)),
        # Friday before Bromley's spring half term (17-21 Feb): the week off does not count
        ("305", datetime(2025, 2, 14, 15, 0), date(2025, 2, 28), date(2025, 3, 7)),
        # Thursday 3 April: Bromley breaks up on 4 April and returns 22 April (21 is Easter Monday)
        ("305", datetime(2025, 4, 3, 9, 0), date(2025, 4, 25), date(2025, 5, 2)),
        # Solihull (334) stays in school to 11 April, back 28 April (IAS: 4, 7-11 April, 28 April-1 May)
        ("334", datetime(2025, 4, 3, 9, 0), date(2025, 4, 10), date(2025, 5, 1)),
    ],
)
def test_due_by_is_created_plus_the_service_level_in_the_las_school_days(
    engine, desk, la_code, created, exclusions_officer_due, ias_due
):
    created = created.replace(tzinfo=NOW.tzinfo)
    kid = profile(la_code=la_code, **SEND)
    desk.handle([alert(kid, "suspension_days_limit_exceeded", at=created)], created)
    found = referrals_of(engine, kid["child_id"])
    assert found["exclusions_officer"][0].row["due_by"] == exclusions_officer_due  # 5 school days
    assert found["ias"][0].row["due_by"] == ias_due  # 10 school days


def test_overdue_unescalated_and_escalate(engine, desk, store):
    late, acted = profile(**NON_SEND), profile(**NON_SEND)
    desk.handle(
        [alert(late, "informal_exclusions_repeated"), alert(acted, "informal_exclusions_repeated")], NOW
    )
    (late_ref,) = referrals_of(engine, late["child_id"])["exclusions_officer"]
    (acted_ref,) = referrals_of(engine, acted["child_id"])["exclusions_officer"]
    assert late_ref.row["due_by"] == date(2025, 3, 13)
    store.transition(
        acted_ref.row["id"],
        "accept",
        "test-exclusions_officer",
        None,
        acted_ref.row["version"],
        NOW + timedelta(days=1),
    )

    assert store.overdue_unescalated(date(2025, 3, 13)) == []  # due today: not late yet
    overdue = store.overdue_unescalated(date(2025, 3, 14))
    assert [r["id"] for r in overdue] == [late_ref.row["id"]]  # the accepted one is not overdue

    store.escalate(late_ref.row["id"], datetime(2025, 3, 14, 7, 0, tzinfo=NOW.tzinfo))
    assert store.overdue_unescalated(date(2025, 3, 14)) == []
    assert store.overdue_unescalated(date(2025, 6, 1)) == []  # escalated once only
    escalated = store.get(late_ref.row["id"])
    assert escalated.row["escalated_at"] is not None
    assert escalated.row["status"] == "new"
    assert [(h["by"], h["action"]) for h in escalated.history] == [
        ("signpost", "created"),
        ("signpost", "escalated"),
    ]

    listed, _ = store.list(
        agency="exclusions_officer",
        status=None,
        upn=None,
        overdue=True,
        la_codes=None,
        today=date(2025, 3, 14),
        limit=50,
        cursor=None,
    )
    assert [r.row["id"] for r in listed] == [late_ref.row["id"]]


# --------------------------------------------------------------------------- a custom policy and reload

INFORMAL_TO_REU = """
receivers:
  - name: reu
    agency: reu
    service_level_school_days: 3
    fields: [child_id, first_name, last_name, date_of_birth]
  - name: exclusions_officer
    agency: exclusions_officer
    service_level_school_days: 5
    fields: [child_id, upn, first_name, last_name, date_of_birth]
route:
  routes:
    - matchers: ['reason="informal_exclusions_repeated"']
      receiver: reu
    - matchers: ['reason="permanent_exclusion"']
      receiver: exclusions_officer
"""


def test_a_custom_policy_changes_routing(engine, tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_text(INFORMAL_TO_REU)
    holder = PolicyHolder(path)
    desk = ReferralDesk(engine, lambda: holder.policy, CALENDARS)
    kid = profile(**SEND)
    desk.handle(
        [alert(kid, "informal_exclusions_repeated"), alert(kid, "suspension_days_nearing_limit")], NOW
    )
    found = referrals_of(engine, kid["child_id"])
    assert set(found) == {"reu"}  # neither exclusions_officer nor ias; nearing routes nowhere here
    assert found["reu"][0].row["due_by"] == date(2025, 3, 11)  # 3 school days: Fri 7, Mon 10, Tue 11
    assert len(found["reu"][0].reasons) == 1


def test_reload_with_a_bad_file_keeps_the_old_policy(engine, tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_text(INFORMAL_TO_REU)
    holder = PolicyHolder(path)
    desk = ReferralDesk(engine, lambda: holder.policy, CALENDARS)
    old = holder.policy

    path.write_text(
        INFORMAL_TO_REU.replace("receiver: reu\n    - matchers", "receiver: nobody\n    - matchers")
    )
    error = holder.reload()
    assert error is not None and str(path) in error and "nobody" in error
    assert holder.policy is old
    path.write_text("receivers: [\n")
    assert holder.reload() is not None
    assert holder.policy is old

    kid = profile(**SEND)
    desk.handle([alert(kid, "informal_exclusions_repeated")], NOW)
    assert set(referrals_of(engine, kid["child_id"])) == {"reu"}

    # a good file is taken: informal now goes to the exclusions officer
    path.write_text(
        INFORMAL_TO_REU.replace(
            "receiver: reu\n    - matchers", "receiver: exclusions_officer\n    - matchers"
        )
    )
    assert holder.reload() is None
    other = profile(**SEND)
    desk.handle([alert(other, "informal_exclusions_repeated")], NOW)
    assert set(referrals_of(engine, other["child_id"])) == {"exclusions_officer"}


# --------------------------------------------------------------------------- store pagination on both backends


def test_store_pages_newest_first_with_ties_broken_by_id(engine, desk, store):
    from services.common.pagination import decode_cursor

    times = [NOW + timedelta(minutes=m) for m in (0, 10, 20, 20, 20, 30, 40)]  # three share a time
    for at in times:
        desk.handle([alert(profile(la_code="888", **NON_SEND), "informal_exclusions_repeated", at=at)], at)
    pages, cursor = [], None
    while True:
        items, cursor = store.list(
            agency=None,
            status=None,
            upn=None,
            overdue=None,
            la_codes=frozenset({"888"}),
            today=NOW.date(),
            limit=2,
            cursor=cursor,
        )
        pages.append([(r.row["created_at"], r.row["id"]) for r in items])
        if cursor is None:
            break
        decode_cursor(cursor)  # a cursor this API gave out decodes
    assert [len(p) for p in pages] == [2, 2, 2, 1]
    flat = [key for page in pages for key in page]
    assert len({ref_id for _, ref_id in flat}) == 7
    assert flat == sorted(flat, reverse=True)
    with pytest.raises(ValueError):
        store.list(
            agency=None,
            status=None,
            upn=None,
            overdue=None,
            la_codes=None,
            today=NOW.date(),
            limit=2,
            cursor="garbage",
        )
