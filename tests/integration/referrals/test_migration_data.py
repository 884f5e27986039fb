"""The referrals migration to reasons-per-referral keeps what an existing store holds (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from alembic import command
from sqlalchemy import text

from services.common import db, migrations
from services.referrals import tables
from services.referrals.store import ReferralStore

pytestmark = pytest.mark.integration
AT = datetime(2025, 3, 6, 10, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def url(request, tmp_path):  # noqa: ANN001, ANN201
    return f"sqlite:///{tmp_path}/r.sqlite3" if request.param == "sqlite" else request.getfixturevalue("pg_schema_url")


def test_existing_referrals_and_reasons_survive_the_migration(url: str) -> None:
    engine = db.make_engine(url)
    with engine.begin() as conn:
        command.upgrade(migrations.config("referrals", conn), "cf2b6d6a7f9d")  # the store as it was
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO referrals_referrals (id, agency, child_id, la_code, upn, child, status, created_at, updated_at, due_by, version) "
                          "VALUES ('ref_old', 'ias', 'ch-1', '305', NULL, '{}', 'new', :at, :at, :due, 2)"), {"at": AT, "due": date(2025, 3, 20)})
        for key in ("alert:al-1", "call:C-1"):
            conn.execute(text("INSERT INTO referrals_reasons (child_id, agency, reason_key, referral_id, reason, added_at) "
                              "VALUES ('ch-1', 'ias', :key, 'ref_old', :reason, :at)"), {"key": key, "reason": '{"source": "call", "call_id": "C-1"}', "at": AT})
    db.migrate(engine, tables.metadata)
    with engine.connect() as conn:
        reasons = conn.execute(text("SELECT referral_id, reason_key, agency, child_id, version FROM referrals_reasons ORDER BY reason_key")).all()
        las = conn.execute(text("SELECT referral_id, la_code FROM referrals_referral_las")).all()
    assert [tuple(r) for r in reasons] == [("ref_old", "alert:al-1", "ias", "ch-1", 1), ("ref_old", "call:C-1", "ias", "ch-1", 1)]
    assert [tuple(r) for r in las] == [("ref_old", "305")]
    assert len(ReferralStore(engine).get("ref_old").reasons) == 2
    engine.dispose()
