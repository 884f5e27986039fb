"""python -m services.exporter: run the exporter on SIGNPOST_EXPORTER_PORT."""

from services.common.serve import serve
from services.common.settings import get_settings
from services.exporter.app import build_app

if __name__ == "__main__":
    settings = get_settings()
    serve("exporter", build_app(settings), settings)
