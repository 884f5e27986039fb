"""The referrals service's composition root: the one place its objects are built.

`bootstrap(settings)` reads the policy (a bad file stops the service here, naming the line) and the
calendars, and builds the store, the desk, the stage, the outbox relay, the webhook sender, the
timers and the faust worker that runs them; nothing connects until the app's lifespan starts them.
The stage runner is built at start (`stage_runner`): its consumer group is the store's generation.
Tests and `signpost rebuild referrals` call it too, with their own store, relay or clock.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import faust
from sqlalchemy import Engine

from schemas.topics import ALERTS, CHILD_LINKS, CHILDREN
from services.common import db
from services.common.calendar import CalendarRegistry, load_registry
from services.common.outbox import OutboxLog
from services.common.relay import Relay
from services.common.settings import Settings
from services.common.stream import StageRunner
from services.common.worker import stage_worker
from services.referrals import tables
from services.referrals.consumer import ReferralsStage
from services.referrals.desk import ReferralDesk
from services.referrals.handlers import Handlers
from services.referrals.policy import PolicyHolder
from services.referrals.store import ReferralStore
from services.referrals.timers import Timers
from services.referrals.views import Viewer
from services.referrals.webhooks import WebhookSender

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Referrals:
    """What `bootstrap` built: the app's lifespan starts and stops it, the routes read it (deps.py)."""

    settings: Settings
    engine: Engine
    store: ReferralStore
    policy: PolicyHolder
    calendars: CalendarRegistry
    desk: ReferralDesk
    viewer: Viewer
    relay: Relay
    handlers: Handlers
    stage: ReferralsStage
    sender: WebhookSender
    timers: Timers
    worker: faust.App
    clock: Clock
    runners: list[StageRunner] = field(default_factory=list)  # built at start: see stage_runner


def consumer_group(settings: Settings, generation: str) -> str:
    """`signpost rebuild referrals` starts a new generation, whose offsets are where its replay stopped."""
    return f"{settings.topic_prefix}referrals-g{generation}"


def bootstrap(settings: Settings, *, store: ReferralStore | None = None, relay: Relay | None = None, clock: Clock | None = None,
              deliver: bool = True) -> Referrals:
    """Build the service. `deliver=False` (a rebuild) records webhook deliveries as skipped.

    The referrals service has no producer of its own: its messages are outbox rows the relay
    publishes, so `relay` is what a test replaces to keep the broker out."""
    clock = clock or utc_now
    if store is None:
        store = ReferralStore(db.make_engine(settings.database_url_for("referrals"), checkpoint_s=settings.sqlite_checkpoint_s))
    engine = store.engine
    policy = PolicyHolder(settings.routing_policy_file)  # a bad policy stops the service here, naming the line
    calendars = load_registry(settings.calendars_dir)
    desk = ReferralDesk(engine, lambda: policy.policy, calendars, deliver=deliver)
    viewer = Viewer(policy, calendars)
    # The outbox (referral changes, dead letters) reaches Kafka through the relay, in commit order,
    # and again if the broker lost it. On PostgreSQL one replica publishes (advisory lock).
    if relay is None:
        relay = Relay(settings, OutboxLog(engine, tables.outbox, tables.relay_state), service="referrals", engine=engine)
    handlers = Handlers(store, relay, viewer, clock)
    stage = ReferralsStage(desk, settings.topic_prefix, handlers.desk_outcome)
    sender = WebhookSender(engine, lambda: policy.policy, handlers.render)
    timers = Timers(settings, engine, store, sender, relay, clock)
    worker = stage_worker(settings, "referrals")
    timers.install(worker)
    return Referrals(settings, engine, store, policy, calendars, desk, viewer, relay, handlers, stage, sender, timers, worker, clock)


def stage_runner(referrals: Referrals, generation: str) -> StageRunner:
    """The batch consumer of alerts.v1, children.v1 and children.links.v1, in the store's consumer generation."""
    settings, stage = referrals.settings, referrals.stage
    return StageRunner(settings=settings, service="referrals", stage="desk", group_id=consumer_group(settings, generation),
                       topics=[ALERTS.name, CHILDREN.name, CHILD_LINKS.name], process=stage.process, commit=stage.commit,
                       reset=stage.reset, on_committed=stage.on_committed, max_records=500)
