"""python -m services.intake: run the intake service on SIGNPOST_INTAKE_PORT."""

from services.common.serve import serve
from services.common.settings import get_settings
from services.intake.app import build_app

if __name__ == "__main__":
    settings = get_settings()
    serve("intake", build_app(settings), settings)
