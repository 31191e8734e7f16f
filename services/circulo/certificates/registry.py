"""The certificate registry in PostgreSQL: issuance in a settlement's transaction, actions, reads.

Every write runs inside a transaction that holds the ledger head lock before it touches a
bundle (an append takes it; an action takes it first), so actions, corrections and issuance
serialise: two claims of the same Wh queue, and the second finds them claimed. Each action's
record and its bundle changes commit together; the exclusion constraints of migration 0011
are the last guard (no two live bundles share an id; no Wh is claimed twice).
"""

from __future__ import annotations

import getpass
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from circulo.certificates import queries as sql
from circulo.certificates.actions import ActionPlan, ActionRequest, BundleState, plan_action, treasury_of
from circulo.certificates.energytag import COLUMNS
from circulo.certificates.errors import CertificatesClaimed, InvalidAction
from circulo.certificates.ids import IdRange
from circulo.certificates.records import (
    DeviceFacts,
    Issuance,
    IssuedBundle,
    Issuer,
    Period,
    default_issuer,
    expiry,
    gps_text,
    issuance_hash,
    issuance_id,
)
from circulo.errors import NotFound
from circulo.ledger import journal
from circulo.ledger.entries import ACCOUNT_RE, LedgerEntry
from circulo.ledger.keys import Signer

# --- settings ---------------------------------------------------------------------------------


def issuer(conn: psycopg.Connection, coop_id: str) -> Issuer:
    """The co-op's issuer settings (the defaults when it configured none)."""
    row = conn.execute(sql.ISSUER, {"coop_id": coop_id}).fetchone()
    return default_issuer(coop_id) if row is None else Issuer(coop_id, *row)


def configure(conn: psycopg.Connection, settings: Issuer) -> None:
    """Set a co-op's issuer attributes and expiry (applies to certificates issued from now on)."""
    if conn.execute("SELECT 1 FROM coop WHERE coop_id = %s", (settings.coop_id,)).fetchone() is None:
        raise NotFound(f"co-op {settings.coop_id} is not registered")
    conn.execute(sql.SET_ISSUER, {**vars(settings)})


def assign(conn: psycopg.Connection, device_id: str, holder: str | None) -> str:
    """Give a meter's future certificates to ``holder`` (a member of its co-op), or back to the
    treasury (None); returns who holds them from now on."""
    row = conn.execute(sql.METER, {"device_id": device_id}).fetchone()
    if row is None or row[1] != "meter":
        raise NotFound(f"no meter {device_id}")
    coop_id = row[0]
    if holder is None or holder == treasury_of(coop_id):
        conn.execute(sql.UNASSIGN, {"device_id": device_id})
        return treasury_of(coop_id)
    if conn.execute(sql.IS_MEMBER, {"coop_id": coop_id, "account": holder}).fetchone() is None:
        raise InvalidAction(f"{holder} is not a member of co-op {coop_id}")
    conn.execute(sql.ASSIGN, {"device_id": device_id, "holder": holder})
    return holder


# --- issuance (inside a green settlement's transaction) ---------------------------------------


def issuance_inputs(conn: psycopg.Connection, coop_id: str, certified_wh: int) -> Issuance:
    """Read the co-op's settings and allocate ``certified_wh`` ids from the counter row."""
    holders = {device: holder for device, holder in conn.execute(sql.HOLDERS, {"coop_id": coop_id})}
    devices = {
        device: DeviceFacts(device, rated, gps_text(lat, lon), name)
        for device, rated, lat, lon, name in conn.execute(sql.DEVICES, {"coop_id": coop_id})
    }
    return Issuance(issuer(conn, coop_id), allocate(conn, certified_wh), holders, devices)


def allocate(conn: psycopg.Connection, count: int) -> int:
    """The first of ``count`` new ids (the counter row stays locked until the transaction ends)."""
    row = conn.execute(sql.ALLOCATE, {"count": count}).fetchone()
    if row is None:
        raise NotFound("certificate_counter row missing: is the database migrated (circulo db upgrade)?")
    return int(row[0])


def record_issuance(
    conn: psycopg.Connection,
    *,
    coop_id: str,
    bundles: Sequence[IssuedBundle],
    inputs: Issuance,
    record: LedgerEntry,
    settlement_pk: int,
) -> None:
    """The issued bundles' rows, naming the ``certificate.issue`` record that issued them."""
    if not bundles:
        return
    metadata = conn.execute(
        sql.METADATA_ID,
        {"coop_id": coop_id, **inputs.issuer.metadata(), "energy_source": inputs.issuer.energy_source},
    ).fetchone()
    conn.execute(
        sql.INSERT_ISSUANCES,
        {
            "coop_id": coop_id, "metadata": metadata[0] if metadata else None, "seq": record.seq,
            "issued_at": record.ts, "settlement": settlement_pk,
            "issuance_ids": [issuance_id(b.device_id, b.hour) for b in bundles],
            "devices": [b.device_id for b in bundles],
            "starts": [b.ids.start for b in bundles], "ends": [b.ids.end for b in bundles],
            "hours": [b.hour for b in bundles],
            "locations": [inputs.devices[b.device_id].location if b.device_id in inputs.devices else None
                          for b in bundles],
            "expiries": [expiry(b.hour, inputs.issuer.expiry_days) for b in bundles],
            "hashes": [issuance_hash(coop_id, b, inputs.issuer) for b in bundles],
            "holders": [b.holder for b in bundles],
        },
    )  # fmt: skip


# --- actions ----------------------------------------------------------------------------------


def bundle_state(row: Sequence[Any]) -> BundleState:
    """A :class:`BundleState` from a ``BUNDLE_COLUMNS`` row."""
    (bundle_id, start, end, coop_id, device_id, hour, expires, holder, status, beneficiary, p_start,
     p_end) = row[:12]  # fmt: skip
    period = Period(p_start, p_end) if p_start is not None and p_end is not None else None
    return BundleState(
        bundle_id, IdRange(start, end), coop_id, device_id, hour, expires, holder, status, beneficiary, period
    )


def lock_bundles(conn: psycopg.Connection, starts: Sequence[int]) -> tuple[BundleState, ...]:
    """The live bundles that start at ``starts``, locked, in the order named."""
    found = {row[1]: bundle_state(row) for row in conn.execute(sql.LOCK_BUNDLES, {"starts": list(starts)})}
    missing = [str(s) for s in starts if s not in found]
    if missing:
        raise NotFound(
            f"no live bundle starts at certificate {', '.join(missing)} (see circulo certificates list)"
        )
    return tuple(found[s] for s in starts)


@dataclass(frozen=True)
class Done:
    """An action carried out: its plan and the record entry it appended."""

    plan: ActionPlan
    entry: LedgerEntry


def act(
    conn: psycopg.Connection,
    request_of: Callable[[tuple[BundleState, ...]], ActionRequest],
    starts: Sequence[int],
    *,
    signer: Signer,
    operator: str,
    now: datetime,
) -> Done:
    """Carry out an action on the bundles starting at ``starts``, in one transaction.

    ``request_of(bundles)`` builds the :class:`ActionRequest` from the locked bundles. The
    ledger head is locked first, so concurrent actions on the same Wh serialise.
    """
    with conn.transaction():
        head = journal.lock_head(conn)
        request = request_of(lock_bundles(conn, starts))
        plan = plan_action(request, now=now, after_seq=head.seq, operator=operator)
        [entry] = journal.append_entries(conn, [plan.entry], signer, now=now)
        apply_plan(conn, plan, entry.seq)
    return Done(plan, entry)


def apply_plan(conn: psycopg.Connection, plan: ActionPlan, seq: int) -> None:
    """Move the bundles as the plan says: whole bundles updated, split ones replaced by parts."""
    by_start = {b.ids.start: b for b in plan.request.bundles}
    for taken in plan.takes:
        bundle = by_start[taken.bundle.start]
        after = after_state(plan, bundle, seq)
        if taken.rest is None:
            conn.execute(sql.UPDATE_BUNDLE, {**after, "bundle_id": bundle.bundle_id})
            part_id = bundle.bundle_id
        else:
            conn.execute(sql.MARK_SPLIT, {"seq": seq, "bundle_id": bundle.bundle_id})
            part_id = insert_part(conn, bundle, taken.taken, after)
            insert_part(conn, bundle, taken.rest, before_state(bundle, seq))
        if plan.request.action == "claim":
            conn.execute(sql.INSERT_CLAIM, {**after, "bundle_id": part_id, "range_start": taken.taken.start,
                                            "range_end": taken.taken.end})  # fmt: skip


def after_state(plan: ActionPlan, bundle: BundleState, seq: int) -> dict[str, Any]:
    """The columns of a taken part after the action."""
    period = plan.period or bundle.period
    return {
        "holder": plan.new_holder(bundle),
        "status": plan.new_status(bundle),
        "beneficiary": plan.beneficiary or bundle.beneficiary,
        "period_start": period.start if period else None,
        "period_end": period.end if period else None,
        "seq": seq,
    }


def before_state(bundle: BundleState, seq: int) -> dict[str, Any]:
    """The columns of the part a split leaves as it was."""
    return {
        "holder": bundle.holder,
        "status": bundle.status,
        "beneficiary": bundle.beneficiary,
        "period_start": bundle.period.start if bundle.period else None,
        "period_end": bundle.period.end if bundle.period else None,
        "seq": seq,
    }


def insert_part(conn: psycopg.Connection, parent: BundleState, ids: IdRange, state: dict[str, Any]) -> int:
    """A part of a split bundle (same issuance, ``parent`` recorded); returns its row id."""
    row = conn.execute(
        sql.INSERT_PART,
        {**state, "bundle_id": parent.bundle_id, "range_start": ids.start, "range_end": ids.end},
    ).fetchone()
    if row is None:
        raise NotFound(f"bundle {parent.ids} vanished under this action")
    return int(row[0])


def operator_name() -> str:
    """Who runs this command (``user@host``), as action records name the operator."""
    return f"{getpass.getuser()}@{socket.gethostname()}"


# --- corrections ------------------------------------------------------------------------------


def withdrawal_for_correction(
    conn: psycopg.Connection, target: LedgerEntry, why: str, *, head_seq: int, operator: str, now: datetime
) -> ActionPlan | None:
    """The withdrawal of a corrected green settlement's live bundles (None: nothing to withdraw).

    Refused (:class:`CertificatesClaimed`) when any of its certificates was claimed: a buyer's
    claim cannot be taken back by the issuer. The caller holds the ledger head lock.
    """
    claimed = conn.execute(sql.CLAIMS_OF_SETTLEMENT, {"settlement_id": target.settlement_id}).fetchall()
    if claimed:
        ids = ", ".join(f"{start}-{end} (for {who})" for start, end, who in claimed[:5])
        raise CertificatesClaimed(
            f"entry {target.seq} is not corrected: certificates of {target.settlement_id} were claimed: {ids}"
        )
    live = [
        bundle_state(row)
        for row in conn.execute(sql.SETTLEMENT_BUNDLES, {"settlement_id": target.settlement_id})
        if row[8] in ("active", "cancelled")
    ]
    if not live:
        return None
    request = ActionRequest(
        action="withdraw", account=treasury_of(live[0].coop_id), bundles=tuple(live),
        why=f"correction of entry {target.seq}: {why.strip()}", corrects_seq=target.seq,
    )  # fmt: skip
    return plan_action(request, now=now, after_seq=head_seq, operator=operator)


# --- reads ------------------------------------------------------------------------------------

LISTED = (
    "bundle_id", "range_start", "range_end", "coop_id", "device_id", "production_start", "expires_at",
    "holder", "status", "beneficiary", "period_start", "period_end", "issued_seq", "last_seq", "issuance_id",
)  # fmt: skip
SHOWN = (
    *LISTED, "issued_range_start", "issued_range_end", "hash", "issued_at", "device_capacity_w",
    "device_location", "location_name", "settlement_id",
)  # fmt: skip


def list_bundles(conn: psycopg.Connection, **filters: Any) -> list[dict[str, Any]]:
    """Live bundles matching the filters (coop_id, holder, status, device_id, since, until, limit)."""
    params = {"coop_id": None, "holder": None, "status": None, "device_id": None, "since": None,
              "until": None, "limit": 1000, **filters}  # fmt: skip
    return [dict(zip(LISTED, row, strict=True)) for row in conn.execute(sql.LIST_BUNDLES, params)]


def show_bundle(conn: psycopg.Connection, certificate_id: int) -> dict[str, Any]:
    """The live bundle holding a certificate id: its state, issuance and ledger history."""
    row = conn.execute(sql.BUNDLE_OF_ID, {"id": certificate_id}).fetchone()
    if row is None:
        raise NotFound(f"no live bundle holds certificate {certificate_id}")
    shown = dict(zip(SHOWN, row, strict=True))
    params = {"issued_seq": shown["issued_seq"], "range_start": shown["range_start"],
              "range_end": shown["range_end"]}  # fmt: skip
    shown["history"] = [
        {"seq": seq, "ts": ts, "reason": reason, "account": account, "hash": digest}
        for seq, ts, reason, account, digest in conn.execute(sql.HISTORY, params)
    ]
    return shown


def export_rows(
    conn: psycopg.Connection, *, coop_id: str | None, since: datetime | None, until: datetime | None
) -> list[dict[str, Any]]:
    """The live bundles to export, as :data:`energytag.COLUMNS` mappings, in id order."""
    params = {"coop_id": coop_id, "since": since, "until": until}
    return [dict(zip(COLUMNS, row, strict=True)) for row in conn.execute(sql.EXPORT_BUNDLES, params)]


def check_account(account: str, option: str) -> str:
    """An account id as SPEC §2 defines them, or InvalidAction naming the option."""
    if not ACCOUNT_RE.fullmatch(account):
        raise InvalidAction(f"{option} {account!r} is not a valid account id")
    return account
