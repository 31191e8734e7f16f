"""Signed checkpoints of the transparency log (SPEC §8): ``{size, root, ts, key_id, sig}`` (pure).

``sig`` is Ed25519 over the JCS encoding of ``{size, root, ts}``. A member who keeps a
checkpoint can later ask for a consistency proof from its size to any newer one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from circulo.ledger.entries import (
    HASH_RE,
    KEY_ID_RE,
    MAX_SAFE_INT,
    SIG_RE,
    SignsBytes,
    canonical_json,
    format_ts,
    parse_ts,
)
from circulo.ledger.errors import InvalidEntry, InvalidProof
from circulo.ledger.keys import signature_holds

CHECKPOINT_FIELDS = ("size", "root", "ts", "key_id", "sig")


@dataclass(frozen=True)
class Checkpoint:
    """A signed tree head: the log had ``size`` entries with Merkle root ``root`` at ``ts``."""

    size: int
    root: str
    ts: str
    key_id: str
    sig: str

    def message(self) -> bytes:
        """The signed bytes: JCS of ``{size, root, ts}``."""
        return checkpoint_message(self.size, self.root, self.ts)

    def to_dict(self) -> dict[str, Any]:
        """The published form (SPEC §8)."""
        return asdict(self)


def checkpoint_message(size: int, root_hex: str, ts: str) -> bytes:
    """JCS of ``{size, root, ts}``: what a checkpoint's signature covers."""
    return canonical_json({"size": size, "root": root_hex, "ts": ts})


def sign_checkpoint(size: int, root_hex: str, moment: datetime, signer: SignsBytes) -> Checkpoint:
    """A checkpoint of ``(size, root)`` at ``moment``, signed by ``signer``."""
    ts = format_ts(moment)
    sig = signer.sign(checkpoint_message(size, root_hex, ts)).hex()
    return Checkpoint(size=size, root=root_hex, ts=ts, key_id=signer.key_id, sig=sig)


def checkpoint_from_dict(data: Mapping[str, Any]) -> Checkpoint:
    """Parse a published checkpoint, checking every field's form (not the signature)."""
    if not isinstance(data, Mapping) or any(name not in data for name in CHECKPOINT_FIELDS):
        raise InvalidProof(f"a checkpoint needs the fields {', '.join(CHECKPOINT_FIELDS)}")
    size = data["size"]
    if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size <= MAX_SAFE_INT:
        raise InvalidProof(f"checkpoint size {size!r} is not a non-negative integer")
    for name, pattern in (("root", HASH_RE), ("key_id", KEY_ID_RE), ("sig", SIG_RE)):
        if not isinstance(data[name], str) or not pattern.fullmatch(data[name]):
            raise InvalidProof(f"checkpoint {name} {data[name]!r} is not lowercase hex of the right length")
    try:
        parse_ts(data["ts"])
    except InvalidEntry as e:
        raise InvalidProof(f"checkpoint {e.message}") from e
    return Checkpoint(size=size, root=data["root"], ts=data["ts"], key_id=data["key_id"], sig=data["sig"])


def checkpoint_signature_holds(checkpoint: Checkpoint, public_keys: Mapping[str, str]) -> bool:
    """Whether the checkpoint is signed by the key it names, and that key is one of ``public_keys``."""
    public_key = public_keys.get(checkpoint.key_id)
    return public_key is not None and signature_holds(public_key, checkpoint.sig, checkpoint.message())
