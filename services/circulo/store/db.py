"""Connections to the database: psycopg for the hot paths, SQLAlchemy for migrations."""

from __future__ import annotations

import psycopg
import sqlalchemy
from sqlalchemy.engine import make_url

from circulo.errors import ConfigError, ServiceUnavailable


def libpq_url(url: str) -> str:
    """The URL in the form libpq (psycopg) takes: no SQLAlchemy driver suffix."""
    for prefix in ("postgresql+psycopg://", "postgresql+psycopg2://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql://" + url[len(prefix) :]
    if not url.startswith("postgresql://"):
        raise ConfigError(f"database_url: expected postgresql://…, got {url.split('://', 1)[0]}://…")
    return url


def sqlalchemy_url(url: str) -> str:
    """The URL in the form SQLAlchemy takes, with the psycopg 3 driver."""
    return "postgresql+psycopg://" + libpq_url(url)[len("postgresql://") :]


def connect(url: str, *, autocommit: bool = False, application_name: str = "circulo") -> psycopg.Connection:
    """Open a psycopg connection, or raise ServiceUnavailable naming the server."""
    try:
        return psycopg.connect(
            libpq_url(url), autocommit=autocommit, application_name=application_name, connect_timeout=10
        )
    except psycopg.OperationalError as e:
        raise ServiceUnavailable(f"database {redacted(url)}: {first_line(e)}") from e


def create_engine(url: str) -> sqlalchemy.Engine:
    """A SQLAlchemy engine (migrations and admin commands; the hot paths use psycopg)."""
    return sqlalchemy.create_engine(sqlalchemy_url(url), pool_pre_ping=True)


def redacted(url: str) -> str:
    """The URL without its password, for messages and logs."""
    try:
        return (
            make_url(sqlalchemy_url(url))
            .render_as_string(hide_password=True)
            .replace("postgresql+psycopg://", "postgresql://")
        )
    except Exception:  # a malformed URL is still reported, just not parsed
        return "<database url>"


def first_line(error: BaseException) -> str:
    """The first line of an error's message (libpq messages run over several)."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
