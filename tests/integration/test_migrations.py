"""Each service's Alembic history builds exactly the tables its tables.py declares, on SQLite and PostgreSQL."""

from __future__ import annotations

import importlib

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from services.common import db, migrations

pytestmark = pytest.mark.integration


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/m.sqlite3"
    return request.getfixturevalue("pg_schema_url")


@pytest.mark.parametrize("service", migrations.SERVICES)
def test_migrations_match_the_tables(url: str, service: str) -> None:
    engine = db.make_engine(url)
    metadata = importlib.import_module(f"services.{service}.tables").metadata
    db.migrate(engine, metadata)
    db.migrate(engine, metadata)  # idempotent: a restart upgrades nothing
    with engine.connect() as conn:
        diff = [d for d in compare_metadata(MigrationContext.configure(conn), metadata)
                if not (d[0] == "remove_table" and d[1].name.startswith("alembic_version_"))]
    engine.dispose()
    assert diff == [], f"run: python -m services.common.migrations revision {service} '...'\n{diff}"
