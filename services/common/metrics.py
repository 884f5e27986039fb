"""Metrics shared by every service (Prometheus naming: base units, `_total`).

Labels are bounded sets only (service, method, route template, status, topic, rule,
agency...). Never an id, UPN, URN or name.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, disable_created_metrics

disable_created_metrics()  # the *_created series only add noise to dashboards

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

HTTP_REQUESTS = Counter(
    "signpost_http_requests_total", "HTTP requests answered", ["service", "method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "signpost_http_request_duration_seconds", "HTTP request latency", ["service", "method", "route"], buckets=LATENCY_BUCKETS
)
EVENTS_PRODUCED = Counter("signpost_kafka_messages_produced_total", "Messages acknowledged by the broker", ["service", "topic"])
EVENTS_CONSUMED = Counter("signpost_kafka_messages_consumed_total", "Messages consumed", ["service", "topic"])
DUPLICATES_SKIPPED = Counter(
    "signpost_duplicate_messages_skipped_total", "Consumed facts already applied (a redelivery, a replay, a notice and its LA return), skipped", ["service", "topic"]
)
PROCESSING_LATENCY = Histogram(
    "signpost_processing_duration_seconds", "Time to apply one consumed batch, store commit included", ["service", "stage"], buckets=LATENCY_BUCKETS
)
AGE_BUCKETS = (*LATENCY_BUCKETS, 30.0, 60.0, 300.0, 900.0, 3600.0)  # a backlog shows as minutes, not "over 10 s"
EVENT_AGE = Histogram(
    "signpost_event_age_seconds", "From the intake's acceptance (ce_time) to the end of processing", ["service", "topic"], buckets=AGE_BUCKETS
)
CONSUMER_LAG = Gauge("signpost_kafka_consumer_lag_messages", "Messages behind the partition's end", ["service", "topic", "partition"])
CONSUMER_LAG_SECONDS = Gauge(
    "signpost_kafka_consumer_lag_seconds", "Age of the last consumed message when it was applied", ["service", "topic", "partition"]
)
DEAD_LETTERS = Counter("signpost_dead_letters_total", "Messages sent to the dead-letter topic", ["service", "topic", "reason"])
RELAY_BACKLOG = Gauge("signpost_relay_backlog_messages", "Stored events not yet acknowledged by the broker", ["service"])
RELAY_REPUBLISHED = Counter(
    "signpost_relay_republished_total", "Times the relay found the broker had lost events and published the log again", ["service"]
)
RATE_LIMITED = Counter(
    "signpost_http_rate_limited_total", "Write requests refused (429) because their token was over its rate limit", ["service", "method"]
)
BROKER_UP = Gauge("signpost_broker_connected", "1 when the service's last broker round trip succeeded", ["service"])
BUILD_INFO = Gauge("signpost_build_info", "Always 1: the running build's version and commit", ["service", "version", "commit"])
