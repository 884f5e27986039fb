"""Per-deployment secrets: from the environment in production; generated into the data dir in dev.

`make run` on a fresh clone needs no secrets: the pseudonym key is generated once into
`<data dir>/pseudonym.key` (mode 0600) and printed, so `make run` and the services agree on it.
With `SIGNPOST_ENV=production` a missing key stops the service instead (issue 12).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from pydantic import SecretStr

from schemas import pseudonym
from services.common.settings import Settings

DEV_KEY_FILE = "pseudonym.key"


class MissingSecret(RuntimeError):
    pass


def dev_key_path(settings: Settings) -> Path:
    return settings.data_dir / DEV_KEY_FILE


def pseudonym_key(settings: Settings) -> bytes:
    if settings.pseudonym_key is not None:
        value = settings.pseudonym_key.get_secret_value()
        if len(value) < 32:
            raise MissingSecret("SIGNPOST_PSEUDONYM_KEY must be at least 32 characters (`signpost pseudonym-key` makes one)")
        return value.encode()
    if settings.env == "production":
        raise MissingSecret("SIGNPOST_PSEUDONYM_KEY is required when SIGNPOST_ENV=production (`signpost pseudonym-key` makes one)")
    return _dev_key(dev_key_path(settings)).encode()


def _dev_key(path: Path) -> str:
    """Read the dev key, or create it: exclusively, so that concurrent starters agree on one key."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for _ in range(100):  # another process created it a moment ago: wait for its write
            text = path.read_text().strip()
            if text:
                return text
            import time

            time.sleep(0.01)
        raise MissingSecret(f"{path} is empty: delete it to generate a new dev key") from None
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_hex(32) + "\n")
    return path.read_text().strip()


def given(value: SecretStr | None, path: Path | None) -> str | None:
    """A secret from the environment or, as Docker secrets come, from a file (its content, stripped)."""
    if value is not None:
        return value.get_secret_value()
    if path is not None:
        text = path.read_text().strip()
        if not text:
            raise MissingSecret(f"{path} is empty")
        return text
    return None


def configure_pseudonyms(settings: Settings) -> None:
    pseudonym.configure(pseudonym_key(settings))
