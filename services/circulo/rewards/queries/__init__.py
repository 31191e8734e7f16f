"""Every SQL statement of the rewards engine, parameterised, one module per table family.

``leader`` (the leader lock), ``inputs`` (what a cycle reads from the registry and the ingest),
``green`` (meter readings, pairs, progress and claims), ``settlements`` (settlement rows, flags,
event claims), ``recycling`` (collections, deposits, repairs), ``caps`` (the daily cap's usage).
The tables are created by migration 0004.
"""
