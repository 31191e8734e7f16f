"""The embedded local stack: a throwaway TimescaleDB cluster and a Mosquitto broker.

Used by ``circulo demo`` and by the test fixtures; both run the project's own
configuration on free ports, and both can be stopped, killed and restarted.
"""
