"""The pages' composition root in production (services/web/bootstrap.py, built by app.py): secrets from Docker secret files,
and no start without the LA's identity provider."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.common.settings import Settings
from services.web.quiet import quiet_authlib


def settings(tmp_path: Path, **values: object) -> Settings:
    return Settings(_env_file=None, data_dir=tmp_path, database_url=None, **values)  # type: ignore[call-arg, arg-type]


def secret_file(tmp_path: Path, name: str, value: str) -> Path:
    path = tmp_path / name
    path.write_text(value + "\n")  # as `openssl rand` writes it: the newline is not part of the secret
    return path


def test_the_pages_read_their_secrets_from_files_in_production(tmp_path: Path) -> None:
    quiet_authlib()
    from services.web.app import build_app
    from services.web.bootstrap import session_secret

    s = settings(tmp_path, env="production", oidc_issuer="https://idp.test", web_public_url="https://signpost.test",
                 web_token_file=secret_file(tmp_path, "web-token", "the-web-token"),
                 web_session_secret_file=secret_file(tmp_path, "session", "the-session-secret"),
                 oidc_client_secret_file=secret_file(tmp_path, "oidc", "the-client-secret"))
    assert session_secret(s) == "the-session-secret"
    app = build_app(s)
    assert app.state.web.api.token == "the-web-token"
    sessions = next(m for m in app.user_middleware if m.cls.__name__ == "Sessions")
    assert sessions.kwargs["secure"] is True


def test_production_refuses_to_start_without_the_las_identity_provider(tmp_path: Path) -> None:
    quiet_authlib()
    from services.web.app import build_app

    base = {"env": "production", "web_token": "t", "web_session_secret": "s"}
    with pytest.raises(SystemExit, match="SIGNPOST_OIDC_ISSUER"):
        build_app(settings(tmp_path, **base, oidc_client_secret="c"))  # the dev provider is for make run only
    with pytest.raises(SystemExit, match="CLIENT_SECRET"):
        build_app(settings(tmp_path, **base, oidc_issuer="https://idp.test"))
