"""The README's "Try it" commands work against a freshly started system (with its dev tokens)."""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e.system import ROOT, System

pytestmark = pytest.mark.integration


def try_it_block() -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Try it", 1)[1]
    return re.search(r"```sh\n(.*?)```", section, re.S).group(1)  # type: ignore[union-attr]


def test_the_readme_examples_work(tmp_path: Path) -> None:
    system = System(tmp_path, dev_tokens=True)
    system.start()
    try:
        script = try_it_block()
        script = script.replace("T=var/dev-tokens.yaml", f"T={tmp_path}/var/dev-tokens.yaml")
        for service, default in (("intake", 8001), ("alerts", 8002), ("referrals", 8003)):
            script = script.replace(f"localhost:{default}", f"localhost:{system.ports[service]}")
        first = script.split("# 33 school days")[0]
        posted = subprocess.run(["bash", "-c", first], cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert posted.returncode == 0, posted.stderr
        assert [json.loads(line)["status"] for line in posted.stdout.split()] == ["accepted"] * 3
        deadline = time.time() + 30
        while True:
            out = subprocess.run(["bash", "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60)
            docs = [json.loads(chunk) for chunk in re.split(r"\n(?=\{)", out.stdout.split("\n", 3)[-1]) if chunk.strip().startswith("{")]
            alerts = [a for d in docs if "items" in d for a in d["items"] if "rule" in a]
            referrals = [r for d in docs if "items" in d for r in d["items"] if "agency" in r]
            if alerts and referrals or time.time() > deadline:
                break
            time.sleep(1)
        assert any(a["rule"] == "suspension_days_nearing_limit" and a["value"] == 33 for a in alerts), out.stdout
        assert [r["agency"] for r in referrals] == ["reu"], out.stdout
    finally:
        system.stop()
