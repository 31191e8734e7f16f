"""The rewards engine's settings: one frozen model, built once by the CLI and passed down.

Keys live at the top level of the config file or in its ``[rewards]`` table; each has an
environment variable ``CIRCULO_<KEY>`` (or ``CIRCULO_REWARDS_<KEY>``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import ConfigDict, Field, model_validator

from circulo.ledger.settings import KEY_FILE_NAME, default_state_dir
from circulo.rewards.policy import Policy
from circulo.rewards.records import DEFAULT_REPLAY_TIMEOUT_S
from circulo.settings import CommonSettings


class RewardsSettings(CommonSettings):
    """How the engine connects, which policy and key it uses, and how often it cycles.

    ``policy_path`` None means the packaged default policy (SPEC §4 defaults).
    ``signing_key_path`` is the ledger's setting of the same name (default
    ``$state_dir/ledger-signing.key``, else ``~/.config/circulo/ledger-signing.key``).
    ``grace_s`` and ``idle_timeout_s`` override the policy's ``collection_grace_s`` and
    ``idle_timeout_s`` when set: they tune *when* things settle to an installation's
    ingest latency (the policy holds the defaults). ``replay_timeout_s`` is the ingest's
    setting of the same name (SPEC §11): the longest a pending replay gap without a give-up
    time holds a meter's hour or a bin's collection back.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    state_dir: Path | None = None
    policy_path: Path | None = None
    signing_key_path: Path
    interval_s: Annotated[float, Field(gt=0)] = 10.0
    metrics_port: Annotated[int, Field(ge=0, le=65535)] = 9109
    metrics_host: str = "127.0.0.1"
    grace_s: Annotated[float | None, Field(ge=0)] = None
    idle_timeout_s: Annotated[float | None, Field(gt=0)] = None
    lock_poll_s: Annotated[float, Field(gt=0)] = 1.0
    replay_timeout_s: Annotated[float, Field(gt=0)] = DEFAULT_REPLAY_TIMEOUT_S

    @model_validator(mode="before")
    @classmethod
    def default_key_path(cls, values: Any) -> Any:
        """The signing key defaults to the ledger's default location."""
        if not isinstance(values, dict):
            return values
        base = Path(values["state_dir"]).expanduser() if values.get("state_dir") else default_state_dir()
        values = dict(values)
        values["signing_key_path"] = Path(values.get("signing_key_path") or base / KEY_FILE_NAME).expanduser()
        return values


def collection_grace_s(settings: RewardsSettings, policy: Policy) -> float:
    """The grace after a collection's receipt before it settles (setting, else policy)."""
    if settings.grace_s is not None:
        return settings.grace_s
    return float(policy.recycling.collection_grace_s)


def idle_timeout_s(settings: RewardsSettings, policy: Policy) -> float:
    """How long a silent meter takes to count as done with every hour (setting, else policy)."""
    if settings.idle_timeout_s is not None:
        return settings.idle_timeout_s
    return float(policy.green.idle_timeout_s)
