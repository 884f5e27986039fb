"""The exporter: lag measured at the broker and the gauges derived from the shared databases, from one process."""
