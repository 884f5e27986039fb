"""Structured logs: one JSON object a line on stderr.

Log ids Signpost made (sequence numbers, alert ids, referral ids, child ids), counts and
topics. Never a UPN, name, date of birth, free text or a sender's own id.

Tracebacks are scrubbed: an exception's message may quote the data it failed on (a driver
error quoting an SQL statement's parameters, a `ValueError` quoting a field), so a logged
exception, an uncaught one (`sys.excepthook`, threads) and a chained one keep only their class
names and frames (file, line, function). Issue 12: a referrals crash once logged a child's UPN.
"""

from __future__ import annotations

import logging
import sys
import threading
from datetime import UTC, datetime

import orjson

_RESERVED = set(vars(logging.makeLogRecord({}))) | {"color_message"}


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        doc = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "msg": _message(record),
        }
        for key, value in vars(record).items():
            if key not in _RESERVED and key not in doc and not key.startswith("_"):
                doc[key] = f"<{type(value).__name__}>" if isinstance(value, BaseException) else value
        if record.exc_info and record.exc_info[1] is not None:
            doc["exc"] = scrubbed(record.exc_info[1])
        elif record.exc_info or record.exc_text:
            doc["exc"] = "(no exception)"
        if record.stack_info:
            doc["stack"] = "(stack omitted)"
        return orjson.dumps(doc, default=str).decode()

    def formatException(self, ei) -> str:  # noqa: ANN001, N802 - logging's signature
        return scrubbed(ei[1]) if ei and ei[1] is not None else ""


def _message(record: logging.LogRecord) -> str:
    """The message with any exception among its arguments reduced to its class name: libraries
    log `"Crashed reason=%r", exc` (mode), and an exception's repr carries its message."""
    args = record.args
    if isinstance(args, tuple) and any(isinstance(a, BaseException) for a in args):
        args = tuple(f"<{type(a).__name__}>" if isinstance(a, BaseException) else a for a in args)
    elif isinstance(args, dict) and any(isinstance(a, BaseException) for a in args.values()):
        args = {k: f"<{type(a).__name__}>" if isinstance(a, BaseException) else a for k, a in args.items()}
    msg = str(record.msg) if not isinstance(record.msg, BaseException) else f"<{type(record.msg).__name__}>"
    try:
        return msg % args if args else msg
    except (TypeError, ValueError, KeyError):
        return msg


def scrubbed(exc: BaseException) -> str:
    """A traceback without any exception's message: class names and frames, chained causes first."""
    import traceback

    chain: list[BaseException] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen and len(chain) < 10:
        seen.add(id(current))
        chain.append(current)
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)
    parts = []
    for item in reversed(chain):
        frames_ = [f"  {f.filename.rsplit('/', 2)[-1]}:{f.lineno} {f.name}" for f in traceback.extract_tb(item.__traceback__)]
        parts.append("\n".join(["Traceback (most recent call last):", *frames_, f"{type(item).__module__}.{type(item).__qualname__} (message withheld)"]))
    return "\n--- which caused ---\n".join(parts)


def _excepthook(exc_type, exc, tb) -> None:  # noqa: ANN001 - sys.excepthook's signature
    logging.getLogger("crash").critical("uncaught exception", exc_info=(exc_type, exc, tb))


def _thread_excepthook(args) -> None:  # noqa: ANN001 - threading.ExceptHookArgs
    if args.exc_value is not None:
        logging.getLogger("crash").critical("uncaught exception in a thread", exc_info=(args.exc_type, args.exc_value, args.exc_traceback))


def setup(service: str, level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    sys.excepthook = _excepthook
    threading.excepthook = _thread_excepthook
    root.setLevel(level.upper())
    for noisy in ("aiokafka", "kafka", "faust", "mode", "uvicorn.access", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # uvicorn's own loggers go through the JSON handler too
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True


def frames(exc: BaseException, last: int = 6) -> list[str]:
    """Where an exception came from, as file:line function, without its message (which may quote data)."""
    import traceback

    return [f"{f.filename.rsplit('/', 2)[-1]}:{f.lineno} {f.name}" for f in traceback.extract_tb(exc.__traceback__)[-last:]]
