"""The alert book: turns a stage's findings into new or updated alerts and the messages that announce them.

In a rebuild the book defers: it keeps only the last finding per alert and applies them
once at the end, so each alert changes at most once and nobody sees a replay's churn
(or is told twice).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from schemas.alerts import Alert, AlertChanged
from schemas.children import ChildProfile
from schemas.topics import ALERTS
from services.alerts.domain import lifecycle
from services.alerts.domain.findings import Finding
from services.alerts.store import AlertsStore
from services.common.messages import outgoing

SOURCE = "/signpost/alerts"
ProfileOf = Callable[[str], dict | None]  # child_id -> profile JSON, when the subject is a child


class AlertBook:
    def __init__(self, store: AlertsStore, rules: Iterable[str]):
        self.store = store
        self.rules = frozenset(rules)  # the rules this book's stage owns
        self.cache: dict[str, Alert] = {}
        self.deferred: dict[str, Finding] | None = None

    def reset(self) -> None:
        self.cache.clear()

    def defer(self) -> None:
        self.deferred = {}

    def apply(self, findings: list[Finding], result: Any, now: datetime, profile_of: ProfileOf) -> None:
        if not findings:
            return
        if self.deferred is not None:
            for finding in findings:
                self.deferred[finding.alert_id] = finding
            return
        missing = [f.alert_id for f in findings if f.alert_id not in self.cache]
        if missing:
            self.cache.update(self.store.alerts_by_ids(missing))
        for finding in findings:
            profile = profile_of(finding.subject_id) if finding.subject_kind == "child" else None
            existing = self.cache.get(finding.alert_id)
            changed = lifecycle.apply_finding(existing, finding, upn=(profile or {}).get("upn"), now=now)
            if changed is not None:
                self.save(changed, finding.school_urn, result, "raised" if existing is None else "updated", profile)

    def save(self, alert: Alert, school_urn: str | None, result: Any, change: str, profile: dict | None) -> None:
        self.cache[alert.id] = alert
        result.writes.alerts[alert.id] = (alert, school_urn)
        result.changed_alerts.append(alert)
        child = ChildProfile(**profile) if profile else None
        payload = AlertChanged(alert=alert, change=change, child=child)  # type: ignore[arg-type]
        key = getattr(alert.subject, "child_id", None) or getattr(alert.subject, "school_urn", None) or alert.la_code
        result.messages.append(outgoing(ALERTS, key, f"{alert.id}:v{alert.version}", payload, SOURCE, subject=alert.id))

    def finalize(self, result: Any, now: datetime, profile_of: ProfileOf) -> None:
        """End of a rebuild: apply the last finding per alert; resolve alerts whose rule no longer holds."""
        deferred, self.deferred = self.deferred or {}, None
        self.apply(list(deferred.values()), result, now, profile_of)
        for alert in self.store.alerts_of_rules(sorted(self.rules)):
            if alert.id not in deferred and alert.status != "resolved":
                resolved = lifecycle.resolve(alert, "no longer holds after the rebuild (rules or data changed)", now)
                subject = getattr(alert.subject, "child_id", None)
                self.save(resolved, None, result, "status", profile_of(subject) if subject else None)
