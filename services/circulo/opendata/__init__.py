"""Open data: what a co-op publishes for others to use (Open Repair Data Standard CSV, SPEC §12)."""
