"""No personal data in a log line, even in a crash (issue 12, item 5).

The end-to-end check (tests/e2e/test_scenarios.py) reads the logs of a healthy run; these drive the
crash paths: a driver error quoting a statement's parameters, an uncaught exception in the main
thread and in a thread, and a library logging an exception's repr in its message.
"""

from __future__ import annotations

import io
import logging
import sqlite3
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from sqlalchemy import Column, MetaData, String, Table, insert
from sqlalchemy.exc import OperationalError

from services.common import db, logs

UPN, NAME, DOB = "W305541021101", "Okafor", "2011-03-14"


def _logged(emit) -> str:  # noqa: ANN001 - a callable taking a logger
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter("test"))
    logger = logging.getLogger(f"test.crash.{id(stream)}")
    logger.handlers[:] = [handler]
    logger.propagate = False
    emit(logger)
    return stream.getvalue()


def test_a_locked_database_error_quotes_no_parameter(tmp_path: Path) -> None:
    """The case of the issue: `database is locked` in a write whose parameters are a child's."""
    path = tmp_path / "locked.sqlite3"
    metadata = MetaData()
    children = Table("children", metadata, Column("upn", String), Column("last_name", String), Column("dob", String))
    engine = db.make_engine(f"sqlite:///{path}", busy_timeout_s=0.05)
    metadata.create_all(engine)
    holder = sqlite3.connect(path, timeout=0)
    holder.execute("BEGIN EXCLUSIVE")  # another process's lock
    try:
        with pytest.raises(OperationalError) as caught:
            with engine.begin() as conn:
                conn.execute(insert(children), {"upn": UPN, "last_name": NAME, "dob": DOB})
    finally:
        holder.rollback()
        holder.close()
        engine.dispose()
    assert "locked" in str(caught.value)
    assert UPN not in str(caught.value) and NAME not in str(caught.value)

    def emit(logger: logging.Logger) -> None:
        try:
            raise RuntimeError("store write failed") from caught.value
        except RuntimeError:
            logger.exception("write failed")

    line = _logged(emit)
    doc = orjson.loads(line)
    assert "OperationalError" in doc["exc"] and "RuntimeError" in doc["exc"], "the chain's classes stay"
    assert "test_logs_crash_paths.py" in doc["exc"], "so do the frames"
    for secret in (UPN, NAME, DOB, "store write failed"):
        assert secret not in line


def test_an_exception_message_never_reaches_the_line() -> None:
    def emit(logger: logging.Logger) -> None:
        try:
            raise ValueError(f"bad pupil {UPN} {NAME}")
        except ValueError as exc:
            logger.error("Crashed reason=%r", exc, exc_info=True)  # what mode logs when a service crashes
            logger.warning("failed", extra={"error": exc})

    text = _logged(emit)
    assert UPN not in text and NAME not in text
    assert "Crashed reason='<ValueError>'" in text


@pytest.mark.parametrize("where", ["main", "thread"])
def test_an_uncaught_exception_is_logged_scrubbed(where: str) -> None:
    code = f"""
import threading
from services.common import logs
logs.setup("test")
def boom():
    raise KeyError({UPN!r} + " " + {NAME!r})
if {where!r} == "thread":
    t = threading.Thread(target=boom); t.start(); t.join()
else:
    boom()
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    out = done.stdout + done.stderr
    assert "KeyError" in out, out
    assert UPN not in out and NAME not in out, out
    assert all(line.startswith("{") for line in done.stderr.splitlines() if line.strip()), "JSON lines only"
