"""One typed settings object for every service, read from the environment (contract: Processes, ports, settings)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ServiceName = Literal["intake", "alerts", "referrals", "exporter", "web"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SIGNPOST_", frozen=True, extra="ignore")

    env: Literal["dev", "production"] = Field(
        default="dev", description="production: every secret must be given (no dev defaults generated into the data dir)"
    )
    pseudonym_key: SecretStr | None = Field(
        default=None, description="HMAC key of every child pseudonym (Kafka keys, child ids); dev: generated into the data dir"
    )
    kafka_bootstrap_servers: str | None = Field(
        default=None,
        validation_alias=AliasChoices("KAFKA_BOOTSTRAP_SERVERS", "SIGNPOST_KAFKA_BOOTSTRAP_SERVERS"),
        description="an external cluster; unset = the embedded broker on broker_port",
    )
    broker_port: int = 9092
    broker_kind: Literal["embedded", "kafka"] | None = Field(
        default=None, description="embedded = the Tansu broker of `make run` (no idempotent producer); default: kafka when KAFKA_BOOTSTRAP_SERVERS is set"
    )
    kafka_idempotence: bool | None = Field(default=None, description="idempotent producer; default on for Apache Kafka, off for the embedded broker")
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        default="PLAINTEXT", description="a managed Kafka (MSK, Confluent Cloud, Aiven) wants SASL_SSL or SSL"
    )
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: Path | None = Field(default=None, description="CA bundle for the brokers' certificates; unset: the system's")
    kafka_partitions: int = 3
    kafka_replication_factor: int = 1
    host: str = "127.0.0.1"
    intake_port: int = 8001
    alerts_port: int = 8002
    referrals_port: int = 8003
    alerts_school_process: bool = Field(default=True, description="run the alerts service's school stage in a process of its own (both cores)")
    alerts_school_metrics_port: int = Field(default=0, description="the school stage process's /metrics port; 0: a free port, shown by the alerts /healthz")
    exporter_port: int = 9308
    # the web pages (issue 10): services/web
    web_port: int = 8000
    web_public_url: str | None = Field(default=None, description="the pages' address as people reach it (OIDC redirect); default http://<host>:<web_port>")
    web_token: SecretStr | None = Field(default=None, description="the pages' own API token (role web); `make run` writes a dev one")
    web_session_secret: SecretStr | None = Field(default=None, description="signs session cookies; dev: generated into the data dir")
    web_idle_minutes: int = Field(default=30, ge=1, description="a session unused this long is signed out")
    # the same three as files (Docker secrets, /run/secrets/...): docker-compose.yml mounts them there
    web_token_file: Path | None = Field(default=None, description="a file holding SIGNPOST_WEB_TOKEN (a Docker secret)")
    web_session_secret_file: Path | None = Field(default=None, description="a file holding SIGNPOST_WEB_SESSION_SECRET (a Docker secret)")
    alerts_url: str | None = Field(default=None, description="the alerts API as the pages reach it; default http://127.0.0.1:<alerts_port>")
    referrals_url: str | None = Field(default=None, description="the referrals API as the pages reach it; default http://127.0.0.1:<referrals_port>")
    oidc_issuer: str | None = Field(default=None, description="the LA's OpenID provider (Entra ID, Okta, Keycloak...); `make run` starts a dev one")
    oidc_client_id: str = "signpost"
    oidc_client_secret: SecretStr | None = None
    oidc_client_secret_file: Path | None = Field(default=None, description="a file holding SIGNPOST_OIDC_CLIENT_SECRET (a Docker secret)")
    oidc_groups_file: Path | None = Field(default=None, description="YAML: the provider's groups → roles, agency, LA codes; default services/web/groups.dev.yaml")
    dev_oidc_port: int = Field(default=9400, description="the development OpenID provider `make run` starts when SIGNPOST_OIDC_ISSUER is unset")
    stage_catch_up_records: int = Field(
        default=80_000, ge=1, description="behind the log, a stream stage's batch grows to this many records, each child detected and written once per batch"
    )
    alerts_cached_children: int = Field(
        default=100_000, ge=1_000,
        description="the most child records the alerts service's child stage keeps in memory (and as many alerts), all but the 20,000 most "
                    "recently used kept compressed; past it the oldest half is dropped between batches and read back from the store when "
                    "next needed. Size the alerts memory limit from it: docs/deploy.md",
    )
    school_stage_linger_s: float = Field(
        default=0.5, ge=0, le=10,
        description="near the end of the log, seconds the alerts service's school stage waits after a batch before the next: fewer commits to the store the child stage writes",
    )
    stage_overlap_commit: bool = Field(
        default=True, description="behind the log, the child stage processes a batch while the one before commits (false: one after the other)"
    )
    sqlite_checkpoint_s: float = Field(
        default=1.0, ge=0, le=60,
        description="SQLite: seconds between a background thread's WAL checkpoints of the intake, alerts and referrals stores "
                    "(their commits then skip them up to a 10,000-page WAL); 0: the commit past 1,000 pages checkpoints, SQLite's default",
    )
    exporter_interval: float = Field(default=15.0, gt=0, description="seconds between the exporter's reads of the broker and the stores")
    data_dir: Path = Path("var")
    database_url: str | None = None
    tokens_file: Path | None = None
    topic_prefix: str = "signpost."
    log_level: str = "INFO"
    max_body_bytes: int = 5 * 1024 * 1024
    max_csv_bytes: int = Field(default=64 * 1024 * 1024, description="body limit of a streamed CSV return (100,000 rows are ~10 MiB)")
    write_rate_limit: str = Field(
        default="10000/second",
        description="per token, on every /v1 write; `limits` syntax, e.g. '20/second;2000/hour' (empty: no limit). "
        "The default only stops a runaway client (a bulk load posts ~4,000 notices a second); docker-compose.yml sets 100/second",
    )
    # retention (docs/data-protection.md): days each record type is kept; services/common/retention.py
    retention_intake_events_days: int = Field(default=6 * 365 + 2, ge=1)
    retention_children_days: int = Field(default=6 * 365 + 2, ge=1)
    retention_alerts_days: int = Field(default=6 * 365 + 2, ge=1)
    retention_referrals_days: int = Field(default=6 * 365 + 2, ge=1)
    retention_candidates_days: int = Field(default=2 * 365, ge=1)
    retention_audit_days: int = Field(default=6 * 365 + 2, ge=1)
    retention_dead_letters_days: int = Field(default=30, ge=1)
    retention_interval_s: float = Field(default=6 * 3600, description="how often each service's retention job runs")
    routing_policy_file: Path | None = None
    rules_file: Path | None = None
    calendars_dir: Path | None = None
    # issue 11: the alerts child stage's tick looks again at children whose deadline clocks changed
    deadline_tick_s: float = Field(default=60.0, gt=0, description="how often the alerts child stage's tick runs (and at once when the date changes)")
    today_file: Path | None = Field(
        default=None, description="TESTS ONLY: today's date (ISO) is read from this file instead of the clock; refused in production"
    )

    @model_validator(mode="after")
    def _no_test_clock_in_production(self) -> Settings:
        if self.env == "production" and self.today_file is not None:
            raise ValueError("SIGNPOST_TODAY_FILE is for tests only: unset it in production")
        return self

    @model_validator(mode="after")
    def _kafka_security_complete(self) -> Settings:
        if self.kafka_security_protocol.startswith("SASL") and not (self.kafka_sasl_mechanism and self.kafka_sasl_username and self.kafka_sasl_password):
            raise ValueError("SIGNPOST_KAFKA_SECURITY_PROTOCOL=SASL_* needs SIGNPOST_KAFKA_SASL_MECHANISM, _USERNAME and _PASSWORD")
        return self

    @property
    def bootstrap_servers(self) -> str:
        return self.kafka_bootstrap_servers or f"127.0.0.1:{self.broker_port}"

    @property
    def embedded(self) -> bool:
        if self.broker_kind is not None:
            return self.broker_kind == "embedded"
        return self.kafka_bootstrap_servers is None

    @property
    def idempotence(self) -> bool:
        return (not self.embedded) if self.kafka_idempotence is None else self.kafka_idempotence

    def port_of(self, service: ServiceName) -> int:
        return {"intake": self.intake_port, "alerts": self.alerts_port, "referrals": self.referrals_port, "exporter": self.exporter_port,
                "web": self.web_port}[service]

    def database_url_for(self, service: ServiceName) -> str:
        """PostgreSQL (or any SQLAlchemy URL) when set; otherwise one SQLite file per service."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / f'{service}.sqlite3').resolve()}"

    def topic(self, name: str) -> str:
        return self.topic_prefix + name


@lru_cache
def get_settings() -> Settings:
    return Settings()
