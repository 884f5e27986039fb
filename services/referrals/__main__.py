"""python -m services.referrals: run the referrals service on SIGNPOST_REFERRALS_PORT."""

from services.common.serve import serve
from services.common.settings import get_settings
from services.referrals.app import build_app

if __name__ == "__main__":
    settings = get_settings()
    serve("referrals", build_app(settings), settings)
