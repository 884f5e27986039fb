"""domain/decide.py: the contract's default routing table row by row, consent, and the re-routing rules."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from services.referrals.domain.consent import ConsentRecord
from services.referrals.domain.decide import (
    AddEvidence,
    Attach,
    Deliver,
    Hold,
    Holder,
    Open,
    OpenReferral,
    Refresh,
    SeenReasons,
    Withdraw,
    referral_id,
)
from services.referrals.domain.decide import decide as decide_all
from services.referrals.domain.triggers import Trigger, labels_for
from services.referrals.policy import load_policy, parse_policy

POLICY = load_policy()
TODAY = date(2025, 3, 6)
T0 = datetime(2025, 3, 6, 10, 0, tzinfo=UTC)
NAS_CONSENT = [ConsentRecord("nas", True, T0, "call:C-1")]


class FixedCalendar:
    """Every day is a school day: due = today + n."""

    def add_school_days(self, start: date, days: int) -> date:
        return start + timedelta(days=days)


CAL = FixedCalendar()
ADVICE = ("ace", "coram")  # issue 11, item 7: held for consent for a child without SEND (tested below)


def decide(*args, **kwargs) -> list:
    """The re-routing tests below use informal_exclusions_repeated about a child without SEND as "an
    alert": they are about the contract's agencies, so the advice services' holds are left out here."""
    return [a for a in decide_all(*args, **kwargs) if not (isinstance(a, Hold) and a.agency in ADVICE)]


def kid(**kw) -> dict:
    return {"child_id": "ch-1", "la_code": "305", "first_name": "Zoë", "last_name": "Smith", "date_of_birth": "2013-05-01",
            "sen_status": "N", "sen_needs": [], "suspected_send": False, **kw}


def trigger(what: str, child: dict | None = None, *, change: str = "raised", version: int = 1, received_by: str = "la_inclusion",
            stands: bool = True) -> Trigger:
    child = child or kid()
    if what in ("suspension_days_nearing_limit", "suspension_days_limit_exceeded", "informal_exclusions_repeated", "end_of_term_spike"):
        reason = {"rule": what, "alert_id": "al-1", "episode": 1}
        return Trigger("alert:al-1", reason, labels_for(child, reason=what, event_kind="alert"), child, child_id=child["child_id"],
                       change=change, version=version, stands=stands)
    if what in ("notice", "return"):
        kind = "exclusion_notice" if what == "notice" else "la_return_record"
        return Trigger(f"{what}:X-1", {"source": kind}, labels_for(child, reason="permanent_exclusion", event_kind=kind), child,
                       child_id=child["child_id"], change="event")
    extra = {"received_by": received_by, "consent": None}
    labels = labels_for(child, reason="exclusion_concern_call", event_kind="call", received_by=received_by)
    return Trigger("call:C-9", {"source": "call", "call_id": "C-9"}, labels, child, child_id=child["child_id"], change="event", extra=extra)


def agencies_opened(actions) -> set[str]:
    return {a.agency for a in actions if isinstance(a, Open | Attach)}


SEND_PROFILES = {
    "none": {},
    "E": {"sen_status": "E"},
    "K": {"sen_status": "K"},
    "suspected": {"suspected_send": True},
    "need_only": {"sen_status": "unknown", "sen_needs": ["SEMH"]},  # any recorded primary need counts as SEND
}
# (trigger, SEND?, agencies): contract.md "Default routing policy", every row
TABLE = [
    ("informal_exclusions_repeated", False, {"exclusions_officer"}),
    ("informal_exclusions_repeated", True, {"exclusions_officer", "ias"}),
    ("suspension_days_nearing_limit", False, {"reu"}),
    ("suspension_days_nearing_limit", True, {"reu", "ias"}),
    ("suspension_days_limit_exceeded", False, {"exclusions_officer"}),
    ("suspension_days_limit_exceeded", True, {"exclusions_officer", "ias"}),
    ("notice", False, {"exclusions_officer"}),
    ("notice", True, {"exclusions_officer", "ias"}),
    ("return", False, {"exclusions_officer"}),
    ("return", True, {"exclusions_officer", "ias"}),
    ("call", False, set()),
    ("call", True, {"ias"}),
    ("end_of_term_spike", True, set()),
]


ROWS = [(what, profile, expected) for what, send, expected in TABLE for profile in SEND_PROFILES if send == (profile != "none")]


@pytest.mark.parametrize("what, profile, expected", ROWS, ids=[f"{w}-{p}" for w, p, _ in ROWS])
def test_default_routing_table(what, profile, expected):
    actions = decide(trigger(what, kid(**SEND_PROFILES[profile])), POLICY, [], {}, SeenReasons(), TODAY, CAL)
    assert agencies_opened(actions) == expected
    assert all(isinstance(a, Open) for a in actions)  # a new child: every agency gets a new referral
    assert not any(isinstance(a, Hold) for a in actions)


@pytest.mark.parametrize("taker, routed", [("ias", False), ("exclusions_officer", True), ("reu", True), ("nas", True), ("la_inclusion", True)])
def test_a_call_taken_by_anyone_but_ias_goes_to_ias(taker, routed):
    actions = decide(trigger("call", kid(sen_status="K"), received_by=taker), POLICY, [], {}, SeenReasons(), TODAY, CAL)
    assert agencies_opened(actions) == ({"ias"} if routed else set())


@pytest.mark.parametrize("what", ["informal_exclusions_repeated", "suspension_days_nearing_limit", "suspension_days_limit_exceeded", "notice", "return", "call"])
def test_autism_with_sen_status_unknown_goes_to_ias_and_with_consent_to_nas(what):
    autistic = kid(sen_status="unknown", sen_needs=["ASD"])
    without = decide(trigger(what, autistic), POLICY, [], {}, SeenReasons(), TODAY, CAL)
    assert "ias" in agencies_opened(without)
    assert "nas" not in agencies_opened(without)
    assert [(a.agency, a.reason_key) for a in without if isinstance(a, Hold)] == [("nas", trigger(what, autistic).key)]

    with_consent = decide(trigger(what, autistic), POLICY, NAS_CONSENT, {}, SeenReasons(), TODAY, CAL)
    assert {"ias", "nas"} <= agencies_opened(with_consent)
    assert not any(isinstance(a, Hold) for a in with_consent)


def test_withdrawn_consent_holds_again():
    ledger = [*NAS_CONSENT, ConsentRecord("nas", False, T0 + timedelta(hours=1), "api:x")]
    actions = decide(trigger("notice", kid(sen_needs=["ASD"])), POLICY, ledger, {}, SeenReasons(), TODAY, CAL)
    assert [a.agency for a in actions if isinstance(a, Hold)] == ["nas"]


def test_a_reason_already_held_is_not_held_twice():
    seen = SeenReasons(version=1, held=frozenset({"nas"}))
    actions = decide(trigger("suspension_days_nearing_limit", kid(sen_needs=["ASD"]), change="updated", version=2), POLICY, [], {}, seen, TODAY, CAL)
    assert not any(isinstance(a, Hold) for a in actions)


def test_open_has_a_deterministic_id_and_the_service_level_due_date():
    (action,) = decide(trigger("informal_exclusions_repeated"), POLICY, [], {}, SeenReasons(), TODAY, CAL)
    assert isinstance(action, Open)
    assert action.referral_id == referral_id("ch-1", "exclusions_officer", "alert:al-1")
    assert action.due_by == TODAY + timedelta(days=5)  # the exclusions officer's 5 school days
    assert action.child_id == "ch-1"


def test_an_unseen_reason_attaches_to_the_agencys_open_referral():
    open_refs = {"exclusions_officer": OpenReferral("ref-open", "exclusions_officer", 3)}
    actions = decide(trigger("informal_exclusions_repeated"), POLICY, [], open_refs, SeenReasons(), TODAY, CAL)
    assert actions == [Attach("ref-open", "exclusions_officer", "exclusions_officer", "alert:al-1", trigger("informal_exclusions_repeated").reason, "ch-1", 1)]


# --------------------------------------------------------------------------- re-routing rules

SEEN_OPEN = SeenReasons(version=2, by_agency={"exclusions_officer": Holder("ref-a", "new")})
SEEN_CLOSED = SeenReasons(version=2, by_agency={"exclusions_officer": Holder("ref-a", "closed")})


@pytest.mark.parametrize("change", ["raised", "evidence"])
def test_new_harm_on_a_seen_open_reason_adds_evidence(change):
    actions = decide(trigger("informal_exclusions_repeated", change=change, version=3), POLICY, [], {}, SEEN_OPEN, TODAY, CAL)
    assert [type(a) for a in actions] == [AddEvidence]
    assert actions[0].referral_id == "ref-a" and actions[0].version == 3


def test_an_update_of_a_seen_open_reason_only_refreshes_the_child():
    actions = decide(trigger("informal_exclusions_repeated", change="updated", version=3), POLICY, [], {}, SEEN_OPEN, TODAY, CAL)
    assert actions == [Refresh("ref-a")]


@pytest.mark.parametrize("version", [1, 2])
@pytest.mark.parametrize("change", ["raised", "evidence", "updated"])
def test_a_version_not_newer_is_a_replay(change, version):
    assert decide(trigger("informal_exclusions_repeated", change=change, version=version), POLICY, [], {}, SEEN_OPEN, TODAY, CAL) == []
    assert decide(trigger("informal_exclusions_repeated", change=change, version=version), POLICY, [], {}, SEEN_CLOSED, TODAY, CAL) == []


def test_a_child_event_arriving_again_is_a_replay():
    seen = SeenReasons(version=1, by_agency={"exclusions_officer": Holder("ref-a", "closed")})
    assert decide(trigger("notice"), POLICY, [], {}, seen, TODAY, CAL) == []


@pytest.mark.parametrize("status", ["closed", "declined"])
def test_new_evidence_after_the_agency_closed_opens_a_new_referral(status):
    seen = SeenReasons(version=2, by_agency={"exclusions_officer": Holder("ref-a", status)})
    actions = decide(trigger("informal_exclusions_repeated", change="evidence", version=5), POLICY, [], {}, seen, TODAY, CAL)
    (action,) = actions
    assert isinstance(action, Open)
    assert action.referral_id == referral_id("ch-1", "exclusions_officer", "alert:al-1", "v5") != "ref-a"


def test_new_evidence_after_close_joins_the_agencys_other_open_referral():
    open_refs = {"exclusions_officer": OpenReferral("ref-b", "exclusions_officer", 2)}
    actions = decide(trigger("informal_exclusions_repeated", change="evidence", version=5), POLICY, [], open_refs, SEEN_CLOSED, TODAY, CAL)
    assert [(type(a), a.referral_id) for a in actions] == [(Attach, "ref-b")]


def test_an_update_after_the_agency_closed_changes_nothing():
    assert decide(trigger("informal_exclusions_repeated", change="updated", version=5), POLICY, [], {}, SEEN_CLOSED, TODAY, CAL) == []


def test_an_update_routes_to_agencies_that_had_not_seen_the_reason():
    """The merged profile became SEND: IAS gets the reason, the exclusions officer's referral is only refreshed."""
    actions = decide(trigger("informal_exclusions_repeated", kid(sen_status="K"), change="updated", version=3), POLICY, [], {}, SEEN_OPEN, TODAY, CAL)
    assert [(type(a), a.agency if not isinstance(a, Refresh) else a.referral_id) for a in actions] == [(Refresh, "ref-a"), (Open, "ias")]


def test_reevaluation_is_never_new_harm_and_never_a_replay():
    actions = decide(trigger("informal_exclusions_repeated", kid(sen_status="K"), change="reevaluate", version=2), POLICY, [], {}, SEEN_CLOSED, TODAY, CAL)
    assert [(type(a), a.agency) for a in actions] == [(Open, "ias")]


@pytest.mark.parametrize("kw", [{"change": "status", "version": 9}, {"stands": False, "change": "evidence", "version": 9}])
def test_status_changes_and_resolved_alerts_route_nothing(kw):
    assert decide(trigger("informal_exclusions_repeated", **kw), POLICY, [], {}, SeenReasons(), TODAY, CAL) == []


def test_consent_withdrawn_after_sharing_adds_nothing_and_holds_nothing():
    ledger = [*NAS_CONSENT, ConsentRecord("nas", False, T0 + timedelta(hours=1), "api:x")]
    seen = SeenReasons(version=1, by_agency={"nas": Holder("ref-n", "new"), "exclusions_officer": Holder("ref-a", "new")})
    actions = decide(trigger("informal_exclusions_repeated", kid(sen_needs=["ASD"]), change="evidence", version=2), POLICY, ledger, {}, seen, TODAY, CAL)
    assert {(type(a), a.agency) for a in actions} == {(AddEvidence, "exclusions_officer"), (Open, "ias")}


def test_a_receiver_with_a_webhook_gets_a_delivery_per_change():
    policy = parse_policy("""
receivers:
  - name: eo
    agency: exclusions_officer
    service_level_school_days: 5
    fields: [child_id, first_name, last_name, date_of_birth]
    webhook: {url: "https://example.org/hook", secret_env: SIGNPOST_WEBHOOK_SECRET_EO}
route:
  receiver: eo
""")
    actions = decide(trigger("informal_exclusions_repeated"), policy, [], {}, SeenReasons(), TODAY, CAL)
    assert [type(a) for a in actions] == [Open, Deliver]
    assert actions[1].referral_id == actions[0].referral_id
    evidence = decide(trigger("informal_exclusions_repeated", change="evidence", version=3), policy, [], {}, SEEN_OPEN, TODAY, CAL)
    assert [type(a) for a in evidence] == [AddEvidence, Deliver]
    assert decide(trigger("informal_exclusions_repeated", change="updated", version=3), policy, [], {}, SEEN_OPEN, TODAY, CAL) == [Refresh("ref-a")]


def withdrawn(version: int) -> Trigger:
    from dataclasses import replace

    return replace(trigger("informal_exclusions_repeated", change="status", version=version, stands=False), withdrawn=True)


def test_an_alert_signpost_withdrew_takes_its_reason_out_of_open_referrals():
    """It no longer holds for this child (a correction, or its evidence was a namesake's): a wrong child's referral is withdrawn."""
    seen = SeenReasons(version=2, by_agency={"exclusions_officer": Holder("ref-1", "new"), "ias": Holder("ref-2", "accepted"),
                                             "reu": Holder("ref-3", "closed")})  # fmt: skip
    actions = decide(withdrawn(3), POLICY, [], {}, seen, TODAY, CAL)
    assert actions == [Withdraw("ref-1", "exclusions_officer", "alert:al-1"), Withdraw("ref-2", "ias", "alert:al-1")]  # not the closed one


def test_a_withdrawal_replayed_changes_nothing():
    seen = SeenReasons(version=3, by_agency={"exclusions_officer": Holder("ref-1", "new")})
    assert decide(withdrawn(3), POLICY, [], {}, seen, TODAY, CAL) == []


def test_an_alert_a_person_resolved_withdraws_nothing():
    seen = SeenReasons(version=2, by_agency={"exclusions_officer": Holder("ref-1", "new")})
    assert decide(trigger("informal_exclusions_repeated", change="status", version=3, stands=False), POLICY, [], {}, seen, TODAY, CAL) == []


# ---------------------------------------------------------------- issue 11, item 7 (R-INFORMAL without SEND)


def test_repeated_informal_exclusion_without_send_is_held_for_ace_and_coram_until_each_consents():
    actions = decide_all(trigger("informal_exclusions_repeated"), POLICY, [], {}, SeenReasons(), TODAY, CAL)
    assert agencies_opened(actions) == {"exclusions_officer"}
    assert sorted(a.agency for a in actions if isinstance(a, Hold)) == ["ace", "coram"]
    ace_only = [ConsentRecord("ace", True, T0, "call:C-1")]
    actions = decide_all(trigger("informal_exclusions_repeated"), POLICY, ace_only, {}, SeenReasons(), TODAY, CAL)
    assert agencies_opened(actions) == {"exclusions_officer", "ace"}
    assert [a.agency for a in actions if isinstance(a, Hold)] == ["coram"]


def test_repeated_informal_exclusion_with_send_goes_to_ias_not_the_advice_services():
    actions = decide_all(trigger("informal_exclusions_repeated", kid(sen_status="K")), POLICY, [], {}, SeenReasons(), TODAY, CAL)
    assert agencies_opened(actions) == {"exclusions_officer", "ias"}
    assert not any(isinstance(a, Hold) for a in actions)
