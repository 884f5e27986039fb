"""The product's promises as scenarios (the public acceptance ones and our own), run against the whole
system started as `make run` starts it. Same JSON format as ../shared/acceptance (see its README)."""

from __future__ import annotations

import http.client
import json
import queue
import threading
import time
from pathlib import Path

import pytest

from tests.e2e.system import System

SCENARIOS = sorted((Path(__file__).parent / "scenarios").glob("*.json"))
pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory):
    s = System(tmp_path_factory.mktemp("scenarios"))
    s.start()
    yield s
    s.stop()


def matches(item: dict, want: dict) -> bool:
    for key, value in want.items():
        got: object = item
        for part in key.split("."):
            got = got.get(part) if isinstance(got, dict) else None
        if isinstance(value, int | float) and isinstance(got, int | float):
            if abs(got - value) > 1e-6:
                return False
        elif got != value:
            return False
    return True


def listing(system: System, service: str, path: str, who: str, params: dict) -> list[dict]:
    items: list[dict] = []
    cursor = None
    query = "&".join(f"{k}={v}" for k, v in params.items() if v is not None)
    for _ in range(100):
        status, page = system.request(service, "GET", f"{path}?{query}" + (f"&cursor={cursor}" if cursor else ""), who)
        assert status == 200, (path, status, page)
        items += page["items"]  # type: ignore[index]
        cursor = page.get("next_cursor")  # type: ignore[union-attr]
        if not cursor:
            break
    return items


def run_step(system: System, step: dict) -> None:
    who = step.get("as")
    if "post" in step:
        path, body, ctype = f"/v1/{step['post']}", step.get("body"), "application/json"
        if "csv" in step:
            path, body, ctype = f"/v1/{step['post']}/csv?{step['query']}", step["csv"], "text/csv"
        status, resp = system.request("intake", "POST", path, who or "intake", body, ctype)
        want = step.get("expect_status", [202])
        assert status in (want if isinstance(want, list) else [want]), (path, status, resp)
        return
    if "request" in step:
        r = step["request"]
        status, resp = system.request(r["service"], r.get("method", "GET"), r["path"], who, r.get("body"))
        want = r["expect_status"] if isinstance(r["expect_status"], list) else [r["expect_status"]]
        assert status in want, (r["path"], who, status, resp)
        if "expect_only" in r and status == 200:
            assert all(matches(i, r["expect_only"]) for i in resp.get("items", [])), resp  # type: ignore[union-attr]
        return
    for key, path in (("alerts", "/v1/alerts"), ("referrals", "/v1/referrals")):
        if key in step:
            spec = step[key]
            deadline, settle, count = time.time() + spec.get("within", 30), spec.get("settle", 0), spec.get("count", 1)
            if settle:
                time.sleep(settle)
            while True:
                found = [i for i in listing(system, key, path, who or "inclusion_team", spec.get("query", {})) if matches(i, spec.get("match", {}))]
                if len(found) == count:
                    return
                assert time.time() < deadline and len(found) < count and not settle, f"{key} {spec}: found {len(found)}: {found[:2]}"
                time.sleep(0.3)
    if "act" in step:
        act_step(system, step)
        return
    if "sse" in step:
        sse_step(system, step)
        return
    if "sleep" in step:
        time.sleep(step["sleep"])
        return
    raise AssertionError(f"unknown step {step}")


ACT_ON = {"alerts": ("alerts", "/v1/alerts"), "referrals": ("referrals", "/v1/referrals"), "candidates": ("alerts", "/v1/identity/candidates")}


def act_step(system: System, step: dict) -> None:
    """Find exactly one alert, referral or identity candidate by query + match, then POST an action on it."""
    a, who = step["act"], step.get("as", "inclusion_team")
    service, path = ACT_ON[a.get("on", "alerts")]
    deadline = time.time() + a.get("within", 30)
    while True:
        found = [i for i in listing(system, service, path, who, a.get("query", {})) if matches(i, a.get("match", {}))]
        if len(found) == 1 or time.time() > deadline:
            break
        time.sleep(0.3)
    assert len(found) == 1, f"act: {len(found)} items match {a.get('query')} {a.get('match')}"
    status, resp = system.request(service, "POST", f"{path}/{found[0]['id']}/{a['action']}", who, a.get("body", {}))
    want = a.get("expect_status", [200])
    assert status in (want if isinstance(want, list) else [want]), (a["action"], status, resp)


def sse_step(system: System, step: dict) -> None:
    spec = step["sse"]
    conn = http.client.HTTPConnection("127.0.0.1", system.ports[spec.get("service", "alerts")], timeout=spec.get("within", 10) + 5)
    conn.request("GET", spec.get("path", "/v1/alerts/stream"), headers={"Accept": "text/event-stream", "Authorization": f"Bearer {system.tokens[step.get('as', 'inclusion_team')]}"})
    resp = conn.getresponse()
    assert resp.status == 200
    messages: queue.Queue = queue.Queue()

    def read() -> None:
        try:
            for raw in resp:
                line = raw.decode(errors="replace").rstrip("\r\n")
                if line.startswith("data:"):
                    messages.put(line[5:].strip())
        except (OSError, ValueError):
            pass

    threading.Thread(target=read, daemon=True).start()
    run_step(system, spec["then"])
    deadline = time.time() + spec.get("within", 10)
    try:
        while time.time() < deadline:
            try:
                data = json.loads(messages.get(timeout=max(0.05, deadline - time.time())))
            except (queue.Empty, ValueError):
                continue
            if isinstance(data, dict) and matches(data, spec.get("match", {})):
                return
        raise AssertionError(f"no SSE message matching {spec.get('match')}")
    finally:
        conn.close()


def run_scenario(system: System, path: Path) -> None:
    scenario = json.loads(path.read_text())
    for i, step in enumerate(scenario["steps"]):
        try:
            run_step(system, step)
        except AssertionError as exc:
            raise AssertionError(f"{path.stem}[{i}] {step.get('check', 'set-up')}: {exc}") from exc


@pytest.fixture(scope="module")
def scenario_outcomes(system: System) -> dict[Path, AssertionError | None]:
    """Each scenario runs once against the module's system, whichever test asks first (a scenario's
    own test, or the log check that needs them all): their ids are not posted twice."""
    return {}


def outcome(system: System, outcomes: dict[Path, AssertionError | None], path: Path) -> AssertionError | None:
    if path not in outcomes:
        try:
            run_scenario(system, path)
            outcomes[path] = None
        except AssertionError as exc:
            outcomes[path] = exc
    return outcomes[path]


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_scenario(system: System, scenario_outcomes: dict, path: Path) -> None:
    failure = outcome(system, scenario_outcomes, path)
    if failure is not None:
        raise failure


def personal_data(value: object, found: set[str]) -> set[str]:
    """Every UPN, name and date of birth in the scenarios' payloads."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key in ("upn", "first_name", "last_name", "date_of_birth") and isinstance(item, str):
                found.add(item)
            personal_data(item, found)
    elif isinstance(value, list):
        for item in value:
            personal_data(item, found)
    return found


def test_no_personal_data_in_any_log_line(system: System, scenario_outcomes: dict) -> None:
    """After every scenario has run (in any test order): their UPNs, names and dates of birth never reach a log."""
    secrets = set()
    for path in SCENARIOS:
        outcome(system, scenario_outcomes, path)  # a failing scenario fails its own test; its log lines count here
        personal_data(json.loads(path.read_text()), secrets)
    assert len(secrets) > 20
    lines = system.log_path.read_text(errors="replace").splitlines()
    assert len(lines) > 10, "the services log something"
    leaks = [(s, line[:200]) for line in lines for s in secrets if s in line]
    assert not leaks, leaks[:5]
    structured = [line for line in lines if line.startswith("{")]
    assert structured and all(json.loads(line)["service"] for line in structured), "JSON, one event a line"
