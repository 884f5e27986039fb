"""services/common/db.py: WAL checkpoints in a background thread, writers bounded (real SQLite files)."""

from __future__ import annotations

import gc
import hashlib
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Engine, text

from services.common import db
from services.common.db import Checkpointer

ROW_BYTES = 3000  # one row a 4 KiB page: pages written ≈ rows written
PAGE = 4096


def _engine(path: Path, **kwargs: float) -> Engine:
    engine = db.make_engine(f"sqlite:///{path}", **kwargs)  # type: ignore[arg-type]
    with db.write(engine) as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS t (k INTEGER PRIMARY KEY, v BLOB NOT NULL, h TEXT NOT NULL)"))
    return engine


def _write(engine: Engine, transactions: int, rows: int) -> None:
    for _ in range(transactions):
        values = [os.urandom(ROW_BYTES) for _ in range(rows)]
        with db.write(engine) as conn:
            conn.exec_driver_sql("INSERT INTO t (v, h) VALUES (?, ?)", [(v, hashlib.sha256(v).hexdigest()) for v in values])


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def _wal(path: Path) -> Path:
    return path.with_name(path.name + "-wal")


def _poll(condition: Callable[[], bool], timeout_s: float = 30) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


def test_writers_leave_checkpoints_below_the_bound_to_the_thread(tmp_path: Path) -> None:
    # Control: SQLite's default, the commit that takes the WAL past 1,000 pages copies them back.
    default = _engine(tmp_path / "default.sqlite3")
    _write(default, 20, 100)
    assert _size(tmp_path / "default.sqlite3") >= 1000 * PAGE
    default.dispose()

    # A thread that has not checkpointed yet: 2,000 pages stay in the WAL, none in the file.
    idle = _engine(tmp_path / "idle.sqlite3", checkpoint_s=3600)
    _write(idle, 20, 100)
    assert _size(tmp_path / "idle.sqlite3") < 100 * PAGE
    assert _size(_wal(tmp_path / "idle.sqlite3")) >= 2000 * PAGE
    idle.dispose()

    # The thread checkpoints: the pages reach the database file while nobody writes.
    path = tmp_path / "alerts.sqlite3"
    engine = _engine(path, checkpoint_s=0.05)
    checkpointer = db.checkpointer_of(engine)
    assert checkpointer is not None and checkpointer.thread is not None and checkpointer.thread.daemon
    _write(engine, 20, 100)
    assert _poll(lambda: _size(path) >= 2000 * PAGE), "the background thread never checkpointed the WAL"
    # the pages reach the file while the checkpoint runs, before the thread counts it: wait for the count too
    assert _poll(lambda: checkpointer.checkpoints >= 1), "the pages were copied, but not by the thread"
    engine.dispose()


def test_past_the_bound_a_writer_checkpoints_itself_so_the_wal_stays_bounded_without_the_thread(tmp_path: Path) -> None:
    path = tmp_path / "alerts.sqlite3"
    engine = _engine(path, checkpoint_s=0.05, wal_bound_pages=200)
    checkpointer = db.checkpointer_of(engine)
    assert checkpointer is not None
    checkpointer.stop()  # the thread died, or fell far behind
    assert checkpointer.thread is None

    _write(engine, 40, 50)  # 2,000 pages, ten times the bound

    # The WAL is reused from its start after each writer's checkpoint: at most the bound plus a transaction.
    assert _size(_wal(path)) <= (200 + 50 + 10) * (PAGE + 24) + 32
    assert _size(path) >= (2000 - 260) * PAGE
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM t")).scalar() == 2000
    assert checkpointer.thread is None  # the pool's connection was reused: nothing restarted it
    engine.dispose()


def test_dispose_stops_the_thread_and_no_engine_leaves_one_behind(tmp_path: Path) -> None:
    engine = db.make_engine(f"sqlite:///{tmp_path / 'a.sqlite3'}", checkpoint_s=0.01)
    checkpointer = db.checkpointer_of(engine)
    assert checkpointer is not None
    assert checkpointer.thread is None  # lazily: nothing runs before the first connection
    db.ping(engine)
    first = checkpointer.thread
    assert first is not None and first.is_alive()
    engine.dispose()
    assert not first.is_alive() and checkpointer.thread is None

    db.ping(engine)  # an engine is usable after dispose(): its next connection starts a thread again
    second = checkpointer.thread
    assert second is not None and second is not first and second.is_alive()
    engine.dispose()
    assert not second.is_alive()

    # Many engines, as the tests make them: each disposed, or just dropped.
    threads = []
    for i in range(20):
        many = db.make_engine(f"sqlite:///{tmp_path / f'{i}.sqlite3'}", checkpoint_s=0.01)
        db.ping(many)
        cp = db.checkpointer_of(many)
        assert cp is not None and cp.thread is not None
        threads.append(cp.thread)
        if i % 2:
            many.dispose()
        del many, cp
    gc.collect()  # a dropped engine's finalizer stops its thread
    assert _poll(lambda: not any(t.is_alive() for t in threads), timeout_s=30)


def test_everything_two_writers_commit_beside_the_checkpoints_is_read_back(tmp_path: Path) -> None:
    """Two engines on one file (the alerts service and its school stage's process), each with a
    checkpoint thread, checkpoints often and a small bound: no writer sees an error, nothing is lost."""
    path = tmp_path / "alerts.sqlite3"
    engines = [_engine(path, checkpoint_s=0.005, wal_bound_pages=50) for _ in range(2)]
    errors: list[BaseException] = []

    def writer(engine: Engine) -> None:
        try:
            _write(engine, 60, 10)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    workers = [threading.Thread(target=writer, args=(e,)) for e in engines]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert errors == []
    checkpointers = [db.checkpointer_of(e) for e in engines]
    assert all(cp is not None and cp.checkpoints >= 1 for cp in checkpointers)
    for engine in engines:
        engine.dispose()

    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        rows = conn.execute("SELECT v, h FROM t").fetchall()
    finally:
        conn.close()
    assert len(rows) == 2 * 60 * 10
    assert all(hashlib.sha256(v).hexdigest() == h for v, h in rows)


def test_a_failing_checkpoint_is_logged_once_and_tried_again(tmp_path: Path, caplog) -> None:  # noqa: ANN001 - pytest's fixture
    caplog.set_level(logging.INFO, logger="services.common.db")
    path = tmp_path / "later.sqlite3"
    checkpointer = Checkpointer(str(path), 0.01)
    checkpointer.start()
    try:
        assert _poll(lambda: any("WAL checkpoint failed" in r.getMessage() for r in caplog.records))
        time.sleep(0.1)  # several more failed tries
        assert checkpointer.thread is not None and checkpointer.thread.is_alive()
        assert not path.exists()  # it never creates the file
        assert checkpointer.checkpoints == 0
        assert sum("WAL checkpoint failed" in r.getMessage() for r in caplog.records) == 1
        assert all(str(tmp_path) not in r.getMessage() for r in caplog.records)

        created = sqlite3.connect(path)
        created.execute("PRAGMA journal_mode=WAL")
        created.execute("CREATE TABLE t (k INTEGER PRIMARY KEY)")
        created.commit()
        assert _poll(lambda: checkpointer.checkpoints >= 1)
        assert any("WAL checkpoints work again" in r.getMessage() for r in caplog.records)
        created.close()
    finally:
        checkpointer.stop()
    assert checkpointer.thread is None
