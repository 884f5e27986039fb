"""The live feed passes each alert version once, newer than the replica's start, to the SSE subscribers;
with nobody subscribed it reads only what that takes from each message (no alert is built)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import NamedTuple

from schemas.alerts import AlertChanged
from services.alerts import live_feed
from services.alerts.alerting import change_message
from services.alerts.domain import lifecycle
from services.alerts.live import Broadcaster
from services.alerts.live_feed import LiveFeed
from services.common.settings import Settings
from tests.unit.alerts.test_alerts_lifecycle import T1, make_finding


class Record(NamedTuple):
    value: bytes
    partition: int = 0
    offset: int = 0


def _versions():
    first = lifecycle.apply_finding(None, make_finding(), upn=None, now=T1)
    assert first is not None
    second = lifecycle.apply_finding(first.alert, make_finding(value=40.0), upn=None, now=T1 + timedelta(seconds=1))
    assert second is not None
    return [Record(change_message(c.alert, c.kind, None).value) for c in (first, second)]


def _feed(tmp_path, since=T1 - timedelta(minutes=1)):
    broadcaster = Broadcaster()
    return LiveFeed(Settings(_env_file=None, data_dir=tmp_path), broadcaster, since), broadcaster  # type: ignore[call-arg]


def test_each_version_reaches_a_subscriber_once_and_in_order(tmp_path):
    async def run():
        feed, broadcaster = _feed(tmp_path)
        queue = broadcaster.subscribe()
        v1, v2 = _versions()
        feed._publish([v1, v2, v1, v2, Record(b"not json")])  # a relay's republish, and a message it cannot read
        return [queue.get_nowait().version for _ in range(queue.qsize())]

    assert asyncio.run(run()) == [1, 2]


def test_with_nobody_subscribed_no_alert_is_built_and_a_later_subscriber_gets_only_newer_versions(tmp_path, monkeypatch):
    async def run():
        feed, broadcaster = _feed(tmp_path)
        built = []
        real = AlertChanged.model_validate_json
        monkeypatch.setattr(live_feed.AlertChanged, "model_validate_json", lambda raw: built.append(raw) or real(raw))
        v1, v2 = _versions()
        feed._publish([v1, v2])
        assert built == []
        queue = broadcaster.subscribe()
        feed._publish([v1, v2])  # republished after the subscriber came: already passed
        assert queue.empty()
        return built

    assert len(asyncio.run(run())) == 2


def test_versions_from_before_the_replica_started_are_not_passed(tmp_path):
    async def run():
        feed, broadcaster = _feed(tmp_path, since=T1 + timedelta(hours=1))
        queue = broadcaster.subscribe()
        feed._publish(_versions())
        return queue.empty()

    assert asyncio.run(run())


def test_a_version_is_the_alerts_own_not_the_messages_order(tmp_path):
    feed, _ = _feed(tmp_path)
    v1, v2 = _versions()
    feed._publish([v2])
    assert not feed.newer.admit(AlertChanged.model_validate_json(v1.value).alert.id, 1, T1)
