"""The production deployment files (docker-compose.yml, Dockerfile, deploy/), checked without Docker.

- the compose file validates (Debian's docker-compose, installed when missing), refuses to start
  without its secrets, and matches the contract (ports, settings, health checks);
- kafka-init's script creates every topic of schemas/topics.py with >= 3 partitions and the
  retention the services use (run here against a stub kafka-topics.sh);
- Prometheus config and rules pass `promtool check` and the rules' unit tests (promtool ships in
  Debian's prometheus package, installed when missing);
- every metric a dashboard panel or an alert rule uses exists in the three services' registry,
  with the labels it selects on, and every panel expression parses;
- the Dockerfile installs from the hashed lock, runs as non-root, checks /healthz with python.
"""

from __future__ import annotations

import fnmatch
import http.server
import json
import os
import re
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ensure_tool, free_port

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]  # the first test may apt-get install a tool

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
DEPLOY = ROOT / "deploy"
PROM_DIR = DEPLOY / "prometheus"
RULES = PROM_DIR / "rules.yml"
DASHBOARDS = sorted((DEPLOY / "grafana" / "dashboards").glob("*.json"))
RUNBOOK = ROOT / "docs" / "runbook.md"

CONTRACT_PORTS = {"intake": 8001, "alerts": 8002, "referrals": 8003}
SECRET_ENV = {"POSTGRES_PASSWORD": "pw-for-tests", "GRAFANA_ADMIN_PASSWORD": "pw-for-tests", "SIGNPOST_TOKENS_PATH": "/dev/null",
              "SIGNPOST_PSEUDONYM_KEY": "key-for-tests-0123456789abcdef0123456789", "SIGNPOST_DOMAIN": "signpost.test", "SIGNPOST_TLS_DIR": "/dev/null",
              # the pages (issue 10): the LA's identity provider and the pages' own secrets, as files
              "SIGNPOST_OIDC_ISSUER": "https://idp.test", "SIGNPOST_OIDC_CLIENT_ID": "signpost-test", "SIGNPOST_OIDC_GROUPS_PATH": "/dev/null",
              "SIGNPOST_OIDC_CLIENT_SECRET_PATH": "/dev/null", "SIGNPOST_WEB_TOKEN_PATH": "/dev/null", "SIGNPOST_WEB_SESSION_SECRET_PATH": "/dev/null"}
WEB_SECRETS = {"SIGNPOST_WEB_TOKEN_FILE": "signpost_web_token", "SIGNPOST_WEB_SESSION_SECRET_FILE": "signpost_web_session_secret",
               "SIGNPOST_OIDC_CLIENT_SECRET_FILE": "signpost_oidc_client_secret", "SIGNPOST_OIDC_GROUPS_FILE": "signpost_oidc_groups"}
PROMQL_KEYWORDS = {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset", "inf", "nan"}
SYNTHETIC_METRICS = {"up"}  # made by Prometheus at scrape time
SCRAPE_LABELS = {"job", "instance"}


# --------------------------------------------------------------------------- tools


@pytest.fixture(scope="module")
def promtool() -> str:
    return ensure_tool("promtool", "prometheus")


@pytest.fixture(scope="module")
def docker_compose() -> str:
    return ensure_tool("docker-compose", "docker-compose")


def run(cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess:
    kwargs.setdefault("cwd", ROOT)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False, **kwargs)


# --------------------------------------------------------------------------- files


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def rules() -> dict:
    return yaml.safe_load(RULES.read_text())


@pytest.fixture(scope="module")
def dashboards() -> dict[str, dict]:
    assert DASHBOARDS, "no dashboards under deploy/grafana/dashboards"
    return {p.name: json.loads(p.read_text()) for p in DASHBOARDS}


def env_of(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: str(v) for k, v in env.items()}


def interpolate(value: str, variables: dict[str, str]) -> str:
    return re.sub(r"\$\{(\w+)(?::?[-?][^}]*)?\}", lambda m: variables.get(m.group(1), ""), value)


def container_ports(service: dict) -> set[int]:
    """The ports a service listens on for others: published (`ports`) or internal only (`expose`)."""
    ports = {int(str(p)) for p in service.get("expose") or []}
    for spec in service.get("ports") or []:
        if isinstance(spec, dict):
            ports.add(int(spec["target"]))
        else:
            ports.add(int(str(spec).split("/")[0].rsplit(":", 1)[-1]))
    return ports


def one_shot(name: str, compose: dict) -> bool:
    """A job the others wait for to finish (depends_on: condition: service_completed_successfully)."""
    for other in compose["services"].values():
        deps = other.get("depends_on") or {}
        if isinstance(deps, dict) and (deps.get(name) or {}).get("condition") == "service_completed_successfully":
            return True
    return False


# --------------------------------------------------------------------------- compose


def test_compose_file_validates(docker_compose: str, tmp_path: Path) -> None:
    empty_env = tmp_path / "empty.env"
    empty_env.write_text("")
    env = {k: v for k, v in os.environ.items() if k not in SECRET_ENV and not k.startswith("COMPOSE_")}
    ok = run([docker_compose, "--env-file", str(empty_env), "-f", str(COMPOSE), "config", "-q"], env={**env, **SECRET_ENV})
    assert ok.returncode == 0, ok.stderr + ok.stdout
    # the resolved file is what Docker would run: read it back and check the secrets went in
    resolved = run([docker_compose, "--env-file", str(empty_env), "-f", str(COMPOSE), "config"], env={**env, **SECRET_ENV})
    assert resolved.returncode == 0, resolved.stderr
    doc = yaml.safe_load(resolved.stdout)
    assert doc["secrets"]["signpost_tokens"]["file"] == "/dev/null"
    for name in [*CONTRACT_PORTS, "web"]:
        assert ":pw-for-tests@postgres:" in doc["services"][name]["environment"]["SIGNPOST_DATABASE_URL"]
    assert doc["services"]["web"]["environment"]["SIGNPOST_WEB_PUBLIC_URL"] == "https://signpost.test"
    assert all(doc["secrets"][secret]["file"] == "/dev/null" for secret in WEB_SECRETS.values())


@pytest.mark.parametrize("missing", sorted(SECRET_ENV))
def test_compose_refuses_to_start_without_a_secret(docker_compose: str, tmp_path: Path, missing: str) -> None:
    empty_env = tmp_path / "empty.env"
    empty_env.write_text("")
    env = {k: v for k, v in os.environ.items() if k not in SECRET_ENV}
    env.update({k: v for k, v in SECRET_ENV.items() if k != missing})
    done = run([docker_compose, "--env-file", str(empty_env), "-f", str(COMPOSE), "config", "-q"], env=env)
    assert done.returncode != 0
    assert "Variable not set" in done.stderr + done.stdout


def test_secrets_are_required_variables_never_values(compose: dict) -> None:
    text = COMPOSE.read_text()
    for var in SECRET_ENV:
        uses = re.findall(r"\$\{" + var + r"([^}]*)\}", text)
        assert uses, f"{var} is not used"
        assert all(u.startswith(":?") for u in uses), f"{var} must be ${{{var}:?Variable not set}}: {uses}"
    assert not re.search(r"(PASSWORD|SECRET)[A-Z_]*:\s*[\"']?(?!\$\{)[\w-]{3,}", text), "a literal password in the compose file"


def test_every_long_running_service_has_a_healthcheck(compose: dict) -> None:
    for name, service in compose["services"].items():
        if one_shot(name, compose):
            assert service.get("restart", "no") == "no", f"{name} is a one-shot job: restart: 'no'"
            continue
        check = service.get("healthcheck")
        assert check and not check.get("disable"), f"{name} has no healthcheck"
        assert check["test"][0] in ("CMD", "CMD-SHELL"), name
        assert "curl" not in " ".join(check["test"]), f"{name}: curl is in none of these images"


def test_signpost_services_match_the_contract(compose: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    from services.common.settings import Settings

    known = {f"SIGNPOST_{field.upper()}" for field in Settings.model_fields} | {"KAFKA_BOOTSTRAP_SERVERS"}
    top_secrets = compose.get("secrets") or {}
    for name, port in CONTRACT_PORTS.items():
        service = compose["services"][name]
        assert service["command"] == ["python", "-m", f"services.{name}"], name
        build = service.get("build")
        assert build in (".", {"context": "."}) or (isinstance(build, dict) and build.get("context") == "."), name
        assert container_ports(service) == {port}, f"{name} must listen on its contract port {port}"
        assert not service.get("ports"), f"{name} is reached through the TLS proxy only"
        env = env_of(service)
        unknown = sorted(k for k in env if k not in known)
        assert not unknown, f"{name}: settings nobody reads (typos?): {unknown}"
        assert env["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
        assert env["SIGNPOST_BROKER_KIND"] == "kafka"
        assert env["SIGNPOST_HOST"] == "0.0.0.0"
        assert env["SIGNPOST_DATABASE_URL"].startswith("postgresql+psycopg://")
        assert "${POSTGRES_PASSWORD:?" in env["SIGNPOST_DATABASE_URL"]
        assert "@postgres:5432/" in env["SIGNPOST_DATABASE_URL"]
        tokens = env["SIGNPOST_TOKENS_FILE"]
        assert tokens.startswith("/run/secrets/"), tokens
        secret = tokens.removeprefix("/run/secrets/")
        listed = [s if isinstance(s, str) else s.get("target") or s["source"] for s in service.get("secrets") or []]
        assert secret in listed, f"{name} does not mount the secret {secret}"
        assert "${" in str(top_secrets[secret].get("file", "")) and ":?" in top_secrets[secret]["file"]
        deps = service["depends_on"]
        assert deps["kafka"]["condition"] == "service_healthy"
        assert deps["postgres"]["condition"] == "service_healthy"
        assert deps["kafka-init"]["condition"] == "service_completed_successfully"
        assert name in service["healthcheck"]["test"], f"{name}'s healthcheck must probe {name}"
        # the settings the service will really see
        for key in list(os.environ):
            if key.startswith("SIGNPOST_") or key == "KAFKA_BOOTSTRAP_SERVERS":
                monkeypatch.delenv(key)
        for key, value in env.items():
            monkeypatch.setenv(key, interpolate(value, SECRET_ENV))
        settings = Settings()
        assert not settings.embedded and settings.idempotence
        assert settings.bootstrap_servers == "kafka:9092"
        assert settings.port_of(name) == port
        assert settings.host == "0.0.0.0"
        assert settings.database_url_for(name).startswith("postgresql+psycopg://signpost:pw-for-tests@postgres:5432/")
        assert settings.kafka_partitions >= 3
        assert settings.topic_prefix == "signpost."


def test_compose_runs_as_production_would(compose: dict) -> None:
    """Issue 13: exact image tags (no `latest`, no bare major; PostgreSQL releases are major.minor) pinned by digest, rotated logs, a
    memory limit and a restart policy on every container; the broker's health check starts no JVM."""
    images = {name: s["image"] for name, s in compose["services"].items() if "build" not in s}
    for name, image in images.items():
        tag = image.split("@")[0].rsplit(":", 1)[-1]
        assert ":" in image and re.fullmatch(r"v?\d+\.\d+(\.\d+)?", tag), f"{name}: pin an exact release, not {image}"
        assert re.search(r"@sha256:[0-9a-f]{64}$", image), f"{name}: pin the release by digest too, not {image}"
    for name, service in compose["services"].items():
        assert service["logging"]["driver"] == "json-file" and service["logging"]["options"]["max-size"], name
        assert re.fullmatch(r"\d+[mg]", str(service["mem_limit"])), name
        assert service["restart"] == ("no" if one_shot(name, compose) else "unless-stopped"), name
    check = " ".join(compose["services"]["kafka"]["healthcheck"]["test"])
    assert ".sh" not in check and "java" not in check, "the broker's health check must not start a JVM"


def test_the_suite_runs_the_kafka_image_compose_runs(compose: dict) -> None:
    sys.path.insert(0, str(ROOT / "tests"))
    import conftest

    assert conftest.KAFKA_IMAGE == compose["services"]["kafka"]["image"] == compose["services"]["kafka-init"]["image"]


def test_kafka_runs_kraft_with_a_healthcheck(compose: dict) -> None:
    kafka = compose["services"]["kafka"]
    assert re.fullmatch(r"apache/kafka:(3\.9|4\.\d+)\.\d+@sha256:[0-9a-f]{64}", kafka["image"]), kafka["image"]
    env = env_of(kafka)
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert "CONTROLLER" in env["KAFKA_CONTROLLER_LISTENER_NAMES"]
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"].startswith(f"{env['KAFKA_NODE_ID']}@kafka:")
    assert "PLAINTEXT://kafka:9092" in env["KAFKA_ADVERTISED_LISTENERS"]
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    assert "/dev/tcp/127.0.0.1/9092" in " ".join(kafka["healthcheck"]["test"])
    assert any(str(v).endswith(":/var/lib/kafka/data") for v in kafka["volumes"]), "the broker keeps its log on a volume"


def test_postgres_16_with_a_healthcheck(compose: dict) -> None:
    pg = compose["services"]["postgres"]
    assert pg["image"].split(":")[1].startswith("16")
    assert "pg_isready" in " ".join(pg["healthcheck"]["test"])
    env = env_of(pg)
    assert env["POSTGRES_PASSWORD"].startswith("${POSTGRES_PASSWORD:?")
    db_url = env_of(compose["services"]["intake"])["SIGNPOST_DATABASE_URL"]
    assert db_url.endswith(f"@postgres:5432/{env['POSTGRES_DB']}")
    assert f"//{env['POSTGRES_USER']}:" in db_url


def test_only_the_tls_proxy_publishes_ports(compose: dict) -> None:
    """Encryption in transit (issue 12): the contract ports and Grafana's, over https, through Caddy;
    everything else on the internal network, which has no route out."""
    published = {name for name, service in compose["services"].items() if service.get("ports")}
    assert published == {"proxy"}
    proxy = compose["services"]["proxy"]
    assert proxy["image"].startswith("caddy:")
    assert container_ports(proxy) == {443, *CONTRACT_PORTS.values(), 3000}
    assert compose["networks"]["default"] == {"internal": True}
    for name, service in compose["services"].items():
        networks = service.get("networks", ["default"])
        assert "default" in networks, name
        assert set(networks) <= {"default", {"proxy": "edge", "referrals": "egress", "alertmanager": "egress", "web": "egress"}.get(name, "default")}, f"{name} leaves the internal network"
    caddyfile = (DEPLOY / "caddy/Caddyfile").read_text()
    for upstream in ("web:8000", "intake:8001", "alerts:8002", "referrals:8003", "grafana:3000"):
        assert f"reverse_proxy {upstream}" in caddyfile
    assert caddyfile.count("import signpost") == 5 and "tls /certs/tls.crt /certs/tls.key" in caddyfile
    assert "http://" not in caddyfile


def caddy_sites(caddyfile: str) -> dict[str, str]:
    """Each site address → its block (the top-level blocks of a Caddyfile, tab-indented inside)."""
    return dict(re.findall(r"^(https://\S+) \{\n(.*?)^\}", caddyfile, flags=re.M | re.S))


def test_the_pages_run_behind_the_proxy_with_their_secrets_as_files(compose: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 10 in production: the web service from the one image, reached only through Caddy at the
    site root, its session cookie Secure (https public URL), sessions in PostgreSQL, the identity
    provider from the environment, every secret a Docker secret and none a value."""
    from services.common.settings import Settings
    from services.web.session import cookie_secure

    web = compose["services"]["web"]
    assert web["command"] == ["python", "-m", "services.web"]
    assert web["image"] == compose["services"]["intake"]["image"] and web["build"] == compose["services"]["intake"]["build"]
    assert container_ports(web) == {8000} and not web.get("ports"), "the pages are reached through the TLS proxy only"
    assert set(web["networks"]) == {"default", "egress"}, "internal, plus the way out to the identity provider"
    assert "web" in web["healthcheck"]["test"]
    assert web["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "web" in compose["services"]["proxy"]["depends_on"]
    env = env_of(web)
    for secret_var in ("SIGNPOST_WEB_TOKEN", "SIGNPOST_WEB_SESSION_SECRET", "SIGNPOST_OIDC_CLIENT_SECRET"):
        assert secret_var not in env, f"{secret_var} as a value: mount it as a secret ({secret_var}_FILE)"
    listed = set(web["secrets"])
    for var, secret in WEB_SECRETS.items():
        assert env[var] == f"/run/secrets/{secret}" and secret in listed, var
        assert compose["secrets"][secret]["file"].startswith("${") and ":?" in compose["secrets"][secret]["file"], secret
    assert env["SIGNPOST_OIDC_ISSUER"].startswith("${SIGNPOST_OIDC_ISSUER:?")
    assert env["SIGNPOST_OIDC_CLIENT_ID"].startswith("${SIGNPOST_OIDC_CLIENT_ID:?")
    known = {f"SIGNPOST_{field.upper()}" for field in Settings.model_fields} | {"KAFKA_BOOTSTRAP_SERVERS"}
    assert not sorted(k for k in env if k not in known), "settings nobody reads (typos?)"
    for key in list(os.environ):
        if key.startswith("SIGNPOST_") or key == "KAFKA_BOOTSTRAP_SERVERS":
            monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, interpolate(value, SECRET_ENV))
    settings = Settings()
    assert settings.env == "production" and settings.port_of("web") == 8000 and settings.host == "0.0.0.0"
    assert settings.web_public_url == "https://signpost.test" and cookie_secure(settings.web_public_url)
    assert settings.database_url_for("web").startswith("postgresql+psycopg://signpost:pw-for-tests@postgres:5432/"), "sessions shared by every replica"
    assert (settings.alerts_url, settings.referrals_url) == ("http://alerts:8002", "http://referrals:8003")
    assert settings.oidc_issuer == "https://idp.test"
    sites = caddy_sites((DEPLOY / "caddy/Caddyfile").read_text())
    root = sites["https://{$SIGNPOST_DOMAIN}"]  # port 443: the site root is the pages
    assert "reverse_proxy web:8000" in root and "flush_interval -1" in root, "the live feeds (SSE) must not be buffered"
    assert "reverse_proxy alerts:8002" in sites["https://{$SIGNPOST_DOMAIN}:8002"], "the APIs keep their contract ports"


def test_production_settings_need_every_secret(compose: dict) -> None:
    env = env_of(compose["services"]["intake"])
    assert env["SIGNPOST_ENV"] == "production"
    assert env["SIGNPOST_PSEUDONYM_KEY"].startswith("${SIGNPOST_PSEUDONYM_KEY:?")


def test_prometheus_and_grafana_use_the_deploy_folder(compose: dict) -> None:
    prom = compose["services"]["prometheus"]
    assert prom["image"].startswith("prom/prometheus:")
    assert "./deploy/prometheus:/etc/prometheus:ro" in prom["volumes"]
    assert "--config.file=/etc/prometheus/prometheus.yml" in prom["command"]
    grafana = compose["services"]["grafana"]
    assert grafana["image"].startswith("grafana/grafana:")
    assert "./deploy/grafana/provisioning:/etc/grafana/provisioning:ro" in grafana["volumes"]
    assert "./deploy/grafana/dashboards:/etc/grafana/dashboards:ro" in grafana["volumes"]
    assert env_of(grafana)["GF_SECURITY_ADMIN_PASSWORD"].startswith("${GRAFANA_ADMIN_PASSWORD:?")
    providers = yaml.safe_load((DEPLOY / "grafana/provisioning/dashboards/signpost.yaml").read_text())["providers"]
    assert [p["options"]["path"] for p in providers] == ["/etc/grafana/dashboards"]
    datasources = yaml.safe_load((DEPLOY / "grafana/provisioning/datasources/prometheus.yaml").read_text())["datasources"]
    assert [(d["uid"], d["type"], d["url"]) for d in datasources] == [("prometheus", "prometheus", "http://prometheus:9090")]
    # every bind-mounted path exists in the repository
    for name, service in compose["services"].items():
        for volume in service.get("volumes") or []:
            source = str(volume).split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name} mounts {source}, which does not exist"


def test_prometheus_scrapes_every_replica_and_the_exporter_every_15s(compose: dict) -> None:
    """Each service's replicas are found by compose's DNS (one A record per container: issue 13);
    the exporter and Alertmanager are single instances; alerts go to Alertmanager."""
    config = yaml.safe_load((PROM_DIR / "prometheus.yml").read_text())
    assert config["global"]["scrape_interval"] == "15s"
    assert config["rule_files"] == ["rules.yml"]
    assert config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == ["alertmanager:9093"]
    assert "alertmanager" in compose["services"]
    targets = {}
    for job in config["scrape_configs"]:
        for static in job.get("static_configs", []):
            for target in static["targets"]:
                targets[target] = (job["job_name"], job.get("metrics_path", "/metrics"), job.get("scrape_interval"))
        for dns in job.get("dns_sd_configs", []):
            assert dns["type"] == "A"
            for name in dns["names"]:
                targets[f"{name}:{dns['port']}"] = (job["job_name"], job.get("metrics_path", "/metrics"), job.get("scrape_interval"))
        assert "service" not in json.dumps(job.get("static_configs")), "a target label `service` would clash with the metrics' own"
        assert not job.get("relabel_configs"), "instance must stay the replica's address"
    for name, port in CONTRACT_PORTS.items():
        job, path, interval = targets[f"{name}:{port}"]
        assert (job, path) == (f"signpost-{name}", "/metrics")
        assert interval in (None, "15s")
        assert port in container_ports(compose["services"][name])
        assert not any(j["job_name"] == f"signpost-{name}" and j.get("static_configs") for j in config["scrape_configs"]), "one replica only"
    assert targets["exporter:9308"][0] == "signpost-exporter"
    assert env_of(compose["services"]["exporter"])["SIGNPOST_EXPORTER_PORT"] == "9308"
    assert compose["services"]["exporter"]["command"] == ["python", "-m", "services.exporter"]


# --------------------------------------------------------------------------- kafka-init


def run_create_topics(tmp_path: Path, **env: str) -> tuple[subprocess.CompletedProcess, list[list[str]]]:
    """Run deploy/kafka/create-topics.sh with a stub kafka-topics.sh that records its arguments."""
    bin_dir = tmp_path / "kafka-bin"
    bin_dir.mkdir(exist_ok=True)
    calls = tmp_path / "calls.jsonl"
    stub = bin_dir / "kafka-topics.sh"
    stub.write_text(f"#!{sys.executable}\nimport json, sys\nopen({str(calls)!r}, 'a').write(json.dumps(sys.argv[1:]) + '\\n')\n")
    stub.chmod(0o755)
    done = subprocess.run(["sh", str(DEPLOY / "kafka/create-topics.sh")], capture_output=True, text=True, timeout=60, check=False,
                          env={"PATH": os.environ["PATH"], "KAFKA_BIN": str(bin_dir), **env})
    recorded = [json.loads(line) for line in calls.read_text().splitlines()] if calls.exists() else []
    return done, [c for c in recorded if "--create" in c]


def option(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


def configs(args: list[str]) -> dict[str, str]:
    return dict(args[i + 1].split("=", 1) for i, a in enumerate(args) if a == "--config")


def test_kafka_init_creates_every_topic_with_explicit_configs(compose: dict, tmp_path: Path) -> None:
    from schemas.topics import BROKER_EPOCH
    from services.common.kafka import all_topic_names, topic_configs
    from services.common.settings import Settings

    init = compose["services"]["kafka-init"]
    assert "./deploy/kafka/create-topics.sh:/deploy/create-topics.sh:ro" in init["volumes"]
    assert init["entrypoint"][-1] == "/deploy/create-topics.sh"
    assert init["depends_on"]["kafka"]["condition"] == "service_healthy"
    init_env = env_of(init)
    service_env = env_of(compose["services"]["intake"])
    for key in ("SIGNPOST_TOPIC_PREFIX", "SIGNPOST_KAFKA_PARTITIONS", "SIGNPOST_KAFKA_REPLICATION_FACTOR"):
        assert init_env[key] == service_env[key], f"kafka-init and the services disagree on {key}"

    done, created = run_create_topics(tmp_path, **{k: v for k, v in init_env.items() if k != "BOOTSTRAP"}, BOOTSTRAP=init_env["BOOTSTRAP"])
    assert done.returncode == 0, done.stderr
    prefix = init_env["SIGNPOST_TOPIC_PREFIX"]
    # the retention schedule's defaults, as the services would create the topics (issue 12)
    defaults = Settings(topic_prefix=prefix, _env_file=None)
    expected = {name: topic_configs(defaults, name)["retention.ms"] for name in all_topic_names(defaults)}
    assert expected[prefix + "exclusion-notices.v1"] == str(2192 * 86_400_000) and expected[prefix + BROKER_EPOCH] == "-1"
    assert {option(c, "--topic"): configs(c)["retention.ms"] for c in created} == expected
    for call in created:
        assert option(call, "--bootstrap-server") == "kafka:9092"
        if option(call, "--topic") == prefix + BROKER_EPOCH:
            assert option(call, "--partitions") == "1"  # one record at offset 0 of one partition
        else:
            assert int(option(call, "--partitions")) >= 3
        assert option(call, "--replication-factor") == "1"
        assert "--if-not-exists" in call
        assert "min.insync.replicas" not in configs(call)


def test_kafka_init_for_a_three_broker_cluster(tmp_path: Path) -> None:
    done, created = run_create_topics(tmp_path, SIGNPOST_KAFKA_REPLICATION_FACTOR="3", KAFKA_MIN_INSYNC_REPLICAS="2",
                                      SIGNPOST_KAFKA_PARTITIONS="6", SIGNPOST_TOPIC_PREFIX="la305.")
    assert done.returncode == 0, done.stderr
    assert len(created) == 16  # 14 topics of schemas/topics.py (6 more intake topics since issue 11), dead letters, the broker epoch
    for call in created:
        assert option(call, "--topic").startswith("la305.")
        partitions = "1" if option(call, "--topic") == "la305.broker-epoch.v1" else "6"
        assert (option(call, "--replication-factor"), option(call, "--partitions")) == ("3", partitions)
        assert configs(call)["min.insync.replicas"] == "2"


def test_kafka_init_refuses_fewer_than_three_partitions(tmp_path: Path) -> None:
    done, created = run_create_topics(tmp_path, SIGNPOST_KAFKA_PARTITIONS="1")
    assert done.returncode != 0 and not created


# --------------------------------------------------------------------------- promtool


def test_promtool_check_rules(promtool: str) -> None:
    done = run([promtool, "check", "rules", str(RULES)])
    assert done.returncode == 0, done.stdout + done.stderr


def test_promtool_check_config(promtool: str) -> None:
    done = run([promtool, "check", "config", str(PROM_DIR / "prometheus.yml")])
    assert done.returncode == 0, done.stdout + done.stderr


def test_rule_unit_tests(promtool: str) -> None:
    """deploy/prometheus/rules_test.yml as shipped: conditions, labels and annotations (issue 13)."""
    done = run([promtool, "test", "rules", str(PROM_DIR / "rules_test.yml")])
    assert done.returncode == 0, done.stdout + done.stderr
    doc = yaml.safe_load((PROM_DIR / "rules_test.yml").read_text())
    expected = [e for t in doc["tests"] for case in t.get("alert_rule_test", []) for e in case.get("exp_alerts") or []]
    assert expected and all(e.get("exp_annotations", {}).get("runbook_url") for e in expected), "every expected alert states its annotations"
    tested = {case["alertname"] for t in doc["tests"] for case in t.get("alert_rule_test", []) if case.get("exp_alerts")}
    defined = {r["alert"] for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"] if "alert" in r}
    assert defined - tested <= {"SignpostRelayRepublished"}, f"alerts never seen firing in a unit test: {defined - tested}"


def github_anchor(heading: str) -> str:
    text = heading.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def test_every_alert_has_severity_and_says_what_to_do(rules: dict) -> None:
    anchors = {github_anchor(line.lstrip("#")) for line in RUNBOOK.read_text().splitlines() if line.startswith("#")}
    alerts = [r for g in rules["groups"] for r in g["rules"] if "alert" in r]
    assert len({a["alert"] for a in alerts}) == len(alerts), "duplicate alert names"
    for alert in alerts:
        name = alert["alert"]
        assert alert["labels"]["severity"] in ("critical", "warning", "info"), name
        notes = alert["annotations"]
        assert notes["summary"] and len(notes["description"]) > 80, name
        page, _, anchor = notes["runbook_url"].partition("#")
        assert page == "docs/runbook.md" and anchor in anchors, f"{name}: runbook section #{anchor} missing from docs/runbook.md"


def test_the_alerts_the_brief_asks_for(rules: dict) -> None:
    alerts = {r["alert"]: r for g in rules["groups"] for r in g["rules"] if "alert" in r}

    def find(fragment: str) -> dict:
        hits = [r for r in alerts.values() if fragment in " ".join(r["expr"].split())]
        assert hits, f"no alert on {fragment}"
        return hits[0]

    assert find("up{").get("for") == "2m" and "== 0" in find("up{")["expr"]
    assert find("signpost_broker_connected == 0")["for"] == "2m"
    assert find("signpost_relay_backlog_messages > 1000")["for"] == "5m"
    assert find("signpost_referrals_overdue > 0")["for"] == "1h"
    assert "[10m]" in find("increase(signpost_dead_letters_total")["expr"]
    assert '{outcome="dead"}[1h]' in find("signpost_webhook_deliveries_total")["expr"]
    assert find("signpost_consumer_group_lag) > 10000")["for"] == "10m"  # measured at the broker (issue 13)
    assert find("deriv(signpost_consumer_group_lag")["for"] == "10m"
    assert find("signpost_consumer_group_members) == 0")["labels"]["severity"] == "critical"
    assert find("signpost_kafka_up == 0")["for"] == "2m"
    assert find("signpost_kafka_consumer_lag_seconds) > 300")["for"] == "10m"
    assert 'status=~"5.."' in find("signpost_http_requests_total")["expr"]


# --------------------------------------------------------------------------- metric names


@pytest.fixture(scope="module")
def exposed_metrics(tmp_path_factory: pytest.TempPathFactory) -> dict[str, set[str]]:
    """Series name → label names, for every metric the three services declare.

    Built the way the services build themselves (each app's build_app), then read from the
    process's prometheus_client REGISTRY: generate_latest() for what has samples, collect() and
    the collectors' label names for what is declared with labels but has no sample yet."""
    from prometheus_client import REGISTRY, generate_latest
    from prometheus_client.parser import text_string_to_metric_families

    from services.alerts.app import build_app as alerts_app
    from services.common.settings import Settings
    from services.exporter.app import build_app as exporter_app
    from services.intake.app import build_app as intake_app
    from services.referrals.app import build_app as referrals_app

    data = tmp_path_factory.mktemp("metrics-data")
    settings = Settings(
        data_dir=data, kafka_bootstrap_servers=f"127.0.0.1:{free_port()}", broker_kind="embedded", broker_port=free_port(),
        intake_port=free_port(), alerts_port=free_port(), referrals_port=free_port(), tokens_file=None, database_url=None,
        topic_prefix="metrics-test.",
    )
    for build in (intake_app, alerts_app, referrals_app, exporter_app):
        build(settings)

    series: dict[str, set[str]] = {}

    def add(name: str, labels: set[str]) -> None:
        series.setdefault(name, set()).update(labels)

    for family in text_string_to_metric_families(generate_latest(REGISTRY).decode()):
        for sample in family.samples:
            add(sample.name, set(sample.labels))
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",), "summary": ("", "_sum", "_count"),
                "info": ("_info",), "stateset": ("",), "unknown": ("",), "gaugehistogram": ("_bucket", "_gsum", "_gcount")}
    for family in REGISTRY.collect():
        for suffix in suffixes.get(family.type, ("",)):
            add(family.name + suffix, set())
    for collector in list(getattr(REGISTRY, "_collector_to_names", {})):
        labelnames = set(getattr(collector, "_labelnames", ()) or ())
        for name in REGISTRY._collector_to_names[collector]:  # noqa: SLF001 - the one place that lists declared label names
            add(name, labelnames | ({"le"} if name.endswith("_bucket") else set()))
    return series


def strip_promql(expr: str) -> str:
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    expr = re.sub(r"'(?:[^'\\]|\\.)*'", "''", expr)
    expr = re.sub(r"\{[^}]*\}", " ", expr)
    expr = re.sub(r"\[[^\]]*\]", " ", expr)
    return re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", expr)


def metric_names(expr: str) -> set[str]:
    """Metric names in a PromQL expression: identifiers that are not functions, keywords, labels or literals."""
    names = set()
    for m in re.finditer(r"(?<![\w.$:])([A-Za-z_:][\w:]*)(?![\w:])(?!\s*\()", strip_promql(expr)):
        if m.group(1) not in PROMQL_KEYWORDS:
            names.add(m.group(1))
    return names


def selector_labels(expr: str) -> list[tuple[str, set[str]]]:
    """(metric, label names matched on) for every `metric{...}` selector."""
    clean = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    return [(m.group(1), set(re.findall(r"(\w+)\s*(?:=~|!~|!=|=)", m.group(2))))
            for m in re.finditer(r"([A-Za-z_:][\w:]*)\s*\{([^}]*)\}", clean)]


def grouping_labels(expr: str) -> set[str]:
    labels = set()
    for group in re.findall(r"\b(?:by|without)\s*\(([^)]*)\)", re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)):
        labels |= {x.strip() for x in group.split(",") if x.strip()}
    return labels


def dashboard_targets(doc: dict) -> list[tuple[str, str]]:
    out = []

    def walk(panels: list[dict]) -> None:
        for panel in panels:
            for target in panel.get("targets") or []:
                if target.get("expr"):
                    out.append((panel.get("title", ""), target["expr"]))
            walk(panel.get("panels") or [])

    walk(doc["panels"])
    return out


def substitute_grafana_variables(expr: str) -> str:
    expr = expr.replace("$__rate_interval", "1m").replace("$__interval", "15s").replace("$__range", "1h")
    return re.sub(r"\$\{?(\w+)\}?", ".*", expr)


def all_expressions(rules: dict, dashboards: dict[str, dict]) -> list[tuple[str, str]]:
    exprs = [(f"rule {r.get('alert') or r.get('record')}", r["expr"]) for g in rules["groups"] for r in g["rules"]]
    for file, doc in dashboards.items():
        exprs += [(f"{file}: {title}", expr) for title, expr in dashboard_targets(doc)]
    return exprs


def test_metric_registry_sees_the_services_metrics(exposed_metrics: dict[str, set[str]]) -> None:
    for name in ("signpost_http_requests_total", "signpost_kafka_consumer_lag_messages", "signpost_processing_duration_seconds_bucket",
                 "signpost_webhook_deliveries_total", "signpost_referrals_overdue", "signpost_alerts"):
        assert name in exposed_metrics, name
    assert {"service", "topic", "partition"} <= exposed_metrics["signpost_kafka_consumer_lag_messages"]


def test_every_expression_uses_only_existing_metrics_and_labels(
    exposed_metrics: dict[str, set[str]], rules: dict, dashboards: dict[str, dict]
) -> None:
    known = set(exposed_metrics) | SYNTHETIC_METRICS
    problems = []
    for where, expr in all_expressions(rules, dashboards):
        names = metric_names(expr)
        if not names:
            problems.append(f"{where}: no metric found in {expr!r}")
        for name in sorted(names - known):
            problems.append(f"{where}: unknown metric {name}")
        for name, labels in selector_labels(expr):
            allowed = exposed_metrics.get(name, set()) | SCRAPE_LABELS | {"__name__"}
            for label in sorted(labels - allowed):
                problems.append(f"{where}: {name} has no label {label!r}")
        used = names & set(exposed_metrics)
        if used:
            allowed = set().union(*(exposed_metrics[n] for n in used)) | SCRAPE_LABELS
            for label in sorted(grouping_labels(expr) - allowed):
                problems.append(f"{where}: groups by {label!r}, which none of {sorted(used)} has")
    assert not problems, "\n".join(problems)


def test_dashboard_variables_use_existing_metrics_and_labels(exposed_metrics: dict[str, set[str]], dashboards: dict[str, dict]) -> None:
    for file, doc in dashboards.items():
        for variable in doc.get("templating", {}).get("list", []):
            query = variable["query"]["query"] if isinstance(variable.get("query"), dict) else variable.get("query", "")
            m = re.fullmatch(r"label_values\((\w+),\s*(\w+)\)", query)
            assert m, f"{file}: variable {variable['name']}: {query!r}"
            assert m.group(2) in exposed_metrics[m.group(1)], f"{file}: {m.group(1)} has no label {m.group(2)}"


def test_every_dashboard_expression_parses(promtool: str, dashboards: dict[str, dict], tmp_path: Path) -> None:
    """promtool parses each panel's PromQL (Grafana's variables replaced as Grafana would)."""
    rules = [{"record": f"dashboard:expr_{i}", "expr": substitute_grafana_variables(expr)}
             for i, (_, expr) in enumerate(e for doc in dashboards.values() for e in dashboard_targets(doc))]
    path = tmp_path / "dashboard-exprs.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    done = run([promtool, "check", "rules", str(path)])
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_three_dashboards(dashboards: dict[str, dict]) -> None:
    titles = {doc["title"] for doc in dashboards.values()}
    assert titles == {"Signpost — pipeline health", "Signpost — alerts", "Signpost — referrals"}
    assert len({doc["uid"] for doc in dashboards.values()}) == len(dashboards)
    for file, doc in dashboards.items():
        ids = []

        def walk(panels: list[dict], file: str = file, ids: list = ids) -> None:
            for panel in panels:
                ids.append(panel["id"])
                assert {"x", "y", "w", "h"} <= set(panel["gridPos"]), f"{file}: {panel.get('title')}"
                if panel.get("targets"):
                    assert panel["datasource"] == {"type": "prometheus", "uid": "prometheus"}, f"{file}: {panel['title']}"
                    assert all(t.get("refId") for t in panel["targets"])
                walk(panel.get("panels") or [])

        walk(doc["panels"])
        assert len(ids) == len(set(ids)), f"{file}: duplicate panel ids"


def test_pipeline_dashboard_covers_what_ops_needs(dashboards: dict[str, dict]) -> None:
    pipeline = next(d for d in dashboards.values() if d["title"] == "Signpost — pipeline health")
    exprs = " ".join(e for _, e in dashboard_targets(pipeline))
    for needed in ("signpost_http_requests_total", "signpost_http_request_duration_seconds_bucket", "signpost_kafka_messages_produced_total",
                   "signpost_kafka_messages_consumed_total", "histogram_quantile(0.5, sum by (service, stage, le) (rate(signpost_processing_duration_seconds_bucket",
                   "histogram_quantile(0.99, sum by (service, stage, le) (rate(signpost_processing_duration_seconds_bucket",
                   "signpost_kafka_consumer_lag_messages", "signpost_kafka_consumer_lag_seconds", "signpost_relay_backlog_messages",
                   "signpost_dead_letters_total", "signpost_broker_connected"):
        assert needed in exprs, needed
    referrals = next(d for d in dashboards.values() if d["title"] == "Signpost — referrals")
    exprs = " ".join(e for _, e in dashboard_targets(referrals))
    for needed in ("signpost_referrals{", "signpost_referrals_overdue", "signpost_referral_escalations_total",
                   "signpost_webhook_deliveries_total", "signpost_referral_reasons_held_total"):
        assert needed in exprs, needed
    alerts = next(d for d in dashboards.values() if d["title"] == "Signpost — alerts")
    exprs = " ".join(e for _, e in dashboard_targets(alerts))
    assert "signpost_alert_changes_total" in exprs and "sum by (status) (signpost_alerts" in exprs


def test_metric_name_extraction() -> None:
    expr = ('histogram_quantile(0.99, sum by (service, le) (rate(signpost_http_request_duration_seconds_bucket{service=~"$service", route="/v1/x"}[5m]))) '
            '/ on (service) group_left sum without (instance) (up offset 1h) > bool 3')
    assert metric_names(expr) == {"signpost_http_request_duration_seconds_bucket", "up"}
    assert selector_labels(expr) == [("signpost_http_request_duration_seconds_bucket", {"service", "route"})]
    assert grouping_labels(expr) == {"service", "le", "instance"}


# --------------------------------------------------------------------------- Dockerfile


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def dockerignored(path: str) -> bool:
    ignored = False
    for raw in DOCKERIGNORE.read_text().splitlines():
        pattern = raw.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").rstrip("/")
        parts = path.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        candidates = [pattern, pattern.removeprefix("**/")]
        if any(fnmatch.fnmatch(p, c) for p in prefixes for c in candidates):
            ignored = not negate
    return ignored


def test_dockerfile_builds_one_locked_image_for_the_three_services() -> None:
    steps = dockerfile_instructions()
    text = " ".join(f"{w} {r}" for w, r in steps)
    froms = [r for w, r in steps if w == "FROM"]
    args = dict(re.findall(r"ARG (\w+)=(\S+)", text))
    resolved = [re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), ""), f.split()[0]) for f in froms]
    stages = {f.split()[-1]: image for f, image in zip(froms, resolved, strict=True) if " AS " in f.upper()}
    # Python: an exact 3.11 release pinned by digest, the same image for the build and the runtime (with no Node)
    python = resolved[-1]
    assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm@sha256:[0-9a-f]{64}", python), f"pin an exact release and its digest, not {python}"
    assert all(image == python for name, image in stages.items() if name != "assets"), resolved
    # the pages' assets: built in a Node stage pinned to an exact release and by digest, copied into the runtime
    assert re.fullmatch(r"node:\d+\.\d+\.\d+-bookworm-slim@sha256:[0-9a-f]{64}", stages["assets"]), stages["assets"]
    assert re.search(r"COPY services/web/package\.json services/web/package-lock\.json \./ RUN npm ci --omit=dev", text)
    copies = [r for w, r in steps if w == "COPY" and r.startswith("--from=assets")]
    assert copies == ["--from=assets /src/services/web/node_modules /opt/signpost/lib/python3.11/site-packages/services/web/node_modules"]
    assert dockerignored("services/web/node_modules"), "the image installs its own, from the lock"
    assert re.search(r"pip install --require-hashes [^&]*-r requirements\.prod\.lock", text)
    assert re.search(r"pip install --no-deps \.", text)
    users = [r for w, r in steps if w == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0"), "the image must run as a non-root user"
    healthchecks = [r for w, r in steps if w == "HEALTHCHECK"]
    assert len(healthchecks) == 1 and "python" in healthchecks[0] and "curl" not in healthchecks[0] and "wget" not in healthchecks[0]
    assert 'CMD ["python", "-m", "services.' in text
    script = (DEPLOY / "docker/healthcheck.py").read_text()
    assert "/healthz" in script
    for word, rest in steps:
        if word != "COPY" or rest.startswith("--from"):
            continue
        sources = json.loads(rest)[:-1] if rest.startswith("[") else rest.split()[:-1]
        for source in sources:
            assert (ROOT / source).exists(), f"COPY {source}: no such file"
            assert not dockerignored(source), f"COPY {source}: excluded by .dockerignore"
    for secret_like in (".env", ".venv", "var", "tests", "deploy/secrets"):
        assert dockerignored(secret_like), f"{secret_like} should stay out of the build context"


class _Healthz(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the http.server API
        self.send_response(200 if self.path == "/healthz" else 404)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_image_healthcheck_script(tmp_path: Path) -> None:
    script = str(DEPLOY / "docker/healthcheck.py")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Healthz)
    port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        env = {"PATH": os.environ["PATH"], "SIGNPOST_ALERTS_PORT": str(port)}
        assert run([sys.executable, script, "alerts"], env=env).returncode == 0
        assert run([sys.executable, script], env={**env, "SIGNPOST_SERVICE": "alerts"}).returncode == 0
        closed = free_port()
        assert run([sys.executable, script, "alerts"], env={**env, "SIGNPOST_ALERTS_PORT": str(closed)}).returncode == 1
        assert run([sys.executable, script, "nonsense"], env=env).returncode == 1
        assert run([sys.executable, script, "web"], env={**env, "SIGNPOST_WEB_PORT": str(port)}).returncode == 0
    finally:
        server.shutdown()
        server.server_close()
