"""Issue 11 (items 1-3): one scenario per statutory clock through the intake API, against the whole
system as `make run` starts it, with time moved forward by the test-only clock (SIGNPOST_TODAY_FILE).

A step `{"today": "2025-04-01"}` writes the date the services take as today; every other step is a
scenario step as in test_scenarios.py (the acceptance format). Deadlines that pass with time are
raised by the alerts child stage's tick, with no new event."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.system import System
from tests.e2e.test_scenarios import run_step

SCENARIOS = sorted((Path(__file__).parent / "deadline_scenarios").glob("*.json"))
pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory):
    data = tmp_path_factory.mktemp("deadlines")
    today = data / "today"
    today.write_text("2024-09-02")
    s = System(data, extra_env={"SIGNPOST_TODAY_FILE": str(today), "SIGNPOST_DEADLINE_TICK_S": "0.5"})
    s.start()
    yield s
    s.stop()


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_deadline_scenario(system: System, path: Path) -> None:
    scenario = json.loads(path.read_text())
    for i, step in enumerate(scenario["steps"]):
        try:
            if "today" in step:
                (system.data_dir / "today").write_text(step["today"])
            else:
                run_step(system, step)
        except AssertionError as exc:
            raise AssertionError(f"{path.stem}[{i}] {step.get('check', 'set-up')}: {exc}") from exc
