"""Member statements (SPEC §12): a static page per member that checks itself in the browser."""
