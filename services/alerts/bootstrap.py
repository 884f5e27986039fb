"""The alerts service's composition root: the one place its objects are built.

`bootstrap(settings)` reads the rules and the calendars, and builds the store, both stages, the
broadcaster and live feed (SSE), the outbox relay, the handlers, the timers and the faust worker
that runs them; nothing connects until the app's lifespan starts them. The stage runners are built
at start (`stage_runners`): their consumer groups carry the store's generation. `signpost rebuild
alerts` (rebuild.py) calls it too, for its own store and stages.

The faust app is the worker: it owns the stages' runners (mode services), the timers and their
lifecycle, and runs on uvicorn's loop (faust's ASGI integration). It boots producer-only: the
stages consume in batches themselves (services/common/stream.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import faust
from sqlalchemy import Engine

from schemas.topics import INTAKE_TOPICS, SCHOOL_SUSPENSIONS
from services.alerts import child_clocks
from services.alerts.child_stage import ChildStage
from services.alerts.domain.rules import RuleConfig, load_rules
from services.alerts.handlers import Handlers
from services.alerts.live import Broadcaster
from services.alerts.live_feed import LiveFeed
from services.alerts.school_process import SchoolProcess
from services.alerts.school_stage import SchoolStage
from services.alerts.store import AlertsStore
from services.alerts.timers import Timers
from services.common import db
from services.common.calendar import CalendarRegistry, load_registry
from services.common.relay import Relay
from services.common.settings import Settings
from services.common.stream import StageRunner
from services.common.worker import stage_worker


@dataclass
class Alerts:
    """What `bootstrap` built: the app's lifespan starts and stops it, the routes read it (deps.py)."""

    settings: Settings
    engine: Engine
    store: AlertsStore
    calendars: CalendarRegistry
    rules: RuleConfig
    child: ChildStage
    school: SchoolStage
    broadcaster: Broadcaster
    live_feed: LiveFeed
    relay: Relay
    handlers: Handlers
    timers: Timers
    worker: faust.App
    audit_buffer: list[dict]  # the live feed's reads, written by the flush_audit timer
    runners: list[StageRunner | SchoolProcess]  # built at start (stage_runners), again after a rebuild
    rebuild_state: dict[str, Any] = field(default_factory=lambda: {"status": "idle"})  # GET /v1/admin/rebuild


def consumer_groups(settings: Settings, generation: str) -> tuple[str, str]:
    """Group ids carry the state's generation: a rebuild starts a new generation, which reads from the start."""
    return f"{settings.topic_prefix}alerts-child-g{generation}", f"{settings.topic_prefix}alerts-school-g{generation}"


def bootstrap(settings: Settings, *, store: AlertsStore | None = None, relay: Relay | None = None, clock: child_clocks.Clock | None = None,
              deadline_tick_s: float | None = None) -> Alerts:
    """Build the service. `clock` is the child stage's today (default: the settings' clock file or the
    UK date); `deadline_tick_s` its tick (default: the setting)."""
    if store is None:
        store = AlertsStore(db.make_engine(settings.database_url_for("alerts"), checkpoint_s=settings.sqlite_checkpoint_s))
    engine = store.engine
    calendars = load_registry(settings.calendars_dir)
    rules = load_rules(settings.rules_file)
    child = ChildStage(store, calendars, rules, max_children=settings.alerts_cached_children, clock=clock or child_clocks.clock_of(settings),
                       tick_s=settings.deadline_tick_s if deadline_tick_s is None else deadline_tick_s)
    school = SchoolStage(store, calendars, rules)
    broadcaster = Broadcaster()
    # The SSE feed is fed from the alerts topic, not from this process's commits, so every replica's
    # clients see every replica's changes (issue 13). A minute's grace covers clock skew between hosts.
    live_feed = LiveFeed(settings, broadcaster, since=datetime.now(UTC) - timedelta(minutes=1))
    audit_buffer: list[dict] = []
    worker = stage_worker(settings, "alerts")
    if relay is None:
        relay = Relay(settings, store.outbox, service="alerts", engine=engine)
    runners: list[StageRunner | SchoolProcess] = []
    handlers = Handlers(engine, store, relay, child, school, runners)
    timers = Timers(settings, engine, store, handlers, broadcaster, audit_buffer)
    timers.install(worker)
    return Alerts(settings, engine, store, calendars, rules, child, school, broadcaster, live_feed, relay, handlers, timers, worker,
                  audit_buffer, runners)


def stage_runners(alerts: Alerts, generation: str) -> list[StageRunner | SchoolProcess]:
    """The child stage's runner (the intake topics) and the school stage's (school suspensions; in a
    process of its own with `alerts_school_process`), in the consumer groups of `generation`."""
    settings, child, school, store, handlers = alerts.settings, alerts.child, alerts.school, alerts.store, alerts.handlers
    child_group, school_group = consumer_groups(settings, generation)
    school_runner = (
        SchoolProcess(settings, school_group, handlers.alerts_committed)
        if settings.alerts_school_process
        else StageRunner(settings=settings, service="alerts", stage="school", group_id=school_group, topics=[SCHOOL_SUSPENSIONS.name], linger_s=settings.school_stage_linger_s,
                         process=school.process, commit=store.commit, reset=school.reset, on_committed=handlers.on_committed)
    )  # fmt: skip
    return [
        StageRunner(settings=settings, service="alerts", stage="child", group_id=child_group, topics=[t.name for t in INTAKE_TOPICS],
                    process=child.process, commit=store.commit, reset=child.reset, on_committed=handlers.on_committed, has_pending=child.has_pending,
                    on_assigned=child.assigned, gate=child.gate if settings.stage_overlap_commit else None),
        school_runner,
    ]  # fmt: skip
