"""EMQX's PostgreSQL authentication and authorisation, as EMQX 5.8 does them, for the registry's views.

Written from EMQX's documentation and source (emqx/emqx at v5.8.9; docs/deployment.md cites
the files), not from the registry's code:

- Placeholders (``emqx_template_sql:parse_prepstmt`` with ``'$n'``): each ``${var}`` of the
  query, with surrounding double quotes stripped, becomes ``$1``, ``$2``, … of a prepared
  statement; the client's value travels as its parameter (an undefined one as ``""``). Here
  the statement is prepared and executed over libpq exactly so (Parse/Bind/Execute), with
  binary results as EMQX's driver epgsql reads them (text as UTF-8, bytea as raw bytes).
- Authentication (``emqx_authn_postgresql``, ``emqx_passwd``): no row is ``ignore`` (EMQX then
  refuses: no other authenticator); otherwise ``pbkdf2`` hashes the password with the row's
  ``salt`` as bytes and compares the lowercase hex digest with ``password_hash``, caselessly.
- Authorisation (``emqx_authz_postgresql``, ``emqx_authz_rule``, ``emqx_topic``): rows in the
  order returned, the first matching one decides; ``eq `` topics match literally; otherwise
  ``${username}``/``${clientid}`` are rendered into the rule's topic and ``emqx_topic:match``
  decides (a ``$``-topic never matches a leading wildcard; ``+`` and ``#`` of a subscription
  match only ``+``/``#`` or wider in the rule); a shared subscription is checked by its real
  filter; nothing matched is ``no_match`` (deny here).
"""

from __future__ import annotations

import hashlib
import re
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import pq

PLACEHOLDER = re.compile(r'"\$\{([^}]+)\}"|\$\{([^}]+)\}')
BINARY = 1
BYTEA_OID, BOOL_OID, INT4_OID = 17, 16, 23


def prepare(template: str) -> tuple[str, list[str]]:
    """EMQX's prepared statement for a query template, and the variable of each ``$n``."""
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        names.append(match.group(1) or match.group(2))
        return f"${len(names)}"

    return PLACEHOLDER.sub(number, template), names


def run_query(conn: psycopg.Connection, template: str, client: Mapping[str, str]) -> list[dict[str, Any]]:
    """The rows a query template returns for a client, through a libpq prepared statement."""
    statement, names = prepare(template)
    pgconn = conn.pgconn
    name = f"emqx_{abs(hash(statement))}".encode()
    if pgconn.exec_(b"SELECT 1 FROM pg_prepared_statements WHERE name = '" + name + b"'").ntuples == 0:
        prepared = pgconn.prepare(name, statement.encode())
        assert prepared.status == pq.ExecStatus.COMMAND_OK, prepared.error_message
    params: list[bytes | None] = [client.get(n, "").encode() for n in names]
    result = pgconn.exec_prepared(name, params, result_format=BINARY)
    assert result.status == pq.ExecStatus.TUPLES_OK, result.error_message
    columns = [(result.fname(i) or b"").decode() for i in range(result.nfields)]
    types = [result.ftype(i) for i in range(result.nfields)]
    rows = []
    for r in range(result.ntuples):
        values = [_decode(result.get_value(r, i), types[i]) for i in range(result.nfields)]
        rows.append(dict(zip(columns, values, strict=True)))
    return rows


def _decode(value: bytes | None, oid: int) -> Any:
    if value is None:
        return None
    if oid == BYTEA_OID:
        return bytes(value)
    if oid == BOOL_OID:
        return value == b"\x01"
    if oid == INT4_OID:
        return struct.unpack("!i", value)[0]
    return bytes(value).decode()  # text


@dataclass(frozen=True)
class Emqx:
    """One EMQX node's authenticator and authoriser, configured from deploy/emqx/emqx.conf."""

    authn_query: str
    authz_query: str
    mac_fun: str
    iterations: int
    dk_length: int | None
    no_match: str = "deny"

    @classmethod
    def from_config(cls, config: Any) -> Emqx:
        (authn,) = config["authentication"]
        (source,) = config["authorization"]["sources"]
        algorithm = authn["password_hash_algorithm"]
        assert algorithm["name"] == "pbkdf2"
        return cls(
            authn["query"],
            source["query"],
            algorithm["mac_fun"],
            int(algorithm["iterations"]),
            algorithm.get("dk_length"),
            config["authorization"]["no_match"],
        )

    def connects(self, conn: psycopg.Connection, username: str | None, password: str | None) -> bool:
        """Whether CONNECT with these credentials is accepted."""
        if password is None:
            return False  # the authenticator ignores it; nothing else accepts it
        rows = run_query(conn, self.authn_query, {"username": username or "", "clientid": "c"})
        if not rows:
            return False  # ignore: no other authenticator, so refused
        row = rows[0]
        derived = hashlib.pbkdf2_hmac(
            self.mac_fun, password.encode(), row.get("salt") or b"", self.iterations, self.dk_length
        )
        return derived.hex().lower() == str(row["password_hash"]).lower()

    def allows(self, conn: psycopg.Connection, username: str, action: str, topic: str) -> bool:
        """Whether a client of ``username`` may ``publish`` to or ``subscribe`` to ``topic``."""
        client = {"username": username, "clientid": f"{username}-client"}
        rows = run_query(conn, self.authz_query, client)
        real = real_topic(topic) if action == "subscribe" else topic
        for row in rows:
            if row["action"] not in (action, "all"):
                continue
            if rule_matches(row["topic"], real, client):
                return row["permission"] == "allow"
        return self.no_match == "allow"


def real_topic(topic: str) -> str:
    """``emqx_topic:get_shared_real_topic``: the filter of ``$share/{group}/…`` and ``$queue/…``."""
    if topic.startswith("$share/"):
        return topic.split("/", 2)[2]
    return topic.removeprefix("$queue/")


def rule_matches(rule_topic: str, topic: str, client: Mapping[str, str]) -> bool:
    if rule_topic.startswith("eq "):
        return words(topic) == words(rule_topic[3:])
    rendered = PLACEHOLDER.sub(lambda m: client[m.group(1) or m.group(2)], rule_topic)
    return topic_match(words(topic), words(rendered))


def words(topic: str) -> list[str]:
    return topic.split("/")


def topic_match(name: Sequence[str], topic_filter: Sequence[str]) -> bool:
    """``emqx_topic:match_words``."""
    if name and name[0].startswith("$") and topic_filter and topic_filter[0] in ("+", "#"):
        return False
    return _tokens(list(name), list(topic_filter))


def _tokens(name: list[str], topic_filter: list[str]) -> bool:
    if not name and not topic_filter:
        return True
    if name and topic_filter and name[0] == topic_filter[0]:
        return _tokens(name[1:], topic_filter[1:])
    if name and topic_filter and topic_filter[0] == "+":
        return _tokens(name[1:], topic_filter[1:])
    return topic_filter == ["#"]
