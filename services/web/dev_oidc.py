"""python -m services.web.dev_oidc: the development OpenID provider `make run` starts (issue 10).

oidc-provider-mock with one predefined user per role: its sign-in page lists them as buttons.
Development only: it lets anyone be anyone, and it is never started when SIGNPOST_OIDC_ISSUER
names a real provider.
"""

from __future__ import annotations

import signal
import sys
import threading
from types import FrameType

from services.common.settings import Settings

# sub → (display name, groups): the groups services/web/groups.dev.yaml maps to roles
DEV_USERS: dict[str, tuple[str, list[str]]] = {
    "inclusion-team": ("Ines Inclusion (inclusion team, every LA)", ["signpost-inclusion-team"]),
    "inclusion-team-305": ("Ivo Inclusion (inclusion team, LA 305)", ["signpost-inclusion-team-305"]),
    "ias": ("Aisha IAS (SENDIASS caseworker)", ["signpost-ias"]),
    "exclusions-officer": ("Edward Exclusions (LA exclusions officer)", ["signpost-exclusions-officer"]),
    "reu": ("Rhea REU (Re-engagement Unit)", ["signpost-reu"]),
    "nas": ("Nadia NAS (NAS school exclusions service)", ["signpost-nas"]),
    "virtual-school": ("Vera Virtual School (Virtual School Head's team)", ["signpost-virtual-school"]),
    "admin": ("Ada Admin", ["signpost-admin"]),
}


def issuer(settings: Settings) -> str:
    return f"http://127.0.0.1:{settings.dev_oidc_port}"


def main() -> int:
    from services.web.quiet import quiet_authlib

    quiet_authlib()
    import oidc_provider_mock
    import werkzeug.serving

    settings = Settings()
    users = [oidc_provider_mock.User(sub=sub, claims={"name": name, "email": f"{sub}@dev.signpost.invalid", "groups": groups})
             for sub, (name, groups) in DEV_USERS.items()]
    app = oidc_provider_mock.app(user_claims=users, require_nonce=True)
    app.debug = False
    app.wsgi_app = app.wsgi_app.app  # type: ignore[attr-defined,method-assign]  # no Werkzeug debugger, even in development
    server = werkzeug.serving.make_server("127.0.0.1", settings.dev_oidc_port, app, threaded=True)
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
