"""The certificate registry rebuilt from the ledger alone (pure), for verifiers.

Fed every ``certificate.*`` record in ``seq`` order, it checks what the database enforced when
the records were written, so an export proves it without the database:

- **issuance** (``bad issuance``): each bundle's ids follow the registry's last id with no gap
  and no overlap; a bundle holds ``end − start + 1`` Wh; the bundles of a settlement hold its
  certified Wh, certified + uncertified = credited; per meter and hour they hold exactly what
  the record's evidence and spans give (:func:`circulo.certificates.hours.production`), and no
  meter-hour that began before its hour hides its span.
- **actions** (``bad certificate action``): every id acted on was issued for the meter and hour
  the record names and is, at that point, in the state and with the holder the record names;
  the holder acts (the issuer withdraws); the status allows the action; nothing trades after
  expiry; a cancellation's or claim's period covers the production hours; a claim keeps its
  cancellation's terms; the settlement id is the digest of the source.
- **a Wh claimed twice** (``double claim``): a claim of ids already claimed.

A single inclusion proof shows that a claim is in the ledger, never that no other claim of the
same ids is: only a replay of the whole ledger (this) shows absence.
"""

from __future__ import annotations

from array import array
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from circulo.certificates.actions import NEEDS, UNEXPIRED, treasury_of
from circulo.certificates.hours import HOUR, Span, hour_start, production
from circulo.certificates.records import (
    ACTION_SOURCE,
    ACTIONS,
    CERTIFICATES,
    ISSUE_REASON,
    action_settlement_id,
)
from circulo.ledger.entries import ACCOUNT_RE, format_ts, parse_ts

Problem = tuple[str, str]
# (coop, holder, status, beneficiary, period start, period end): what an id is, now
State = tuple[str, str, str, str | None, str | None, str | None]


class Bad(Exception):
    """A record the replay refuses: its problem code and detail."""

    def __init__(self, problem: str, detail: str) -> None:
        super().__init__(detail)
        self.problem = (problem, detail)


def bad_issuance(detail: str) -> Bad:
    return Bad("bad issuance", detail)


def bad_action(detail: str) -> Bad:
    return Bad("bad certificate action", detail)


def integer(value: Any, where: str) -> int:
    """An integer field (never a bool)."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise Bad("malformed certificate record", f"{where} is not an integer")
    return value


def text(value: Any, where: str) -> str:
    """A string field."""
    if not isinstance(value, str):
        raise Bad("malformed certificate record", f"{where} is not a string")
    return value


def when(value: Any, where: str) -> datetime:
    """A timestamp field in the entry form."""
    try:
        return parse_ts(text(value, where))
    except Exception as e:  # InvalidEntry: one problem line either way
        raise Bad("malformed certificate record", f"{where}: {e}") from e


@dataclass
class Issued:
    """Every bundle as issued: parallel arrays by first id (ids are issued in order)."""

    starts: array[int]
    ends: array[int]
    hours: array[int]
    expiries: array[int]
    devices: array[int]

    @classmethod
    def empty(cls) -> Issued:
        return cls(array("q"), array("q"), array("q"), array("q"), array("l"))


@dataclass(frozen=True)
class IssuedFacts:
    """What one issued bundle was issued for."""

    device_id: str
    hour: datetime
    expires: datetime


class IntervalMap:
    """Non-overlapping id ranges with a state each; neighbours with equal states merge."""

    def __init__(self) -> None:
        self.starts: list[int] = []
        self.pieces: dict[int, tuple[int, State]] = {}

    def append(self, start: int, end: int, state: State) -> None:
        """Add a range above every range held."""
        if self.starts:
            last = self.starts[-1]
            last_end, last_state = self.pieces[last]
            if last_end + 1 == start and last_state == state:
                self.pieces[last] = (end, state)
                return
        self.starts.append(start)
        self.pieces[start] = (end, state)

    def cover(self, start: int, end: int) -> list[tuple[int, int, State]]:
        """The pieces of ``start … end`` (clipped); None where an id was never issued."""
        i = bisect_right(self.starts, start) - 1
        found, at = [], start
        while at <= end:
            if i < 0 or i >= len(self.starts):
                raise bad_action(f"certificate {at} was never issued")
            piece_start = self.starts[i]
            piece_end, state = self.pieces[piece_start]
            if not piece_start <= at <= piece_end:
                raise bad_action(f"certificate {at} was never issued")
            found.append((at, min(piece_end, end), state))
            at, i = min(piece_end, end) + 1, i + 1
        return found

    def assign(self, start: int, end: int, state: State) -> None:
        """Give ``start … end`` (all held) a new state."""
        lo, hi = bisect_right(self.starts, start) - 1, bisect_right(self.starts, end) - 1
        first, last = self.starts[lo], self.starts[hi]
        first_state, (last_end, last_state) = self.pieces[first][1], self.pieces[last]
        for old in self.starts[lo : hi + 1]:
            del self.pieces[old]
        new = [(first, start - 1, first_state)] if first < start else []
        new.append((start, end, state))
        if last_end > end:
            new.append((end + 1, last_end, last_state))
        self.starts[lo : hi + 1] = [s for s, _e, _st in new]
        for s, e, st in new:
            self.pieces[s] = (e, st)


class CertificateLedger:
    """Feed every record entry (export form) in order; certificate records are checked."""

    def __init__(self) -> None:
        self.next_id = 1
        self.issued = Issued.empty()
        self.device_names: list[str] = []
        self.device_index: dict[str, int] = {}
        self.state = IntervalMap()
        self.pending: list[Any] = []

    @staticmethod
    def concerns(entry: Mapping[str, Any]) -> bool:
        """Whether the entry is a certificate record this replay reads."""
        return entry.get("kind") == "record" and str(entry.get("reason", "")).startswith("certificate.")

    def check(self, entry: Mapping[str, Any]) -> Problem | None:
        """What is wrong with the record at this point, if anything (changes nothing yet)."""
        self.pending = []
        try:
            self.pending = self.plan(entry)
        except Bad as e:
            return e.problem
        return None

    def accept(self) -> None:
        """Apply the record :meth:`check` last found good."""
        for apply in self.pending:
            apply()
        self.pending = []

    def plan(self, entry: Mapping[str, Any]) -> list[Any]:
        """The changes a record makes, as callables, after checking it."""
        if entry["reason"] == ISSUE_REASON:
            return self.plan_issue(entry)
        action = entry["reason"].removeprefix("certificate.")
        if action not in ACTIONS:
            raise bad_action(f"no certificate action {action!r}")
        return self.plan_action(entry, action)

    # --- issuance -------------------------------------------------------------------------

    def plan_issue(self, entry: Mapping[str, Any]) -> list[Any]:
        """Check an issue record's bundles against its evidence; the changes that issue them."""
        sources = entry["sources"]
        found = [s for s in sources if s.get("type") == CERTIFICATES]
        if not found:
            return []  # a settlement that issued nothing (or written before certificates existed)
        if len(found) != 1 or sources[-1] is not found[0]:
            raise bad_issuance("the certificates object is the record's last source, and only one")
        certificates, header = found[0], sources[0]
        coop_id = text(header.get("coop_id"), "production.coop_id")
        bundles = self.issue_ranges(certificates)
        check_totals(certificates, bundles, header)
        check_against_evidence(certificates, bundles, sources)
        expiry = timedelta(days=integer(certificates.get("expiry_days"), "certificates.expiry_days"))
        return [lambda: self.issue(coop_id, bundles, expiry)]

    def issue_ranges(self, certificates: Mapping[str, Any]) -> list[tuple[int, int, str, datetime, str]]:
        """Each bundle's (start, end, device, hour, holder): contiguous from the registry's next id."""
        bundles, at = [], self.next_id
        for i, bundle in enumerate(certificates.get("bundles") or []):
            where = f"bundles[{i}]"
            start, end = integer(bundle.get("range_start"), where), integer(bundle.get("range_end"), where)
            if start != at or end < start:
                raise bad_issuance(f"{where} has ids {start}-{end}; the registry's next id is {at}")
            if integer(bundle.get("wh"), where) != end - start + 1:
                raise bad_issuance(f"{where}: wh is not range_end − range_start + 1")
            hour = when(bundle.get("hour"), f"{where}.hour")
            if hour != hour_start(hour):
                raise bad_issuance(f"{where}: a production hour starts on the hour")
            holder = text(bundle.get("holder"), f"{where}.holder")
            if not ACCOUNT_RE.fullmatch(holder):
                raise bad_issuance(f"{where}: holder {holder!r} is not an account")
            bundles.append((start, end, text(bundle.get("device_id"), where), hour, holder))
            at = end + 1
        return bundles

    def issue(
        self, coop_id: str, bundles: Sequence[tuple[int, int, str, datetime, str]], expiry: timedelta
    ) -> None:
        """Record the bundles as issued and active."""
        for start, end, device, hour, holder in bundles:
            index = self.device_index.setdefault(device, len(self.device_names))
            if index == len(self.device_names):
                self.device_names.append(device)
            for column, value in zip(
                (
                    self.issued.starts,
                    self.issued.ends,
                    self.issued.hours,
                    self.issued.expiries,
                    self.issued.devices,
                ),
                (start, end, int(hour.timestamp()), int((hour + expiry).timestamp()), index),
                strict=True,
            ):
                column.append(value)
            self.state.append(start, end, (coop_id, holder, "active", None, None, None))
            self.next_id = end + 1

    def issued_facts(self, certificate_id: int) -> tuple[int, int, IssuedFacts]:
        """The issued bundle holding ``certificate_id``: its ids and what it was issued for."""
        i = bisect_right(self.issued.starts, certificate_id) - 1
        if i < 0 or certificate_id > self.issued.ends[i]:
            raise bad_action(f"certificate {certificate_id} was never issued")
        hour = datetime.fromtimestamp(self.issued.hours[i], tz=UTC)
        expires = datetime.fromtimestamp(self.issued.expiries[i], tz=UTC)
        facts = IssuedFacts(self.device_names[self.issued.devices[i]], hour, expires)
        return self.issued.starts[i], self.issued.ends[i], facts

    # --- actions --------------------------------------------------------------------------

    def plan_action(self, entry: Mapping[str, Any], action: str) -> list[Any]:
        """Check an action record against the replayed states; the changes it makes."""
        source = entry["sources"][0] if entry["sources"] else {}
        if source.get("type") != ACTION_SOURCE or source.get("action") != action:
            raise bad_action(f"its first source is not the certificate_action {action} it records")
        if entry["settlement_id"] != action_settlement_id(action, source):
            raise bad_action("its settlement id is not the digest of its source")
        coop_id = text(source.get("coop_id"), "coop_id")
        if source.get("account") != entry["account"]:
            raise bad_action("the source's account is not the entry's")
        if action == "withdraw" and entry["account"] != treasury_of(coop_id):
            raise bad_action(f"certificates are withdrawn by their issuer, {treasury_of(coop_id)}")
        act = Acting(entry, source, action, action_terms(source, action))
        changes, total = [], 0
        for i, acted in enumerate(source.get("ranges") or []):
            start, end = self.check_range(act, acted, f"ranges[{i}]")
            total += end - start + 1
            changes.append((start, end, acted))
        if not changes or integer(source.get("wh"), "wh") != total:
            raise bad_action(f"wh is not the {total} Wh of its ranges (at least one)")
        return [lambda: self.apply(coop_id, act, changes)]

    def check_range(self, act: Acting, acted: Mapping[str, Any], where: str) -> tuple[int, int]:
        """One range: issued for the meter and hour named, in the state named, allowed."""
        start, end = integer(acted.get("range_start"), where), integer(acted.get("range_end"), where)
        if end < start or integer(acted.get("wh"), where) != end - start + 1:
            raise bad_action(f"{where}: {start}-{end} with wh {acted.get('wh')!r}")
        first, last, facts = self.issued_facts(start)
        if end > last or first > start:
            raise bad_action(f"{where}: {start}-{end} is not within one issued bundle")
        hour = when(acted.get("hour"), f"{where}.hour")
        if (facts.device_id, facts.hour) != (acted.get("device_id"), hour):
            raise bad_action(
                f"{where}: ids {start}-{end} were issued for {facts.device_id} {format_ts(facts.hour)}"
            )
        for _s, _e, state in self.state.cover(start, end):
            check_state(act, acted, where, state)
        check_calendar(act, where, facts)
        return start, end

    def apply(self, coop_id: str, act: Acting, changes: Sequence[tuple[int, int, Mapping[str, Any]]]) -> None:
        """Move the acted ids to their new state."""
        status = {"transfer": "active", "cancel": "cancelled", "claim": "claimed"}.get(
            act.action, "withdrawn"
        )
        beneficiary, period_start, period_end = act.terms
        for start, end, acted in changes:
            holder = str(act.source["to"]) if act.action == "transfer" else str(acted["holder"])
            self.state.assign(start, end, (coop_id, holder, status, beneficiary, period_start, period_end))


@dataclass(frozen=True)
class Acting:
    """An action record being checked: the entry, its source, the action and its claim terms."""

    entry: Mapping[str, Any]
    source: Mapping[str, Any]
    action: str
    terms: tuple[str | None, str | None, str | None]


def check_state(act: Acting, acted: Mapping[str, Any], where: str, state: State) -> None:
    """The ids' replayed state is what the record says it found, and allows the action."""
    coop, holder, status, beneficiary, period_start, period_end = state
    ids = f"{acted.get('range_start')}-{acted.get('range_end')}"
    if act.action == "claim" and status == "claimed":
        raise Bad("double claim", f"{where}: ids {ids} were claimed already (for {beneficiary})")
    if (coop, holder, status) != (act.source.get("coop_id"), acted.get("holder"), acted.get("status")):
        raise bad_action(f"{where}: ids {ids} are {status}, held by {holder} of {coop}, not as recorded")
    if act.action != "withdraw" and holder != act.entry["account"]:
        raise bad_action(f"{where}: held by {holder}, not by {act.entry['account']}")
    if status not in NEEDS[act.action]:  # type: ignore[index]
        raise bad_action(f"{where}: {status} certificates cannot be {act.action}ed")
    if act.action == "claim" and (beneficiary, period_start, period_end) != act.terms:
        raise bad_action(f"{where}: a claim keeps its cancellation's beneficiary and period")


def action_terms(source: Mapping[str, Any], action: str) -> tuple[str | None, str | None, str | None]:
    """The beneficiary and reporting period a cancellation or claim names (else Nones)."""
    if action == "transfer":
        to = source.get("to")
        if not isinstance(to, str) or not ACCOUNT_RE.fullmatch(to) or to == source.get("account"):
            raise bad_action(f"a transfer names another valid account in to, not {to!r}")
    if action not in ("cancel", "claim"):
        return None, None, None
    period = source.get("reporting_period")
    if not isinstance(period, Mapping):
        raise bad_action(f"a {action} names its reporting_period")
    start, end = (
        when(period.get("start"), "reporting_period.start"),
        when(period.get("end"), "reporting_period.end"),
    )
    if end <= start:
        raise bad_action("the reporting period ends before it starts")
    beneficiary = text(source.get("beneficiary"), "beneficiary")
    return beneficiary, str(period["start"]), str(period["end"])


def check_calendar(act: Acting, where: str, facts: IssuedFacts) -> None:
    """Nothing trades after expiry; the reporting period covers the production hour."""
    if act.action in UNEXPIRED and parse_ts(act.entry["ts"]) >= facts.expires:
        raise bad_action(f"{where}: the certificates expired before the {act.action}")
    _beneficiary, start, end = act.terms
    covered = (
        start is None or end is None or (parse_ts(start) <= facts.hour and facts.hour + HOUR <= parse_ts(end))
    )
    if not covered:
        raise bad_action(f"{where}: produced outside the reporting period")


# --- issuance against the evidence ------------------------------------------------------------


def check_totals(
    certificates: Mapping[str, Any],
    bundles: Sequence[tuple[int, int, str, datetime, str]],
    header: Mapping[str, Any],
) -> None:
    """Bundles hold the certified Wh; certified + uncertified = the settlement's credited Wh."""
    certified = integer(certificates.get("certified_wh"), "certified_wh")
    uncertified = integer(certificates.get("uncertified_wh"), "uncertified_wh")
    if sum(end - start + 1 for start, end, *_rest in bundles) != certified:
        raise bad_issuance("the bundles do not hold certified_wh")
    if header.get("type") != "production" or certified + uncertified != header.get("credited_wh"):
        raise bad_issuance("certified_wh + uncertified_wh is not the production's credited_wh")


def check_against_evidence(
    certificates: Mapping[str, Any],
    bundles: Sequence[tuple[int, int, str, datetime, str]],
    sources: Sequence[Mapping[str, Any]],
) -> None:
    """Per meter and hour, the bundles hold what the evidence and spans give."""
    credited, starts = meter_hours(sources)
    excluded_starts = {
        (s.get("device_id"), s.get("from_ts")) for s in sources if s.get("type") == "meter_pair"
    }
    spans = [read_span(s, f"spans[{i}]", True) for i, s in enumerate(certificates.get("spans") or [])]
    spans += [
        read_span(s, f"uncertified[{i}]", False) for i, s in enumerate(certificates.get("uncertified") or [])
    ]
    for span in spans:
        check_span(span, starts)
    spanned = {span.credited_in for span in spans}
    for key, (from_ts, _from_wh, _to_ts, _to_wh) in starts.items():
        begun_before = from_ts < key[1]
        if begun_before and key not in spanned and (key[0], format_ts(from_ts)) not in excluded_starts:
            raise bad_issuance(f"{key[0]} {key[1]:%Y-%m-%dT%H:%MZ} began before its hour but lists no span")
    try:
        produced = production(credited, spans)
    except ValueError as e:
        raise bad_issuance(str(e)) from e
    held: dict[tuple[str, datetime], int] = {}
    for start, end, device, hour, _holder in bundles:
        if (device, hour) in held:
            raise bad_issuance(f"two bundles for {device} {hour:%Y-%m-%dT%H:%MZ} in one settlement")
        held[(device, hour)] = end - start + 1
    if held != dict(produced.by_hour):
        raise bad_issuance("the bundles do not hold the production per meter and hour the evidence gives")


def meter_hours(
    sources: Sequence[Mapping[str, Any]],
) -> tuple[dict[tuple[str, datetime], int], dict[tuple[str, datetime], tuple[datetime, int, datetime, int]]]:
    """Credited Wh per (meter, hour) and each meter-hour's first and last registers."""
    credited: dict[tuple[str, datetime], int] = {}
    starts = {}
    for i, s in enumerate(sources):
        if s.get("type") != "meter_hour" or not s.get("pairs"):
            continue
        where = f"sources[{i}]"
        key = (text(s.get("device_id"), where), when(s.get("hour"), f"{where}.hour"))
        from_wh, to_wh = integer(s.get("from_wh"), where), integer(s.get("to_wh"), where)
        credited[key] = credited.get(key, 0) + to_wh - from_wh - integer(s.get("excluded_wh"), where)
        starts[key] = (when(s.get("from_ts"), where), from_wh, when(s.get("to_ts"), where), to_wh)
    return credited, starts


def read_span(source: Mapping[str, Any], where: str, certified: bool) -> Span:
    """A span of the certificates object; its parts (if listed) are the time split's."""
    span = Span(
        text(source.get("device_id"), where),
        when(source.get("from_ts"), where),
        integer(source.get("from_wh"), where),
        when(source.get("to_ts"), where),
        integer(source.get("to_wh"), where),
    )
    if span.to_ts <= span.from_ts or span.wh < 0 or span.certified != certified:
        raise bad_issuance(f"{where} is not a {'certified' if certified else 'too long'} span")
    if certified:
        listed = [
            (when(p.get("hour"), where), integer(p.get("wh"), where)) for p in source.get("parts") or []
        ]
        if tuple(listed) != span.parts():
            raise bad_issuance(f"{where}: its parts are not the split by time")
    return span


def check_span(
    span: Span, starts: Mapping[tuple[str, datetime], tuple[datetime, int, datetime, int]]
) -> None:
    """A span is the first pair of the meter-hour that credits it, within its registers."""
    first = starts.get(span.credited_in)
    if first is None:
        raise bad_issuance(f"span of {span.device_id} at {span.to_ts:%Y-%m-%dT%H:%M:%SZ} has no meter-hour")
    from_ts, from_wh, to_ts, _to_wh = first  # (a counter reset later in the hour may lower to_wh)
    if (span.from_ts, span.from_wh) != (from_ts, from_wh) or span.from_ts >= span.credited_in[1]:
        raise bad_issuance(
            f"span of {span.device_id} does not start where its meter-hour does, before the hour"
        )
    if span.to_ts > to_ts:
        raise bad_issuance(f"span of {span.device_id} ends beyond its meter-hour")
