"""The demo's vote (SPEC §14): the co-op raises one material's rate, and the next collection uses it.

After the day, the members decide: every member makes a key (offline, in the demo's state
folder), the first member becomes the secretary and attests the others' keys, governance is
turned on, and a proposal raises aluminium from 20 to 30 RCY/kg. Members sign their ballots;
at the "assembly" the secretary records two more (one of which the member then supersedes
with their own signed ballot). When the vote closes it is tallied; adopted, a new bin is
commissioned and reports one aluminium deposit and its collection over MQTT, and the next
settlement mints it at the adopted rate, naming the proposal.

The headline steps run the real commands (``governance secretary``, ``enable``, ``propose``,
``ballot submit``, ``ballot record``, ``tally``, ``device add``); the members' keys and the
bulk of the ballots are made in-process with the same library calls, to keep the demo quick.
"""

from __future__ import annotations

import hashlib
import json
import re
import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from paho.mqtt import MQTTException
from paho.mqtt.enums import CallbackAPIVersion

from circulo.demo.processes import DemoStepFailed, run_circulo
from circulo.demo.summary import Vote, VoteMint
from circulo.governance import documents as docs
from circulo.governance import service
from circulo.ledger import journal
from circulo.ledger.entries import format_ts
from circulo.ledger.keys import generate_key, load_signer
from circulo.ledger.requests import new_nonce
from circulo.rewards import moves
from circulo.rewards.policy import default_policy_text, parse_policy
from circulo.store.db import connect
from circulo_schemas.broker import tls_context, tls_failure

MATERIAL = "aluminium"
OLD_RATE, NEW_RATE = 20, 30
PROPOSAL_ID = "alu-30"
POLICY_VERSION = "rewards-v2-alu30"
OPEN_S = 30.0  # how long the vote stays open after the proposal (12 ballots take 5-20 s on a loaded box)
DEPOSIT_G = 1500

# member index -> (how the ballot is cast, choice): "own" = signed by the member; "assembly" =
# recorded by the secretary; a member with both supersedes the secretary's record with their own.
BALLOTS: dict[int, tuple[tuple[str, str], ...]] = {
    0: (("own", "yes"),),
    1: (("own", "yes"),),
    2: (("own", "yes"),),
    3: (("own", "yes"),),
    4: (("own", "yes"),),
    5: (("own", "yes"),),
    6: (("own", "yes"),),
    7: (("own", "no"),),
    8: (("own", "no"),),
    9: (("assembly", "abstain"),),
    10: (("assembly", "no"), ("own", "yes")),
}
SHOWN_BALLOT = 1  # this member's ballot goes through `circulo governance ballot submit`


def ballots_for(members: int) -> dict[int, tuple[tuple[str, str], ...]]:
    """The ballots of a co-op of ``members`` (a smaller demo co-op votes with fewer)."""
    return {index: casts for index, casts in BALLOTS.items() if index < members}


def raised_policy(text: str, material: str, rate: int, version: str) -> str:
    """The policy file with one material's rate and the version changed (checked by parsing it)."""
    raised, n = re.subn(rf"(?m)^{material} = \d+\s*$", f"{material} = {rate}", text)
    raised, m = re.subn(r'(?m)^version = "[^"]*"', f'version = "{version}"', raised)
    policy = parse_policy(raised, origin="the demo's proposal")
    if n != 1 or m != 1 or policy.recycling.rates_rcy_per_kg[material] != rate:
        raise DemoStepFailed(f"could not raise {material} to {rate} in the packaged policy")
    return raised


@dataclass(frozen=True)
class VoteSetup:
    """Where the vote's files are and who votes."""

    config_file: Path
    database_url: str
    signing_key: Path
    folder: Path
    coop_id: str
    accounts: tuple[str, ...]

    def key_path(self, account: str) -> Path:
        return self.folder / f"{account}.key"


def hold_vote(setup: VoteSetup, say: Any) -> Vote:
    """Keys, secretary, governance on, proposal, ballots, tally: the whole vote."""
    setup.folder.mkdir(parents=True, exist_ok=True)
    keys = {a: member_key(setup.key_path(a)) for a in setup.accounts}
    secretary = setup.accounts[0]
    cli(setup, "governance", "secretary", "--coop", setup.coop_id, "--account", secretary,
        "--public-key", docs.public_key_hex(keys[secretary]))  # fmt: skip
    say(f"    {len(keys)} members made their keys; {secretary} is the secretary and attests them")
    register_keys(setup, keys)
    cli(setup, "governance", "enable", "--coop", setup.coop_id)
    policy_file = setup.folder / "proposed-policy.toml"
    policy_file.write_text(raised_policy(default_policy_text(), MATERIAL, NEW_RATE, POLICY_VERSION), "utf-8")
    closes = datetime.now(UTC) + timedelta(seconds=OPEN_S)
    proposed = cli_json(setup, "governance", "propose", "--coop", setup.coop_id, "--id", PROPOSAL_ID,
                        "--policy", str(policy_file), "--closes", format_ts(closes))  # fmt: skip
    proposal = str(proposed["hash"])
    say(f"    proposal {PROPOSAL_ID}: {MATERIAL} {OLD_RATE} -> {NEW_RATE} RCY/kg, closes {format_ts(closes)}")
    cast_ballots(setup, keys, proposal)
    wait_until_closed(closes)
    tally = cli_json(setup, "governance", "tally", proposal)["sources"][0]
    return vote_of(tally, proposal, len(keys))


def member_key(path: Path) -> Ed25519PrivateKey:
    """A member's key (``circulo member keygen`` makes the same file), made once."""
    if not path.exists():
        generate_key(path)
    return load_signer(path).private_key


def register_keys(setup: VoteSetup, keys: dict[str, Ed25519PrivateKey]) -> None:
    """The secretary attests every member's key; the operator records each attestation."""
    secretary_key = keys[setup.accounts[0]]
    with connect(setup.database_url, application_name="circulo-demo") as conn:
        genesis = journal.genesis_hash(conn) or ""
        operator = demo_operator(setup)
        for account, key in keys.items():
            document = docs.new_document("member.key", genesis, coop=setup.coop_id, account=account,
                                         public_key=docs.public_key_hex(key), action="register",
                                         nonce=new_nonce())  # fmt: skip
            attested = docs.sign(docs.MEMBER_KEY_DOMAIN, document, secretary_key)
            service.register_member_key(conn, operator, attested)


def demo_operator(setup: VoteSetup) -> moves.Operator:
    return moves.operator(load_signer(setup.signing_key))


def cast_ballots(setup: VoteSetup, keys: dict[str, Ed25519PrivateKey], proposal: str) -> None:
    """The ballots of :data:`BALLOTS`, in order: assembly records first, then members' own."""
    with connect(setup.database_url, application_name="circulo-demo") as conn:
        genesis = journal.genesis_hash(conn) or ""
    minutes = setup.folder / "assembly-minutes.txt"
    minutes.write_text(assembly_minutes(setup, proposal), encoding="utf-8")
    ballots = ballots_for(len(setup.accounts))
    for index, casts in ballots.items():
        for how, choice in casts:
            if how == "assembly":
                cli(setup, "governance", "ballot", "record", "--secretary-key",
                    str(setup.key_path(setup.accounts[0])), "--proposal", proposal,
                    "--member", setup.accounts[index], "--choice", choice,
                    "--assembly-minutes", str(minutes))  # fmt: skip
    for index, casts in ballots.items():
        for how, choice in casts:
            if how == "own":
                document = docs.new_document("ballot", genesis, proposal=proposal, choice=choice)
                signed = docs.sign(docs.BALLOT_DOMAIN, document, keys[setup.accounts[index]])
                own_ballot(setup, signed, index)


def assembly_minutes(setup: VoteSetup, proposal: str) -> str:
    """The minutes the secretary signs off (their SHA-256 goes into each recorded ballot)."""
    lines = [f"General assembly of {setup.coop_id}, {datetime.now(UTC):%Y-%m-%d}.",
             f"Proposal {PROPOSAL_ID} ({proposal}): raise {MATERIAL} to {NEW_RATE} RCY/kg.",
             *(f"{setup.accounts[i]} voted {c[0][1]} in the room."
               for i, c in ballots_for(len(setup.accounts)).items() if c[0][0] == "assembly")]  # fmt: skip
    return "\n".join(lines) + "\n"


def own_ballot(setup: VoteSetup, signed: docs.Signed, index: int) -> None:
    """A member's own signed ballot (one of them through ``circulo governance ballot submit``)."""
    if index == SHOWN_BALLOT:
        path = setup.folder / f"{setup.accounts[index]}-ballot.json"
        path.write_text(json.dumps(signed.to_dict(), indent=2) + "\n", encoding="utf-8")
        cli(setup, "governance", "ballot", "submit", str(path))
        return
    with connect(setup.database_url, application_name="circulo-demo") as conn:
        service.submit_ballot(conn, demo_operator(setup), signed)


def wait_until_closed(closes: datetime) -> None:
    """Sleep until the vote's closing time has passed."""
    remaining = (closes - datetime.now(UTC)).total_seconds()
    if remaining > 0:
        time.sleep(remaining + 0.05)


def vote_of(tally: dict[str, Any], proposal: str, voters: int) -> Vote:
    """The vote as the tally recorded it."""
    ballots = ballots_for(voters).values()
    by_secretary = sum(1 for casts in ballots if any(how == "assembly" for how, _ in casts))
    superseded = sum(1 for casts in ballots if {how for how, _ in casts} == {"own", "assembly"})
    return Vote(
        proposal_id=str(tally["proposal_id"]),
        proposal=proposal,
        material=MATERIAL,
        old_rate=OLD_RATE,
        new_rate=NEW_RATE,
        voters=voters,
        yes=int(tally["yes"]),
        no=int(tally["no"]),
        abstain=int(tally["abstain"]),
        ballots=int(tally["ballots"]),
        by_secretary=by_secretary,
        superseded=superseded,
        adopted=bool(tally["adopted"]),
        effective_from=tally.get("effective_from"),
    )


def cli(setup: VoteSetup, *args: str) -> str:
    return run_circulo(setup.config_file, list(args), what=f"circulo {' '.join(args[:3])}")


def cli_json(setup: VoteSetup, *args: str) -> dict[str, Any]:
    output = cli(setup, *args, "--json")
    try:
        parsed: dict[str, Any] = json.loads(output)
    except ValueError as e:
        raise DemoStepFailed(f"circulo {' '.join(args[:2])}: unexpected output ({e})") from e
    return parsed


def minutes_digest(path: Path) -> str:
    """SHA-256 of the assembly minutes (what a member checks the recorded ballots against)."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def post_vote_mints(database_url: str, device_id: str) -> tuple[VoteMint, ...]:
    """The mints of the post-vote bin's collection."""
    with connect(database_url, application_name="circulo-demo") as conn:
        rows = conn.execute(
            "SELECT account, amount_micro, policy, adopted_by FROM ledger_entry"
            " WHERE settlement_id LIKE %(prefix)s AND kind = 'mint' ORDER BY seq",
            {"prefix": f"deposit:{device_id}:%"},
        ).fetchall()
    return tuple(VoteMint(str(a), int(m), str(p), adopted) for a, m, p, adopted in rows)


def deposit_messages(depositor: str, at: datetime, grams: int) -> Sequence[dict[str, Any]]:
    """The bin's two events after the vote: one aluminium deposit, then (a second on) its collection."""
    deposit = {"v": 1, "ts": iso(at), "seq": 1, "type": "deposit", "event_id": "vote-dep-1",
               "material": MATERIAL, "weight_g": grams, "account": depositor}  # fmt: skip
    collection = {"v": 1, "ts": iso(at + timedelta(seconds=1)), "seq": 2, "type": "collection",
                  "event_id": "vote-col-1", "weight_kg": grams / 1000}  # fmt: skip
    return [deposit, collection]


def publish_events(bundle: dict[str, Any], events: Sequence[dict[str, Any]]) -> None:
    """Publish the events as the device would, with its bundle's credentials (QoS 1, acknowledged),
    over the bundle's TLS: the broker verified against ``ca_cert`` once it matches ``ca_sha256``."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=bundle["client_id"], protocol=mqtt.MQTTv5)
    client.username_pw_set(bundle["username"], bundle["password"])
    if bundle.get("tls"):
        client.tls_set_context(bundle_context(bundle))
    topic = bundle["topics"]["event"]
    try:
        client.connect(bundle["host"], int(bundle["port"]))
        client.loop_start()
        try:
            infos = [client.publish(topic, json.dumps(e), qos=1) for e in events]
            for info in infos:
                info.wait_for_publish(timeout=10.0)
                if not info.is_published():
                    raise DemoStepFailed("the post-vote bin's events were not acknowledged within 10 s")
        finally:
            client.disconnect()
            client.loop_stop()
    except (OSError, MQTTException, ValueError, RuntimeError) as e:
        reason = tls_failure(e, bundle["host"], "the bundle") or e
        raise DemoStepFailed(f"the post-vote bin could not publish: {reason}") from e


def bundle_context(bundle: dict[str, Any]) -> ssl.SSLContext:
    """The bundle's trust as a firmware applies it: its ``ca_cert``, checked against ``ca_sha256``."""
    ca_pem = bundle.get("ca_cert")
    if ca_pem is not None and hashlib.sha256(ssl.PEM_cert_to_DER_cert(ca_pem)).hexdigest() != bundle.get(
        "ca_sha256"
    ):
        raise DemoStepFailed("the post-vote bin's bundle: ca_cert does not match ca_sha256")
    return tls_context(cadata=ca_pem)


def wait_for_events(database_url: str, device_id: str, count: int, timeout_s: float = 30.0) -> None:
    """Wait until the ingest stored ``count`` events of the device."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with connect(database_url, application_name="circulo-demo") as conn:
            row = conn.execute("SELECT count(*) FROM bin_event WHERE device_id = %s", (device_id,)).fetchone()
        if row and int(row[0]) >= count:
            return
        time.sleep(0.2)
    raise DemoStepFailed(f"the ingest did not store {device_id}'s {count} events within {timeout_s:.0f} s")


def iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
