"""Where the child stage's CPU goes, phase by phase: a reproducible profile without a sampler.

`python -m bench.harness --phases` wraps the stage's steps (decoding, identity, the rules, the alert
lifecycle, writing rows, freezing...) in CPU timers and prints each step's own CPU per event: a step
called inside another (a record thawed while the rules run) counts in the inner one only. Timing costs
~1 µs a call, a few % of the whole; the split, not the total, is what it is for.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from services.alerts import alerting, child_detection, child_records, child_stage
from services.alerts.domain import linking

# (owner, attribute, phase): what `timed` wraps. The stage calls these through the owner's attribute.
STEPS: list[tuple[Any, str, str]] = [
    (child_stage, "decode", "decode (JSON, the sighting's ids, facts)"),
    (linking, "resolve", "identity: resolve a sighting"),
    (child_stage.ChildStage, "_apply", "apply an event (own: facts into the record)"),
    (child_stage, "merge_profile", "profile merge"),
    (child_stage.ChildStage, "_suspension", "record a suspension (+ its SuspensionCounted)"),
    (child_detection.Detection, "_detect", "detection (own: the batch's children, their alerts)"),
    (child_detection.Detection, "_findings", "the rules: findings for a child"),
    (child_records.Records, "_group_profile", "a child's group profile"),
    (alerting.AlertBook, "apply", "alert lifecycle and change messages"),
    (alerting.AlertBook, "settle", "alert lifecycle and change messages"),
    (child_detection.Detection, "_proposals", "proposals: new ones and their urgency"),
    (child_records.Records, "_load", "load and thaw records"),
    (child_stage.ChildStage, "_child_event", "child events for the referrals service"),
    (child_stage.ChildStage, "_write_children", "child rows for the store"),
    (child_stage.ChildStage, "_freeze", "freeze records and alerts"),
]


@contextmanager
def timed(spent: dict[str, float]) -> Iterator[None]:
    """While open, every step in STEPS adds its own CPU seconds (less the steps it calls) to `spent`."""
    stack: list[list[float]] = []  # per open step: CPU of the steps it called so far
    originals = [(owner, name, getattr(owner, name)) for owner, name, _ in STEPS]

    def wrap(fn: Callable[..., Any], phase: str) -> Callable[..., Any]:
        def step(*args: Any, **kwargs: Any) -> Any:
            inner = [0.0]
            stack.append(inner)
            t0 = time.process_time()
            try:
                return fn(*args, **kwargs)
            finally:
                took = time.process_time() - t0
                stack.pop()
                spent[phase] = spent.get(phase, 0.0) + took - inner[0]
                if stack:
                    stack[-1][0] += took

        return step

    for (owner, name, phase), (_, _, fn) in zip(STEPS, originals, strict=True):
        setattr(owner, name, wrap(fn, phase))
    try:
        yield
    finally:
        for owner, name, fn in originals:
            setattr(owner, name, fn)
