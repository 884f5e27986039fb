"""Rebuilds end with the same alerts, none duplicated, nobody notified twice.

1. Empty alerts state and a fresh broker: the intake relay publishes its log again and the alerts
   service rebuilds from it.
2. `POST /v1/admin/rebuild` on a running system (what `signpost rebuild alerts` does).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.e2e.system import System

pytestmark = pytest.mark.integration
SCENARIOS = Path(__file__).parent / "scenarios"


def post_scenario_events(system: System) -> None:
    for name in ("p1_45_days", "p2_informal", "p3_spike"):
        for step in json.loads((SCENARIOS / f"{name}.json").read_text())["steps"]:
            step = step.get("sse", {}).get("then", step)
            if "post" in step:
                status, body = system.request("intake", "POST", f"/v1/{step['post']}", "intake", step["body"])
                assert status in (200, 202), body


def alerts(system: System) -> dict[str, tuple]:
    status, page = system.request("alerts", "GET", "/v1/alerts?limit=500", "inclusion_team")
    assert status == 200
    return {a["id"]: (a["rule"], a["severity"], a["value"], tuple(sorted(a["evidence"]))) for a in page["items"]}  # type: ignore[index]


def referrals(system: System) -> dict[str, tuple]:
    status, page = system.request("referrals", "GET", "/v1/referrals?limit=500", "inclusion_team")
    assert status == 200
    return {r["id"]: (r["agency"], r["status"], len(r["reasons"])) for r in page["items"]}  # type: ignore[index]


def settled(read, want_at_least: int, timeout: float = 60) -> dict:
    """Poll until the reading stops changing (and has at least `want_at_least` items)."""
    deadline, last, stable = time.time() + timeout, None, 0
    while time.time() < deadline:
        now = read()
        stable = stable + 1 if now == last and len(now) >= want_at_least else 0
        if stable >= 4:
            return now
        last = now
        time.sleep(0.5)
    raise AssertionError(f"never settled: {last}")


def test_empty_state_and_a_fresh_broker_rebuild_the_same_alerts(tmp_path: Path) -> None:
    system = System(tmp_path)
    system.start()
    try:
        post_scenario_events(system)
        before = settled(lambda: alerts(system), 4)
        referrals_before = settled(lambda: referrals(system), 5)
    finally:
        system.stop()
    for suffix in ("", "-wal", "-shm"):  # the alerts service's state is gone; the embedded broker keeps nothing on disk
        (tmp_path / "var" / f"alerts.sqlite3{suffix}").unlink(missing_ok=True)
    system.start()
    try:
        after = settled(lambda: alerts(system), len(before))
        assert after == before, "the same alerts (ids, rules, severities, values, evidence), none twice"
        assert settled(lambda: referrals(system), len(referrals_before)) == referrals_before, "nobody referred twice"
    finally:
        system.stop()


def test_an_online_rebuild_changes_nothing_when_nothing_changed(tmp_path: Path) -> None:
    system = System(tmp_path)
    system.start()
    try:
        post_scenario_events(system)
        before = settled(lambda: alerts(system), 4)
        versions = {a["id"]: a["version"] for a in system.request("alerts", "GET", "/v1/alerts?limit=500", "inclusion_team")[1]["items"]}  # type: ignore[index]
        referrals_before = settled(lambda: referrals(system), 5)
        status, _ = system.request("alerts", "POST", "/v1/admin/rebuild", "admin", {})
        assert status == 202
        deadline = time.time() + 60
        while (state := system.request("alerts", "GET", "/v1/admin/rebuild", "admin")[1])["status"] == "running":  # type: ignore[index]
            assert time.time() < deadline
            time.sleep(0.5)
        assert state["status"] == "done" and state["alerts_changed"] == 0, state  # type: ignore[index]
        assert alerts(system) == before
        assert {a["id"]: a["version"] for a in system.request("alerts", "GET", "/v1/alerts?limit=500", "inclusion_team")[1]["items"]} == versions  # type: ignore[index]
        # the service consumes again on the new generation: a new event still raises its alert
        status, _ = system.request("intake", "POST", "/v1/exclusion-notices", "intake", _new_notice())
        assert status == 202
        settled(lambda: alerts(system), len(before) + 1)
        assert referrals(system).keys() >= referrals_before.keys()
    finally:
        system.stop()


def _new_notice() -> dict:
    from schemas.upn import check_letter

    body = "305541055001"
    pupil = {"upn": check_letter(body) + body, "first_name": "Rae", "last_name": "Rebuild", "date_of_birth": "2011-01-01", "sen_status": "N"}
    return {"notice_id": "rebuild-new-1", "school_urn": "101676", "la_code": "305", "pupil": pupil, "category": "suspension",
            "start_date": "2024-09-16", "sessions": 62, "reason_codes": ["DB"], "notified_at": "2024-09-16T09:00:00Z"}
