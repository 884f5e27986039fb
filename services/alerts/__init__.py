"""The alerts service: the child-centric stream processor (identity, detectors) and the alerts API."""
