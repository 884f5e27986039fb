"""Pure domain logic of the alerts service: facts, detectors, identity matching. No I/O here."""
