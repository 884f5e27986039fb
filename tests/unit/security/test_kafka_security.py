"""Kafka TLS and SASL from the settings reach every client; PostgreSQL's sslmode from the URL (issue 12, item 1)."""

from __future__ import annotations

import ast
from pathlib import Path

import certifi
import pytest
from conftest import TestTokens, build_settings
from pydantic import ValidationError

from services.alerts.app import build_app as alerts_app
from services.common import db, kafka
from services.referrals.app import build_app as referrals_app

ROOT = Path(__file__).resolve().parents[3]
SECURE = {"kafka_bootstrap_servers": "broker.example:9096", "kafka_security_protocol": "SASL_SSL", "kafka_sasl_mechanism": "SCRAM-SHA-512",
          "kafka_sasl_username": "signpost", "kafka_sasl_password": "pw-for-tests", "kafka_ssl_cafile": Path(certifi.where())}


async def test_every_aiokafka_client_gets_tls_and_sasl(tmp_path: Path) -> None:
    settings = build_settings(None, tmp_path, **SECURE)
    clients = {"producer": kafka.producer(settings), "consumer": kafka.consumer(settings, group_id=None), "admin": kafka.admin_client(settings)}
    for name, client in clients.items():
        inner = getattr(client, "_client", None) or client.client  # where aiokafka keeps what it connects with
        assert (inner._security_protocol, inner._sasl_mechanism, inner._sasl_plain_username, inner._sasl_plain_password) == (  # noqa: SLF001
            "SASL_SSL", "SCRAM-SHA-512", "signpost", "pw-for-tests"), name
        assert inner._ssl_context is not None, name  # noqa: SLF001
    await clients["producer"].stop()
    await clients["consumer"].stop()
    await clients["admin"].close()


@pytest.mark.parametrize("build", [alerts_app, referrals_app])
def test_faust_gets_the_same_credentials(build, tmp_path: Path, tokens: TestTokens) -> None:  # noqa: ANN001
    app = build(build_settings(None, tmp_path, **SECURE), tokens)
    credentials = app.state.worker.conf.broker_credentials
    assert (credentials.username, credentials.password, credentials.mechanism.value) == ("signpost", "pw-for-tests", "SCRAM-SHA-512")
    assert credentials.ssl_context is not None


def test_the_exporters_kafka_python_clients_get_them_too(tmp_path: Path) -> None:
    from services.exporter.app import build_app as exporter_app

    reader = exporter_app(build_settings(None, tmp_path, **SECURE)).state.exporter.reader
    assert reader.security == {"security_protocol": "SASL_SSL", "ssl_cafile": certifi.where(), "sasl_mechanism": "SCRAM-SHA-512",
                               "sasl_plain_username": "signpost", "sasl_plain_password": "pw-for-tests"}


def test_plaintext_by_default(tmp_path: Path) -> None:
    settings = build_settings(None, tmp_path)
    assert kafka.security_options(settings) == {"security_protocol": "PLAINTEXT"} and kafka.faust_credentials(settings) is None


def test_sasl_without_credentials_is_refused_at_start(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="SASL"):
        build_settings(None, tmp_path, kafka_security_protocol="SASL_SSL")


def test_no_service_module_makes_a_kafka_client_of_its_own() -> None:
    """So the options above reach every client: only services/common/kafka.py constructs an aiokafka
    one (broker.py's probe talks to the embedded, local broker only); the exporter's kafka-python
    clients take kafka_python_security (test above)."""
    constructors = {"AIOKafkaProducer", "AIOKafkaConsumer", "AIOKafkaAdminClient", "KafkaConsumer", "KafkaAdminClient", "_AdminClient", "KafkaProducer"}
    found = []
    for path in (ROOT / "services").rglob("*.py"):
        if path.name in ("kafka.py", "broker.py") and path.parent.name == "common":
            continue
        if path.name == "kafka_offsets.py" and path.parent.name == "exporter":  # kafka-python, given kafka_python_security
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) in constructors:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not found


def test_postgres_sslmode_comes_from_the_url() -> None:
    engine = db.make_engine("postgresql://signpost@db.example/signpost?sslmode=verify-full&sslrootcert=/etc/ssl/la-ca.pem")
    assert engine.url.query == {"sslmode": "verify-full", "sslrootcert": "/etc/ssl/la-ca.pem"}
    engine.dispose()
