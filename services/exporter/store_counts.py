"""Counts from the alerts and referrals stores (the same database on PostgreSQL; each service's
SQLite file under `make run`). Read-only; blocking: run them in a thread.

The exporter imports no other service: it names the few columns it reads here, a read-only
contract with those stores that its integration tests check against the real tables."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Date, Engine, and_, column, func, select, table

ALERTS = table("alerts_alerts", column("rule"), column("severity"), column("status"))
REFERRALS = table("referrals_referrals", column("agency"), column("status"), column("due_by", Date))


def alerts_by_status(engine: Engine) -> dict[tuple[str, str, str], int]:
    a = ALERTS.c
    with engine.connect() as conn:
        rows = conn.execute(select(a.rule, a.severity, a.status, func.count()).group_by(a.rule, a.severity, a.status))
        return {(rule, severity, status): n for rule, severity, status, n in rows}


def referrals_by_status(engine: Engine) -> dict[tuple[str, str], int]:
    r = REFERRALS.c
    with engine.connect() as conn:
        return {(agency, status): n for agency, status, n in conn.execute(select(r.agency, r.status, func.count()).group_by(r.agency, r.status))}


def referrals_overdue(engine: Engine, today: date) -> dict[tuple[str], int]:
    """New referrals past their due date (the referrals API's `overdue=true`)."""
    r = REFERRALS.c
    late = and_(r.status == "new", r.due_by < today)
    with engine.connect() as conn:
        return {(agency,): n for agency, n in conn.execute(select(r.agency, func.count()).where(late).group_by(r.agency))}
