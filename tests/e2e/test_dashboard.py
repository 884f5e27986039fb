"""The live alerts dashboard in a real browser (Debian's Chromium, headless), against the whole system."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import Select, WebDriverWait

from schemas.upn import check_letter
from tests.e2e.system import System

pytestmark = pytest.mark.integration
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "images" / "dashboard.png"


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory):
    s = System(tmp_path_factory.mktemp("dashboard"))
    s.start()
    yield s
    s.stop()


@pytest.fixture
def browser(tmp_path):
    binary, driver = shutil.which("chromium"), shutil.which("chromedriver")
    assert binary and driver, "Chromium and ChromeDriver are installed by scripts/system-deps.sh (make test)"
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1400,900", f"--user-data-dir={tmp_path}/chrome"):
        options.add_argument(flag)
    b = webdriver.Chrome(service=Service(driver), options=options)
    yield b
    b.quit()


NEARING = "//tr[td[contains(., 'Nearing 45-day limit')]]"


def fresh(wait: WebDriverWait, find):  # noqa: ANN001, ANN201
    """The page re-renders rows as the live feed updates them: look the element up again until it holds still."""
    return wait.until(lambda driver: _try(find, driver))


def _try(find, driver):  # noqa: ANN001, ANN202
    try:
        return find(driver)
    except StaleElementReferenceException:
        return False


def notice(n: int, start: str, sessions: int) -> dict:
    body = "305541077001"
    pupil = {"upn": check_letter(body) + body, "first_name": "Dana", "last_name": "Browser", "date_of_birth": "2011-06-01", "sen_status": "K"}
    return {"notice_id": f"dash-{n}", "school_urn": "101676", "la_code": "305", "pupil": pupil, "category": "suspension", "start_date": start,
            "sessions": sessions, "reason_codes": ["DB"], "notified_at": f"{start}T09:00:00Z"}


def test_an_unknown_token_is_told_so(system: System, browser) -> None:
    browser.get(system.url("alerts", "/dashboard#token=not-a-real-token"))
    WebDriverWait(browser, 15).until(ec.text_to_be_present_in_element((By.ID, "message"), "not known"))
    assert not browser.find_elements(By.CSS_SELECTOR, "#alerts tbody tr")


def test_the_team_sees_alerts_live_and_acts_on_them(system: System, browser) -> None:
    for n, start in enumerate(["2024-09-16", "2024-10-07", "2024-11-11"]):
        assert system.request("intake", "POST", "/v1/exclusion-notices", "intake", notice(n, start, 22))[0] == 202
    browser.get(system.url("alerts", f"/dashboard#token={system.tokens['inclusion_team']}"))
    wait = WebDriverWait(browser, 30)
    wait.until(ec.presence_of_element_located((By.XPATH, NEARING)))
    row_text = fresh(wait, lambda d: d.find_element(By.XPATH, NEARING).text)
    assert "33" in row_text and "WARNING" in row_text.upper()
    wait.until(ec.text_to_be_present_in_element((By.ID, "live"), "live"))
    assert "token" not in browser.current_url, "the token is moved out of the address bar"

    # a fourth suspension arrives while the page is open: the same row updates through the live feed
    assert system.request("intake", "POST", "/v1/exclusion-notices", "intake", notice(3, "2025-01-13", 16))[0] == 202
    wait.until(ec.text_to_be_present_in_element((By.XPATH, "//tr[td[contains(., 'Nearing 45-day limit')]]"), "41"))
    assert fresh(wait, lambda d: d.find_element(By.CSS_SELECTOR, ".card.suspension_days_nearing_limit strong").text) == "1"

    if os.environ.get("SIGNPOST_SCREENSHOTS"):
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(SCREENSHOT))

    Select(browser.find_element(By.ID, "status")).select_by_value("")
    fresh(wait, lambda d: d.find_element(By.XPATH, NEARING).find_element(By.XPATH, ".//button[.='Acknowledge']").click() or True)
    wait.until(ec.text_to_be_present_in_element((By.XPATH, "//tr[td[contains(., 'Nearing 45-day limit')]]"), "acknowledged"))
    status, page = system.request("alerts", "GET", "/v1/alerts?rule=suspension_days_nearing_limit&la_code=305", "inclusion_team")
    assert status == 200 and page["items"][0]["status"] == "acknowledged"  # type: ignore[index]
