"""Requests a member signs with their own key (SPEC §13, §14): the transfer, as pure data.

A request is a small JSON document; what the member's Ed25519 key signs is a
domain-separated message, ``DOMAIN ‖ 0x00 ‖ JCS(document)``, so a signature made for one
purpose (a transfer) can never be presented as another (a ballot), and the document names
the ledger (its genesis hash: the hash of entry 1), the co-op and an expiry, so it is good
for this ledger, this co-op and a bounded time only. The settlement id is
``transfer:{request hash}`` with the hash over the signed message (not the signature), so a
request replayed — even with another valid signature — mints nothing the second time.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from circulo.errors import CirculoError
from circulo.ledger.entries import (
    ACCOUNT_RE,
    HASH_RE,
    KEY_ID_RE,
    MAX_SAFE_INT,
    SIG_RE,
    TOKENS,
    Token,
    canonical_json,
    format_ts,
    key_id,
    parse_ts,
)
from circulo.ledger.keys import signature_holds

TRANSFER_DOMAIN = b"circulo/transfer/v1"
COOP_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
NONCE_RE = re.compile(r"[0-9a-f]{32,64}")
TRANSFER_FIELDS = ("v", "type", "ledger", "coop", "from", "to", "token", "amount_micro", "nonce", "expires")


class InvalidRequest(CirculoError):
    """A signed request that is malformed, for another ledger, expired, or badly signed."""

    exit_code = 2


def domain_message(domain: bytes, document: Mapping[str, Any]) -> bytes:
    """What a member's key signs: ``domain ‖ 0x00 ‖ JCS(document)``."""
    return domain + b"\x00" + canonical_json(dict(document))


def treasury_of(coop_id: str) -> str:
    """The co-op's treasury account (SPEC §2)."""
    return f"treasury@{coop_id}"


@dataclass(frozen=True)
class TransferRequest:
    """A transfer of ``amount_micro`` of ``token`` from one account to another of a co-op."""

    ledger: str
    coop: str
    from_account: str
    to_account: str
    token: Token
    amount_micro: int
    nonce: str
    expires: datetime

    def __post_init__(self) -> None:
        check_transfer(self)

    def document(self) -> dict[str, Any]:
        """The request as the member signs it (and as the ledger entry's source records it)."""
        return {
            "v": 1,
            "type": "transfer",
            "ledger": self.ledger,
            "coop": self.coop,
            "from": self.from_account,
            "to": self.to_account,
            "token": self.token,
            "amount_micro": self.amount_micro,
            "nonce": self.nonce,
            "expires": format_ts(self.expires),
        }

    def message(self) -> bytes:
        """The domain-separated bytes a member's key signs."""
        return domain_message(TRANSFER_DOMAIN, self.document())

    @property
    def request_hash(self) -> str:
        """SHA-256 of the signed message: the settlement's name."""
        return hashlib.sha256(self.message()).hexdigest()

    @property
    def settlement_id(self) -> str:
        """``transfer:{request hash}`` (SPEC §13)."""
        return f"transfer:{self.request_hash}"


def check_transfer(request: TransferRequest) -> None:
    """Raise InvalidRequest naming the first field of a transfer that is not allowed."""
    if not HASH_RE.fullmatch(request.ledger):
        raise InvalidRequest(f"ledger {request.ledger!r} is not a genesis hash (64 lowercase hex)")
    if not COOP_RE.fullmatch(request.coop):
        raise InvalidRequest(f"co-op {request.coop!r} is not a co-op id")
    for name, account in (("from", request.from_account), ("to", request.to_account)):
        if not ACCOUNT_RE.fullmatch(account):
            raise InvalidRequest(f"{name} {account!r} is not an account id")
    if request.from_account == request.to_account:
        raise InvalidRequest("a transfer needs two different accounts (from = to)")
    if request.token not in TOKENS:
        raise InvalidRequest(f"token {request.token!r} is not one of {', '.join(TOKENS)}")
    amount = request.amount_micro
    if type(amount) is not int or not 0 < amount <= MAX_SAFE_INT:
        raise InvalidRequest(f"amount_micro {amount!r} must be an integer in 1..2^53-1")
    if not NONCE_RE.fullmatch(request.nonce):
        raise InvalidRequest("nonce must be 32-64 lowercase hex digits")


def new_nonce() -> str:
    """A fresh 128-bit nonce."""
    return secrets.token_hex(16)


@dataclass(frozen=True)
class SignedTransfer:
    """A member's transfer request with its signature and the signing key's id."""

    request: TransferRequest
    key_id: str
    sig: str

    def to_dict(self) -> dict[str, Any]:
        """The request file a member hands over: ``{request, key_id, sig}``."""
        return {"request": self.request.document(), "key_id": self.key_id, "sig": self.sig}

    def signed_by(self, public_key_hex: str) -> bool:
        """Whether ``sig`` is this public key's signature of the request (and the key is ``key_id``)."""
        try:
            named = key_id(bytes.fromhex(public_key_hex)) == self.key_id
        except ValueError:
            return False
        return named and signature_holds(public_key_hex, self.sig, self.request.message())


def sign_transfer(request: TransferRequest, private_key: Ed25519PrivateKey) -> SignedTransfer:
    """The member's signature of a transfer request."""
    public = private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return SignedTransfer(request, key_id(public), private_key.sign(request.message()).hex())


def transfer_from_document(document: Any) -> TransferRequest:
    """A transfer request from its JSON document; InvalidRequest names what is wrong."""
    if not isinstance(document, Mapping):
        raise InvalidRequest("a transfer request is a JSON object")
    keys = set(document)
    if keys != set(TRANSFER_FIELDS):
        unexpected, missing = sorted(keys - set(TRANSFER_FIELDS)), sorted(set(TRANSFER_FIELDS) - keys)
        raise InvalidRequest(
            f"request fields: missing {missing or 'none'}, unexpected {unexpected or 'none'}"
        )
    if document["v"] != 1 or document["type"] != "transfer":
        raise InvalidRequest("not a version-1 transfer request (v: 1, type: transfer)")
    texts = ("ledger", "coop", "from", "to", "token", "nonce", "expires")
    if any(not isinstance(document[name], str) for name in texts):
        raise InvalidRequest(f"request fields {', '.join(texts)} are strings")
    try:
        expires = parse_ts(document["expires"])
    except CirculoError as e:
        raise InvalidRequest(f"expires: {e.message}") from e
    return TransferRequest(
        ledger=document["ledger"],
        coop=document["coop"],
        from_account=document["from"],
        to_account=document["to"],
        token=document["token"],  # checked against TOKENS by TransferRequest
        amount_micro=document["amount_micro"],
        nonce=document["nonce"],
        expires=expires,
    )


def signed_transfer_from_dict(data: Any) -> SignedTransfer:
    """A request file (``{request, key_id, sig}``); InvalidRequest when it is not one."""
    if not isinstance(data, Mapping) or set(data) != {"request", "key_id", "sig"}:
        raise InvalidRequest("a signed transfer is a JSON object {request, key_id, sig}")
    if not isinstance(data["key_id"], str) or not KEY_ID_RE.fullmatch(data["key_id"]):
        raise InvalidRequest("key_id must be 16 lowercase hex digits")
    if not isinstance(data["sig"], str) or not SIG_RE.fullmatch(data["sig"]):
        raise InvalidRequest("sig must be 128 lowercase hex digits (an Ed25519 signature)")
    return SignedTransfer(transfer_from_document(data["request"]), data["key_id"], data["sig"])
