"""The running build: the package version and the git commit it was built from.

The image gets the commit as a build argument (SIGNPOST_COMMIT, see the Dockerfile); a checkout
asks git; anything else says "unknown". Read once, lazily: importing this module runs nothing.
"""

from __future__ import annotations

import os
import subprocess
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parents[2]


class Build(NamedTuple):
    version: str
    commit: str

    def describe(self) -> str:
        return f"{self.version} (commit {self.commit})"


def _version() -> str:
    try:
        return metadata.version("signpost")
    except metadata.PackageNotFoundError:
        return "0+unknown"


def _commit() -> str:
    if commit := os.environ.get("SIGNPOST_COMMIT", "").strip():
        return commit[:12]
    if not (ROOT / ".git").exists():
        return "unknown"
    try:
        done = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return done.stdout.strip() if done.returncode == 0 and done.stdout.strip() else "unknown"


@lru_cache(maxsize=1)
def build() -> Build:
    return Build(_version(), _commit())
