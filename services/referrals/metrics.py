"""The referrals service's own metrics (Prometheus naming: base units, `_total`).

The ones every service shares (HTTP, Kafka, relay, dead letters) are in `services.common.metrics`.
Labels are bounded sets only (agency, change, outcome): never a referral or child id.
"""

from __future__ import annotations

from services.common.metrics import Counter

REFERRAL_CHANGES = Counter("signpost_referral_changes_total", "Referrals created or changed", ["agency", "change"])
ESCALATIONS = Counter("signpost_referral_escalations_total", "Referrals escalated because nobody acted in time", ["agency"])
HELD = Counter("signpost_referral_reasons_held_total", "Reasons held until a consent is recorded", ["agency"])
DELIVERIES = Counter("signpost_webhook_deliveries_total", "Webhook delivery attempts by outcome", ["agency", "outcome"])
