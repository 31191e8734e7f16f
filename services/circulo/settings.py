"""Settings: flags, then environment, then a config file, then defaults (SPEC §7).

Every service has one frozen settings model, built once in its ``main()`` by
:func:`load_settings` and passed down; nothing reads the environment at import time.

The config file is TOML. Top-level keys are shared (``database_url``, ``mqtt_url``);
a table per service holds that service's keys (``[ingest]``, ``[rewards]``), which win
over the top level. The environment variable for a key is ``CIRCULO_`` + its upper-case
name (``CIRCULO_DATABASE_URL``, ``CIRCULO_INGEST_BATCH_SIZE`` for a service key also
works as ``CIRCULO_BATCH_SIZE``).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from circulo.errors import ConfigError
from circulo_schemas.broker import BrokerUrl, BrokerUrlError, parse_broker_url

ENV_PREFIX = "CIRCULO_"
DEFAULT_CONFIG_PATHS = (Path("circulo.toml"), Path.home() / ".config" / "circulo" / "config.toml")

SettingsT = TypeVar("SettingsT", bound=BaseModel)


class CommonSettings(BaseModel):
    """Connection settings every command shares."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    database_url: str = "postgresql://localhost:5432/circulo"
    mqtt_url: str = "mqtts://localhost:8884"
    log_level: str = "INFO"


@dataclass(frozen=True)
class MqttEndpoint:
    """A broker address parsed from ``mqtts://user:password@host:port?cafile=PATH`` (SPEC §9)."""

    host: str
    port: int
    tls: bool
    username: str | None
    password: str | None = field(repr=False)
    cafile: str | None = None

    @classmethod
    def from_url(cls, url: str) -> MqttEndpoint:
        """Parse a broker URL; a clear ConfigError when it is not one."""
        try:
            parsed = parse_broker_url(url)
        except BrokerUrlError as e:
            raise ConfigError(f"mqtt_url: {e}") from e
        return cls(parsed.host, parsed.port, parsed.tls, parsed.username, parsed.password, parsed.cafile)

    def broker_url(self) -> BrokerUrl:
        """The endpoint as the contract's URL record."""
        return BrokerUrl(self.host, self.port, self.tls, self.username, self.password, self.cafile)

    def where(self) -> str:
        """``broker host:port`` for messages."""
        return f"broker {self.host}:{self.port}"


def find_config_file(explicit: str | os.PathLike[str] | None) -> Path | None:
    """The config file in force: the flag, else ``CIRCULO_CONFIG``, else the first default that exists."""
    chosen = explicit or os.environ.get(ENV_PREFIX + "CONFIG")
    if chosen:
        path = Path(chosen)
        if not path.is_file():
            raise ConfigError(f"config file not found: {path}")
        return path
    return next((p for p in DEFAULT_CONFIG_PATHS if p.is_file()), None)


def read_config_file(path: Path | None, section: str | None) -> dict[str, Any]:
    """Top-level keys of the file, overlaid with its ``[section]`` table."""
    if path is None:
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"config file {path}: {e}") from e
    values = {k: v for k, v in data.items() if not isinstance(v, dict)}
    if section and isinstance(data.get(section), dict):
        values.update(data[section])
    return values


def env_values(fields: Mapping[str, Any], section: str | None, environ: Mapping[str, str]) -> dict[str, str]:
    """Environment values for the model's fields (section-qualified names win)."""
    values: dict[str, str] = {}
    for name in fields:
        for key in (f"{ENV_PREFIX}{name.upper()}", f"{ENV_PREFIX}{(section or '').upper()}_{name.upper()}"):
            if key in environ:
                values[name] = environ[key]
    return values


def load_settings(
    model: type[SettingsT],
    *,
    flags: Mapping[str, Any] | None = None,
    config_file: str | os.PathLike[str] | None = None,
    section: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> SettingsT:
    """Build ``model`` from flags > environment > config file > defaults.

    Flags whose value is None were not given and do not count. Unknown config-file keys
    are ignored (the file is shared by every service); invalid values raise ConfigError
    naming the key and where it came from.
    """
    fields = model.model_fields
    file_values = read_config_file(find_config_file(config_file), section)
    from_file = {k: v for k, v in file_values.items() if k in fields}
    from_env = env_values(fields, section, os.environ if environ is None else environ)
    from_flags = {k: v for k, v in (flags or {}).items() if v is not None and k in fields}
    merged = {**from_file, **from_env, **from_flags}
    try:
        return model.model_validate(merged)
    except ValidationError as e:
        first = e.errors()[0]
        key = ".".join(str(p) for p in first["loc"])
        origin = "flag" if key in from_flags else "environment" if key in from_env else "config file"
        raise ConfigError(f"setting {key!r} ({origin}): {first['msg']}") from e
