"""`signpost rebuild alerts` offline: the intake topics replayed through the stage runner (run until caught
up), the child stage's own messages straight to the broker so the school replay reads them, a new
consumer generation each time, and a second rebuild that changes no alert."""

from __future__ import annotations

import pytest
from factories import make_notice
from sqlalchemy import func, select

from schemas.intake import ExclusionNotice
from schemas.pupil import child_key
from schemas.topics import EXCLUSION_NOTICES
from services.alerts import tables
from services.alerts.rebuild import rebuild
from services.common import db, kafka
from services.common.messages import outgoing
from services.common.stream_io import produce_all

pytestmark = pytest.mark.integration


async def publish_notices(settings, n: int) -> None:  # noqa: ANN001
    await kafka.ensure_topics(settings)
    notices = [ExclusionNotice.model_validate(make_notice()) for _ in range(n)]
    producer = kafka.producer(settings)
    await producer.start()
    try:
        await produce_all(producer, settings.topic_prefix, [outgoing(EXCLUSION_NOTICES, child_key(x.la_code, x.pupil), f"notice:{x.notice_id}", x, "tests")
                                                            for x in notices], "tests")
    finally:
        await producer.stop()


def children(settings) -> int:  # noqa: ANN001
    engine = db.make_engine(settings.database_url_for("alerts"))
    with engine.connect() as conn:
        count = conn.execute(select(func.count()).select_from(tables.children)).scalar()
    engine.dispose()
    return int(count or 0)


async def test_an_offline_rebuild_replays_both_topics_through_the_runner_and_a_second_changes_nothing(settings_factory) -> None:
    settings = settings_factory(alerts_port=1)  # nothing listens on port 1: the service is "stopped"
    await publish_notices(settings, 12)

    first = await rebuild(settings, progress=False)
    assert (first.generation, first.events) == ("2", 12)
    assert first.suspensions == 12, "the child replay's suspensions reached the school-suspensions topic (outbox rows straight to the broker)"
    assert children(settings) == 12

    again = await rebuild(settings, progress=False)
    assert (again.generation, again.events) == ("3", 12)
    assert again.suspensions == 24, "the topic holds both replays' suspensions (the same ids: the school stage counts each once)"
    assert again.alerts_changed == 0, "nothing changed, nothing announced twice"
