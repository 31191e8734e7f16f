"""What members and the co-op's secretary sign for governance (SPEC §14), as pure data.

Every signed document is a small JSON object; the key signs ``DOMAIN ‖ 0x00 ‖ JCS(document)``
with a domain per purpose, so a signature made for one thing (a ballot) can never be shown
as another (a member's key, a transfer). Every document names the ledger by its genesis hash
(entry 1's hash), so it is good for this ledger only.

- the **secretary** of a co-op attests each member's public key (``member.key`` records) and
  records ballots cast at an assembly; a new secretary is appointed by the outgoing one;
- a **member** signs their ballots (and transfers, :mod:`circulo.ledger.requests`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from circulo.ledger.entries import ACCOUNT_RE, HASH_RE, KEY_ID_RE, SIG_RE, key_id, sha256_hex
from circulo.ledger.keys import signature_holds
from circulo.ledger.requests import COOP_RE, NONCE_RE, InvalidRequest, domain_message

MEMBER_KEY_DOMAIN = b"circulo/member-key/v1"
BALLOT_DOMAIN = b"circulo/ballot/v1"
BALLOT_RECORD_DOMAIN = b"circulo/ballot-record/v1"
SECRETARY_DOMAIN = b"circulo/secretary/v1"
PUBLIC_KEY_RE = re.compile(r"[0-9a-f]{64}")

Choice = Literal["yes", "no", "abstain"]
CHOICES: tuple[Choice, ...] = ("yes", "no", "abstain")
KeyAction = Literal["register", "revoke"]

# Each document's fields and the form of each (beyond v, type and ledger, which all share).
FORMS: dict[str, dict[str, tuple[re.Pattern[str] | tuple[str, ...], str]]] = {
    "member.key": {
        "coop": (COOP_RE, "a co-op id"),
        "account": (ACCOUNT_RE, "an account id"),
        "public_key": (PUBLIC_KEY_RE, "64 lowercase hex digits (a raw Ed25519 key)"),
        "action": (("register", "revoke"), "register or revoke"),
        "nonce": (NONCE_RE, "32-64 lowercase hex digits"),
    },
    "secretary": {
        "coop": (COOP_RE, "a co-op id"),
        "account": (ACCOUNT_RE, "an account id"),
        "public_key": (PUBLIC_KEY_RE, "64 lowercase hex digits (a raw Ed25519 key)"),
        "nonce": (NONCE_RE, "32-64 lowercase hex digits"),
    },
    "ballot": {
        "proposal": (HASH_RE, "the proposal's entry hash (64 lowercase hex)"),
        "choice": (CHOICES, "yes, no or abstain"),
    },
    "ballot_record": {
        "proposal": (HASH_RE, "the proposal's entry hash (64 lowercase hex)"),
        "voter": (ACCOUNT_RE, "an account id"),
        "choice": (CHOICES, "yes, no or abstain"),
        "minutes_sha256": (HASH_RE, "the SHA-256 of the assembly minutes (64 lowercase hex)"),
    },
}
DOMAINS = {
    MEMBER_KEY_DOMAIN: "member.key",
    SECRETARY_DOMAIN: "secretary",
    BALLOT_DOMAIN: "ballot",
    BALLOT_RECORD_DOMAIN: "ballot_record",
}


def public_key_hex(private_key: Ed25519PrivateKey) -> str:
    """The raw public key of a private key, 64 lowercase hex digits."""
    return private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()


def require(condition: bool, message: str) -> None:
    """Raise InvalidRequest(message) unless ``condition``."""
    if not condition:
        raise InvalidRequest(message)


def fits(value: Any, form: re.Pattern[str] | tuple[str, ...]) -> bool:
    """Whether ``value`` is a string of the form (a pattern, or one of the choices)."""
    if not isinstance(value, str):
        return False
    return value in form if isinstance(form, tuple) else form.fullmatch(value) is not None


def check_document(document: Any, kind: str) -> None:
    """Exactly the fields of ``kind``, version 1, naming a ledger, each field of its form."""
    require(isinstance(document, Mapping), f"a {kind} document is a JSON object")
    form = FORMS[kind]
    fields = {"v", "type", "ledger", *form}
    missing, extra = sorted(fields - set(document)), sorted(set(document) - fields)
    require(not missing and not extra, f"{kind}: missing {missing or 'none'}, unexpected {extra or 'none'}")
    require(document["v"] == 1 and document["type"] == kind, f"not a version-1 {kind} document")
    require(fits(document["ledger"], HASH_RE), f"{kind}: ledger must be the genesis hash (64 lowercase hex)")
    for name, (pattern, what) in form.items():
        require(fits(document[name], pattern), f"{kind}: {name} must be {what}")


def new_document(kind: str, ledger: str, **fields: str) -> dict[str, Any]:
    """A checked document of ``kind`` (see :data:`FORMS` for its fields)."""
    document = {"v": 1, "type": kind, "ledger": ledger, **fields}
    check_document(document, kind)
    return document


@dataclass(frozen=True)
class Signed:
    """A signed governance document: which document, by which key, the signature."""

    domain: bytes
    document: Mapping[str, Any]
    key_id: str
    sig: str

    def message(self) -> bytes:
        """The bytes the key signed."""
        return domain_message(self.domain, self.document)

    @property
    def digest(self) -> str:
        """SHA-256 of the signed message: names what was signed (settlement ids use it)."""
        return sha256_hex(self.message())

    def signed_by(self, public_key: str) -> bool:
        """Whether ``public_key`` (hex) is ``key_id`` and made ``sig``."""
        try:
            named = key_id(bytes.fromhex(public_key)) == self.key_id
        except ValueError:
            return False
        return named and signature_holds(public_key, self.sig, self.message())

    def to_dict(self) -> dict[str, Any]:
        """The file form: ``{document, key_id, sig}``."""
        return {"document": dict(self.document), "key_id": self.key_id, "sig": self.sig}


def sign(domain: bytes, document: Mapping[str, Any], private_key: Ed25519PrivateKey) -> Signed:
    """Sign ``document`` for ``domain``."""
    check_document(document, DOMAINS[domain])
    kid = key_id(bytes.fromhex(public_key_hex(private_key)))
    message = domain_message(domain, document)
    return Signed(domain, dict(document), kid, private_key.sign(message).hex())


def signed_from_dict(data: Any, domain: bytes) -> Signed:
    """A signed file (``{document, key_id, sig}``) of ``domain``; InvalidRequest when it is not one."""
    require(
        isinstance(data, Mapping) and set(data) == {"document", "key_id", "sig"},
        "a signed document is a JSON object {document, key_id, sig}",
    )
    require(fits(data["key_id"], KEY_ID_RE), "key_id must be 16 lowercase hex digits")
    require(fits(data["sig"], SIG_RE), "sig must be 128 lowercase hex digits (an Ed25519 signature)")
    check_document(data["document"], DOMAINS[domain])
    return Signed(domain, dict(data["document"]), data["key_id"], data["sig"])
