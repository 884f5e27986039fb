"""python -m services.alerts: run the alerts service (stream processor + API) on SIGNPOST_ALERTS_PORT."""

from services.alerts.app import build_app
from services.common.serve import serve
from services.common.settings import get_settings

if __name__ == "__main__":
    settings = get_settings()
    serve("alerts", build_app(settings), settings)
