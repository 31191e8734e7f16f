"""The ledger (SPEC §5, §8): append-only journal, hash chain, Ed25519 signatures, Merkle log.

Pure core: :mod:`entries` (canonical encoding, hashes, ids), :mod:`merkle` (RFC 6962),
:mod:`verify` (chain verification), :mod:`checkpoint` (signed tree heads).
I/O shell: :mod:`keys` (key files), :mod:`journal` (the database), :mod:`publish` (MQTT),
:mod:`export` (JSONL). ``docs/ledger.md`` is the auditor's guide.
"""
