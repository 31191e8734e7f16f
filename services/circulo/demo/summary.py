"""The summary a co-op reads at the end of the demo (pure): the day's facts as frozen records.

:mod:`circulo.demo.collect` reads the database and the simulator's report into a
:class:`DemoSummary`; this module derives the per-member lines and renders the summary as
JSON (``--json-summary``). :mod:`circulo.demo.checks` reconciles it, :mod:`circulo.demo.text`
writes it for people.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

MICRO = 1_000_000
REPAIR_STATUSES = ("fixed", "repairable", "end_of_life")
TOP_CATEGORIES = 5
KIND_NAMES = {
    "meter": ("meter", "meters"),
    "bin": ("bin", "bins"),
    "repair": ("repair station", "repair stations"),
}
GREEN_REASON = "green.energy"
DEPOSIT_REASON = "recycle.deposit"
REPAIR_REASON = "repair"
DIVIDEND_REASON = "dividend"


@dataclass(frozen=True)
class LedgerAmount:
    """Net µ per account, token and reason (mints minus burns)."""

    account: str
    token: str
    reason: str
    amount_micro: int


@dataclass(frozen=True)
class MemberLine:
    """What one member earned: GRN (and the energy it stands for) and RCY by source."""

    account: str
    shares: int
    energy_wh: Decimal
    grn_micro: int
    rcy_deposit_micro: int
    rcy_repair_micro: int
    dividend_micro: int = 0  # GRN received by dividend (the treasury's: what it paid, negative)


@dataclass(frozen=True)
class MaterialLine:
    material: str
    deposits: int
    weight_g: int
    contaminated: int
    anonymous: int


@dataclass(frozen=True)
class RepairLine:
    category: str
    status: str
    count: int
    weight_g: int


@dataclass(frozen=True)
class CountLine:
    """A counted reason (quarantine reason, rewards flag) with an example detail."""

    name: str
    count: int
    detail: str = ""
    token: str = ""
    excluded_micro: int = 0


@dataclass(frozen=True)
class HourValue:
    hour: datetime
    value: int


@dataclass(frozen=True)
class HourSplit:
    """GRN minted for one hour: the members' part and the treasury's."""

    hour: datetime
    members_micro: int
    treasury_micro: int


@dataclass(frozen=True)
class Traffic:
    """Every message of the day and its outcome.

    From the simulator: ``published`` (what the devices published and the broker
    answered), ``refused`` (of those, refused by the broker: MQTT 0x87, a device
    publishing as another; they never reach the ingest), ``wills`` (offline statuses the
    broker published for dropped connections, which do), ``lost`` (dropped from a full
    buffer or never acknowledged), the faults injected, and what the contract expects of
    the acknowledged messages: ``expected_stored`` data messages, ``expected_duplicate``
    second copies (a Shelly's second topic among them), ``expected_quarantine`` per
    reason, ``statuses`` sent, ``expected_ignored`` non-data messages of Shelly and Tasmota
    firmware (SPEC §10). From the ingest: ``outcomes``; from the database: ``stored_rows``
    per table.
    """

    published: int
    refused: int
    wills: int
    lost: int
    faults: Mapping[str, int]
    expected_stored: int
    expected_duplicate: int
    expected_quarantine: Mapping[str, int]
    statuses: int
    outcomes: Mapping[str, int]
    stored_rows: Mapping[str, int]
    expected_ignored: int = 0

    @property
    def reached_ingest(self) -> int:
        """Distinct messages that reached the ingest: acknowledged publishes and Last Wills."""
        return self.published - self.refused + self.wills

    @property
    def accounted(self) -> int:
        """Messages the ingest gave an outcome."""
        return sum(self.outcome(k) for k in ("stored", "duplicate", "quarantined", "ignored"))

    @property
    def redelivered(self) -> int:
        """Copies beyond the distinct messages: QoS 1 re-sends after a dropped connection."""
        return self.accounted - self.reached_ingest

    @property
    def data_rows(self) -> int:
        """Rows of readings and events (everything stored but statuses)."""
        return sum(n for table, n in self.stored_rows.items() if table not in ("device_status", "quarantine"))

    def outcome(self, name: str) -> int:
        """The ingest's count of one outcome."""
        return self.outcomes.get(name, 0)


@dataclass(frozen=True)
class Energy:
    """The co-op's energy as credited (SPEC §4), its GRN, and what was excluded."""

    credited_wh: int
    grn_minted_micro: int
    grn_per_kwh: Decimal
    green_settlements: int
    excluded_grn_micro: int = 0
    glitches: int = 0  # readings flagged glitch: their spans were credited (policy v2)


@dataclass(frozen=True)
class LedgerCheck:
    """What ``circulo ledger verify`` and ``circulo ledger checkpoint`` said."""

    verified: bool
    detail: str
    checkpoint_size: int = 0
    checkpoint_root: str = ""

    @classmethod
    def from_outputs(cls, verify: Mapping[str, Any], checkpoint: Mapping[str, Any]) -> LedgerCheck:
        """From the two commands' ``--json`` documents."""
        ok = bool(verify.get("ok"))
        if ok:
            detail = f"{verify.get('verified_entries', 0)} entries, root {str(verify.get('root', ''))[:16]}…"
        else:
            findings = verify.get("findings") or [{}]
            first = findings[0]
            detail = (
                f"entry {verify.get('first_bad_seq')}: {first.get('problem', '')} {first.get('detail', '')}"
            )
        return cls(ok, detail.strip(), int(checkpoint.get("size", 0)), str(checkpoint.get("root", "")))


@dataclass(frozen=True)
class Dividend:
    """The dividend the demo's treasury paid at the end of the day (``circulo treasury dividend``)."""

    settlement_id: str
    token: str
    paid_micro: int
    members_paid: int


@dataclass(frozen=True)
class VoteMint:
    """A mint of the settlement after the vote."""

    account: str
    amount_micro: int
    policy: str
    adopted_by: str | None


@dataclass(frozen=True)
class Vote:
    """The demo's vote and the settlement after it."""

    proposal_id: str
    proposal: str
    material: str
    old_rate: int
    new_rate: int
    voters: int
    yes: int
    no: int
    abstain: int
    ballots: int
    by_secretary: int
    superseded: int
    adopted: bool
    effective_from: str | None
    device_id: str = ""
    deposit_g: int = 0
    after: tuple[VoteMint, ...] = ()

    @property
    def expected_micro(self) -> int:
        """What the post-vote deposit should mint at the adopted rate (µRCY)."""
        return self.deposit_g * self.new_rate * 1000


@dataclass(frozen=True)
class LedgerState:
    entries: int
    head_hash: str
    verified: bool
    verify_detail: str
    checkpoint_size: int = 0
    checkpoint_root: str = ""


@dataclass(frozen=True)
class Check:
    """One reconciliation the demo makes, and whether it held."""

    name: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class DemoSummary:
    """Everything the summary, the JSON file and the HTML report show."""

    coop_id: str
    coop_name: str
    window_start: datetime
    window_end: datetime
    fleet: Mapping[str, int]
    traffic: Traffic
    energy: Energy
    members: tuple[MemberLine, ...]
    treasury: MemberLine
    materials: tuple[MaterialLine, ...]
    collections: int
    collected_g: int
    repairs: tuple[RepairLine, ...]
    co2e_avoided_g: int
    quarantine: tuple[CountLine, ...]
    flags: tuple[CountLine, ...]
    ledger: LedgerState
    generation_per_hour: tuple[HourValue, ...]
    grn_per_hour: tuple[HourSplit, ...]
    checks: tuple[Check, ...] = ()
    dividend: Dividend | None = None
    vote: Vote | None = None
    files: Mapping[str, str] = field(default_factory=dict)
    wall_s: float = 0.0
    profiles: Mapping[str, int] = field(default_factory=dict)  # meters running third-party firmware

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)


# --- derived lines ----------------------------------------------------------------------------
def account_line(
    account: str, shares: int, amounts: Iterable[LedgerAmount], grn_per_kwh: Decimal
) -> MemberLine:
    """One account's totals from the ledger (energy = its GRN at the policy's rate)."""
    mine = [a for a in amounts if a.account == account]

    def total(token: str, reason: str) -> int:
        return sum(a.amount_micro for a in mine if a.token == token and a.reason == reason)

    grn = total("GRN", GREEN_REASON)
    energy = Decimal(grn) / (grn_per_kwh * 1000) if grn_per_kwh else Decimal(0)
    return MemberLine(
        account,
        shares,
        energy,
        grn,
        total("RCY", DEPOSIT_REASON),
        total("RCY", REPAIR_REASON),
        total("GRN", DIVIDEND_REASON),
    )


def member_lines(
    members: Sequence[tuple[str, int]], amounts: Sequence[LedgerAmount], grn_per_kwh: Decimal
) -> tuple[MemberLine, ...]:
    return tuple(account_line(account, shares, amounts, grn_per_kwh) for account, shares in members)


def treasury_account(coop_id: str) -> str:
    return f"treasury@{coop_id}"


# --- JSON -------------------------------------------------------------------------------------
def summary_json(summary: DemoSummary) -> dict[str, Any]:
    """The summary as plain JSON data (amounts as integers, decimals as strings)."""
    data: dict[str, Any] = _plain(asdict(summary))
    data["ok"] = summary.ok
    data["traffic"]["reached_ingest"] = summary.traffic.reached_ingest
    data["traffic"]["redelivered"] = summary.traffic.redelivered
    return data


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, Decimal):
        return str(value)
    return value
