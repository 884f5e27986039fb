"""Schema migrations (Alembic): one history per service, in services/<service>/migrations/.

Every service runs `upgrade()` at start-up; it is idempotent. To change a table: edit the
service's tables.py, then `python -m services.common.migrations revision <service> "what changed"`
and review the generated file.
"""

from __future__ import annotations

import argparse
import importlib
import tempfile
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine

SERVICES = ("intake", "alerts", "referrals", "web")


def config(service: str, connection=None) -> Config:  # noqa: ANN001 - a SQLAlchemy Connection
    tables = importlib.import_module(f"services.{service}.tables")
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent / "alembic"))
    cfg.set_main_option("version_locations", str(Path(__file__).parents[1] / service / "migrations"))
    cfg.set_main_option("path_separator", "os")
    cfg.attributes.update(metadata=tables.metadata, version_table=f"alembic_version_{service}", connection=connection)
    return cfg


def upgrade(engine: Engine, service: str) -> None:
    with engine.begin() as connection:
        command.upgrade(config(service, connection), "head")


def revision(service: str, message: str) -> None:
    """Autogenerate a revision against a scratch SQLite database brought to head."""
    with tempfile.TemporaryDirectory() as tmp:
        engine = create_engine(f"sqlite:///{tmp}/scratch.sqlite3")
        upgrade(engine, service)
        with engine.begin() as connection:
            command.revision(config(service, connection), message=message, autogenerate=True)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m services.common.migrations", description="Signpost schema migrations")
    sub = parser.add_subparsers(dest="command", required=True)
    rev = sub.add_parser("revision", help="autogenerate a revision from the service's tables.py")
    rev.add_argument("service", choices=SERVICES)
    rev.add_argument("message")
    args = parser.parse_args()
    revision(args.service, args.message)


if __name__ == "__main__":
    main()
