"""A real Prometheus scraping a running Signpost (`python -m services.run`, embedded broker).

Starts the system and Debian's /usr/bin/prometheus (installed when missing) with deploy/'s alert
rules, posts exclusion notices, and reads the results back through Prometheus's HTTP API: the
Kafka counters moved, the HTTP counter counts the posts, the lag series exist, every target is
up, every dashboard and rule expression is accepted by Prometheus, and the rules evaluate.
Then a shipped rule fires for real (two dead letters) and Debian's Alertmanager, on the shipped
configuration, delivers it to a local webhook receiver (issue 13).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import factories
import httpx
import pytest
import yaml
from am_harness import WebhookReceiver, alertmanager
from conftest import ensure_tool, free_port

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]  # the first test may apt-get install a tool

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "rules.yml"
DASHBOARDS = sorted((ROOT / "deploy" / "grafana" / "dashboards").glob("*.json"))
SERVICES = ("intake", "alerts", "referrals", "exporter")
NOTICES = 5


def ensure_prometheus() -> str:
    """/usr/bin/prometheus, installed from Debian's `prometheus` package (as root) when missing. Never skips."""
    return ensure_tool("prometheus", "prometheus")


def wait_for(what: str, check: Callable[[], Any], timeout: float, interval: float = 0.25) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except (httpx.HTTPError, OSError, KeyError, ValueError, IndexError) as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")


def stop(proc: subprocess.Popen | None, grace: float) -> None:
    """SIGTERM the process group this test started (the supervisor stops its own children), then SIGKILL it."""
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(10)


def tail(path: Path, n: int = 4000) -> str:
    return path.read_text(errors="replace")[-n:] if path.exists() else ""


class Prometheus:
    def __init__(self, url: str):
        self.client = httpx.Client(base_url=url, timeout=10)

    def query(self, expr: str) -> list[dict]:
        response = self.client.get("/api/v1/query", params={"query": expr})
        body = response.json()
        assert body["status"] == "success", f"{expr}: {body}"
        return body["data"]["result"]

    def value(self, expr: str) -> float:
        result = self.query(expr)
        return float(result[0]["value"][1]) if result else 0.0


@pytest.fixture(scope="module")
def signpost(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """`python -m services.run` on the embedded broker, with its own ports, data dir and topic prefix."""
    tmp_path = tmp_path_factory.mktemp("signpost")
    ports = {name: free_port() for name in SERVICES}
    intake_token, team_token = f"intake-{uuid.uuid4().hex}", f"team-{uuid.uuid4().hex}"
    tokens = tmp_path / "tokens.yaml"
    tokens.write_text(yaml.safe_dump({"tokens": [
        {"token": intake_token, "principal": "prometheus-test-school", "roles": ["intake"]},
        {"token": team_token, "principal": "prometheus-test-team", "roles": ["inclusion_team"]},
    ]}))
    prefix = f"prom{uuid.uuid4().hex[:8]}."
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIGNPOST_") and k != "KAFKA_BOOTSTRAP_SERVERS"}
    env.update({
        "SIGNPOST_DATA_DIR": str(tmp_path / "data"),
        "SIGNPOST_BROKER_PORT": str(free_port()),
        "SIGNPOST_INTAKE_PORT": str(ports["intake"]),
        "SIGNPOST_ALERTS_PORT": str(ports["alerts"]),
        "SIGNPOST_REFERRALS_PORT": str(ports["referrals"]),
        "SIGNPOST_EXPORTER_PORT": str(ports["exporter"]),
        "SIGNPOST_EXPORTER_INTERVAL": "1",
        "SIGNPOST_TOKENS_FILE": str(tokens),
        "SIGNPOST_TOPIC_PREFIX": prefix,
        "SIGNPOST_LOG_LEVEL": "WARNING",
    })
    log = tmp_path / "signpost.log"
    proc = None
    try:
        with log.open("wb") as out:
            proc = subprocess.Popen([sys.executable, "-m", "services.run"], cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                                    stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        for name, port in ports.items():
            def ready(port: int = port) -> bool:
                assert proc.poll() is None, f"services.run exited ({proc.returncode}):\n{tail(log)}"
                return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200

            try:
                wait_for(f"{name} /readyz", ready, timeout=120)
            except AssertionError as exc:
                raise AssertionError(f"{exc}\n{tail(log)}") from None
        yield {"ports": ports, "prefix": prefix, "intake_token": intake_token, "team_token": team_token, "log": log,
               "broker_port": int(env["SIGNPOST_BROKER_PORT"])}
    finally:
        stop(proc, grace=30)


@pytest.fixture(scope="module")
def receiver() -> Iterator[WebhookReceiver]:
    hook = WebhookReceiver()
    yield hook
    hook.close()


@pytest.fixture(scope="module")
def alertmanager_url(receiver: WebhookReceiver, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with alertmanager(tmp_path_factory.mktemp("alertmanager"), receiver.url) as url:
        yield url


@pytest.fixture(scope="module")
def prometheus(signpost: dict, alertmanager_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    binary = ensure_prometheus()
    tmp_path = tmp_path_factory.mktemp("prometheus")
    port = free_port()
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s", "external_labels": {"system": "signpost"}},
        "rule_files": [str(RULES)],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [alertmanager_url.removeprefix("http://")]}]}]},
        # the job names of deploy/prometheus/prometheus.yml, so the rules' selectors apply as in production
        "scrape_configs": [
            {"job_name": f"signpost-{name}", "metrics_path": "/metrics", "static_configs": [{"targets": [f"127.0.0.1:{p}"]}]}
            for name, p in signpost["ports"].items()
        ],
    }
    config_file = tmp_path / "prometheus.yml"
    config_file.write_text(yaml.safe_dump(config))
    log = tmp_path / "prometheus.log"
    proc = None
    try:
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [binary, f"--config.file={config_file}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                 f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )
        url = f"http://127.0.0.1:{port}"

        def ready() -> bool:
            assert proc.poll() is None, f"prometheus exited ({proc.returncode}):\n{tail(log)}"
            return httpx.get(f"{url}/-/ready", timeout=2).status_code == 200

        wait_for("prometheus /-/ready", ready, timeout=60)
        yield Prometheus(url)
    finally:
        stop(proc, grace=15)


def dashboard_expressions() -> list[tuple[str, str]]:
    out = []

    def walk(file: str, panels: list[dict]) -> None:
        for panel in panels:
            out.extend((f"{file}: {panel.get('title')}", t["expr"]) for t in panel.get("targets") or [] if t.get("expr"))
            walk(file, panel.get("panels") or [])

    for path in DASHBOARDS:
        walk(path.name, json.loads(path.read_text())["panels"])
    return out


def as_grafana_would(expr: str) -> str:
    expr = expr.replace("$__rate_interval", "1m").replace("$__interval", "15s").replace("$__range", "1h")
    return re.sub(r"\$\{?(\w+)\}?", ".*", expr)


def test_prometheus_scrapes_a_running_signpost(signpost: dict, prometheus: Prometheus) -> None:
    prefix = signpost["prefix"]
    notices_topic = f"{prefix}exclusion-notices.v1"
    intake = f"http://127.0.0.1:{signpost['ports']['intake']}"

    # every target up
    seen_up: set[str] = set()

    def all_up() -> bool:  # each job's latest scrape succeeded at some point (one slow scrape on a busy machine is not a failure)
        seen_up.update(s["metric"]["job"] for s in prometheus.query('up{job=~"signpost-.*"} == 1'))
        return seen_up == {f"signpost-{name}" for name in SERVICES}

    try:
        wait_for("up == 1 for the four services", all_up, timeout=60)
    except AssertionError as exc:
        targets = prometheus.client.get("/api/v1/targets").json()["data"]["activeTargets"]
        health = [(t["labels"]["job"], t["health"], t["lastError"], t["lastScrapeDuration"]) for t in targets]
        raise AssertionError(f"{exc}\ntargets: {health}\n{tail(signpost['log'])}") from None

    produced_before = prometheus.value(f'sum(signpost_kafka_messages_produced_total{{topic="{notices_topic}"}})')
    consumed_before = prometheus.value(f'sum(signpost_kafka_messages_consumed_total{{topic="{notices_topic}"}})')

    headers = {"Authorization": f"Bearer {signpost['intake_token']}"}
    with httpx.Client(base_url=intake, headers=headers, timeout=10) as client:
        for _ in range(NOTICES):
            response = client.post("/v1/exclusion-notices", json=factories.make_notice())
            assert response.status_code == 202, response.text

    posts = '{route="/v1/exclusion-notices", status="202"}'
    wait_for(f"signpost_http_requests_total{posts} == {NOTICES}",
             lambda: prometheus.value(f"sum(signpost_http_requests_total{posts})") == NOTICES, timeout=30)
    wait_for("the intake relay's produced counter to grow",
             lambda: prometheus.value(f'sum(signpost_kafka_messages_produced_total{{service="intake", topic="{notices_topic}"}})')
             >= produced_before + NOTICES, timeout=60)
    wait_for("the alerts service's consumed counter to grow",
             lambda: prometheus.value(f'sum(signpost_kafka_messages_consumed_total{{service="alerts", topic="{notices_topic}"}})')
             >= consumed_before + NOTICES, timeout=60)
    lag = wait_for("consumer lag series", lambda: prometheus.query(f'signpost_kafka_consumer_lag_messages{{topic="{notices_topic}"}}'), timeout=30)
    assert {s["metric"]["service"] for s in lag} == {"alerts"}
    assert all(s["metric"]["partition"].isdigit() for s in lag)
    assert all(float(s["value"][1]) >= 0 for s in lag)
    assert prometheus.query('signpost_kafka_consumer_lag_seconds{service="alerts"}')
    assert prometheus.value('count(signpost_http_request_duration_seconds_bucket{route="/v1/exclusion-notices"})') > 0
    assert prometheus.value(f'sum(signpost_event_age_seconds_count{{topic="{notices_topic}"}})') > 0
    labels = prometheus.client.get("/api/v1/label/service/values", params={"match[]": "signpost_http_requests_total"}).json()["data"]
    assert set(SERVICES) - {"exporter"} <= set(labels)

    # lag at the broker, from the exporter: the child stage's group caught up, with a member (issue 13)
    child_group = f'{{group=~"{prefix}alerts-child-g.*", topic="{notices_topic}"}}'
    wait_for("the exporter's lag of the child stage back to 0",
             lambda: prometheus.query(f"signpost_consumer_group_lag{child_group} == 0"), timeout=60)
    assert prometheus.value(f'signpost_consumer_group_members{{group=~"{prefix}alerts-child-g.*"}}') >= 1
    assert prometheus.value('signpost_kafka_up{job="signpost-exporter"}') == 1
    builds = prometheus.query("signpost_build_info")
    assert {b["metric"]["service"] for b in builds} == set(SERVICES)
    assert len({(b["metric"]["version"], b["metric"]["commit"]) for b in builds}) == 1


# the alerts stage labels its dead letters with the topic's name without the prefix
INJECTED_DEAD_LETTERS = 'sum(signpost_dead_letters_total{service="alerts", reason="invalid_payload", topic=~".*exclusion-notices.v1"})'


def test_every_dashboard_and_rule_expression_runs_on_prometheus(signpost: dict, prometheus: Prometheus) -> None:
    wait_for("a first scrape", lambda: len(prometheus.query('up{job=~"signpost-.*"}')) == len(SERVICES), timeout=30)
    rules = yaml.safe_load(RULES.read_text())
    exprs = dashboard_expressions() + [(f"rule {r['alert']}", r["expr"]) for g in rules["groups"] for r in g["rules"]]
    assert len(exprs) > 30
    for where, expr in exprs:
        response = prometheus.client.get("/api/v1/query", params={"query": as_grafana_would(expr)})
        body = response.json()
        assert response.status_code == 200 and body["status"] == "success", f"{where}: {expr}: {body}"

    # the alert rules are loaded and evaluate cleanly; a healthy system fires none
    def evaluated() -> list[dict]:
        groups = prometheus.client.get("/api/v1/rules").json()["data"]["groups"]
        loaded = [r for g in groups for r in g["rules"]]
        return loaded if loaded and all(r.get("lastEvaluation", "").startswith("2") and not r["lastEvaluation"].startswith("0001") for r in loaded) else []

    loaded = wait_for("rule evaluation", evaluated, timeout=30)
    assert {r["name"] for r in loaded} == {r["alert"] for g in rules["groups"] for r in g["rules"]}
    assert [r["name"] for r in loaded if r["health"] != "ok"] == [], [r.get("lastError") for r in loaded]
    firing = prometheus.query('ALERTS{alertstate="firing"}')
    # In any test order: the dead letters test_a_firing_rule_reaches_a_person_through_alertmanager
    # sends on purpose (unparseable notices, keys bad-*) fire SignpostDeadLetters on this shared system.
    injected = prometheus.value(INJECTED_DEAD_LETTERS) >= 1
    firing = [a for a in firing if not (injected and a["metric"]["alertname"] == "SignpostDeadLetters" and a["metric"].get("reason") == "invalid_payload")]
    assert firing == [], firing


def test_a_firing_rule_reaches_a_person_through_alertmanager(signpost: dict, prometheus: Prometheus, receiver: WebhookReceiver) -> None:
    """SignpostDeadLetters as shipped (increase over 10 minutes > 0, no `for`): two messages the alerts
    stage cannot parse, sent a scrape apart, so the counter's increase is seen; Prometheus fires,
    Alertmanager (shipped routing, waits shortened) POSTs it to the webhook receiver."""
    from kafka import KafkaProducer

    topic = f"{signpost['prefix']}exclusion-notices.v1"
    dead = INJECTED_DEAD_LETTERS
    producer = KafkaProducer(bootstrap_servers=f"127.0.0.1:{signpost['broker_port']}")
    try:
        producer.send(topic, key=b"bad-1", value=b"not json").get(timeout=10)
        wait_for("the first dead letter in Prometheus", lambda: prometheus.value(dead) >= 1, timeout=60)
        producer.send(topic, key=b"bad-2", value=b"not json either").get(timeout=10)
    finally:
        producer.close()

    def delivered() -> list[dict]:
        return [a for a in receiver.alerts() if a["labels"]["alertname"] == "SignpostDeadLetters" and a["status"] == "firing"]

    alerts = wait_for("SignpostDeadLetters at the webhook receiver", delivered, timeout=90)
    alert = alerts[0]
    assert alert["labels"]["severity"] == "warning" and alert["labels"]["service"] == "alerts"
    assert alert["labels"]["topic"].endswith("exclusion-notices.v1") and alert["labels"]["system"] == "signpost"
    assert alert["annotations"]["runbook_url"] == "docs/runbook.md#signpostdeadletters"
    assert "not json" not in json.dumps(receiver.bodies)  # message contents never leave the system
    assert receiver.bodies[-1]["receiver"] == "ticket"  # warning → ticket
