"""Signpost's services: intake, alerts, referrals, and the platform code they share (common)."""
