"""``circulo repairs export --format ords``, the database shell: read, map (pure), write once.

The whole document is built before anything is written, so a refusal (a co-op that never
set its country) writes nothing; a file is written beside its destination and renamed into
place, so a crash leaves the old file or the new one, never half of one.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import psycopg

from circulo.errors import ConfigError, NotFound
from circulo.opendata import queries
from circulo.opendata.ords import Publisher, StoredRepair, csv_text, ords_row


@dataclass(frozen=True)
class ExportRequest:
    """Which repairs to export: a co-op (None: every co-op) and an inclusive range of event dates."""

    coop_id: str | None = None
    from_date: date | None = None
    to_date: date | None = None


def publishers(conn: psycopg.Connection) -> dict[str, Publisher]:
    """Every co-op's publishing settings (``circulo coop open-data``)."""
    return {row[0]: Publisher(*row) for row in conn.execute(queries.PUBLISHERS)}


def stored_repairs(conn: psycopg.Connection, request: ExportRequest) -> list[StoredRepair]:
    """The repairs the request selects, oldest first."""
    params = {"coop_id": request.coop_id, "from_date": request.from_date, "to_date": request.to_date}
    return [StoredRepair(*row) for row in conn.execute(queries.REPAIRS, params)]


def ords_csv(conn: psycopg.Connection, request: ExportRequest) -> tuple[str, int]:
    """The ORDS CSV of the selected repairs and how many rows it has.

    ConfigError when a co-op with repairs in the selection has no open-data settings.
    """
    if (
        request.coop_id is not None
        and conn.execute(queries.COOP_EXISTS, (request.coop_id,)).fetchone() is None
    ):
        raise NotFound(f"co-op {request.coop_id} is not registered")
    known = publishers(conn)
    repairs = stored_repairs(conn, request)
    missing = sorted({r.coop_id for r in repairs} - set(known))
    if missing:
        raise ConfigError(
            f"co-op {missing[0]} publishes no open repair data yet: "
            f"set its country with `circulo coop open-data {missing[0]} --country XXX`"
        )
    return csv_text(ords_row(r, known[r.coop_id]) for r in repairs), len(repairs)


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder, then rename it."""
    path = path.expanduser()
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
