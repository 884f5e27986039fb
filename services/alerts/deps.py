"""The routes' typed dependencies: each reads what `bootstrap` built (on `app.state.alerts`) once.

A route names what it needs (`store: Store`, `handlers: Notify`) instead of reaching into `app.state`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from services.alerts.bootstrap import Alerts
from services.alerts.domain.rules import RuleConfig
from services.alerts.handlers import Handlers
from services.alerts.live import Broadcaster
from services.alerts.store import AlertsStore
from services.common.calendar import CalendarRegistry


def get_alerts(request: Request) -> Alerts:
    alerts: Alerts = request.app.state.alerts
    return alerts


def get_store(alerts: Annotated[Alerts, Depends(get_alerts)]) -> AlertsStore:
    return alerts.store


def get_handlers(alerts: Annotated[Alerts, Depends(get_alerts)]) -> Handlers:
    return alerts.handlers


def get_broadcaster(alerts: Annotated[Alerts, Depends(get_alerts)]) -> Broadcaster:
    return alerts.broadcaster


def get_audit_buffer(alerts: Annotated[Alerts, Depends(get_alerts)]) -> list[dict]:
    return alerts.audit_buffer


def get_calendars(alerts: Annotated[Alerts, Depends(get_alerts)]) -> CalendarRegistry:
    return alerts.calendars


def get_rules(alerts: Annotated[Alerts, Depends(get_alerts)]) -> RuleConfig:
    return alerts.rules


Service = Annotated[Alerts, Depends(get_alerts)]  # the whole container: the admin rebuild pauses and restarts the stages
Store = Annotated[AlertsStore, Depends(get_store)]
Notify = Annotated[Handlers, Depends(get_handlers)]
Feed = Annotated[Broadcaster, Depends(get_broadcaster)]
AuditBuffer = Annotated[list[dict], Depends(get_audit_buffer)]  # the live feed's reads (flushed by a timer)
Calendars = Annotated[CalendarRegistry, Depends(get_calendars)]
Rules = Annotated[RuleConfig, Depends(get_rules)]
