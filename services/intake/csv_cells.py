"""One CSV cell's check for the fast path of an LA return (csv_columns.py): the cell's value as
`LAReturnRecord` would write it, or `Doubt`, which hands the row to the model (pure)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date

from schemas.codes import ExclusionReason
from schemas.upn import upn_problem

Value = str | int | bool | list[str] | None
FLAGS = {"": False, "true": True, "false": False}
_REASONS = frozenset(r.value for r in ExclusionReason)


class Doubt(Exception):
    """This cell is not in the form the fast path vouches for: the model decides its row."""


def doubt() -> str:
    raise Doubt


def age(on: date, born: date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def matching(pattern: re.Pattern[str]) -> Callable[[str], Value]:
    return lambda cell: cell if pattern.fullmatch(cell) else doubt()


def member(values: frozenset[str]) -> Callable[[str], Value]:
    return lambda cell: cell if cell in values else doubt()


def optional(values: frozenset[str]) -> Callable[[str], Value]:
    return lambda cell: None if not cell else cell if cell in values else doubt()


def upn(cell: str) -> str:
    # Upper case already: the model would upper-case it, so another case goes to the model.
    if upn_problem(cell) is not None:
        raise Doubt
    return cell


def name(cell: str) -> str:
    if not 1 <= len(cell) <= 100:
        raise Doubt
    return cell


def flag(cell: str) -> bool:
    value = FLAGS.get(cell.lower())  # the CSV's booleans, any case (csv_returns.row_to_record)
    if value is None:
        raise Doubt
    return value


def sessions(cell: str) -> int | None:
    if not cell:
        return None
    if not (cell.isascii() and cell.isdigit() and len(cell) < 10 and 1 <= int(cell) <= 1000):
        raise Doubt
    return int(cell)


def reason_codes(cell: str) -> list[str]:
    codes = [c.strip().upper() for c in cell.split(";") if c.strip()]  # as csv_returns.row_to_record reads them
    if len(codes) > 3 or len(set(codes)) != len(codes) or not _REASONS.issuperset(codes):
        raise Doubt
    return codes
