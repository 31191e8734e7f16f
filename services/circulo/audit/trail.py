"""Record operator commands in the append-only audit trail, and read it back.

:class:`Invocation` is the pure part: who (the OS account this process runs as, the
account behind ``sudo``, the configured operator name), from which host, what (the
command and its arguments, secrets left out). :func:`record_start` writes it before the
command acts and :func:`record_outcome` how it ended; the database adds when, and its own
view of the session (login role, client address).
"""

from __future__ import annotations

import json
import os
import pwd
import re
import socket
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from circulo import __version__
from circulo.audit import queries
from circulo.errors import ServiceUnavailable
from circulo.store.db import connect, first_line

# Arguments whose name says they hold a secret are recorded as REDACTED, never their value.
SECRET_NAME = re.compile(r"password|passphrase|secret|token|credential", re.IGNORECASE)
REDACTED = "<redacted>"


def os_user() -> str:
    """The account this process runs as, from the kernel's uid (not from $USER, which anyone can set)."""
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return f"uid {os.geteuid()}"


def recorded_value(value: Any) -> Any:
    """A parsed command-line value in a JSON form (paths and decimals as text, tuples as lists)."""
    if isinstance(value, Path | Decimal | datetime):
        return str(value)
    if isinstance(value, tuple | list):
        return [recorded_value(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): recorded_value(v) for k, v in value.items()}
    return value


def recorded_arguments(params: Mapping[str, Any]) -> dict[str, Any]:
    """The command's parameters as recorded: secrets redacted, flags left at None dropped."""
    return {
        name: REDACTED if SECRET_NAME.search(name) else recorded_value(value)
        for name, value in sorted(params.items())
        if value is not None
    }


@dataclass(frozen=True)
class Invocation:
    """One operator command about to run."""

    command: str
    arguments: dict[str, Any]
    os_user: str
    host: str
    pid: int
    operator: str | None = None
    sudo_user: str | None = None
    invocation: uuid.UUID = field(default_factory=uuid.uuid4)

    @classmethod
    def here(cls, command: str, params: Mapping[str, Any], operator: str | None) -> Invocation:
        """This process's invocation of ``command`` with its parsed ``params``."""
        return cls(
            command=command,
            arguments=recorded_arguments(params),
            os_user=os_user(),
            host=socket.gethostname(),
            pid=os.getpid(),
            operator=operator or None,
            sudo_user=os.environ.get("SUDO_USER") or None,
        )

    def row(self) -> dict[str, Any]:
        """The parameters of the start row."""
        return {
            "invocation": self.invocation,
            "os_user": self.os_user,
            "sudo_user": self.sudo_user,
            "operator": self.operator,
            "host": self.host,
            "pid": self.pid,
            "command": self.command,
            "arguments": Jsonb(self.arguments),
            "version": __version__,
        }


def record_start(database_url: str, invocation: Invocation) -> None:
    """Write the invocation before the command acts; ServiceUnavailable when it cannot be recorded."""
    try:
        with connect(database_url, application_name="circulo-audit") as conn:
            conn.execute(queries.INSERT_START, invocation.row())
    except psycopg.Error as e:
        raise ServiceUnavailable(f"cannot record the command in the audit trail: {first_line(e)}") from e


def record_outcome(database_url: str, invocation: Invocation, outcome: str, detail: str = "") -> None:
    """Write how the command ended (``ok`` or ``error`` with its message)."""
    try:
        with connect(database_url, application_name="circulo-audit") as conn:
            conn.execute(
                queries.INSERT_OUTCOME,
                {"invocation": invocation.invocation, "outcome": outcome, "detail": detail},
            )
    except psycopg.Error as e:
        raise ServiceUnavailable(f"cannot record the outcome in the audit trail: {first_line(e)}") from e


@dataclass(frozen=True)
class AuditEntry:
    """One recorded command and how it ended (``outcome`` None: it was interrupted)."""

    invocation: str
    started_at: datetime
    os_user: str
    sudo_user: str | None
    operator: str | None
    db_user: str
    client_addr: str | None
    host: str
    pid: int
    command: str
    arguments: dict[str, Any]
    version: str
    finished_at: datetime | None
    outcome: str | None
    detail: str | None

    def as_dict(self) -> dict[str, Any]:
        """The ``audit list --json`` form."""
        return dict(vars(self))


def list_entries(
    conn: psycopg.Connection, *, command: str | None = None, since: datetime | None = None, limit: int = 100
) -> list[AuditEntry]:
    """Recorded commands, newest first (``command`` matches a command or a group, e.g. ``device``)."""
    rows = conn.execute(queries.LIST, {"command": command, "since": since, "limit": limit}).fetchall()
    return [AuditEntry(str(row[0]), *row[1:]) for row in rows]


def arguments_text(arguments: Mapping[str, Any]) -> str:
    """The arguments on one line, for the table view."""
    return " ".join(f"{name}={json.dumps(value, ensure_ascii=False)}" for name, value in arguments.items())
