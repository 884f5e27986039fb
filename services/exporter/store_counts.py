"""Counts from the alerts and referrals stores (the same database on PostgreSQL; each service's
SQLite file under `make run`). Read-only; blocking: run them in a thread."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Engine, and_, func, select

from services.alerts import tables as alert_tables
from services.referrals import tables as referral_tables


def alerts_by_status(engine: Engine) -> dict[tuple[str, str, str], int]:
    a = alert_tables.alerts.c
    with engine.connect() as conn:
        rows = conn.execute(select(a.rule, a.severity, a.status, func.count()).group_by(a.rule, a.severity, a.status))
        return {(rule, severity, status): n for rule, severity, status, n in rows}


def referrals_by_status(engine: Engine) -> dict[tuple[str, str], int]:
    r = referral_tables.referrals.c
    with engine.connect() as conn:
        return {(agency, status): n for agency, status, n in conn.execute(select(r.agency, r.status, func.count()).group_by(r.agency, r.status))}


def referrals_overdue(engine: Engine, today: date) -> dict[tuple[str], int]:
    """New referrals past their due date (the referrals API's `overdue=true`)."""
    r = referral_tables.referrals.c
    late = and_(r.status == "new", r.due_by < today)
    with engine.connect() as conn:
        return {(agency,): n for agency, n in conn.execute(select(r.agency, func.count()).where(late).group_by(r.agency))}
