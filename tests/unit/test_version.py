"""Build info (issue 13): `signpost --version`, /healthz and signpost_build_info name the same build."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import httpx
import pytest
from prometheus_client import REGISTRY

from services import cli
from services.common import version
from services.common.auth import TokenRegistry
from services.common.http import create_app

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def commit(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A build argument as the image gets it (SIGNPOST_COMMIT), longer than the 12 characters kept."""
    monkeypatch.setenv("SIGNPOST_COMMIT", "0123456789abcdef0123")
    version.build.cache_clear()
    yield "0123456789ab"
    version.build.cache_clear()


def test_version_is_the_package_metadata_and_the_commit_the_setting(commit: str) -> None:
    assert version.build() == (metadata.version("signpost"), commit)


def test_a_checkout_without_the_setting_asks_git(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SIGNPOST_COMMIT", raising=False)
    version.build.cache_clear()
    try:
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
        assert version.build().commit == head
    finally:
        version.build.cache_clear()


def test_cli_version(commit: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.strip() == f"signpost {metadata.version('signpost')} (commit {commit})"


async def test_healthz_and_build_info_metric(commit: str) -> None:
    app = create_app("version-test", tokens=TokenRegistry(None), readiness=[])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        health = (await client.get("/healthz")).json()
        exposition = (await client.get("/metrics")).text
    expected = {"service": "version-test", "version": metadata.version("signpost"), "commit": commit}
    assert health == {"status": "ok", **expected}
    assert REGISTRY.get_sample_value("signpost_build_info", expected) == 1.0
    assert f'signpost_build_info{{commit="{commit}",service="version-test",version="{expected["version"]}"}} 1.0' in exposition
