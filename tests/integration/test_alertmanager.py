"""deploy/alertmanager (issue 13): every receiver renders to a configuration amtool accepts, a
missing setting stops the start, routing goes by severity, and a real Alertmanager holds back
the symptoms while the broker is down. Prometheus → Alertmanager → webhook with the running
system: tests/integration/test_prometheus.py."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from am_harness import WebhookReceiver, alertmanager, ensure_tool, render

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]  # the first test may apt-get install a tool

SETTINGS = {
    "webhook": {"SIGNPOST_ALERT_WEBHOOK_URL": "https://hooks.example.org/signpost"},
    "slack": {"SIGNPOST_ALERT_SLACK_URL": "https://hooks.slack.com/services/T0/B0/x", "SIGNPOST_ALERT_SLACK_CHANNEL": "#signpost-oncall"},
    "email": {"SIGNPOST_ALERT_EMAIL_TO": "oncall@example.org", "SIGNPOST_ALERT_EMAIL_FROM": "signpost@example.org",
              "SIGNPOST_ALERT_SMTP_HOST": "smtp.example.org:587", "SIGNPOST_ALERT_SMTP_USER": "signpost", "SIGNPOST_ALERT_SMTP_PASSWORD": "pw"},
}


@pytest.fixture(scope="module")
def amtool() -> str:
    return ensure_tool("amtool", "prometheus-alertmanager")


@pytest.mark.parametrize("receiver", sorted(SETTINGS))
def test_each_receiver_renders_a_valid_configuration(receiver: str, amtool: str, tmp_path: Path) -> None:
    out = tmp_path / "am.yml"
    done = render(out, receiver, **SETTINGS[receiver], SIGNPOST_RUNBOOK_BASE_URL="https://git.example.org/signpost/-/blob/main/")
    assert done.returncode == 0, done.stderr
    checked = subprocess.run([amtool, "check-config", str(out)], capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    text = out.read_text()
    assert all(value in text for value in SETTINGS[receiver].values())
    assert "${" not in "".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))


def test_a_missing_setting_stops_the_start_and_names_it(tmp_path: Path) -> None:
    settings = dict(SETTINGS["email"])
    del settings["SIGNPOST_ALERT_SMTP_HOST"]
    done = render(tmp_path / "am.yml", "email", **settings)
    assert done.returncode != 0
    assert "SIGNPOST_ALERT_SMTP_HOST is not set" in done.stderr
    unknown = render(tmp_path / "am.yml", "pager", **settings)
    assert unknown.returncode == 2 and "no such receiver" in unknown.stderr


@pytest.mark.parametrize(("severity", "receiver"), [("critical", "page"), ("warning", "ticket"), ("info", "null")])
def test_routing_by_severity(severity: str, receiver: str, amtool: str, tmp_path: Path) -> None:
    out = tmp_path / "am.yml"
    assert render(out, "webhook", **SETTINGS["webhook"]).returncode == 0
    done = subprocess.run([amtool, "config", "routes", "test", f"--config.file={out}", f"severity={severity}", "alertname=X"],
                                        capture_output=True, text=True, check=False)
    assert done.stdout.strip() == receiver, done.stdout + done.stderr


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    hook = WebhookReceiver()
    yield hook
    hook.close()


def post(am: str, *alerts: dict[str, str]) -> None:
    now = datetime.now(UTC)
    body = [{"labels": {"system": "signpost", **labels}, "annotations": {"summary": labels["alertname"]},
             "startsAt": now.isoformat(), "endsAt": (now + timedelta(minutes=5)).isoformat()} for labels in alerts]
    assert httpx.post(f"{am}/api/v2/alerts", json=body, timeout=5).status_code == 200


def test_a_broker_outage_holds_back_its_symptoms(receiver: WebhookReceiver, tmp_path: Path) -> None:
    with alertmanager(tmp_path, receiver.url) as am:
        post(am,
             {"alertname": "SignpostBrokerUnreachable", "severity": "critical", "job": "signpost-exporter"},
             {"alertname": "SignpostConsumerLagHigh", "severity": "warning", "group": "signpost.alerts-child-g1", "topic": "t"},
             {"alertname": "SignpostRelayBacklog", "severity": "warning", "service": "intake"},
             {"alertname": "SignpostReferralsOverdue", "severity": "warning", "agency": "ias"})  # not a broker symptom
        deadline = time.monotonic() + 30
        while {a["labels"]["alertname"] for a in receiver.alerts()} < {"SignpostBrokerUnreachable", "SignpostReferralsOverdue"}:
            assert time.monotonic() < deadline, f"not delivered: {receiver.alerts()}"
            time.sleep(0.2)
        state = {a["labels"]["alertname"]: a["status"] for a in httpx.get(f"{am}/api/v2/alerts", timeout=5).json()}
    assert state["SignpostConsumerLagHigh"]["state"] == "suppressed" and state["SignpostConsumerLagHigh"]["inhibitedBy"]
    assert state["SignpostRelayBacklog"]["state"] == "suppressed" and state["SignpostRelayBacklog"]["inhibitedBy"]
    assert state["SignpostReferralsOverdue"]["state"] == "active"
    delivered = {a["labels"]["alertname"] for a in receiver.alerts()}
    assert delivered == {"SignpostBrokerUnreachable", "SignpostReferralsOverdue"}, delivered
