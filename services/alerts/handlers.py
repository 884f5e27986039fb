"""What follows a committed change of the alerts service, wherever it came from: a stage's batch (or
the school stage's process), a person's transition over HTTP, the snooze timer, an identity decision,
an erasure. Count it, wake the relay to publish the outbox rows it wrote, tell the stages."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine

from schemas.alerts import Alert
from services.alerts import subject_access as alerts_subject_access
from services.alerts.alerting import change_message
from services.alerts.child_stage import ChildStage
from services.alerts.metrics import ALERT_CHANGES
from services.alerts.school_process import SchoolProcess
from services.alerts.school_stage import SchoolStage
from services.alerts.store import AlertsStore
from services.common.problems import ProblemError
from services.common.relay import Relay
from services.common.stream import StageRunner, StaleWrite


class Handlers:
    def __init__(self, engine: Engine, store: AlertsStore, relay: Relay, child: ChildStage, school: SchoolStage,
                 runners: list[StageRunner | SchoolProcess]):
        self.engine, self.store, self.relay, self.child, self.school = engine, store, relay, child, school
        self.runners = runners  # the container's list: replaced in place at start and after a rebuild

    def alerts_committed(self, changed: list[Alert]) -> None:
        """A stage (or the school stage's process) committed: count its changes and wake the relay; the
        live feed follows alerts.v1, where the relay publishes them."""
        for alert in changed:
            ALERT_CHANGES.labels(alert.rule, alert.severity, "raised" if alert.version == 1 else "updated").inc()
        self.relay.notify()

    def on_committed(self, result: Any) -> None:  # noqa: ANN401 - a StageResult
        self.alerts_committed(result.changed_alerts)

    async def save_alert_change(self, alert: Alert, school_urn: str | None, expected_version: int, audit: list[dict], by: str) -> bool:
        """A person's (or the snooze timer's) change: stored only on the version it was made on, with its
        history, audit and alerts-topic message (the outbox); then the live feed and the stages hear of it."""
        message = change_message(alert, "status", None)
        if not await asyncio.to_thread(self.store.save_alert, alert, school_urn, expected_version, audit, by, [message]):
            return False
        for stage in (self.child, self.school):
            stage.book.changed_elsewhere(alert.id)
        for runner in self.runners:
            if isinstance(runner, SchoolProcess):
                runner.changed_elsewhere(alert.id)
        ALERT_CHANGES.labels(alert.rule, alert.severity, "status").inc()
        self.relay.notify()
        return True

    async def identity_decision(self, candidate_id: str, decision: str, by: str, note: str | None) -> str:
        """Recorded (audited) by the store; the child stage applies it to the link in its next batch."""
        candidate = await asyncio.to_thread(self.store.candidate, candidate_id)
        if candidate is None:
            raise ProblemError(404, "Not Found", "no such candidate")
        try:
            status: str = await asyncio.to_thread(self.store.decide_candidate, candidate, decision, by, note, datetime.now(UTC))
        except StaleWrite as exc:
            raise ProblemError(409, "Conflict", "the candidate changed meanwhile; look again") from exc
        self.child.request_recompute()
        return status

    def erase(self, child_id: str, _keys: object) -> dict[str, int]:
        """An erasure (services.common.privacy_routes): the rows go; the stage drops its caches and skips the
        child's old events from its next batch."""
        deleted = alerts_subject_access.erase(self.engine, child_id)
        self.child.erasures.due()
        return deleted
