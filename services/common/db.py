"""Database engines: SQLite by default (one file per service), PostgreSQL by URL.

SQLite runs in WAL mode. The intake's event log asks for synchronous=FULL: a 202 means
the event survived a power cut, not just a process crash. Group commit keeps that cheap.

A store's writers can leave WAL checkpoints to a background thread (`checkpoint_s`): SQLite's
auto-checkpoint otherwise runs inside the commit that takes the WAL past 1,000 pages, copying pages
back and syncing the file while the writer (a stage's batch, a 202) waits.
"""

from __future__ import annotations

import functools
import logging
import sqlite3
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import overload

from sqlalchemy import Connection, Engine, LargeBinary, MetaData, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError

log = logging.getLogger(__name__)

#: Errors that mean "the store is unavailable": answer 503 + Retry-After, retry later.
UNAVAILABLE = (OperationalError, DBAPIError)

#: Seconds between a store's background checkpoints (SIGNPOST_SQLITE_CHECKPOINT_S's default).
CHECKPOINT_S = 1.0
#: With a checkpoint thread, a writer still checkpoints itself once the WAL holds this many pages
#: (~40 MiB at 4 KiB pages; SQLite's default is 1,000): the WAL stays bounded if the thread stops.
WAL_BOUND_PAGES = 10_000


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def make_engine(url: str, *, synchronous: str = "NORMAL", pool_size: int = 5, busy_timeout_s: float = 5,
                checkpoint_s: float = 0, wal_bound_pages: int = WAL_BOUND_PAGES) -> Engine:
    """`busy_timeout_s`: how long a SQLite write waits for a lock another process holds before it
    fails. Writers of one process queue in `write()` instead, so only another process (an operator's
    sqlite3 shell, a backup) ever holds it: better to fail soon (the intake answers 503 + Retry-After,
    a stage retries its batch with backoff, `/readyz` says why) than to hang a request for 30 s.

    `hide_parameters`: a driver error's message never quotes a statement's parameters (a child's
    UPN, names, date of birth); the log formatter drops exception messages as well (issue 12).
    PostgreSQL's `sslmode` (and `sslrootcert`) come from the URL's query, e.g. `?sslmode=verify-full`.

    `checkpoint_s` > 0 (a SQLite file; a store's writers): a thread checkpoints the WAL that often
    (see `Checkpointer`) and the writers' auto-checkpoint moves up to `wal_bound_pages`. 0: SQLite's
    default, the commit that takes the WAL past 1,000 pages checkpoints it. Readers leave it at 0."""
    parsed = make_url(url)
    if parsed.drivername.startswith("sqlite"):
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": busy_timeout_s}, hide_parameters=True)

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: sqlite3.Connection, _record: object) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute(f"PRAGMA synchronous={synchronous}")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
            # 64 MiB of page cache (default 2 MiB): a year's facts are random-key B-tree inserts, and
            # with the default cache every batch re-reads the index pages it touched last time.
            cur.execute("PRAGMA cache_size=-65536")
            cur.execute("PRAGMA temp_store=MEMORY")
            if checkpointer is not None:
                cur.execute(f"PRAGMA wal_autocheckpoint={int(wal_bound_pages)}")
            cur.close()
            if checkpointer is not None:
                checkpointer.start()  # lazily: at the engine's first connection (again after a dispose)

        checkpointer: Checkpointer | None = None
        if checkpoint_s > 0 and parsed.database and parsed.database != ":memory:":
            checkpointer = cp = Checkpointer(parsed.database, checkpoint_s, synchronous)
            _CHECKPOINTERS[engine] = cp
            event.listen(engine, "engine_disposed", lambda _engine: cp.stop())
            # An engine dropped without dispose() (and every engine at interpreter exit) stops its thread too.
            weakref.finalize(engine, cp.stop)
        return engine
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return create_engine(parsed, pool_size=pool_size, max_overflow=10, pool_pre_ping=True, hide_parameters=True)


class Checkpointer:
    """`PRAGMA wal_checkpoint(PASSIVE)` every `interval_s` on a connection of its own, in a daemon
    thread: a passive checkpoint copies what it can without waiting for (or blocking) readers and
    writers, so the writers' commits only append to the WAL. A failure is logged (the SQLite error's
    name, never a statement or a row) and tried again next time; if the thread stops, the writers'
    `wal_autocheckpoint` bound still checkpoints. One per engine: the school stage's process has its
    own on the alerts file, and two passive checkpoints of one file just take turns."""

    def __init__(self, path: str, interval_s: float, synchronous: str = "NORMAL") -> None:
        self.uri = f"{Path(path).resolve().as_uri()}?mode=rw"  # mode=rw: never create the file (a test's scratch dir may be gone)
        self.interval_s = interval_s
        self.synchronous = synchronous
        self.checkpoints = 0  # completed passes (busy or not): for tests and the curious
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def thread(self) -> threading.Thread | None:
        return self._thread

    def start(self) -> None:
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._stop = threading.Event()
            self._thread = threading.Thread(target=self._run, args=(self._stop,), name="sqlite-checkpoint", daemon=True)
            self._thread.start()

    def stop(self, timeout_s: float = 30) -> None:
        """Idempotent. Waits for a checkpoint in progress (a passive one ends on its own)."""
        with self._lock:
            thread, self._thread = self._thread, None
            self._stop.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout_s)

    def _run(self, stop: threading.Event) -> None:
        conn: sqlite3.Connection | None = None
        failing = False
        try:
            while not stop.wait(self.interval_s):
                try:
                    if conn is None:
                        conn = sqlite3.connect(self.uri, uri=True, timeout=1, isolation_level=None)
                        conn.execute(f"PRAGMA synchronous={self.synchronous}")
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                    self.checkpoints += 1
                    if failing:
                        log.info("WAL checkpoints work again")
                        failing = False
                except sqlite3.Error as exc:
                    if not failing:  # once per run of failures, not every second
                        log.warning("WAL checkpoint failed (%s); trying again every %.1f s, writers checkpoint past the bound meanwhile",
                                    getattr(exc, "sqlite_errorname", type(exc).__name__), self.interval_s)
                        failing = True
                    if conn is not None:
                        conn.close()
                        conn = None
        finally:
            if conn is not None:
                conn.close()


#: The checkpointer of each engine that has one (tests look; no strong reference to the engine).
_CHECKPOINTERS: weakref.WeakKeyDictionary[Engine, Checkpointer] = weakref.WeakKeyDictionary()


def checkpointer_of(engine: Engine) -> Checkpointer | None:
    return _CHECKPOINTERS.get(engine)


def migrate(engine: Engine, metadata: MetaData) -> None:
    """Bring a service's tables up to date with its Alembic history (idempotent)."""
    import importlib

    from services.common import migrations

    for service in migrations.SERVICES:
        if importlib.import_module(f"services.{service}.tables").metadata is metadata:
            migrations.upgrade(engine, service)
            return
    raise ValueError("not the metadata of a Signpost service")


def ping(engine: Engine) -> None:
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))


def insert_ignore(engine: Engine, table):  # noqa: ANN001, ANN201 - a Table; returns an Insert
    """INSERT that skips rows whose key exists: facts are idempotent by natural key. Built once per
    dialect and table (statements are immutable: `.returning()` and friends return a new one)."""
    return _insert_ignore(is_sqlite(engine), table)


@functools.lru_cache(maxsize=512)
def _insert_ignore(sqlite: bool, table):  # noqa: ANN001, ANN202
    if sqlite:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(table).on_conflict_do_nothing()
    from sqlalchemy.dialects.postgresql import insert as pg_insert

    return pg_insert(table).on_conflict_do_nothing()


def upsert(engine: Engine, table, keys: list[str], columns: list[str]):  # noqa: ANN001, ANN201
    """INSERT ... ON CONFLICT (keys) DO UPDATE SET columns = excluded.columns. Built once per dialect,
    table, keys and columns (several per alert change in the referrals desk)."""
    return _upsert(is_sqlite(engine), table, tuple(keys), tuple(columns))


@functools.lru_cache(maxsize=512)
def _upsert(sqlite: bool, table, keys: tuple[str, ...], columns: tuple[str, ...]):  # noqa: ANN001, ANN202
    if sqlite:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    else:
        from sqlalchemy.dialects.postgresql import insert as dialect_insert  # type: ignore[assignment]
    stmt = dialect_insert(table)
    return stmt.on_conflict_do_update(index_elements=list(keys), set_={c: stmt.excluded[c] for c in columns})


@overload
def aware(value: datetime) -> datetime: ...
@overload
def aware(value: None) -> None: ...
def aware(value: datetime | None) -> datetime | None:
    """A time with no offset is UTC: SQLite drops the offset of stored times (everything is stored in
    UTC), and a naive time a caller gives means UTC too. An aware time is returned as it is."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def aware_row(row: dict) -> dict:
    """SQLite drops the UTC offset of stored times: put it back before they leave the service."""
    return {k: (aware(v) if isinstance(v, datetime) else v) for k, v in row.items()}


_WRITE_LOCKS: dict[int, threading.Lock] = {}


@contextmanager
def write(engine: Engine) -> Iterator[Connection]:
    """A write transaction. On SQLite the process's writers queue here: SQLite's own busy handler
    sleeps 1, 2, 5, 10 ... 100 ms between retries, so two writers contending (two stages, a stage
    and the API) would stall each other for far longer than their transactions take."""
    if is_sqlite(engine):
        lock = _WRITE_LOCKS.setdefault(id(engine), threading.Lock())
        with lock, engine.begin() as conn:
            yield conn
    else:
        with engine.begin() as conn:
            yield conn


class Bulk:
    """A statement for the bulk writes of a batch, compiled once per dialect (keep the object)."""

    def __init__(self, stmt) -> None:  # noqa: ANN001 - an Insert or Update with named bind parameters
        self.stmt = stmt
        self._compiled: dict[str, tuple[str, tuple[str, ...] | None, dict]] = {}

    def compiled(self, dialect) -> tuple[str, tuple[str, ...] | None, dict]:  # noqa: ANN001 - a Dialect
        if dialect.name not in self._compiled:
            compiled = self.stmt.compile(dialect=dialect)
            processors = {}
            for bind in compiled.binds.values():
                if isinstance(bind.type, LargeBinary):
                    continue  # bytes go to both drivers as they are
                processor = bind.type._cached_bind_processor(dialect)  # noqa: SLF001 - the processor SQLAlchemy itself would apply
                if processor is not None:
                    processors[bind.key] = processor
            self._compiled[dialect.name] = (compiled.string, tuple(compiled.positiontup) if compiled.positional else None, processors)
        return self._compiled[dialect.name]


def executemany(conn: Connection, bulk: Bulk, rows: list[dict]) -> int:
    """`conn.execute(stmt, rows)` for the bulk writes of a batch, without SQLAlchemy's per-row
    parameter work: the statement is compiled once, each column's bind processor (dates and times
    on SQLite) is applied here, and the rows go to the driver's executemany. Every row must have
    the keys the statement was built with. Returns the rows affected (for compare-and-set updates)."""
    if not rows:
        return 0
    sql, names, processors = bulk.compiled(conn.dialect)
    params: list
    if names is not None:
        convert = [processors.get(n) for n in names]
        params = [tuple(v if p is None or v is None else p(v) for p, v in zip(convert, (row[n] for n in names), strict=True)) for row in rows]
    elif processors:
        params = [{**row, **{k: p(row[k]) for k, p in processors.items() if row.get(k) is not None}} for row in rows]
    else:
        params = rows
    return conn.exec_driver_sql(sql, params).rowcount
