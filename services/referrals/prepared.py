"""The desk's frequent statements, compiled once per dialect and run on the driver's cursor.

SQLAlchemy's execute path cost ~30-40 µs a statement before the driver saw it (the cache key, the
execution context, expanding IN lists, the result object): several times what SQLite takes for the
desk's small reads and writes, a few of them per alert change. A `Prepared` is the same Core
statement compiled once per dialect, and once per length of each IN list (a list is padded to one of
a few lengths by repeating its last item, which matches nothing more). Its parameters go through the
bind processors SQLAlchemy would apply (times and booleans on SQLite), its rows through the result
processors. It runs in the connection's transaction; a driver error is raised as SQLAlchemy raises
it (an IntegrityError stays one; the parameters hidden; a lost connection invalidated), and
`before_cursor_execute` listeners see the statement as they would from SQLAlchemy.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ClauseElement

Processor = Callable[[Any], Any] | None
# Where a driver parameter comes from: a given parameter (name), an item of a given list (name,
# index) or a constant of the statement (its value, processed once).
_GIVEN, _ITEM, _CONSTANT = 0, 1, 2


@dataclass(frozen=True, slots=True)
class _Plan:
    sql: str
    sources: tuple[tuple[str, int, str, int, Any, Processor], ...]  # (driver name, kind, given name, item, constant, processor)
    positional: bool
    results: tuple[Processor, ...] | None  # None: no column needs converting


def padded(length: int) -> int:
    """The length an IN list of `length` items is compiled for: a power of two up to 64, then a
    multiple of 64 (a few statements per list, at most 63 items of padding: batch_reads' 400 ids,
    twice in one statement, stay under the 999 parameters of old SQLite builds)."""
    return 1 << (length - 1).bit_length() if length <= 64 else -(-length // 64) * 64


class Prepared:
    """A statement with bind parameters (`lists`: the expanding ones) for the driver's cursor, or a
    function building it for an engine (ON CONFLICT is written per dialect). `keys`: an INSERT's
    columns (the row's keys), as SQLAlchemy compiles it for a row."""

    def __init__(self, statement: ClauseElement | Callable[[Engine], ClauseElement], *, lists: Sequence[str] = (),
                 keys: Sequence[str] | None = None) -> None:
        self.statement, self.lists, self.keys = statement, tuple(lists), list(keys) if keys is not None else None
        self._plans: dict[tuple[str, tuple[int, ...]], _Plan] = {}

    def rows(self, conn: Connection, params: dict[str, Any] | None = None, **lists: list[Any]) -> list[tuple[Any, ...]]:
        """Its rows, as tuples in the order of its columns."""
        plan, (rows, _count) = self._run(conn, params or {}, lists, fetch=True)
        if plan.results is None:
            return rows
        convert = plan.results
        return [tuple(v if p is None or v is None else p(v) for p, v in zip(convert, row, strict=True)) for row in rows]

    def run(self, conn: Connection, params: dict[str, Any] | None = None, **lists: list[Any]) -> int:
        """The rows it changed."""
        return self._run(conn, params or {}, lists, fetch=False)[1][1]

    def many(self, conn: Connection, rows: list[dict[str, Any]]) -> None:
        """The driver's executemany, a parameter set per row (every row with the same keys)."""
        if rows:
            plan = self._plan(conn, ())
            self._execute(conn, plan.sql, [self._args(plan, row, {}) for row in rows], many=True, fetch=False)

    # ------------------------------------------------------------------ inside
    def _run(self, conn: Connection, params: dict[str, Any], lists: dict[str, list[Any]], *, fetch: bool) -> tuple[_Plan, tuple[list, int]]:
        if not all(lists[name] for name in self.lists):
            raise ValueError("an empty IN list")  # matches nothing: the caller knows without asking
        plan = self._plan(conn, tuple(padded(len(lists[name])) for name in self.lists))
        return plan, self._execute(conn, plan.sql, self._args(plan, params, lists), many=False, fetch=fetch)

    @staticmethod
    def _args(plan: _Plan, params: dict[str, Any], lists: dict[str, list[Any]]) -> Any:
        values = []
        for _name, kind, given, item, constant, processor in plan.sources:
            if kind == _GIVEN:
                value = params[given]
            elif kind == _ITEM:
                items = lists[given]
                value = items[min(item, len(items) - 1)]  # padded with the last item
            else:
                values.append(constant)
                continue
            values.append(value if processor is None or value is None else processor(value))
        if plan.positional:
            return tuple(values)
        return {source[0]: value for source, value in zip(plan.sources, values, strict=True)}

    @staticmethod
    def _execute(conn: Connection, sql: str, args: Any, *, many: bool, fetch: bool) -> tuple[list, int]:
        """(its rows if `fetch`, the rows it changed)."""
        cursor = conn.connection.cursor()
        try:
            for listener in conn.dispatch.before_cursor_execute:  # the tests count and fail statements here
                sql, args = listener(conn, cursor, sql, args, None, many)
            if many:
                cursor.executemany(sql, args)
            else:
                cursor.execute(sql, args)
            rows: Any = cursor.fetchall() if fetch else []  # SQLite steps through a read here: its errors too are SQLAlchemy's
            count = int(cursor.rowcount)
            cursor.close()
        except conn.dialect.loaded_dbapi.Error as exc:
            lost = conn.dialect.is_disconnect(exc, conn.connection.dbapi_connection, cursor)
            if lost:
                conn.invalidate(exc)
            raise DBAPIError.instance(sql, None, exc, conn.dialect.loaded_dbapi.Error, hide_parameters=True, connection_invalidated=lost,
                                      dialect=conn.dialect) from exc
        return rows, count

    def _plan(self, conn: Connection, lengths: tuple[int, ...]) -> _Plan:
        plan = self._plans.get((conn.dialect.name, lengths))
        if plan is None:
            plan = self._plans[conn.dialect.name, lengths] = self._compile(conn.engine, lengths)
        return plan

    def _compile(self, engine: Engine, lengths: tuple[int, ...]) -> _Plan:
        dialect: Dialect = engine.dialect
        statement = self.statement if isinstance(self.statement, ClauseElement) else self.statement(engine)
        compiled = statement.compile(dialect=dialect, column_keys=self.keys)
        assert isinstance(compiled, SQLCompiler)
        lists = dict(zip(self.lists, lengths, strict=True))
        given = {key for key, bind in compiled.binds.items() if bind.required and key not in lists}
        expanded = compiled.construct_expanded_state({**dict.fromkeys(given), **{key: [None] * n for key, n in lists.items()}})
        origin = {name: (key, i) for key, names in expanded.parameter_expansion.items() for i, name in enumerate(names)}
        names = list(expanded.positiontup or ()) if compiled.positional else list(expanded.parameters)
        sources = []
        for name in names:
            key, item = origin.get(name, (name, 0))
            processor = compiled.binds[key].type._cached_bind_processor(dialect)  # noqa: SLF001 - the processor SQLAlchemy would apply
            if key in lists:
                sources.append((name, _ITEM, key, item, None, processor))
            elif key in given:
                sources.append((name, _GIVEN, key, 0, None, processor))
            else:
                value = expanded.parameters[name]
                sources.append((name, _CONSTANT, key, 0, value if processor is None or value is None else processor(value), None))
        columns: Iterable[Any] = getattr(statement, "exported_columns", ())
        results = tuple(column.type._cached_result_processor(dialect, None) for column in columns)  # noqa: SLF001 - as above
        return _Plan(expanded.statement, tuple(sources), bool(compiled.positional), results if any(results) else None)
