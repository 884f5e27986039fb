"""Rebuild the alerts service's state from the intake topics (after a rule change, or a lost store).

Offline: stop the alerts service first (or ask the running service: POST /v1/admin/rebuild). The
rebuild forgets the facts (children, confirmed links and alerts stay), replays the intake topics
from the start, then the school-suspensions topic, through the same stages (built by bootstrap.py)
and the same stage runner (services/common/stream.py, in its run-until-caught-up mode), then
applies each alert's final finding once: alerts keep their ids and statuses, an alert whose rule no
longer holds is resolved, and only real changes reach the alerts topic (through the outbox: the
service's relay publishes them when it runs), so nobody is notified twice. It ends by switching the
service to a new consumer generation whose committed offsets are where the replay stopped."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone

from tqdm import tqdm

from schemas.topics import INTAKE_TOPICS, SCHOOL_SUSPENSIONS
from services.alerts import tables
from services.alerts.bootstrap import Alerts, bootstrap, consumer_groups, stage_runners
from services.alerts.child_stage import StageResult
from services.common import db, generations, kafka, secrets
from services.common.broker import port_open
from services.common.commit_gate import CommitGate
from services.common.messages import Incoming
from services.common.settings import Settings
from services.common.stream import StageRunner
from services.common.worker import tune_gc_for_stream_state

log = logging.getLogger(__name__)
REPLAY_TICK_S = 60.0  # the child stage's deadline tick during a replay (ChildStage's default, not the setting)
Process = Callable[[list[Incoming], datetime], StageResult]


@dataclass
class RebuildReport:
    generation: str
    events: int
    suspensions: int
    alerts_changed: int
    seconds: float


def alerts_service_answers(settings: Settings) -> bool:
    return port_open(settings.host, settings.alerts_port)


def _outbox_to_broker(process: Process) -> Process:
    """The replay's own messages (suspensions re-keyed by school, child events), its outbox rows too, go
    straight to the broker: the school replay reads them next, and the facts they carry are stored by then
    anyway. The runner produces a batch's messages before it commits its writes, as the service does."""

    def replaying(batch: list[Incoming], now: datetime) -> StageResult:
        result = process(batch, now)
        result.messages = [*result.messages, *result.writes.outbox]
        result.writes.outbox = []
        return result

    return replaying


async def _replay_through_runner(settings: Settings, stage: str, group: str, topics: list[str], process: Process, commit: Callable,
                                 label: str, progress: bool, on_progress: Callable[[str, int], None] | None, gate: CommitGate | None = None) -> int:
    """Consume `topics` from `group`'s start (a new generation) to their current end through a StageRunner
    that stops once caught up (services/common/stream.py). Its reset does nothing: a replay never reset
    the stages (their books hold every finding for `finalize`); a failure fails the rebuild."""
    runner = StageRunner(settings=settings, service="alerts", stage=stage, group_id=group, topics=topics, process=_outbox_to_broker(process),
                         commit=commit, reset=lambda: None, gate=gate)
    bar = tqdm(desc=label, unit=" events", disable=not progress)

    def heard(applied: int) -> None:
        bar.update(applied - bar.n)
        if on_progress:
            on_progress(label, applied)

    try:
        return await runner.run_until_caught_up(on_progress=heard)
    finally:
        bar.close()


async def rebuild(settings: Settings, *, progress: bool = True, in_service: bool = False,
                  on_progress: Callable[[str, int], None] | None = None) -> RebuildReport:
    """`in_service`: called by the running service (POST /v1/admin/rebuild), which paused its stages."""
    if not in_service:
        generations.refuse_while_answering(settings.host, "alerts", settings.alerts_port)
    started = datetime.now(timezone.utc)
    if not in_service:
        secrets.configure_pseudonyms(settings)  # the CLI's process derives child ids as the service does
    tune_gc_for_stream_state()
    built = bootstrap(settings, deadline_tick_s=REPLAY_TICK_S)  # its own store and stages; only these are used
    engine, store, child, school = built.engine, built.store, built.child, built.school
    await asyncio.to_thread(db.migrate, engine, tables.metadata)
    generation = await generations.following(store)
    child_group, school_group = consumer_groups(settings, generation)
    child.sole_owner = not in_service  # the CLI's replay is the only writer (the service is stopped); in the service, other replicas may run
    child.book.defer()
    school.book.defer()
    await kafka.ensure_topics(settings)
    await asyncio.to_thread(store.clear_derived_state)
    events = await _replay_through_runner(settings, "child", child_group, [t.name for t in INTAKE_TOPICS], child.process, store.commit,
                                          "intake events", progress, on_progress, gate=child.gate if settings.stage_overlap_commit else None)
    suspensions = await _replay_through_runner(settings, "school", school_group, [SCHOOL_SUSPENSIONS.name], school.process, store.commit,
                                               "school suspensions", progress, on_progress)
    final = StageResult()
    now = datetime.now(timezone.utc)
    await asyncio.to_thread(child.book.finalize, final, now, child.profile_of)
    await asyncio.to_thread(school.book.finalize, final, now, lambda _: None)
    await asyncio.to_thread(store.commit, final.writes)  # the final changes go out through the outbox (the service's relay)
    await generations.switch(store, generation)
    if not in_service:
        engine.dispose()
    seconds = (datetime.now(timezone.utc) - started).total_seconds()
    return RebuildReport(generation, events, suspensions, len(final.changed_alerts), seconds)


async def rebuild_in_service(alerts: Alerts) -> None:
    """POST /v1/admin/rebuild: pause the stages, replay into fresh state (same code as `signpost rebuild
    alerts`), resume on the new generation (on the old one if the rebuild failed)."""
    state, runners = alerts.rebuild_state, alerts.runners
    state.update(status="running", started_at=datetime.now(timezone.utc).isoformat(), progress={})
    try:
        for runner in runners:
            await runner.stop()
        report = await rebuild(alerts.settings, progress=False, in_service=True, on_progress=lambda label, n: state["progress"].__setitem__(label, n))
        alerts.child.reset()
        alerts.school.reset()
        alerts.relay.notify()
        state.update(status="done", events=report.events, suspensions=report.suspensions, alerts_changed=report.alerts_changed, generation=report.generation)
        runners[:] = stage_runners(alerts, report.generation)
    except Exception as exc:  # noqa: BLE001 - reported on GET /v1/admin/rebuild; the stages resume on the old generation
        log.exception("rebuild failed")
        state.update(status="failed", error=type(exc).__name__)
        runners[:] = stage_runners(alerts, await generations.current(alerts.store))
    for runner in runners:
        await alerts.worker.add_runtime_dependency(runner)
