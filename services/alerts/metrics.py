"""The alerts service's own metrics (Prometheus naming: base units, `_total`).

The ones every service shares (HTTP, Kafka, relay, dead letters) are in `services.common.metrics`;
signpost_alerts (alerts by status) comes from the exporter: once, however many replicas run (issue 13).
Labels are bounded sets only (rule, severity, change): never an alert or child id.
"""

from __future__ import annotations

from services.common.metrics import Counter, Gauge

ALERT_CHANGES = Counter("signpost_alert_changes_total", "Alerts raised or changed", ["rule", "severity", "change"])
SSE_SUBSCRIBERS = Gauge("signpost_alert_stream_subscribers", "Open live-feed (SSE) connections")
