"""Issue 11 (items 1-3): the default policy routes every statutory-clock alert (docs/rules.md's table)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from schemas.alerts import DEADLINE_RULES, Alert, AlertChanged, ChildSubject
from schemas.children import ChildProfile
from services.referrals.domain.triggers import alert_trigger
from services.referrals.policy import load_policy
from services.referrals.routing import route

DEFAULT = load_policy()
ROUTES = {  # rule: (without SEND, with SEND)
    "governing_board_review_due": ([], []),
    "governing_board_decision_overdue": (["exclusions_officer"], ["exclusions_officer", "ias"]),
    "irp_application_window_open": ([], ["ias"]),
    "irp_review_overdue": (["exclusions_officer"], ["exclusions_officer", "ias"]),
    "governing_board_reconsideration_overdue": (["exclusions_officer"], ["exclusions_officer", "ias"]),
    "education_from_day_six_missing": (["reu"], ["reu", "ias"]),
    "la_education_from_day_six_missing": (["exclusions_officer"], ["exclusions_officer", "ias"]),
    "education_from_day_six_notice_late": ([], []),
}


def test_every_deadline_rule_has_a_route_in_the_table() -> None:
    assert set(ROUTES) == DEADLINE_RULES


@pytest.mark.parametrize("rule", sorted(ROUTES))
@pytest.mark.parametrize("send", [False, True])
def test_the_default_policy_routes_each_deadline_rule(rule: str, send: bool) -> None:
    labels = {"reason": rule, "event_kind": "alert", "send": str(send).lower(), "autistic": "true", "primary_need": ["ASD"]}
    # an autistic child's deadline alerts do not go to NAS: the contract sends NAS the child reasons it lists only
    assert [r.agency for r in route(DEFAULT, labels)] == ROUTES[rule][send]


@pytest.mark.parametrize("rule", sorted(DEADLINE_RULES))
def test_a_deadline_alert_about_a_child_is_a_trigger(rule: str) -> None:
    at = datetime(2025, 3, 6, 10, 0, tzinfo=UTC)
    alert = Alert(id="al_1", rule=rule, severity="warning", subject=ChildSubject(child_id="c1"), la_code="305", academic_year="2024/25",
                  value=1, threshold=1, status="open", created_at=at, updated_at=at, version=1)  # type: ignore[arg-type]
    child = ChildProfile(child_id="c1", la_code="305", first_name="A", last_name="B", date_of_birth=date(2014, 5, 1), sen_status="N")  # type: ignore[arg-type]
    trigger = alert_trigger(AlertChanged(alert=alert, change="raised", child=child))
    assert trigger is not None and trigger.labels["reason"] == rule


@pytest.mark.parametrize("rule", sorted(r for r, (plain, _) in ROUTES.items() if plain))
@pytest.mark.parametrize("flag", ["looked_after", "has_social_worker"])
def test_a_deadline_alert_that_makes_a_referral_also_goes_to_the_virtual_school_for_a_child_in_care_or_with_a_social_worker(rule: str, flag: str) -> None:
    labels = {"reason": rule, "event_kind": "alert", "send": "false", flag: "true"}
    assert [r.agency for r in route(DEFAULT, labels)] == [*ROUTES[rule][False], "virtual_school"]
