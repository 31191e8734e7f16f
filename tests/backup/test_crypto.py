"""The archive encryption: a round trip for any size, and every kind of damage is caught and named."""

from __future__ import annotations

import io
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from circulo.backup.crypto import MAGIC, EncryptingWriter, decrypt_to, read_header
from circulo.backup.errors import ArchiveDamaged, WrongPassphrase

PASS = b"correct horse battery staple"
CHUNK = 64  # small chunks, so the tests cross many chunk boundaries


def encrypt(data: bytes, passphrase: bytes = PASS, writes: int = 1) -> bytes:
    out = io.BytesIO()
    writer = EncryptingWriter(out, passphrase, chunk_size=CHUNK, log_n=10)  # cheap scrypt for the tests
    step = max(1, len(data) // writes)
    for i in range(0, len(data), step):
        writer.write(data[i : i + step])
    writer.close()
    return out.getvalue()


def decrypt(archive: bytes, passphrase: bytes = PASS) -> bytes:
    out = io.BytesIO()
    decrypt_to(io.BytesIO(archive), out, passphrase)
    return out.getvalue()


def chunk_offsets(archive: bytes) -> list[int]:
    """Where each chunk's length prefix starts."""
    source = io.BytesIO(archive)
    read_header(source)
    offsets = []
    while (position := source.tell()) < len(archive):
        offsets.append(position)
        (length,) = struct.unpack(">I", source.read(4))
        source.seek(length, io.SEEK_CUR)
    return offsets


@given(st.binary(max_size=CHUNK * 5 + 3), st.integers(min_value=1, max_value=7))
def test_any_plaintext_written_in_any_pieces_comes_back_exactly(data: bytes, writes: int) -> None:
    assert decrypt(encrypt(data, writes=writes)) == data


def test_the_archive_holds_no_plaintext_and_two_archives_of_the_same_data_differ() -> None:
    data = b"device password: s3cret-s3cret-s3cret" * 4
    first, second = encrypt(data), encrypt(data)
    assert first.startswith(MAGIC) and b"s3cret" not in first
    assert first != second  # fresh salt and nonce prefix each time


def test_a_wrong_passphrase_is_told_apart_from_damage() -> None:
    with pytest.raises(WrongPassphrase, match="wrong passphrase"):
        decrypt(encrypt(b"x" * 200), b"not the passphrase")


@given(st.data())
def test_any_changed_byte_after_the_magic_is_caught(data: st.DataObject) -> None:
    archive = bytearray(encrypt(b"ledger key and device passwords " * 10))
    position = data.draw(st.integers(min_value=len(MAGIC), max_value=len(archive) - 1))
    archive[position] ^= data.draw(st.integers(min_value=1, max_value=255))
    with pytest.raises((ArchiveDamaged, WrongPassphrase)):
        decrypt(bytes(archive))


@pytest.mark.parametrize("cut", ["last chunk", "half a chunk", "header"])
def test_a_truncated_archive_is_caught_even_at_a_chunk_boundary(cut: str) -> None:
    archive = encrypt(b"z" * (CHUNK * 4))
    offsets = chunk_offsets(archive)
    end = {"last chunk": offsets[-1], "half a chunk": offsets[1] + 20, "header": 30}[cut]
    with pytest.raises(ArchiveDamaged, match="truncated"):
        decrypt(archive[:end])


def test_dropped_reordered_or_appended_chunks_are_caught() -> None:
    archive = encrypt(bytes(range(256)) * 2)
    offsets = chunk_offsets(archive)
    head, chunks = (
        archive[: offsets[0]],
        [archive[a:b] for a, b in zip(offsets, [*offsets[1:], len(archive)], strict=True)],
    )
    for damaged in (
        head + b"".join(chunks[:1] + chunks[2:]),  # a middle chunk dropped
        head + b"".join([chunks[1], chunks[0], *chunks[2:]]),  # two swapped
        archive + chunks[-1],  # the last one repeated
        archive + b"\x00",  # anything after the end
    ):
        with pytest.raises(ArchiveDamaged):
            decrypt(damaged)


def test_a_file_that_is_not_a_backup_says_so() -> None:
    with pytest.raises(ArchiveDamaged, match="not a Circulo backup"):
        decrypt(b"PK\x03\x04 a zip file, not a backup")
