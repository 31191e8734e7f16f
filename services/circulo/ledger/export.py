"""The JSONL export (SPEC §8): one entry per line, then the trailer line.

Trailer: ``{"public_keys": {key_id: hex}, "checkpoint": {...} | null, "rotations": [...]}``.
Reading an export is strict: a non-integer number, NaN or a repeated key in any object is
refused, since two readers could otherwise disagree on what was signed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TextIO

import psycopg

from circulo.ledger import journal, log
from circulo.ledger.checkpoint import Checkpoint, checkpoint_from_dict
from circulo.ledger.errors import InvalidEntry
from circulo.ledger.keys import Signer


@dataclass(frozen=True)
class Export:
    """A parsed export: entries in export form, and the trailer's keys, checkpoint, rotations."""

    entries: list[dict[str, Any]]
    public_keys: dict[str, str]
    checkpoint: Checkpoint | None
    rotations: list[dict[str, Any]]

    @property
    def rotation_pairs(self) -> set[tuple[str, str]]:
        """(old key_id, new key_id) of every rotation in the trailer."""
        return {(r["old_key_id"], r["new_key_id"]) for r in self.rotations}


def json_line(value: Any) -> str:
    """One compact JSON line (UTF-8 kept as is)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def export_lines(conn: psycopg.Connection, signer: Signer | None) -> Iterator[str]:
    """The export's lines, read in one REPEATABLE READ snapshot.

    With the signing key at hand a fresh checkpoint over exactly the exported entries is
    signed, recorded and put in the trailer; without it the latest recorded one is used.
    """
    with journal.snapshot(conn):
        for entry in journal.iter_entries(conn):
            yield json_line(entry.to_dict())
        checkpoint = log.create_checkpoint(conn, signer) if signer else log.latest_checkpoint(conn)
        yield json_line(trailer(conn, checkpoint))


def trailer(conn: psycopg.Connection, checkpoint: Checkpoint | None) -> dict[str, Any]:
    """The last line: public keys, checkpoint, rotations."""
    rotations = [
        {
            "old_key_id": r.old_key_id,
            "new_key_id": r.new_key_id,
            "after_seq": r.after_seq,
            "ts": r.ts,
            "statement_sig": r.statement_sig,
            "note": r.note,
        }
        for r in journal.rotations(conn)
    ]
    return {
        "public_keys": journal.public_keys(conn),
        "checkpoint": checkpoint.to_dict() if checkpoint else None,
        "rotations": rotations,
    }


def write_export(conn: psycopg.Connection, out: TextIO, signer: Signer | None) -> int:
    """Write the export to ``out``; returns the number of entries written."""
    count = -1  # the trailer is not an entry
    for line in export_lines(conn, signer):
        out.write(line + "\n")
        count += 1
    return count


def refuse_float(text: str) -> Any:
    """json parse hook: no decimals anywhere in an export."""
    raise InvalidEntry(f"non-integer number {text} in the export")


def unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """json parse hook: an object may not repeat a key."""
    value = dict(pairs)
    if len(value) != len(pairs):
        raise InvalidEntry("an object in the export repeats a key")
    return value


def parse_line(line: str, number: int) -> Any:
    """One strict JSON line."""
    try:
        return json.loads(
            line, parse_float=refuse_float, parse_constant=refuse_float, object_pairs_hook=unique_keys
        )
    except ValueError as e:
        raise InvalidEntry(f"line {number}: not JSON ({e})") from e
    except InvalidEntry as e:
        raise InvalidEntry(f"line {number}: {e.message}") from e


def read_export(lines: Iterable[str]) -> Export:
    """Parse an export; InvalidEntry when it is not one (no trailer, bad JSON)."""
    parsed = [parse_line(line, n) for n, line in enumerate(lines, start=1) if line.strip()]
    if not parsed or not isinstance(parsed[-1], dict) or "public_keys" not in parsed[-1]:
        raise InvalidEntry("the export has no trailer line with public_keys")
    *entries, last = parsed
    checkpoint = checkpoint_from_dict(last["checkpoint"]) if last.get("checkpoint") else None
    return Export(entries, dict(last["public_keys"]), checkpoint, list(last.get("rotations") or []))
