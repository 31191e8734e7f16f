"""The ingest's view of the device registry: reloaded periodically, looked up on unknown ids."""

from __future__ import annotations

import time
from collections.abc import Iterable

import psycopg

from circulo.ingest import queries
from circulo.ingest.classify import RegisteredDevice


class RegistryCache:
    """device_id → (kind, retired, profile), reloaded every ``refresh_s``.

    An id the cache does not know is looked up at once, so a device registered a moment
    ago is stored, not quarantined; an id found missing is not asked again for
    ``NEGATIVE_TTL_S``, so a flood from an unregistered device costs one query a second.
    Retirements reach the cache with the next reload (and the broker refuses a retired
    device's credentials at once).
    """

    NEGATIVE_TTL_S = 1.0

    def __init__(self, refresh_s: float) -> None:
        self.devices: dict[str, RegisteredDevice] = {}
        self._refresh_s = refresh_s
        self._loaded_at = float("-inf")
        self._missing_since: dict[str, float] = {}

    def load(self, conn: psycopg.Connection) -> None:
        rows = conn.execute(queries.LOAD_REGISTRY).fetchall()
        conn.commit()
        self.devices = {row[0]: RegisteredDevice(*row[1:]) for row in rows}
        self._loaded_at = time.monotonic()
        self._missing_since.clear()

    def refresh_for(self, conn: psycopg.Connection, device_ids: Iterable[str | None]) -> None:
        """Reload when stale; look up ids of the batch that the cache does not know."""
        now = time.monotonic()
        if now - self._loaded_at >= self._refresh_s:
            self.load(conn)
            return
        recently_missing = {d for d, t in self._missing_since.items() if now - t < self.NEGATIVE_TTL_S}
        unknown = {d for d in device_ids if d is not None and d not in self.devices} - recently_missing
        if not unknown:
            return
        rows = conn.execute(queries.LOOKUP_DEVICES, (sorted(unknown),)).fetchall()
        conn.commit()
        for row in rows:
            self.devices[row[0]] = RegisteredDevice(*row[1:])
        for device_id in unknown - {row[0] for row in rows}:
            self._missing_since[device_id] = now
