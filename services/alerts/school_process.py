"""The school stage in a process of its own: both cores, and a writer of its own.

The child stage and the school stage are independent consumers (the school stage reads what the
child stage publishes, keyed by school), so the alerts service runs the school stage in a child
process it supervises, the way a Kafka Streams or faust deployment runs one worker per core:

- the child process builds its own store engine, `SchoolStage` and `StageRunner` from the same
  settings, and serves its own Prometheus `/metrics` on `alerts_school_metrics_port` (0: a free
  port, reported by the service's `/healthz`);
- after every committed batch it sends what the service must hear up a pipe: the alerts it changed
  (for the alert-change counters) and how far it got; the service's relay then publishes the
  batch's outbox, and the live feed of every replica hears of the changes on `alerts.v1`;
- the service sends down the pipe the alerts a person changed, so the stage's cached copy is
  dropped (a stale copy would only cost a retry: alerts are written compare-and-set);
- if the process dies it is started again with backoff; it resumes from its committed offsets.

Set `SIGNPOST_ALERTS_SCHOOL_PROCESS=false` to run both stages in the service's own process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import signal
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from mode import Service

from schemas.alerts import Alert
from schemas.topics import SCHOOL_SUSPENSIONS
from services.common.settings import Settings

log = logging.getLogger(__name__)
STOP = "stop"


def _child_main(settings_doc: dict, group_id: str, conn: Connection) -> None:
    """The child process: the school stage, until the service says stop or goes away."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole process group: the service stops us
    settings = Settings.model_construct(**settings_doc)
    from services.common import logs, secrets
    from services.common.worker import tune_gc_for_stream_state

    logs.setup("alerts", settings.log_level)
    secrets.configure_pseudonyms(settings)  # a fresh interpreter: any id it derives is keyed as in the service
    tune_gc_for_stream_state()
    asyncio.run(_child(settings, group_id, conn))


async def _child(settings: Settings, group_id: str, conn: Connection) -> None:
    from prometheus_client import start_http_server

    from services.alerts.domain.rules import load_rules
    from services.alerts.school_stage import SchoolStage
    from services.alerts.store import AlertsStore
    from services.common import db
    from services.common.calendar import load_registry
    from services.common.stream import StageRunner

    engine = db.make_engine(settings.database_url_for("alerts"), checkpoint_s=settings.sqlite_checkpoint_s)
    stage = SchoolStage(AlertsStore(engine), load_registry(settings.calendars_dir), load_rules(settings.rules_file))
    server, _thread = start_http_server(settings.alerts_school_metrics_port, addr=settings.host)
    port = server.server_address[1]

    def on_committed(result: Any) -> None:  # noqa: ANN401 - a StageResult
        conn.send({"alerts": [a.model_dump_json() for a in result.changed_alerts], "applied": runner.applied, "ready": runner.ready})

    runner = StageRunner(settings=settings, service="alerts", stage="school", group_id=group_id, topics=[SCHOOL_SUSPENSIONS.name], linger_s=settings.school_stage_linger_s,
                         process=stage.process, commit=stage.store.commit, reset=stage.reset, on_committed=on_committed)  # fmt: skip
    await runner.start()
    conn.send({"metrics_port": port})
    loop = asyncio.get_running_loop()
    try:
        while True:
            ready = runner.ready
            if await loop.run_in_executor(None, conn.poll, 0.5):
                message = conn.recv()
                if message == STOP:
                    break
                stage.book.changed_elsewhere(message)  # an alert id a person changed
            if runner.ready != ready:
                conn.send({"ready": runner.ready, "applied": runner.applied})
    except (EOFError, OSError):  # the service went away
        pass
    finally:
        await runner.stop()
        engine.dispose()
        server.shutdown()


class SchoolProcess(Service):
    """In the service: starts, watches and restarts the school stage's process. Looks like a
    `StageRunner` to the service (`ready`, `applied`, `stage`, `stop()`)."""

    stage = "school"

    def __init__(self, settings: Settings, group_id: str, on_alerts: Callable[[list[Alert]], None], **kwargs: Any):  # noqa: ANN401
        super().__init__(**kwargs)
        self.settings, self.group_id, self.on_alerts = settings, group_id, on_alerts
        self.ready = False
        self.applied = 0
        self.restarts = 0
        self.metrics_port: int | None = None
        self.last_error: str | None = None
        self._proc: multiprocessing.process.BaseProcess | None = None
        self._conn: Connection | None = None

    def changed_elsewhere(self, alert_id: str) -> None:
        if self._conn is not None:
            with contextlib.suppress(OSError, ValueError):
                self._conn.send(alert_id)

    def _spawn(self) -> None:
        ctx = multiprocessing.get_context("spawn")  # a fresh interpreter: nothing of the service's loop or clients is inherited
        parent, child = ctx.Pipe()
        self._proc = ctx.Process(target=_child_main, args=(self.settings.model_dump(), self.group_id, child), name="signpost-alerts-school", daemon=True)
        self._proc.start()
        child.close()
        self._conn = parent

    @Service.task
    async def _supervise(self) -> None:
        backoff = 0.5
        loop = asyncio.get_running_loop()
        while not self.should_stop:
            self._spawn()
            started = time.monotonic()
            assert self._conn is not None
            try:
                while not self.should_stop:
                    if not await loop.run_in_executor(None, self._conn.poll, 0.5):
                        if self._proc is not None and not self._proc.is_alive():
                            break
                        continue
                    self._receive(self._conn.recv())
            except (EOFError, OSError):
                pass
            self.ready = False
            if self.should_stop:
                return
            code = self._proc.exitcode if self._proc else None
            self.last_error = f"exit code {code}"
            backoff = 0.5 if time.monotonic() - started > 60 else min(backoff * 2, 30.0)
            log.warning("the school stage's process stopped; starting it again", extra={"exit_code": code, "retry_in_s": backoff})
            self.restarts += 1
            await asyncio.sleep(backoff)

    def _receive(self, message: dict) -> None:
        if "metrics_port" in message:
            self.metrics_port = message["metrics_port"]
        if "ready" in message:
            self.ready = message["ready"]
        if "applied" in message:
            self.applied = message["applied"]
        if message.get("alerts") is not None:
            self.on_alerts([Alert.model_validate_json(a) for a in message["alerts"]])

    async def on_stop(self) -> None:
        conn, proc = self._conn, self._proc
        if conn is not None:
            with contextlib.suppress(OSError, ValueError):
                conn.send(STOP)
        if proc is not None:
            await asyncio.get_running_loop().run_in_executor(None, proc.join, 20)
            if proc.is_alive():
                proc.kill()
                proc.join(5)
        self.ready = False
