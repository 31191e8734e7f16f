"""The last published checkpoints, and whether the archive's ledger is consistent with them.

A member who kept a checkpoint (size, root, signed) can prove the history was not
rewritten. A restore must therefore put back a ledger of which every published checkpoint
is a prefix: :func:`judge` compares each checkpoint found — given as files, the configured
checkpoint file, the broker's retained message — with the archive's entry hashes before
anything is restored. A checkpoint larger than the archive's ledger means the archive is
older than what members were shown; that is refused unless the operator accepts it on
purpose (and it is then recorded).
"""

from __future__ import annotations

import json
import threading
import uuid
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import paho.mqtt.client as mqtt

from circulo.backup.errors import BackupError
from circulo.errors import CirculoError, ServiceUnavailable
from circulo.ledger import merkle
from circulo.ledger.checkpoint import Checkpoint, checkpoint_from_dict, checkpoint_signature_holds
from circulo.ledger.settings import CHECKPOINT_TOPIC
from circulo.mqttclient import check_broker, new_client
from circulo.settings import MqttEndpoint


class Verdict(Enum):
    """How a published checkpoint relates to the archive's ledger."""

    CONSISTENT = "consistent"
    OLDER = "archive older than checkpoint"
    INCONSISTENT = "inconsistent"
    UNSIGNED = "not signed by this ledger's keys"


@dataclass(frozen=True)
class Published:
    """A checkpoint and where it was found."""

    source: str
    checkpoint: Checkpoint


@dataclass(frozen=True)
class Judgement:
    """A checkpoint's verdict, in words."""

    published: Published
    verdict: Verdict
    detail: str

    def as_dict(self) -> dict[str, object]:
        """The ``--json`` form."""
        cp = self.published.checkpoint
        return {"source": self.published.source, "size": cp.size, "root": cp.root, "ts": cp.ts,
                "verdict": self.verdict.value, "detail": self.detail}  # fmt: skip


def from_file(path: Path) -> Published:
    """A checkpoint file (``circulo ledger checkpoint`` writes one); BackupError when unreadable."""
    try:
        return Published(f"file {path}", checkpoint_from_dict(json.loads(path.read_text(encoding="utf-8"))))
    except (OSError, ValueError, CirculoError) as e:
        raise BackupError(f"checkpoint {path}: {e}") from e


def from_broker(mqtt_url: str, wait_s: float) -> Published | None:
    """The broker's retained checkpoint, if the broker answers within ``wait_s`` and holds one."""
    endpoint = MqttEndpoint.from_url(mqtt_url)
    found: list[bytes] = []
    done = threading.Event()
    try:
        if not check_broker(endpoint):  # a broker it cannot verify is an error, not "no checkpoint"
            return None
    except ServiceUnavailable as e:
        raise BackupError(f"retained checkpoint: {e.message}") from e
    client = new_client(endpoint, f"circulo-restore-{uuid.uuid4().hex[:8]}")
    client.on_connect = lambda c, u, f, code, p: c.subscribe(CHECKPOINT_TOPIC, qos=1)

    def on_message(c: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        found.append(bytes(message.payload))
        done.set()

    client.on_message = on_message
    try:
        client.connect(endpoint.host, endpoint.port, keepalive=10)
    except OSError:
        return None
    client.loop_start()
    done.wait(wait_s)
    client.disconnect()
    client.loop_stop()
    if not found:
        return None
    try:
        return Published(f"broker {endpoint.host}:{endpoint.port} {CHECKPOINT_TOPIC}",
                         checkpoint_from_dict(json.loads(found[0])))  # fmt: skip
    except (ValueError, CirculoError) as e:
        raise BackupError(f"the broker's retained checkpoint is not readable: {e}") from e


def judge(published: Published, entry_hashes: list[bytes], public_keys: dict[str, str]) -> Judgement:
    """Compare one published checkpoint with the archive's ledger (its entry hashes, in seq order)."""
    cp = published.checkpoint
    if not checkpoint_signature_holds(cp, public_keys):
        return Judgement(
            published, Verdict.UNSIGNED, f"key {cp.key_id} is not one of the archive's ledger keys"
        )
    if cp.size > len(entry_hashes):
        return Judgement(published, Verdict.OLDER,
                         f"checkpoint has {cp.size} entries, the archive's ledger {len(entry_hashes)}: "
                         f"entries {len(entry_hashes) + 1}..{cp.size} are not in the archive")  # fmt: skip
    root = merkle.root_of_hashes([merkle.leaf_hash(h) for h in entry_hashes[: cp.size]]).hex()
    if root != cp.root:
        detail = f"the archive's first {cp.size} entries have root {root}, the checkpoint {cp.root}"
        return Judgement(published, Verdict.INCONSISTENT, detail)
    return Judgement(published, Verdict.CONSISTENT, f"the first {cp.size} entries match")
