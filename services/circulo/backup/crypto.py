"""The archive's encryption: scrypt from a passphrase, AES-256-GCM in chunks (the STREAM construction).

A file is ``MAGIC``, a length-prefixed JSON header (KDF parameters, salt, nonce prefix,
chunk size), a key check, then chunks of at most ``chunk_size`` plaintext bytes, each
sealed with AES-256-GCM under a 12-byte nonce = 7-byte random prefix ‖ 4-byte chunk
counter ‖ 1-byte last-chunk flag, with the magic and header as associated data. So a
changed byte, a dropped, repeated or reordered chunk, or a file cut short at a chunk
boundary all fail authentication; the key check tells a wrong passphrase from damage.
This is the online authenticated-encryption construction of Hoang, Reyhanitabar, Rogaway
and Vizár (2015), as used by Tink's streaming AEAD and by age; the primitives are the
``cryptography`` package's. The whole archive is checked before any of it is used.
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from circulo.backup.errors import ArchiveDamaged, WrongPassphrase

MAGIC = b"CIRCULO-BACKUP\x00\x01"
CHUNK_SIZE = 1 << 20
TAG_SIZE = 16
KEY_CHECK = b"circulo backup key check"
KEY_CHECK_COUNTER = 0xFFFFFFFF
# scrypt cost: N = 2^17, r = 8 (128 MiB, about half a second): OWASP's recommendation.
SCRYPT_LOG_N, SCRYPT_R, SCRYPT_P = 17, 8, 1
MAX_LOG_N = 22  # refuse headers that would make opening an archive cost gigabytes
MAX_HEADER = 4096


@dataclass(frozen=True)
class Header:
    """What a reader needs to derive the key and check the chunks."""

    kdf: str
    log_n: int
    r: int
    p: int
    salt: str
    nonce_prefix: str
    chunk_size: int
    cipher: str = "AES-256-GCM"

    def encoded(self) -> bytes:
        """The header's bytes as stored (and authenticated)."""
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":")).encode()


def derive_key(passphrase: bytes, header: Header) -> bytes:
    """The 256-bit key from the passphrase (scrypt with the header's salt and cost)."""
    kdf = Scrypt(salt=bytes.fromhex(header.salt), length=32, n=1 << header.log_n, r=header.r, p=header.p)
    return kdf.derive(passphrase)


def nonce(header: Header, counter: int, last: bool) -> bytes:
    """Nonce of chunk ``counter``: prefix ‖ counter ‖ last flag."""
    return bytes.fromhex(header.nonce_prefix) + struct.pack(">IB", counter, 1 if last else 0)


class EncryptingWriter:
    """A binary file-like object that encrypts what is written into ``out`` (close() seals the end)."""

    def __init__(
        self, out: BinaryIO, passphrase: bytes, *, chunk_size: int = CHUNK_SIZE, log_n: int = SCRYPT_LOG_N
    ) -> None:
        self.header = Header("scrypt", log_n, SCRYPT_R, SCRYPT_P, os.urandom(16).hex(),
                             os.urandom(7).hex(), chunk_size)  # fmt: skip
        self._aead = AESGCM(derive_key(passphrase, self.header))
        self._aad = MAGIC + self.header.encoded()
        self._out, self._buffer, self._counter = out, bytearray(), 0
        encoded = self.header.encoded()
        check = self._aead.encrypt(nonce(self.header, KEY_CHECK_COUNTER, True), KEY_CHECK, self._aad)
        out.write(MAGIC + struct.pack(">I", len(encoded)) + encoded + check)

    def write(self, data: bytes) -> int:
        """Buffer ``data``, sealing every full chunk."""
        self._buffer += data
        size, start = self.header.chunk_size, 0
        while len(self._buffer) - start > size:  # keep a tail: the last chunk is sealed by close()
            self._seal(bytes(self._buffer[start : start + size]), last=False)
            start += size
        del self._buffer[:start]
        return len(data)

    def _seal(self, plaintext: bytes, *, last: bool) -> None:
        sealed = self._aead.encrypt(nonce(self.header, self._counter, last), plaintext, self._aad)
        self._out.write(struct.pack(">I", len(sealed)) + sealed)
        self._counter += 1

    def close(self) -> None:
        """Seal what is left as the last chunk (possibly empty)."""
        self._seal(bytes(self._buffer), last=True)
        self._buffer.clear()


def read_header(source: BinaryIO) -> tuple[Header, bytes]:
    """The header and the key check; ArchiveDamaged when this is not a Circulo backup."""
    if source.read(len(MAGIC)) != MAGIC:
        raise ArchiveDamaged("not a Circulo backup archive (no CIRCULO-BACKUP header)")
    (length,) = struct.unpack(">I", read_exactly(source, 4))
    if length > MAX_HEADER:
        raise ArchiveDamaged("archive header is damaged")
    try:
        header = Header(**json.loads(read_exactly(source, length)))
        usable = valid_header(header)
    except (ValueError, TypeError) as e:
        raise ArchiveDamaged("archive header is damaged") from e
    if not usable:
        raise ArchiveDamaged("archive header names a key derivation or cipher this version does not use")
    return header, read_exactly(source, len(KEY_CHECK) + TAG_SIZE)


def valid_header(header: Header) -> bool:
    """Whether the header's parameters are ones this version writes (bounded, so opening stays cheap)."""
    return (
        header.kdf == "scrypt"
        and header.cipher == "AES-256-GCM"
        and 10 <= header.log_n <= MAX_LOG_N
        and (header.r, header.p) == (SCRYPT_R, SCRYPT_P)
        and len(bytes.fromhex(header.salt)) == 16
        and len(bytes.fromhex(header.nonce_prefix)) == 7
        and 0 < header.chunk_size <= 1 << 26
    )


def read_exactly(source: BinaryIO, size: int) -> bytes:
    """``size`` bytes, or ArchiveDamaged when the file ends first."""
    data = source.read(size)
    if len(data) != size:
        raise ArchiveDamaged("archive is truncated")
    return data


def decrypted_chunks(source: BinaryIO, passphrase: bytes) -> Iterator[bytes]:
    """The plaintext, chunk by chunk, each authenticated; errors name what is wrong."""
    header, check = read_header(source)
    aad = MAGIC + header.encoded()
    aead = AESGCM(derive_key(passphrase, header))
    try:
        aead.decrypt(nonce(header, KEY_CHECK_COUNTER, True), check, aad)
    except InvalidTag as e:
        raise WrongPassphrase("wrong passphrase (or the archive header is damaged)") from e
    counter, last = 0, False
    while not last:
        length_bytes = source.read(4)
        if len(length_bytes) < 4:
            raise ArchiveDamaged(f"archive is truncated after chunk {counter}")
        (length,) = struct.unpack(">I", length_bytes)
        if length > header.chunk_size + TAG_SIZE:
            raise ArchiveDamaged(f"archive is damaged at chunk {counter}")
        plaintext, last = open_chunk(aead, header, aad, counter, read_exactly(source, length))
        yield plaintext
        counter += 1
    if source.read(1):
        raise ArchiveDamaged("archive has data after its last chunk")


def open_chunk(aead: AESGCM, header: Header, aad: bytes, counter: int, sealed: bytes) -> tuple[bytes, bool]:
    """Open one chunk as a middle chunk, else as the last one; (plaintext, is it the last)."""
    for last in (False, True):
        try:
            return aead.decrypt(nonce(header, counter, last), sealed, aad), last
        except InvalidTag:
            continue
    raise ArchiveDamaged(f"archive is damaged at chunk {counter} (authentication failed)")


def decrypt_to(source: BinaryIO, out: BinaryIO, passphrase: bytes) -> None:
    """Decrypt the whole archive into ``out``."""
    for chunk in decrypted_chunks(source, passphrase):
        out.write(chunk)
