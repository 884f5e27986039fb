"""Pure domain logic of the alerts service: detectors, identity matching. No I/O here. The facts and the
rules the intake applies too are in `services/common/exclusions/`."""
