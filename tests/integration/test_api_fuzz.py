"""Schemathesis against each running service: no 5xx, every error problem+json (issue 12, items 8-9).

Cases are generated from each service's own OpenAPI document (positive and negative), a bounded
number per operation, then sent to the app running on the session broker with its store. The
admin token passes every role check, so the cases reach validation and the handlers.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest
import schemathesis
from conftest import KafkaEndpoint, TestTokens, build_settings, serve_app, wait_ready
from hypothesis import HealthCheck, Phase, given, settings

from services.alerts.app import build_app as alerts_app
from services.common import kafka
from services.intake.app import build_app as intake_app
from services.referrals.app import build_app as referrals_app

pytestmark = pytest.mark.integration

EXAMPLES_PER_OPERATION = 8
SKIP = {
    "GET /v1/alerts/stream",  # a live feed: it never ends
    "POST /v1/admin/rebuild",  # replays every topic: its own tests cover it
    "GET /metrics",
}
BUILDERS = {"intake": intake_app, "alerts": alerts_app, "referrals": referrals_app}


def generate(document: dict) -> list:
    cases: list = []
    for result in schemathesis.openapi.from_dict(document).get_all_operations():
        operation = result.ok()
        if operation.label in SKIP:
            continue

        @given(operation.as_strategy())
        @settings(max_examples=EXAMPLES_PER_OPERATION, database=None, deadline=None, phases=[Phase.generate],
                  suppress_health_check=list(HealthCheck), derandomize=True)  # fmt: skip
        def collect(case) -> None:  # noqa: ANN001
            cases.append(case)

        collect()
    return cases


@pytest.mark.parametrize("service", list(BUILDERS))
async def test_no_server_error_for_generated_requests(service: str, kafka_bootstrap: KafkaEndpoint, tmp_path: Path, tokens: TestTokens) -> None:
    settings = build_settings(kafka_bootstrap, tmp_path)
    await kafka.ensure_topics(settings)  # as `make run` does before it starts the services
    app = BUILDERS[service](settings, tokens)
    cases = generate(app.openapi())
    assert len(cases) > 20
    failures = []
    async with serve_app(app) as client:
        await wait_ready(client, timeout=60)
        for case in cases:
            kwargs = case.as_transport_kwargs(base_url="http://testserver")
            headers = {k: v for k, v in kwargs.get("headers", {}).items() if k.lower() not in ("authorization", "connection", "accept-encoding")}
            headers["Authorization"] = f"Bearer {tokens.bearer['admin']}"
            content = kwargs.get("data")
            if "json" in kwargs:
                content = json.dumps(kwargs["json"]).encode()  # stdlib: generated integers may exceed 64 bits
            # each request in a task of its own, as a server runs it; a hang fails the case, not the suite
            request = client.request(kwargs["method"], kwargs["url"], params=kwargs.get("params"), headers=headers, content=content)
            try:
                response: httpx.Response = await asyncio.wait_for(request, 30)
            except TimeoutError:
                failures.append((case.operation.label, "no answer in 30 s", case.as_curl_command()[:300]))
                continue
            if response.status_code >= 500 or (response.status_code >= 400 and not response.headers.get("content-type", "").startswith("application/problem+json")):
                failures.append((case.operation.label, response.status_code, case.as_curl_command()[:300]))
    assert not failures, failures[:5]
