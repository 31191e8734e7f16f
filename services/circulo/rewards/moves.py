"""Moves of tokens, the database shell: transfers, treasury dividends and the monthly floor.

Each move is one transaction that first takes the ledger head lock — every append holds it —
so the balances it reads (a sender's, a treasury's) cannot change before it commits: two
transfers racing for the last tokens serialise, and the second finds them gone
(:class:`~circulo.ledger.errors.InsufficientFunds`, nothing written). A move's settlement id
is unique (``reward_settlement``) and so is each entry's idempotency key, so a replayed
request, a dividend paid twice under one id, or a floor month settled by two engines mints
nothing the second time.
"""

from __future__ import annotations

import getpass
import json
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import psycopg.errors

from circulo.errors import Conflict, NotFound
from circulo.ledger import journal
from circulo.ledger.entries import GENESIS_PREV_HASH, Token
from circulo.ledger.errors import InsufficientFunds
from circulo.ledger.keys import Signer
from circulo.ledger.requests import (
    InvalidRequest,
    SignedTransfer,
    TransferRequest,
    new_nonce,
    signed_transfer_from_dict,
    treasury_of,
)
from circulo.rewards.plans.moves import (
    DividendPlan,
    FloorPlan,
    dividend_settlement,
    floor_settlement,
    floor_settlement_id,
    floor_topups,
    transfer_settlement,
)
from circulo.rewards.queries import inputs
from circulo.rewards.queries import moves as sql
from circulo.rewards.records import CycleContext, Settlement, Source
from circulo.rewards.settlement import insert_settlement, mint, record_settlement, settlement_transaction

# The rules a transfer or a dividend follows are the ledger's (SPEC §13), not a rewards
# policy's: their entries name this label in ``policy``.
MOVES_POLICY = "ledger-v2"
OPERATOR_TRANSFER_VALIDITY = timedelta(hours=1)


@dataclass(frozen=True)
class Operator:
    """Who runs an operator's command: recorded in the settlement row and the entries' sources."""

    name: str
    policy: str
    signer: Signer


def operator(signer: Signer) -> Operator:
    """The operator running this command (``user@host``), signing with the ledger's key."""
    return Operator(f"{getpass.getuser()}@{socket.gethostname()}", MOVES_POLICY, signer)


class AlreadySettled(Conflict):
    """The settlement exists already: a replayed request, a dividend id used before."""


def require_coop(conn: psycopg.Connection, coop_id: str) -> None:
    """NotFound unless the co-op is registered."""
    if conn.execute(sql.COOP_EXISTS, {"coop_id": coop_id}).fetchone() is None:
        raise NotFound(f"co-op {coop_id} is not registered")


def is_member(conn: psycopg.Connection, coop_id: str, account: str) -> bool:
    """Whether ``account`` is a member of the co-op."""
    return conn.execute(sql.IS_MEMBER, {"coop_id": coop_id, "account": account}).fetchone() is not None


def balance(conn: psycopg.Connection, account: str, token: str) -> int:
    """The account's balance of ``token`` in µ (read under the head lock by the callers)."""
    row = conn.execute(sql.BALANCE, {"account": account, "token": token}).fetchone()
    return int(row[0]) if row else 0


def commit_move(conn: psycopg.Connection, settlement: Settlement, operator: Operator, now: datetime) -> None:
    """The settlement row, then its entries (the caller holds the transaction and the head lock)."""
    try:
        with conn.transaction():  # a savepoint: a duplicate leaves the outer transaction usable
            insert_settlement(conn, settlement, policy=operator.policy, engine=operator.name)
    except psycopg.errors.UniqueViolation as e:
        row = conn.execute(sql.ENTRY_OF_SETTLEMENT, {"settlement_id": settlement.settlement_id}).fetchone()
        at = f" (entry {row[0]})" if row and row[0] else ""
        raise AlreadySettled(f"{settlement.settlement_id} was settled already{at}; nothing written") from e
    journal.append_entries(conn, settlement.entries, operator.signer, now=now)


# --- transfers --------------------------------------------------------------------------------


def execute_transfer(
    conn: psycopg.Connection,
    request: TransferRequest,
    operator: Operator,
    *,
    signed: SignedTransfer | None,
    now: datetime,
) -> Settlement:
    """Carry out a transfer: a member's signed request, or the operator's from the co-op's treasury."""
    with conn.transaction():
        journal.lock_head(conn)
        check_transfer_allowed(conn, request, signed, now)
        authorisation: Source = (
            {"by": "member", "key_id": signed.key_id, "sig": signed.sig}
            if signed is not None
            else {"by": "operator", "operator": operator.name}
        )
        settlement = transfer_settlement(request, authorisation, policy=operator.policy)
        commit_move(conn, settlement, operator, now)
    return settlement


def check_transfer_allowed(
    conn: psycopg.Connection, request: TransferRequest, signed: SignedTransfer | None, now: datetime
) -> None:
    """This ledger, not expired, the parties of the co-op, and the sender's authority."""
    genesis = journal.genesis_hash(conn)
    if request.ledger != genesis:
        raise InvalidRequest(f"the request names ledger {request.ledger[:16]}…, not this one ({genesis})")
    if now >= request.expires:
        raise InvalidRequest(f"the request expired at {request.expires.isoformat()}")
    require_coop(conn, request.coop)
    treasury = treasury_of(request.coop)
    if request.to_account != treasury and not is_member(conn, request.coop, request.to_account):
        raise InvalidRequest(f"{request.to_account} is not a member of co-op {request.coop}")
    if signed is None:
        if request.from_account != treasury:
            raise InvalidRequest(f"an operator transfers only from the treasury ({treasury})")
        return
    if not is_member(conn, request.coop, request.from_account):
        raise InvalidRequest(f"{request.from_account} is not a member of co-op {request.coop}")
    check_member_signature(conn, request, signed)


def check_member_signature(
    conn: psycopg.Connection, request: TransferRequest, signed: SignedTransfer
) -> None:
    """The request is signed by the sender's key in force (SPEC §14)."""
    row = conn.execute(
        sql.ACTIVE_MEMBER_KEY, {"coop_id": request.coop, "account": request.from_account}
    ).fetchone()
    if row is None:
        raise InvalidRequest(f"{request.from_account} has no registered key in co-op {request.coop}")
    key_id, public_key = row
    if signed.key_id != key_id or not signed.signed_by(public_key):
        raise InvalidRequest(
            f"bad signature: the request is not signed by {request.from_account}'s key {key_id}"
        )


def read_signed_transfer(path: Path) -> SignedTransfer:
    """A member's request file; InvalidRequest when it cannot be read or is not one."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise InvalidRequest(f"{path}: {e}") from e
    return signed_transfer_from_dict(data)


def submit_request(
    conn: psycopg.Connection, signed: SignedTransfer, operator: Operator, *, now: datetime | None = None
) -> Settlement:
    """Execute a member's signed transfer request."""
    return execute_transfer(conn, signed.request, operator, signed=signed, now=now or datetime.now(UTC))


def treasury_transfer(
    conn: psycopg.Connection,
    operator: Operator,
    *,
    coop_id: str | None,
    to_account: str | None,
    token: str | None,
    amount_micro: int | None,
    nonce: str | None = None,
    now: datetime | None = None,
) -> Settlement:
    """The operator's transfer from a co-op's treasury to a member (every option required)."""
    missing = [name for name, v in (("--coop", coop_id), ("--to", to_account), ("--token", token),
                                    ("--amount", amount_micro)) if v is None]  # fmt: skip
    if missing or coop_id is None or to_account is None or token is None or amount_micro is None:
        raise InvalidRequest(f"an operator transfer needs {', '.join(missing)} (or --request FILE)")
    moment = now or datetime.now(UTC)
    request = TransferRequest(
        ledger=journal.genesis_hash(conn) or GENESIS_PREV_HASH,
        coop=coop_id,
        from_account=treasury_of(coop_id),
        to_account=to_account,
        token="GRN" if token == "GRN" else "RCY",
        amount_micro=amount_micro,
        nonce=nonce or new_nonce(),
        expires=moment + OPERATOR_TRANSFER_VALIDITY,
    )
    return execute_transfer(conn, request, operator, signed=None, now=moment)


# --- dividends --------------------------------------------------------------------------------


def pay_dividend(
    conn: psycopg.Connection,
    *,
    coop_id: str,
    token: Token,
    amount_micro: int | None,
    dividend_id: str,
    operator: Operator,
    now: datetime,
) -> Settlement:
    """Share ``amount_micro`` of the treasury (None: all of it) among the members by their shares.

    A co-op without members holding shares pays nothing: the settlement has no entries (and
    nothing is recorded). A treasury that cannot pay is refused with the shortfall named.
    """
    with conn.transaction():
        journal.lock_head(conn)
        require_coop(conn, coop_id)
        treasury = treasury_of(coop_id)
        held = balance(conn, treasury, token)
        amount = held if amount_micro is None else amount_micro
        if amount == 0 or amount > held:
            raise InsufficientFunds(treasury, token, held, max(amount, 1), f"the dividend {dividend_id}")
        shares: dict[str, int] = dict(conn.execute(inputs.COOP_SHARES, {"coop_id": coop_id}).fetchall())
        settlement = dividend_settlement(
            DividendPlan(coop_id, token, dividend_id, amount, shares), policy=operator.policy
        )
        if settlement.entries:
            commit_move(conn, settlement, operator, now)
    return settlement


# --- the floor --------------------------------------------------------------------------------


def next_month(month: datetime) -> datetime:
    """The first instant of the month after ``month``."""
    return (
        month.replace(year=month.year + 1, month=1)
        if month.month == 12
        else month.replace(month=month.month + 1)
    )


def month_of(moment: datetime) -> datetime:
    """The first instant of ``moment``'s month (UTC)."""
    return moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def floor_months(conn: psycopg.Connection, coop_id: str, token: str, ctx: CycleContext) -> list[datetime]:
    """Months of the co-op whose floor is due: complete, not yet settled, from ``floor_from`` on."""
    first_policy_month = ctx.policy.floor.first_month
    row = conn.execute(sql.FIRST_PERIOD, {"coop_id": coop_id}).fetchone()
    if first_policy_month is None or ctx.watermark is None or row is None or row[0] is None:
        return []
    done = {r[0] for r in conn.execute(sql.FLOORS_DONE, {"coop_id": coop_id, "token": token})}
    month, due = max(month_of(row[0]), first_policy_month), []
    while next_month(month) <= ctx.watermark and month_complete(conn, coop_id, token, next_month(month)):
        if floor_settlement_id(coop_id, token, month) not in done:
            due.append(month)
        month = next_month(month)
    return due


def month_complete(conn: psycopg.Connection, coop_id: str, token: str, end: datetime) -> bool:
    """Every hour (GRN) or every collection and repair (RCY) of the co-op before ``end`` has settled."""
    if token == "GRN":
        row = conn.execute(sql.GREEN_SETTLED, {"coop_id": coop_id}).fetchone()
        settled_through, has_meters = row if row else (None, False)
        return not has_meters or (settled_through is not None and settled_through >= end)
    row = conn.execute(sql.RECYCLING_PENDING, {"coop_id": coop_id, "end": end}).fetchone()
    return not (row and row[0])


def floor_plan(
    conn: psycopg.Connection, coop_id: str, token: Token, month: datetime, floor_micro: int
) -> FloorPlan:
    """The month's floor for the co-op's members, from their mints and the treasury (under the head lock)."""
    params = {"coop_id": coop_id, "token": token, "start": month, "end": next_month(month)}
    minted: Mapping[str, int] = dict(conn.execute(sql.MONTH_MINTS, params).fetchall())
    members = [r[0] for r in conn.execute(sql.COOP_MEMBERS, {"coop_id": coop_id})]
    treasury = balance(conn, treasury_of(coop_id), token)
    outcome = floor_topups(floor_micro, minted, members, treasury)
    return FloorPlan(coop_id, token, month, floor_micro, minted, treasury, outcome)


def commit_floor(
    conn: psycopg.Connection, coop_id: str, token: Token, month: datetime, ctx: CycleContext
) -> Settlement:
    """One co-op's floor for one token and month, in one settlement transaction."""
    ctx = ctx.at(coop_id, month)
    floor_micro = ctx.policy.floor.floor_micro_per_month[token]
    with settlement_transaction(conn, ctx.epoch):
        journal.lock_head(conn)
        plan = floor_plan(conn, coop_id, token, month, floor_micro)
        settlement = floor_settlement(plan, policy=ctx.policy.version, adopted_by=ctx.adopted_by)
        record_settlement(conn, settlement, ctx)
        mint(conn, settlement, ctx.signer)
    return settlement


def floor_tokens(ctx: CycleContext) -> list[Token]:
    """The tokens whose floor is above 0 in the cycle's policy."""
    floors = ctx.policy.floor.floor_micro_per_month
    return [token for token in ("GRN", "RCY") if floors.get(token, 0) > 0]


def settle_floors(conn: psycopg.Connection, ctx: CycleContext) -> list[Settlement]:
    """Every due floor of every co-op with members, oldest month first."""
    tokens = floor_tokens(ctx)
    if not tokens:
        return []
    settled = []
    for coop_id in [r[0] for r in conn.execute(sql.COOPS_WITH_MEMBERS)]:
        for token in tokens:
            for month in floor_months(conn, coop_id, token, ctx):
                settled.append(commit_floor(conn, coop_id, token, month, ctx))
    return settled
