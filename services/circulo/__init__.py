"""Circulo: the data pipeline of a community-owned circular economy.

Devices publish MQTT messages; the ingest validates and stores them in TimescaleDB; the
rewards engine turns what the data proves into green credits and recycling tokens on a
tamper-evident ledger.
"""

__version__ = "0.1.0"
