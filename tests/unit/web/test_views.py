"""The pages' wording (services/web/views.py)."""

from __future__ import annotations

from services.web import views


def test_dates_are_written_as_gov_uk_writes_them() -> None:
    assert views.day("2025-03-14") == "14 March 2025"
    assert views.when("2025-03-14T09:05:00Z") == "14 March 2025 at 9:05am"
    assert views.when("2025-03-14T13:30:00+00:00") == "14 March 2025 at 1:30pm"
    assert views.days(1) == "1 day" and views.days(33.0) == "33 days" and views.days(10.5) == "10.5 days"


def test_inbox_tabs_ask_the_api_for_the_right_referrals() -> None:
    assert views.inbox_tab_params("overdue") == {"overdue": "true"}
    assert views.inbox_tab_params("new") == {"status": "new", "overdue": "false"}
    assert views.inbox_tab_params("nonsense") == {"status": "new"}


def test_rules_read_as_words() -> None:
    assert views.rule_label("suspension_days_limit_exceeded") == "Over the 45-day limit"
    assert views.alert_subject({"subject": {"kind": "school", "school_urn": "101676"}}) == "School 101676"


def test_sign_in_only_returns_to_a_path_on_this_site() -> None:
    from services.web.signin import _safe_next

    assert _safe_next("/alerts?status=open") == "/alerts?status=open"
    for bad in ("https://evil.example/", "//evil.example", "/\\\\evil.example", "alerts", None, ""):
        assert _safe_next(bad) == "/"


def test_every_rule_every_agency_and_every_consent_recipient_has_words_on_the_pages() -> None:
    from typing import get_args

    from schemas.admin import ConsentRecipient
    from schemas.alerts import Rule
    from schemas.codes import Agency
    from services.web import views

    assert {str(r) for r in Rule} == set(views.RULES)
    assert {str(a) for a in Agency} == set(views.AGENCIES)
    assert set(get_args(ConsentRecipient)) == set(views.CONSENT_RECIPIENTS)
