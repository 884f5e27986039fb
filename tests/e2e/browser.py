"""A real browser for the page tests: Debian's Chromium, headless, driven by Selenium; axe-core
(npm, services/web/node_modules) injected to check each page at WCAG 2.2 AA."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from selenium import webdriver
from selenium.common.exceptions import (
    NoSuchElementException,
    StaleElementReferenceException,
    WebDriverException,
)
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "services" / "web" / "node_modules" / "axe-core" / "axe.min.js"
IMAGES = ROOT / "docs" / "images"
WCAG_22_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]


def ensure_assets() -> None:
    """The pages' npm packages (and axe-core): `make test` installs them; so does this, run alone."""
    if not (ROOT / "services" / "web" / "node_modules" / ".installed").exists():
        subprocess.run(["make", "assets"], cwd=ROOT, check=True, capture_output=True, timeout=600)


def chromium(profile: Path, javascript: bool = True) -> webdriver.Chrome:
    binary, driver = shutil.which("chromium"), shutil.which("chromedriver")
    assert binary and driver, "Chromium and ChromeDriver are installed by scripts/system-deps.sh (make test)"
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    if not javascript:  # progressive enhancement: every journey must work without it
        options.add_experimental_option("prefs", {"profile.managed_default_content_settings.javascript": 2})
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1280,1000", f"--user-data-dir={profile}"):
        options.add_argument(flag)
    browser = webdriver.Chrome(service=Service(driver), options=options)
    browser.implicitly_wait(5)  # a form post's answer may still be loading when the click returns
    return browser


def axe_violations(browser: webdriver.Chrome) -> list[dict]:
    """axe-core's violations on the page as it is now, at WCAG 2.2 AA (its tags up to wcag22aa)."""
    assert AXE.exists(), "axe-core is installed by `make test` (npm ci in services/web)"
    browser.execute_script(AXE.read_text())
    result = browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {runOnly: {type: 'tag', values: arguments[0]}}).then(r => done(r.violations), e => done([{id: 'axe-error', help: String(e), nodes: []}]));",
        WCAG_22_AA,
    )
    return [{"id": v["id"], "impact": v.get("impact"), "help": v["help"], "nodes": [n.get("target") for n in v["nodes"]][:5]} for v in result]


def check_page(browser: webdriver.Chrome, name: str) -> None:
    """0 axe violations; and a screenshot for docs/images when SIGNPOST_SCREENSHOTS is set."""
    violations = axe_violations(browser)
    assert violations == [], f"{name}: {json.dumps(violations, indent=1)}"
    if os.environ.get("SIGNPOST_SCREENSHOTS"):
        IMAGES.mkdir(parents=True, exist_ok=True)
        height = browser.execute_script("return document.body.scrollHeight")
        browser.set_window_size(1280, min(max(1000, height), 2400))
        browser.save_screenshot(str(IMAGES / f"page-{name}.png"))
        browser.set_window_size(1280, 1000)


def sign_in(browser: webdriver.Chrome, web: str, user: str, then: str = "/") -> None:
    """Through the dev OpenID provider's page, as a person would: Sign in, pick the user."""
    browser.get(f"{web}/sign-in?next={then}")
    browser.find_element(By.ID, "sign-in").click()
    WebDriverWait(browser, 20).until(ec.element_to_be_clickable((By.CSS_SELECTOR, f"button[name='sub'][value='{user}']"))).click()
    WebDriverWait(browser, 20).until(lambda b: b.current_url.startswith(web) and "/sign-in" not in b.current_url)


def sign_out(browser: webdriver.Chrome) -> None:
    browser.find_element(By.XPATH, "//button[normalize-space()='Sign out']").click()
    WebDriverWait(browser, 10).until(ec.title_contains("signed out"))


def gone(element: WebElement) -> bool:
    """True once the element has left the document: selenium's `staleness_of`, but also when ChromeDriver
    says so in other words. Chrome sometimes answers a check on a node of a page being replaced with
    "Node with given id does not belong to the document" (an unknown error, or no such element) instead
    of a stale element reference (SeleniumHQ/selenium#15401): that too means the old page is gone."""
    try:
        element.is_enabled()
    except (StaleElementReferenceException, NoSuchElementException):
        return True
    except WebDriverException as e:
        if "does not belong to the document" in (e.msg or ""):
            return True
        raise
    return False


def wait_for_new_page(browser: webdriver.Chrome, old: WebElement, timeout: float = 20) -> None:
    """Wait until the page whose <html> element is `old` has been replaced."""
    WebDriverWait(browser, timeout).until(lambda _: gone(old))


def submit(browser: webdriver.Chrome, button: WebElement) -> None:
    """Press a button that posts a form, and wait for the answer's page (not the old one's elements)."""
    old = browser.find_element(By.TAG_NAME, "html")
    button.click()
    wait_for_new_page(browser, old)
