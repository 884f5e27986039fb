"""Killing parts of a running system in the tests (tests/e2e/test_kill_*.py): signals, the supervisor's
restart watched, readiness; the 10,000-notice workload."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from tests.e2e.system import System
from tests.e2e.workload import Workload, await_ledger, post_all

log = logging.getLogger(__name__)

# 2,000 children x 5 suspensions of 20 sessions = 10,000 notices; 50 days each: a nearing-limit alert
# (high) and a limit-exceeded alert (critical) per child, referred to the REU and the exclusions
# officer; every 10th child has an EHC plan, so 200 are referred to IAS as well.
TEN_THOUSAND = Workload("kill", children=2000, notices_each=5, sessions=20, send_every=10)


def pid_of(system: System, component: str) -> int:
    return system.broker_pid() if component == "broker" else system.service_pid(component)


def signal_to(system: System, component: str, sig: signal.Signals, done: list[int]) -> Callable[[], None]:
    """An action for post_all: send `sig` to the component's process now; its pid goes to `done`."""

    def act() -> None:
        pid = pid_of(system, component)
        os.kill(pid, sig)
        done.append(pid)
        log.info("%s (pid %d) sent %s", component, pid, sig.name)

    return act


class Restart(threading.Thread):
    """Watches, from the kill on, for the supervisor to have the component running (a service: ready) again."""

    def __init__(self, system: System, component: str, old_pid: int):
        super().__init__(daemon=True)
        self.system, self.component, self.old_pid = system, component, old_pid
        self.seconds: float | None = None

    def run(self) -> None:
        started = time.monotonic()
        while time.monotonic() - started < 120:
            try:
                if pid_of(self.system, self.component) != self.old_pid and (self.component == "broker" or _ready(self.system, self.component)):
                    self.seconds = time.monotonic() - started
                    return
            except RuntimeError:  # not started again yet
                pass
            time.sleep(0.1)

    def result(self) -> float:
        self.join()
        assert self.seconds is not None, f"the supervisor did not restart {self.component} within 120s"
        return self.seconds


def kill_and_watch(system: System, component: str, watches: list[Restart]) -> Callable[[], None]:
    """An action for post_all: SIGKILL the component and start watching for its restart."""

    def act() -> None:
        pids: list[int] = []
        signal_to(system, component, signal.SIGKILL, pids)()
        watches.append(Restart(system, component, pids[0]))
        watches[-1].start()

    return act


def _ready(system: System, service: str) -> bool:
    try:
        with urllib.request.urlopen(system.url(service, "/readyz"), timeout=2) as r:
            return r.status == 200
    except (urllib.error.URLError, OSError):
        return False


def resume(stopped: list[int]) -> None:
    while stopped:
        try:
            os.kill(stopped.pop(), signal.SIGCONT)
        except ProcessLookupError:
            pass


def kill_mid_stream(tmp_path: Path, component: str) -> None:
    """10,000 notices posted; at the 4,000th `component` is SIGKILLed and the supervisor restarts it;
    every acknowledged notice, alert and expected referral is then there, once."""
    system = System(tmp_path)
    system.start()
    try:
        restarts: list[Restart] = []
        bodies = TEN_THOUSAND.bodies()
        posting = asyncio.run(post_all(system, bodies, at={4000: kill_and_watch(system, component, restarts)}))
        assert posting.acknowledged == len(bodies)
        log.info("posted %d in %.1fs (%d answers 503, %d transport errors)", len(bodies), posting.seconds, posting.unavailable, posting.transport_errors)
        log.info("%s running again %.1fs after the kill", component, restarts[0].result())
        await_ledger(system, TEN_THOUSAND)
    finally:
        system.stop()
