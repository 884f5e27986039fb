"""Routing: the contract's default table, and Alertmanager's tree semantics on small custom policies."""

from __future__ import annotations

import pytest

from services.referrals.policy import Matcher, Policy, load_policy, parse_policy
from services.referrals.routing import project, route

DEFAULT = load_policy()


def labels(
    reason: str, *, send: bool = False, autistic: bool = False, received_by: str = "", **extra
) -> dict:
    return {
        "reason": reason,
        "send": str(send).lower(),
        "autistic": str(autistic).lower(),
        "received_by": received_by,
        "primary_need": ["ASD"] if autistic else [],
        **extra,
    }


def agencies(policy: Policy, lbls: dict) -> list[str]:
    return [r.agency for r in route(policy, lbls)]


# --- the default policy: one row of contract.md's table each ------------------------------------------

CHILD_REASONS = {
    "informal_exclusions_repeated": "exclusions_officer",
    "suspension_days_nearing_limit": "reu",
    "suspension_days_limit_exceeded": "exclusions_officer",
    "permanent_exclusion": "exclusions_officer",
}


#: issue 11, item 7: repeated informal exclusion of a child without SEND also goes to the level-1 advice
#: services (each held until its consent: test_decide.py)
ADVICE = {"informal_exclusions_repeated": ["ace", "coram"]}


@pytest.mark.parametrize("reason, primary", CHILD_REASONS.items())
def test_child_reason_without_send_goes_to_its_agency_only(reason, primary):
    assert agencies(DEFAULT, labels(reason)) == [primary, *ADVICE.get(reason, [])]


@pytest.mark.parametrize("reason, primary", CHILD_REASONS.items())
def test_child_reason_with_send_also_goes_to_ias(reason, primary):
    assert agencies(DEFAULT, labels(reason, send=True)) == [primary, "ias"]


@pytest.mark.parametrize("reason, primary", CHILD_REASONS.items())
def test_child_reason_for_an_autistic_child_also_goes_to_nas(reason, primary):
    assert agencies(DEFAULT, labels(reason, send=True, autistic=True)) == [primary, "ias", "nas"]
    assert agencies(DEFAULT, labels(reason, autistic=True)) == [primary, "nas", *ADVICE.get(reason, [])]


# --- issue 11: the new child rules, the Virtual School and the advice services ---------------------------

ISSUE_11 = {
    "protected_child_permanently_excluded": ["exclusions_officer"],
    "part_time_timetable_concern": ["exclusions_officer"],
    "off_rolling_review": ["exclusions_officer"],
    "managed_move_trial": ["exclusions_officer"],
    "suspensions_in_term": ["reu"],
    "social_care_child_excluded": [],
}


@pytest.mark.parametrize("reason, expected", ISSUE_11.items())
def test_issue_11_rules_route_to_their_agency_and_ias_if_send(reason, expected):
    assert agencies(DEFAULT, labels(reason)) == expected
    ias = [] if reason == "social_care_child_excluded" else ["ias"]
    assert agencies(DEFAULT, labels(reason, send=True)) == [*expected, *ias]


@pytest.mark.parametrize("reason", [*ISSUE_11, *CHILD_REASONS])
@pytest.mark.parametrize("flag", ["looked_after", "has_social_worker"])
def test_a_looked_after_child_or_one_with_a_social_worker_also_goes_to_the_virtual_school(reason, flag):
    assert "virtual_school" in agencies(DEFAULT, labels(reason, send=True, **{flag: "true"}))
    assert "virtual_school" not in agencies(DEFAULT, labels(reason, send=True))


def test_the_virtual_school_sees_care_status_and_the_advice_services_no_upn():
    assert {"upn", "school_urn", "looked_after", "has_social_worker"} <= set(DEFAULT.receivers["virtual_school"].fields)
    for name in ("ace", "coram"):
        receiver = DEFAULT.receivers[name]
        assert not {"upn", "school_urn", "sen_status", "sen_needs"} & set(receiver.fields)
        assert receiver.requires_consent == f"share_with_{name}"


def test_late_notifications_high_is_not_referred():
    assert agencies(DEFAULT, labels("late_notifications_high")) == []


@pytest.mark.parametrize("taker", ["exclusions_officer", "reu", "nas", "la_inclusion"])
def test_exclusion_concern_call_about_a_send_child_goes_to_ias(taker):
    lbls = labels("exclusion_concern_call", send=True, received_by=taker, event_kind="call")
    assert agencies(DEFAULT, lbls) == ["ias"]


def test_exclusion_concern_call_taken_by_ias_is_not_referred_back_to_ias():
    assert agencies(DEFAULT, labels("exclusion_concern_call", send=True, received_by="ias")) == []


def test_exclusion_concern_call_about_a_child_without_send_is_not_referred():
    assert agencies(DEFAULT, labels("exclusion_concern_call", received_by="la_inclusion")) == []


def test_exclusion_concern_call_about_an_autistic_send_child_also_goes_to_nas():
    lbls = labels("exclusion_concern_call", send=True, autistic=True, received_by="reu")
    assert agencies(DEFAULT, lbls) == ["ias", "nas"]


@pytest.mark.parametrize("send, autistic", [(False, False), (True, True)])
def test_end_of_term_spike_makes_no_referral(send, autistic):
    assert route(DEFAULT, labels("end_of_term_spike", send=send, autistic=autistic)) == []


def test_nas_requires_share_with_nas_consent():
    (nas,) = DEFAULT.receivers_for_agency("nas")
    assert nas.requires_consent == "share_with_nas"


CHILD = {
    "child_id": "c-1", "upn": "A123456789012", "first_name": "Sam", "last_name": "Lee",
    "date_of_birth": "2014-03-01", "year_group": "5", "school_urn": "100000", "la_code": "202",
    "sen_status": "K", "sen_needs": ["ASD"], "suspected_send": False, "looked_after": False,
    "has_social_worker": False,
}  # fmt: skip


def test_project_gives_nas_no_upn_and_no_school():
    payload = project(CHILD, DEFAULT.receivers["nas"])
    assert list(payload) == [
        "child_id",
        "first_name",
        "last_name",
        "date_of_birth",
        "year_group",
        "la_code",
        "sen_needs",
    ]
    assert "upn" not in payload and "school_urn" not in payload


def test_project_keeps_the_receivers_order_and_omits_absent_fields():
    child = {k: v for k, v in CHILD.items() if k != "year_group"}
    payload = project(child, DEFAULT.receivers["exclusions_officer"])
    assert list(payload)[:3] == ["child_id", "upn", "first_name"]
    assert "year_group" not in payload
    assert payload["upn"] == "A123456789012"


# --- Alertmanager semantics ------------------------------------------------------------------------

RECEIVERS = "\n".join(
    f"  - {{name: {a}, agency: {a}, service_level_school_days: 5, fields: [child_id, first_name, last_name, date_of_birth]}}"
    for a in ("ias", "exclusions_officer", "reu", "nas")
)


def policy(route_yaml: str) -> Policy:
    return parse_policy(f"receivers:\n{RECEIVERS}\nroute:\n{route_yaml}", "<test>")


def test_first_matching_child_stops_the_search():
    p = policy("""
  routes:
    - {matchers: ['send="true"'], receiver: ias}
    - {matchers: ['send="true"'], receiver: reu}
""")
    assert agencies(p, {"send": "true"}) == ["ias"]


def test_continue_flows_on_to_later_siblings():
    p = policy("""
  routes:
    - {matchers: ['send="true"'], receiver: ias, continue: true}
    - {matchers: ['looked_after="true"'], receiver: exclusions_officer}
    - {matchers: ['send="true"'], receiver: reu}
""")
    assert agencies(p, {"send": "true", "looked_after": "true"}) == ["ias", "exclusions_officer"]
    assert agencies(p, {"send": "true"}) == ["ias", "reu"]


def test_nested_routes_and_parent_receiver_when_no_child_matches():
    p = policy("""
  receiver: exclusions_officer
  routes:
    - matchers: ['reason="permanent_exclusion"']
      receiver: reu
      routes:
        - {matchers: ['autistic="true"'], receiver: nas}
""")
    assert agencies(p, {"reason": "permanent_exclusion", "autistic": "true"}) == ["nas"]
    assert agencies(p, {"reason": "permanent_exclusion"}) == ["reu"]
    assert agencies(p, {"reason": "informal_exclusions_repeated"}) == ["exclusions_officer"]


def test_a_matched_node_without_receiver_contributes_nothing_but_stops_the_search():
    p = policy("""
  receiver: exclusions_officer
  routes:
    - matchers: ['reason="end_of_term_spike"']
    - {receiver: ias}
""")
    assert route(p, {"reason": "end_of_term_spike"}) == []
    assert agencies(p, {"reason": "permanent_exclusion"}) == ["ias"]


def test_receivers_are_deduplicated_by_agency_first_wins():
    text = f"""receivers:
{RECEIVERS}
  - {{name: ias_urgent, agency: ias, service_level_school_days: 2, fields: [child_id, first_name, last_name, date_of_birth]}}
route:
  routes:
    - {{receiver: ias_urgent, continue: true}}
    - {{receiver: ias, continue: true}}
    - {{receiver: reu}}
"""
    p = parse_policy(text)
    assert [r.name for r in route(p, {})] == ["ias_urgent", "reu"]


@pytest.mark.parametrize(
    "matcher, value, expected",
    [
        ('primary_need="ASD"', ["SLCN", "ASD"], True),
        ('primary_need="ASD"', ["SLCN"], False),
        ('primary_need!="ASD"', ["SLCN", "ASD"], False),  # != needs NO element to equal
        ('primary_need!="ASD"', ["SLCN"], True),
        ('primary_need=~"AS.|SLD"', ["MLD", "SLD"], True),
        ('primary_need!~"AS.|SLD"', ["MLD", "SLD"], False),
        ('primary_need!~"AS.|SLD"', ["MLD"], True),
        ('primary_need=""', [], True),  # an empty list is an absent label
        ('primary_need!="ASD"', [], True),
    ],
)
def test_list_labels(matcher, value, expected):
    assert Matcher.parse(matcher, 1, "<t>").matches({"primary_need": value}) is expected


@pytest.mark.parametrize(
    "matcher, expected",
    [
        ('received_by=""', True),
        ('received_by!="ias"', True),
        ('received_by=~"ias|"', True),
        ('received_by!~""', False),
    ],
)
def test_an_absent_label_equals_the_empty_string(matcher, expected):
    assert Matcher.parse(matcher, 1, "<t>").matches({}) is expected


def test_regexes_are_fully_anchored():
    m = Matcher.parse('reason=~"suspension.*"', 1, "<t>")
    assert m.matches({"reason": "suspension_days_nearing_limit"})
    # a prefix is not enough, as in Alertmanager
    matcher = Matcher("reason", "=~", "suspension", 1)
    assert not matcher.matches({"reason": "suspension_days_nearing_limit"})
    assert Matcher("reason", "!~", "suspension", 1).matches({"reason": "suspension_days_nearing_limit"})


def test_escaped_quotes_in_matcher_values():
    m = Matcher.parse(r'reason=~"permanent_exclusion|\"x\""', 1, "<t>")
    assert m.value == 'permanent_exclusion|"x"'
