"""Run the alerts child stage and SIGKILL it right after its first store commit (the batch's state,
alerts and outbox are written) and before the offset commit. Used by test_killed_after_state_write.py.

    python tests/integration/alerts/killed_stage.py SETTINGS_JSON GROUP_ID [overlap]

With `overlap` the runner has the stage's commit gate: the first batch (a full one) commits in the
background while the second is processed, and the kill comes in that commit.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys

from schemas import pseudonym
from schemas.topics import INTAKE_TOPICS
from services.alerts import tables
from services.alerts.child_stage import ChildStage
from services.alerts.domain.rules import RuleConfig
from services.alerts.rows import Writes
from services.alerts.store import AlertsStore
from services.common import db
from services.common.calendar import load_registry
from services.common.settings import Settings
from services.common.stream import StageRunner


async def main(settings: Settings, group_id: str, overlap: bool) -> None:
    pseudonym.configure(os.environ["SIGNPOST_PSEUDONYM_KEY"].encode())  # the test's key (a settings dump masks it)
    engine = db.make_engine(settings.database_url_for("alerts"))
    db.migrate(engine, tables.metadata)
    store = AlertsStore(engine)
    stage = ChildStage(store, load_registry(), RuleConfig())

    def commit_then_die(writes: Writes) -> None:
        store.commit(writes)
        os.kill(os.getpid(), signal.SIGKILL)  # the state is written; the offsets never will be

    runner = StageRunner(settings=settings, service="alerts", stage="child", group_id=group_id, topics=[t.name for t in INTAKE_TOPICS],
                         process=stage.process, commit=commit_then_die, reset=stage.reset, on_assigned=stage.assigned, max_records=25,
                         gate=stage.gate if overlap else None)  # fmt: skip
    await runner.start()
    await asyncio.sleep(120)  # killed long before


if __name__ == "__main__":
    asyncio.run(main(Settings.model_validate_json(sys.argv[1]), sys.argv[2], sys.argv[3:] == ["overlap"]))
