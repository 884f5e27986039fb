"""Platform code every service shares: settings, auth, problem+json, DB, Kafka, metrics, logs."""
