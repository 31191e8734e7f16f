"""Ledger operations behind the commands: corrections, checkpoints (record, file, MQTT)."""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg

from circulo.certificates import registry as certificates
from circulo.ledger import journal, log
from circulo.ledger.checkpoint import Checkpoint
from circulo.ledger.entries import LedgerEntry, NewEntry
from circulo.ledger.errors import InvalidEntry
from circulo.ledger.keys import Signer
from circulo.ledger.publish import publish_checkpoint, write_checkpoint_file
from circulo.ledger.settings import LedgerSettings
from circulo.logs import get_logger

log_events = get_logger("ledger")


def correction_for(target: LedgerEntry, why: str, amount_micro: int | None = None) -> NewEntry:
    """The burn that reverses ``target`` (in full unless ``amount_micro`` is given), and why."""
    if not why.strip():
        raise InvalidEntry("a correction needs a reason (--why)")
    if target.kind != "mint":
        raise InvalidEntry(f"entry {target.seq} is a {target.kind}; only mints are corrected")
    return NewEntry(
        kind="burn",
        token=target.token,
        account=target.account,
        amount_micro=target.amount_micro if amount_micro is None else amount_micro,
        reason="correction",
        settlement_id=f"correction:{target.seq}",
        sources=({"corrects_seq": target.seq, "corrects_hash": target.hash, "why": why.strip()},),
        policy=target.policy,
        corrects_seq=target.seq,
    )


def correct_entry(
    conn: psycopg.Connection,
    seq: int,
    why: str,
    signer: Signer,
    *,
    amount_micro: int | None = None,
    now: datetime | None = None,
) -> LedgerEntry:
    """Append and commit the correction of entry ``seq``.

    Correcting a green mint withdraws its settlement's certificates in the same transaction
    (a ``certificate.withdraw`` record after the burn), and is refused when any of them was
    claimed (SPEC §12).
    """
    moment = now or datetime.now(UTC)
    with conn.transaction():
        head = journal.lock_head(conn)
        target = journal.entry_by_seq(conn, seq)
        entry = correction_for(target, why, amount_micro)
        withdrawal = None
        if target.reason == "green.energy":
            withdrawal = certificates.withdrawal_for_correction(
                conn, target, why, head_seq=head.seq, operator=certificates.operator_name(), now=moment
            )
        records = [withdrawal.entry] if withdrawal else []
        sealed, *withdrawn = journal.append_entries(conn, [entry, *records], signer, now=moment)
        if withdrawal:
            certificates.apply_plan(conn, withdrawal, withdrawn[0].seq)
    log_events.info("ledger_correction", seq=sealed.seq, corrects_seq=seq, amount_micro=sealed.amount_micro,
                    certificates_withdrawn_wh=withdrawal.wh if withdrawal else 0)  # fmt: skip
    return sealed


def checkpoint(
    conn: psycopg.Connection,
    signer: Signer,
    settings: LedgerSettings,
    *,
    publish: bool = True,
    now: datetime | None = None,
) -> Checkpoint:
    """Sign and record a checkpoint, write it to the checkpoint file, publish it retained."""
    with conn.transaction():
        signed = log.create_checkpoint(conn, signer, now=now)
    write_checkpoint_file(settings.checkpoint_file, signed)
    if publish:
        publish_checkpoint(settings.mqtt_url, signed, timeout_s=settings.publish_timeout_s)
    log_events.info("ledger_checkpoint", size=signed.size, root=signed.root, published=publish)
    return signed
