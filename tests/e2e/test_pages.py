"""The pages people work in (issue 10), in a real browser against the whole system: sign-in through
the dev OpenID provider, the inclusion team's alert → child → acknowledge, an IAS caseworker
accepting and closing a referral that the team then sees closed, NAS never shown a UPN or a school,
a keyboard-only journey, and axe-core at WCAG 2.2 AA on every page."""

from __future__ import annotations

import json
import urllib.request

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from schemas.upn import check_letter
from tests.e2e.browser import (
    check_page,
    chromium,
    ensure_assets,
    sign_in,
    sign_out,
    submit,
    wait_for_new_page,
)
from tests.e2e.system import System

pytestmark = pytest.mark.integration
NEARING = "Nearing the 45-day limit"


def upn(body: str) -> str:
    return check_letter(body) + body


DANA = {"upn": upn("305541077001"), "first_name": "Dana", "last_name": "Pages", "date_of_birth": "2011-06-01", "year_group": "8", "sen_status": "K"}
NOOR = {"upn": upn("305541077002"), "first_name": "Noor", "last_name": "Autism", "date_of_birth": "2012-02-03", "year_group": "7",
        "sen_status": "E", "sen_primary_need": "ASD"}


def notice(n: str, pupil: dict, start: str, sessions: int, urn: str = "101676") -> dict:
    return {"notice_id": n, "school_urn": urn, "la_code": "305", "pupil": pupil, "category": "suspension", "start_date": start,
            "sessions": sessions, "reason_codes": ["DB"], "notified_at": f"{start}T09:00:00Z"}


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory):
    ensure_assets()
    s = System(tmp_path_factory.mktemp("pages"), web=True)
    try:
        s.start(timeout=240)  # seven processes on two shared cores
    except RuntimeError:
        s.stop()  # never leave a half-started system behind
        raise
    for n, start in enumerate(["2024-09-16", "2024-10-07"]):
        assert s.request("intake", "POST", "/v1/exclusion-notices", "intake", notice(f"pages-dana-{n}", DANA, start, 22))[0] == 202
    assert s.request("intake", "POST", "/v1/exclusion-notices", "intake", notice("pages-dana-2", DANA, "2024-11-11", 22, urn="101677"))[0] == 202
    call = {"call_id": "pages-noor-call", "received_at": "2024-11-01T10:00:00Z", "received_by": "la_inclusion", "caller_role": "parent", "la_code": "305",
            "pupil": NOOR, "concerns": ["sent_home_informally"], "incident_dates": ["2024-10-14", "2024-10-21"],
            "consent": {"share_with_nas": True, "share_with_ias": True, "share_with_la": True}}
    assert s.request("intake", "POST", "/v1/calls", "intake", call)[0] == 202
    typo = {**call, "call_id": "pages-dana-typo", "pupil": {k: v for k, v in DANA.items() if k != "upn"} | {"last_name": "Pagez"},
            "concerns": ["other"], "incident_dates": [], "consent": {}}  # a near match: a person decides
    assert s.request("intake", "POST", "/v1/calls", "intake", typo)[0] == 202
    yield s
    s.stop()


@pytest.fixture
def browser(tmp_path):
    b = chromium(tmp_path / "chrome")
    yield b
    b.quit()


def web(system: System) -> str:
    return system.url("web", "")


def wait_for(system: System, who: str, path: str, predicate, timeout: float = 60):  # noqa: ANN001, ANN201
    import time

    deadline = time.time() + timeout
    while time.time() < deadline:
        service = "referrals" if path.startswith("/v1/referrals") else "alerts"
        status, body = system.request(service, "GET", path, who)
        if status == 200 and predicate(body):
            return body
        time.sleep(0.5)
    raise AssertionError(f"{path} never matched")


def test_signed_out_people_are_sent_to_sign_in(system: System, browser) -> None:
    browser.get(web(system) + "/alerts")
    assert "/sign-in" in browser.current_url
    check_page(browser, "sign-in")
    with urllib.request.urlopen(web(system) + "/healthz") as r:
        assert json.loads(r.read())["service"] == "web"


def test_the_team_opens_an_alert_sees_the_child_and_acknowledges(system: System, browser) -> None:
    page = wait_for(system, "inclusion_team", "/v1/alerts?rule=suspension_days_nearing_limit", lambda b: b["items"])
    alert_id = page["items"][0]["id"]
    sign_in(browser, web(system), "inclusion-team")
    assert browser.current_url.endswith("/alerts")
    row = WebDriverWait(browser, 10).until(ec.presence_of_element_located((By.CSS_SELECTOR, f"tr[data-alert-id='{alert_id}']")))
    assert NEARING in row.text and "33" in row.text
    rows = browser.find_elements(By.CSS_SELECTOR, "tr[data-alert-id]")
    assert f"({len(rows)})" in browser.find_element(By.CSS_SELECTOR, ".moj-sub-navigation__link[aria-current='page']").text  # Open (n)
    check_page(browser, "alerts")

    submit(browser, row.find_element(By.LINK_TEXT, NEARING))
    assert browser.find_element(By.TAG_NAME, "h1").text == NEARING
    check_page(browser, "alert")

    submit(browser, browser.find_element(By.ID, "child-link"))
    assert browser.find_element(By.TAG_NAME, "h1").text == "Dana Pages"
    assert browser.find_element(By.ID, "total-days").text == "33 days"
    story = browser.find_element(By.ID, "story").text
    assert story.count("Suspension: 11 days") == 3 and "101677" in story
    check_page(browser, "child")

    old = browser.find_element(By.TAG_NAME, "html")
    browser.back()
    wait_for_new_page(browser, old)
    browser.find_element(By.ID, "acknowledge-note").send_keys("Called the school")
    submit(browser, browser.find_element(By.ID, "acknowledge"))
    assert "Alert acknowledged" in browser.find_element(By.CLASS_NAME, "govuk-notification-banner").text
    assert browser.find_element(By.ID, "alert-status").text == "Acknowledged"
    _, detail = system.request("alerts", "GET", f"/v1/alerts/{alert_id}", "inclusion_team")
    assert detail["status"] == "acknowledged" and detail["history"][-1]["by"] == "person:inclusion-team"  # type: ignore[index]
    _, audit = system.request("alerts", "GET", "/v1/audit?limit=1000", "admin")
    people = {e["principal"] for e in audit["items"]}  # type: ignore[index]
    assert "person:inclusion-team" in people and not any(p.startswith("e2e-web") for p in people)  # the person, never the pages' token


def test_a_snooze_without_a_reason_is_explained_on_the_page(system: System, browser) -> None:
    page = wait_for(system, "inclusion_team", "/v1/alerts?rule=informal_exclusions_repeated", lambda b: b["items"])
    sign_in(browser, web(system), "inclusion-team", then=f"/alerts/{page['items'][0]['id']}")
    browser.find_element(By.XPATH, "//summary[normalize-space()='Snooze until a date']").click()
    submit(browser, browser.find_element(By.ID, "snooze"))
    summary = browser.find_element(By.CLASS_NAME, "govuk-error-summary")
    assert "Enter why you are snoozing the alert" in summary.text
    assert browser.title.startswith("Error:")
    check_page(browser, "alert-error")


def test_ias_accepts_and_closes_a_referral_and_the_team_sees_the_outcome(system: System, browser) -> None:
    page = wait_for(system, "ias", "/v1/referrals?status=new", lambda b: any(r["child"]["first_name"] == "Dana" for r in b["items"]))
    ref = next(r for r in page["items"] if r["child"]["first_name"] == "Dana")
    sign_in(browser, web(system), "ias")
    assert browser.current_url.endswith("/inbox")
    check_page(browser, "inbox")
    submit(browser, browser.find_element(By.CSS_SELECTOR, f"tr[data-referral-id='{ref['id']}'] a"))
    check_page(browser, "referral")
    submit(browser, browser.find_element(By.ID, "accept"))
    assert browser.find_element(By.ID, "referral-status").text == "Accepted"
    submit(browser, browser.find_element(By.ID, "close"))  # no outcome: the GOV.UK error pattern
    assert "Enter the outcome" in browser.find_element(By.CLASS_NAME, "govuk-error-summary").text
    browser.find_element(By.ID, "close-outcome").send_keys("Family supported at the reintegration meeting")
    submit(browser, browser.find_element(By.ID, "close"))
    assert browser.find_element(By.ID, "referral-status").text == "Closed"
    submit(browser, browser.find_element(By.LINK_TEXT, "Back to referrals"))
    submit(browser, browser.find_element(By.ID, "tab-closed"))
    assert browser.find_elements(By.CSS_SELECTOR, f"tr[data-referral-id='{ref['id']}']")
    sign_out(browser)
    check_page(browser, "signed-out")

    sign_in(browser, web(system), "inclusion-team", then="/referrals?agency=ias")
    row = browser.find_element(By.CSS_SELECTOR, f"tr[data-referral-id='{ref['id']}']")
    assert "Closed" in row.text and "Family supported at the reintegration meeting" in row.text
    check_page(browser, "referrals")


def test_nas_never_sees_a_upn_or_a_school(system: System, browser) -> None:
    page = wait_for(system, "nas", "/v1/referrals", lambda b: b["items"])
    sign_in(browser, web(system), "nas")
    for tab in ("new", "overdue", "accepted", "closed"):
        browser.get(f"{web(system)}/inbox?tab={tab}")
        assert NOOR["upn"] not in browser.page_source and "UPN" not in browser.page_source
    browser.get(f"{web(system)}/inbox")
    check_page(browser, "inbox-nas")
    browser.get(f"{web(system)}/referrals/{page['items'][0]['id']}")
    source = browser.page_source
    assert "Noor" in source and NOOR["upn"] not in source and "UPN" not in source and "School" not in source
    browser.get(f"{web(system)}/alerts")  # the team's pages are not for NAS
    assert "You cannot use this page" in browser.page_source and NOOR["upn"] not in browser.page_source
    check_page(browser, "no-access")


def test_a_form_without_its_csrf_token_is_refused(system: System, browser) -> None:
    page = wait_for(system, "inclusion_team", "/v1/alerts?rule=informal_exclusions_repeated", lambda b: b["items"])
    alert_id = page["items"][0]["id"]
    sign_in(browser, web(system), "inclusion-team", then=f"/alerts/{alert_id}")
    browser.execute_script("document.querySelectorAll('input[name=csrf_token]').forEach(e => e.value = 'forged')")
    browser.find_element(By.XPATH, "//summary[normalize-space()='Resolve']").click()
    submit(browser, browser.find_element(By.ID, "resolve"))
    assert "Your form has expired" in browser.page_source
    _, detail = system.request("alerts", "GET", f"/v1/alerts/{alert_id}", "inclusion_team")
    assert detail["status"] != "resolved"  # type: ignore[index]


def test_keyboard_only_sign_in_and_acknowledge(system: System, browser) -> None:
    """Tab and Enter only: skip link first, then sign in, the worklist, an alert, acknowledge."""
    def tab_to(predicate, limit: int = 60):  # noqa: ANN001, ANN202
        for _ in range(limit):
            browser.switch_to.active_element.send_keys(Keys.TAB)
            el = browser.switch_to.active_element
            if predicate(el):
                return el
        raise AssertionError("never reached by Tab")

    browser.get(web(system) + "/sign-in")
    first = tab_to(lambda el: True)
    assert first.text == "Skip to main content"
    tab_to(lambda el: el.get_attribute("id") == "sign-in").send_keys(Keys.ENTER)
    WebDriverWait(browser, 20).until(ec.presence_of_element_located((By.CSS_SELECTOR, "button[value='inclusion-team']")))
    tab_to(lambda el: el.get_attribute("value") == "inclusion-team").send_keys(Keys.ENTER)
    WebDriverWait(browser, 20).until(lambda b: b.current_url.endswith("/alerts"))
    tab_to(lambda el: el.text == "All (3)" or el.text.startswith("All")).send_keys(Keys.ENTER)
    WebDriverWait(browser, 10).until(lambda b: "status=" in b.current_url)
    tab_to(lambda el: el.text == "Repeated informal exclusions").send_keys(Keys.ENTER)
    WebDriverWait(browser, 10).until(lambda b: b.find_element(By.TAG_NAME, "h1").text == "Repeated informal exclusions")
    tab_to(lambda el: el.get_attribute("id") == "acknowledge").send_keys(Keys.ENTER)
    WebDriverWait(browser, 10).until(lambda b: b.find_element(By.ID, "alert-status").text == "Acknowledged")


def test_the_team_reviews_a_near_match_and_sees_the_school_and_la_pages(system: System, browser) -> None:
    wait_for(system, "inclusion_team", "/v1/identity/candidates", lambda b: b["items"])
    sign_in(browser, web(system), "inclusion-team", then="/matches")
    assert "Pagez" in browser.find_element(By.TAG_NAME, "main").text
    check_page(browser, "matches")
    submit(browser, browser.find_element(By.XPATH, "//button[normalize-space()='Reject: different children']"))
    assert "Enter the reason for your decision" in browser.find_element(By.CLASS_NAME, "govuk-error-summary").text
    check_page(browser, "matches-error")
    browser.find_element(By.CSS_SELECTOR, "textarea[name='note']").send_keys("Different child: checked with the school")
    submit(browser, browser.find_element(By.XPATH, "//button[normalize-space()='Reject: different children']"))
    assert "Match rejected" in browser.find_element(By.CLASS_NAME, "govuk-notification-banner").text

    browser.get(web(system) + "/schools/101676")
    assert "Autumn term: 2 suspensions" in browser.find_element(By.TAG_NAME, "main").text
    check_page(browser, "school")
    browser.get(web(system) + "/las/305?academic_year=2024/25")
    assert "LA 305 overview" in browser.find_element(By.TAG_NAME, "h1").text
    assert browser.find_element(By.XPATH, "//table[@id='bands']//tr[td[contains(., 'nearing')]]/td[2]").text == "1"  # Dana, 33 days
    check_page(browser, "la")


def test_the_worklist_updates_live_and_a_reconnect_replays_what_changed(system: System, browser) -> None:
    sign_in(browser, web(system), "inclusion-team", then="/alerts?status=")
    WebDriverWait(browser, 20).until(lambda b: b.find_element(By.TAG_NAME, "body").get_attribute("data-live") == "on")
    page = wait_for(system, "inclusion_team", "/v1/alerts?rule=informal_exclusions_repeated", lambda b: b["items"])
    alert_id = page["items"][0]["id"]
    status, _ = system.request("alerts", "POST", f"/v1/alerts/{alert_id}/snooze", "inclusion_team", {"until": "2099-01-01T08:00:00Z", "reason": "live test"})
    assert status == 200
    WebDriverWait(browser, 20).until(
        lambda b: b.find_element(By.CSS_SELECTOR, f"tr[data-alert-id='{alert_id}'] td:nth-child(5)").text == "Snoozed")

    # a browser that was away reconnects with the last id it saw: every change since is replayed
    replayed = browser.execute_async_script("""
        const done = arguments[arguments.length - 1], seen = [];
        const source = new EventSource('/live/alerts?last_event_id=' + encodeURIComponent('2000-01-01T00:00:00+00:00'));
        source.addEventListener('alert', (e) => seen.push(JSON.parse(e.data).id));
        setTimeout(() => { source.close(); done(seen); }, 4000);
    """)
    _, every = system.request("alerts", "GET", "/v1/alerts?limit=500", "inclusion_team")
    assert {a["id"] for a in every["items"]} <= set(replayed)  # type: ignore[index]


def test_without_javascript_a_caseworker_still_signs_in_and_acts(system: System, tmp_path) -> None:
    browser = chromium(tmp_path / "chrome-nojs", javascript=False)
    try:
        page = wait_for(system, "exclusions_officer", "/v1/referrals?status=new", lambda b: b["items"])
        sign_in(browser, web(system), "exclusions-officer", then=f"/referrals/{page['items'][0]['id']}")
        submit(browser, browser.find_element(By.ID, "accept"))
        assert browser.find_element(By.ID, "referral-status").text == "Accepted"
        browser.find_element(By.XPATH, "//summary[normalize-space()='Decline this referral']").click()  # <details> opens without script
        browser.find_element(By.ID, "decline-reason").send_keys("Another service holds this case")
        submit(browser, browser.find_element(By.ID, "decline"))
        assert browser.find_element(By.ID, "referral-status").text == "Declined"
    finally:
        browser.quit()


def grant_then_withdraw(browser, recipient: str, label: str, basis: str, given: tuple[str, ...]) -> None:  # noqa: ANN001
    """On a page with the consent section: record the family's consent for `recipient` on `basis`, see
    it in the table as `given` says, then withdraw it and see it withdrawn."""
    browser.find_element(By.CSS_SELECTOR, f"label[for='grant-{recipient}']").click()
    browser.find_element(By.CSS_SELECTOR, f"label[for='basis-{basis}']").click()
    submit(browser, browser.find_element(By.ID, "record-consent"))
    assert f"Consent to share with {label} recorded" in browser.find_element(By.CLASS_NAME, "govuk-notification-banner").text
    row = f"//h2[@id='consent']/following-sibling::table[1]//tr[td[1][normalize-space()='{label}']]"
    assert all(words in browser.find_element(By.XPATH, row).text for words in given)
    browser.find_element(By.CSS_SELECTOR, f"label[for='withdraw-{recipient}']").click()
    submit(browser, browser.find_element(By.XPATH, "//button[normalize-space()='Withdraw consent']"))
    assert "Withdrawn" in browser.find_element(By.XPATH, row).text


def test_the_team_records_and_withdraws_consent_on_the_child_page(system: System, browser) -> None:
    page = wait_for(system, "inclusion_team", "/v1/alerts?rule=suspension_days_nearing_limit", lambda b: b["items"])
    child_id = page["items"][0]["subject"]["child_id"]
    sign_in(browser, web(system), "inclusion-team", then=f"/children/{child_id}")
    browser.find_element(By.XPATH, "//summary[normalize-space()=\"Record the family's consent\"]").click()
    submit(browser, browser.find_element(By.ID, "record-consent"))  # nothing chosen: the GOV.UK error pattern
    assert "Select the lawful basis" in browser.find_element(By.CLASS_NAME, "govuk-error-summary").text
    check_page(browser, "child-error")
    grant_then_withdraw(browser, "ias", "IAS", "consent", ("Given", "person:inclusion-team", "Consent (UK GDPR"))


def test_an_inbox_updates_live(system: System, browser) -> None:
    page = wait_for(system, "reu", "/v1/referrals?status=new", lambda b: b["items"])
    ref_id = page["items"][0]["id"]
    sign_in(browser, web(system), "reu")
    WebDriverWait(browser, 20).until(lambda b: b.find_element(By.TAG_NAME, "body").get_attribute("data-live") == "on")
    assert system.request("referrals", "POST", f"/v1/referrals/{ref_id}/accept", "reu", {"note": "taken on"})[0] == 200
    WebDriverWait(browser, 20).until(
        lambda b: b.find_element(By.CSS_SELECTOR, f"tr[data-referral-id='{ref_id}'] td:nth-child(3)").text.startswith("Accepted"))


def test_ias_records_and_withdraws_consent_for_a_child_referred_to_it(system: System, browser) -> None:
    """Issue 10, item 4: IAS records consent too, from its referral; only for a child referred to it."""
    page = wait_for(system, "ias", "/v1/referrals", lambda b: any(r["child"]["first_name"] == "Dana" for r in b["items"]))
    ref = next(r for r in page["items"] if r["child"]["first_name"] == "Dana")
    others = wait_for(system, "reu", "/v1/referrals", lambda b: b["items"])["items"]  # REU's: none of IAS's business
    sign_in(browser, web(system), "ias", then=f"/referrals/{ref['id']}")
    submit(browser, browser.find_element(By.ID, "consent-link"))
    assert browser.current_url.endswith(f"/referrals/{ref['id']}/consent")
    check_page(browser, "consent")
    browser.find_element(By.XPATH, "//summary[normalize-space()=\"Record the family's consent\"]").click()
    submit(browser, browser.find_element(By.ID, "record-consent"))  # nothing chosen: the GOV.UK error pattern
    assert "Select who the family agrees to share with" in browser.find_element(By.CLASS_NAME, "govuk-error-summary").text
    check_page(browser, "consent-error")
    grant_then_withdraw(browser, "la", "The local authority", "public_task", ("Given", "person:ias", "Public task"))
    check_page(browser, "consent-withdrawn")
    browser.get(f"{web(system)}/referrals/{others[0]['id']}/consent")  # another agency's referral, so another agency's child
    assert browser.find_element(By.TAG_NAME, "h1").text == "Page not found"
