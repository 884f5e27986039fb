"""python -m services.web: the pages on SIGNPOST_WEB_PORT."""

from services.common.serve import serve
from services.common.settings import get_settings
from services.web.app import build_app

if __name__ == "__main__":
    settings = get_settings()
    serve("web", build_app(settings), settings)
