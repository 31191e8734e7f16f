"""The demo's reconciliation checks (pure): each one a verdict and the figures behind it."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from circulo.demo.summary import Check, CountLine, Dividend, Energy, LedgerState, MemberLine, Traffic, Vote
from circulo.demo.text import micro_units


def outcome_check(traffic: Traffic) -> Check:
    """Every message has one outcome (SPEC §3), reconciled with what the devices sent.

    Each data message the contract expects stored is stored exactly once, and the copies
    the ingest received beyond the distinct messages (QoS 1 re-sends after a dropped
    connection: at least once means at least once) are never negative, so every one of
    them was counted as a duplicate.
    """
    status_rows = traffic.stored_rows.get("device_status", 0)
    ok = (
        traffic.data_rows == traffic.expected_stored
        and traffic.redelivered >= 0
        and status_rows <= traffic.statuses + traffic.wills
        and traffic.outcome("ignored") >= traffic.expected_ignored
    )
    detail = (
        f"{traffic.published - traffic.refused} acknowledged + {traffic.wills} Last Wills + "
        f"{traffic.redelivered} QoS 1 re-sends = {traffic.accounted} received = stored "
        f"{traffic.outcome('stored')} + duplicate {traffic.outcome('duplicate')} + quarantined "
        f"{traffic.outcome('quarantined')} + ignored {traffic.outcome('ignored')}; {traffic.data_rows} of "
        f"{traffic.expected_stored} data messages stored once ({traffic.refused} refused by the broker "
        "never reached the ingest)"
    )
    return Check("every message has one outcome", ok, detail)


def stored_rows_check(traffic: Traffic) -> Check:
    """The ingest's stored and quarantined counts are the rows in the database."""
    rows = dict(traffic.stored_rows)
    quarantine_rows = rows.pop("quarantine", 0)
    stored_rows = sum(rows.values())
    stored, quarantined = traffic.outcomes.get("stored", 0), traffic.outcomes.get("quarantined", 0)
    ok = stored_rows == stored and quarantine_rows == quarantined
    detail = (
        f"{stored_rows} rows stored (ingest: {stored}), {quarantine_rows} quarantined (ingest: {quarantined})"
    )
    return Check("stored and quarantined messages are in the database", ok, detail)


def quarantine_check(traffic: Traffic, quarantine: Sequence[CountLine]) -> Check:
    """Each fault that calls for a quarantine reason got exactly that many (and nothing else was)."""
    found = {q.name: q.count for q in quarantine}
    expected = {k: v for k, v in traffic.expected_quarantine.items() if v}
    ok = found == expected
    shown = ", ".join(f"{k} {v}" for k, v in sorted(found.items())) or "none"
    wanted = ", ".join(f"{k} {v}" for k, v in sorted(expected.items())) or "none"
    return Check(
        "quarantine reasons match the faults injected", ok, f"quarantined {shown}; faults call for {wanted}"
    )


def green_check(energy: Energy, ledger_grn_micro: int) -> Check:
    """GRN minted = credited Wh × rate, exactly (SPEC §4 conservation)."""
    expected = energy.credited_wh * energy.grn_per_kwh * 1000
    ok = Decimal(ledger_grn_micro) == expected == Decimal(energy.grn_minted_micro)
    detail = (
        f"{energy.credited_wh} Wh credited × {energy.grn_per_kwh} GRN/kWh = "
        f"{micro_units(int(expected))} GRN; ledger holds {micro_units(ledger_grn_micro)} GRN"
    )
    return Check("GRN minted equals credited energy × rate", ok, detail)


def ledger_check(ledger: LedgerState) -> Check:
    return Check("ledger verify", ledger.verified, ledger.verify_detail)


def dividend_check(dividend: Dividend | None, members: Sequence[MemberLine], treasury: MemberLine) -> Check:
    """The dividend moved tokens without making any: the members got exactly what the treasury paid."""
    if dividend is None:
        return Check("the dividend moves exactly what the treasury pays", True, "no dividend was paid")
    received = sum(m.dividend_micro for m in members)
    ok = received == -treasury.dividend_micro == dividend.paid_micro
    detail = (
        f"{dividend.settlement_id}: treasury paid {micro_units(-treasury.dividend_micro)} GRN, "
        f"{dividend.members_paid} members received {micro_units(received)} GRN"
    )
    return Check("the dividend moves exactly what the treasury pays", ok, detail)


def vote_check(vote: Vote | None) -> Check:
    """The vote was adopted and the next collection minted at the adopted rate, naming the proposal."""
    name = "the next settlement follows the policy the members adopted"
    if vote is None:
        return Check(name, True, "no vote was held")
    minted = sum(m.amount_micro for m in vote.after)
    named = all(m.adopted_by == vote.proposal_id for m in vote.after)
    ok = vote.adopted and bool(vote.after) and minted == vote.expected_micro and named
    detail = (
        f"{vote.proposal_id}: yes {vote.yes}, no {vote.no}, abstain {vote.abstain} of {vote.voters} "
        f"({'adopted' if vote.adopted else 'not adopted'}); {vote.deposit_g / 1000:g} kg of {vote.material} "
        f"× {vote.new_rate} RCY/kg = {micro_units(vote.expected_micro)} RCY expected, "
        f"{micro_units(minted)} RCY minted with adopted_by "
        f"{', '.join(sorted({str(m.adopted_by) for m in vote.after})) or '-'}"
    )
    return Check(name, ok, detail)
