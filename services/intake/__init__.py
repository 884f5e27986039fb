"""The intake service: validated, idempotent, durable intake of notices, calls and LA returns."""
