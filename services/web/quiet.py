"""authlib marks its own modules deprecated on import (`authlib.jose`, its httpx client) with a
filter that always prints; the pages use neither directly. Keep the service's log to its own lines."""

from __future__ import annotations

import warnings

from authlib.deprecate import AuthlibDeprecationWarning


def quiet_authlib() -> None:
    warnings.filterwarnings("ignore", category=AuthlibDeprecationWarning)
