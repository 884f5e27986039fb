"""python -m services.web: the pages on SIGNPOST_WEB_PORT."""

from services.common.serve import serve
from services.common.settings import get_settings
from services.web.quiet import quiet_authlib

if __name__ == "__main__":
    quiet_authlib()
    from services.web.app import build_app  # after quiet_authlib: its integrations warn on import

    settings = get_settings()
    serve("web", build_app(settings), settings)
