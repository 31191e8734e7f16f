"""The shared store: connections to TimescaleDB and the schema migrations."""
