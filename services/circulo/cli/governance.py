"""`circulo governance` and the members' key commands: the co-op decides (SPEC §14).

Commands that sign offline (``member keygen``, ``member key attest``, ``governance handover``,
``governance ballot sign``) need no database: they run on the member's or the secretary's own
computer with their own key. The others are the operator's: they write record entries to the
ledger with the ledger's signing key.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from circulo.cli.audited import audited
from circulo.cli.common import CliContext, echo_json, one_line_errors, pass_cli, setup_logging
from circulo.cli.ledger import database, json_option, key_option, ledger_settings
from circulo.errors import NotFound
from circulo.governance import documents as docs
from circulo.governance import service
from circulo.governance.service import ProposalSpec
from circulo.ledger import journal
from circulo.ledger.entries import LedgerEntry, format_ts, parse_ts
from circulo.ledger.keys import generate_key, load_signer
from circulo.ledger.requests import InvalidRequest, new_nonce
from circulo.registry.bundle import qr_png_of, write_secret
from circulo.rewards import moves
from circulo.rewards.policy import default_policy_text, load_policy
from circulo.rewards.settings import RewardsSettings
from circulo.settings import load_settings

EXISTING_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)
out_option = click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the signed file here (default: stdout).",
)
ledger_option = click.option(
    "--ledger", "genesis", required=True, help="The ledger's genesis hash (circulo ledger genesis)."
)


def operator_of(ctx: CliContext, signing_key_path: Path | None) -> tuple[moves.Operator, Any]:
    """The operator and the ledger settings (the ledger's signing key signs the records)."""
    settings = ledger_settings(ctx, signing_key_path=signing_key_path)
    setup_logging(ctx)
    return moves.operator(load_signer(settings.signing_key_path)), settings


def deployment_policy_text(ctx: CliContext) -> str:
    """The deployment's policy file as text (CIRCULO_POLICY_PATH, or the packaged default)."""
    settings = load_settings(
        RewardsSettings, flags=ctx.flags(), config_file=ctx.config_file, section="rewards"
    )
    if settings.policy_path is None:
        return default_policy_text()
    load_policy(settings.policy_path)  # one clear error when it is not a valid policy
    return settings.policy_path.read_text(encoding="utf-8")


def emit_signed(signed: docs.Signed, output: Path | None, what: str) -> None:
    """Print or write a signed document (it holds no secret: only a signature)."""
    text = json.dumps(signed.to_dict(), indent=2) + "\n"
    if output is None:
        click.echo(text, nl=False)
        return
    output.write_text(text, encoding="utf-8")
    click.echo(f"{what} written to {output}", err=True)


def report(entry: LedgerEntry, as_json: bool, line: str) -> None:
    """What an operator's command recorded."""
    if as_json:
        echo_json(entry.to_dict())
    else:
        click.echo(f"{line} (ledger entry {entry.seq}, hash {entry.hash})")


# --- members' keys ----------------------------------------------------------------------------
@click.command(name="keygen")
@click.option(
    "--out",
    "key_path",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Where to write the new private key (0600; it never leaves your computer).",
)
@click.option(
    "--qr",
    "qr_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the private key as a QR code PNG (0600) for a phone wallet.",
)
@json_option
@one_line_errors
def member_keygen(key_path: Path, qr_path: Path | None, as_json: bool) -> None:
    """Make a member's Ed25519 key, offline; give the printed public key to the co-op's secretary."""
    signer = generate_key(key_path)
    if qr_path is not None:
        write_secret(qr_path, qr_png_of(key_path.read_text(encoding="ascii")))
    info = {
        "public_key": signer.public_key_hex,
        "key_id": signer.key_id,
        "path": str(key_path),
        "qr": str(qr_path) if qr_path else None,
    }
    if as_json:
        echo_json(info)
        return
    click.echo(f"private key written to {key_path} (mode 0600): keep it; it is shown this once")
    click.echo(f"public key {signer.public_key_hex} (key id {signer.key_id}): give it to your secretary")


@click.group(name="key")
def member_key() -> None:
    """A member's key on the ledger: the secretary attests it, the operator records it."""


@member_key.command(name="public")
@click.option("--key", "key_path", type=EXISTING_FILE, required=True, help="Your own key file.")
@one_line_errors
def member_key_public(key_path: Path) -> None:
    """Print the public key of your key file (what the secretary attests)."""
    signer = load_signer(key_path)
    click.echo(f"{signer.public_key_hex}  (key id {signer.key_id})")


@member_key.command(name="attest")
@click.option("--secretary-key", "key_path", type=EXISTING_FILE, required=True, help="The secretary's key.")
@ledger_option
@click.option("--coop", "coop_id", required=True)
@click.option("--account", required=True, help="The member's account.")
@click.option("--public-key", "public_key", required=True, help="The member's public key (64 hex digits).")
@click.option("--revoke", is_flag=True, help="Attest that the key is no longer the member's.")
@out_option
@one_line_errors
def member_key_attest(
    key_path: Path,
    genesis: str,
    coop_id: str,
    account: str,
    public_key: str,
    revoke: bool,
    output: Path | None,
) -> None:
    """(Secretary, offline) attest that PUBLIC_KEY is (or, --revoke, is no longer) ACCOUNT's key."""
    document = docs.new_document(
        "member.key",
        genesis.strip().lower(),
        coop=coop_id,
        account=account,
        public_key=public_key.strip().lower(),
        action="revoke" if revoke else "register",
        nonce=new_nonce(),
    )
    signed = docs.sign(docs.MEMBER_KEY_DOMAIN, document, load_signer(key_path).private_key)
    emit_signed(signed, output, "member key attestation")


@member_key.command(name="register")
@click.argument("attestation", type=EXISTING_FILE)
@key_option
@json_option
@pass_cli
@one_line_errors
@audited("ledger")
def member_key_register(
    ctx: CliContext, attestation: Path, signing_key_path: Path | None, as_json: bool
) -> None:
    """Record a member key the secretary attested (a member.key record entry)."""
    operator, settings = operator_of(ctx, signing_key_path)
    signed = service.read_signed(attestation, docs.MEMBER_KEY_DOMAIN)
    with database(settings) as conn:
        entry = service.register_member_key(conn, operator, signed)
    action = signed.document["action"]
    report(
        entry, as_json, f"{signed.document['account']}: key {signed.document['public_key'][:16]}… {action}ed"
    )


MEMBER_COMMANDS = (member_keygen, member_key)


# --- governance -------------------------------------------------------------------------------
@click.group(name="governance")
def command() -> None:
    """The co-op decides: secretary, proposals, ballots, tallies."""


@command.command()
@click.option("--coop", "coop_id", required=True)
@click.option("--account", required=True, help="The secretary's account.")
@click.option("--public-key", "public_key", required=True, help="The secretary's public key (64 hex).")
@click.option("--handover", type=EXISTING_FILE, help="The outgoing secretary's signed appointment.")
@key_option
@json_option
@pass_cli
@one_line_errors
@audited("ledger")
def secretary(
    ctx: CliContext,
    coop_id: str,
    account: str,
    public_key: str,
    handover: Path | None,
    signing_key_path: Path | None,
    as_json: bool,
) -> None:
    """Record the co-op's secretary (the first on the operator's word; later ones by --handover)."""
    operator, settings = operator_of(ctx, signing_key_path)
    signed = service.read_signed(handover, docs.SECRETARY_DOMAIN) if handover else None
    with database(settings) as conn:
        entry = service.appoint_secretary(
            conn,
            operator,
            coop_id=coop_id,
            account=account,
            public_key=public_key.strip().lower(),
            handover=signed,
        )
    report(entry, as_json, f"{account} is the secretary of {coop_id}")


@command.command()
@click.option(
    "--secretary-key", "key_path", type=EXISTING_FILE, required=True, help="The outgoing secretary's key."
)
@ledger_option
@click.option("--coop", "coop_id", required=True)
@click.option("--account", required=True, help="The new secretary's account.")
@click.option("--public-key", "public_key", required=True, help="The new secretary's public key.")
@out_option
@one_line_errors
@audited("ledger")
def handover(
    key_path: Path, genesis: str, coop_id: str, account: str, public_key: str, output: Path | None
) -> None:
    """(Outgoing secretary, offline) appoint the next secretary."""
    document = docs.new_document(
        "secretary",
        genesis.strip().lower(),
        coop=coop_id,
        account=account,
        public_key=public_key.strip().lower(),
        nonce=new_nonce(),
    )
    emit_signed(
        docs.sign(docs.SECRETARY_DOMAIN, document, load_signer(key_path).private_key), output, "handover"
    )


@command.command()
@click.option("--coop", "coop_id", required=True)
@key_option
@json_option
@pass_cli
@one_line_errors
@audited("ledger")
def enable(ctx: CliContext, coop_id: str, signing_key_path: Path | None, as_json: bool) -> None:
    """Turn governance on: the deployment's policy becomes the co-op's first adopted one."""
    operator, settings = operator_of(ctx, signing_key_path)
    policy_toml = deployment_policy_text(ctx)
    with database(settings) as conn:
        entry = service.enable_governance(conn, operator, coop_id=coop_id, policy_toml=policy_toml)
    report(entry, as_json, f"governance of {coop_id} is on; only an adopted proposal changes its policy now")


def timestamp(value: str) -> datetime:
    """``YYYY-MM-DDTHH:MM:SS[.ffffff]Z`` (UTC)."""
    text = value if "." in value else value.replace("Z", ".000000Z")
    return parse_ts(text)


@command.command()
@click.option("--coop", "coop_id", required=True)
@click.option("--id", "proposal_id", required=True, help="A name for the proposal, unique in the co-op.")
@click.option("--policy", "policy_file", type=EXISTING_FILE, help="The policy file to adopt.")
@click.option("--disable", is_flag=True, help="Propose to turn governance off instead.")
@click.option("--closes", required=True, help="When the vote closes, e.g. 2026-12-20T18:00:00Z.")
@click.option("--opens", help="When the vote opens (default: now).")
@click.option("--quorum-pct", type=click.IntRange(0, 100), default=50, show_default=True)
@click.option(
    "--threshold-pct",
    type=click.IntRange(0, 99),
    default=50,
    show_default=True,
    help="Adopted when yes is more than this % of yes + no.",
)
@click.option("--weighting", type=click.Choice(["member", "shares"]), default="member", show_default=True)
@key_option
@json_option
@pass_cli
@one_line_errors
@audited("ledger")
def propose(
    ctx: CliContext,
    coop_id: str,
    proposal_id: str,
    policy_file: Path | None,
    disable: bool,
    closes: str,
    opens: str | None,
    quorum_pct: int,
    threshold_pct: int,
    weighting: str,
    signing_key_path: Path | None,
    as_json: bool,
) -> None:
    """Put a policy (or --disable) to the members' vote; voters and rules are frozen now."""
    if (policy_file is None) == (not disable):
        raise InvalidRequest("give either --policy FILE or --disable")
    operator, settings = operator_of(ctx, signing_key_path)
    spec = ProposalSpec(
        coop_id=coop_id,
        proposal_id=proposal_id,
        policy_toml=policy_file.read_text(encoding="utf-8") if policy_file else None,
        closes=timestamp(closes),
        opens=timestamp(opens) if opens else None,
        quorum_pct=quorum_pct,
        threshold_pct=threshold_pct,
        weighting="shares" if weighting == "shares" else "member",
    )
    with database(settings) as conn:
        entry = service.propose(conn, operator, spec, load_policy_of(ctx))
    report(entry, as_json, f"proposal {proposal_id} recorded; members vote on {entry.hash}")


def load_policy_of(ctx: CliContext) -> Any:
    """The deployment's policy (as the engine loads it)."""
    settings = load_settings(
        RewardsSettings, flags=ctx.flags(), config_file=ctx.config_file, section="rewards"
    )
    return load_policy(settings.policy_path)


@command.group()
def ballot() -> None:
    """Ballots: a member signs one offline, or the secretary records one cast at an assembly."""


@ballot.command(name="sign")
@click.option("--key", "key_path", type=EXISTING_FILE, required=True, help="The member's own key.")
@ledger_option
@click.option("--proposal", required=True, help="The proposal's hash.")
@click.option("--choice", type=click.Choice(docs.CHOICES), required=True)
@out_option
@one_line_errors
def ballot_sign(key_path: Path, genesis: str, proposal: str, choice: str, output: Path | None) -> None:
    """(Member, offline) sign a ballot; hand the file to the operator (ballot submit)."""
    document = docs.new_document(
        "ballot", genesis.strip().lower(), proposal=proposal.strip().lower(), choice=choice
    )
    emit_signed(docs.sign(docs.BALLOT_DOMAIN, document, load_signer(key_path).private_key), output, "ballot")


@ballot.command(name="submit")
@click.argument("ballot_file", type=EXISTING_FILE)
@key_option
@json_option
@pass_cli
@one_line_errors
@audited("ledger")
def ballot_submit(ctx: CliContext, ballot_file: Path, signing_key_path: Path | None, as_json: bool) -> None:
    """Record a member's signed ballot (the voter is the member whose key signed it)."""
    operator, settings = operator_of(ctx, signing_key_path)
    signed = service.read_signed(ballot_file, docs.BALLOT_DOMAIN)
    with database(settings) as conn:
        entry = service.submit_ballot(conn, operator, signed)
    report(entry, as_json, f"{entry.account} voted {signed.document['choice']}")


@ballot.command(name="record")
@click.option("--secretary-key", "key_path", type=EXISTING_FILE, required=True, help="The secretary's key.")
@click.option("--proposal", required=True, help="The proposal's hash.")
@click.option("--member", "voter", required=True, help="The member whose ballot is recorded.")
@click.option("--choice", type=click.Choice(docs.CHOICES), required=True)
@click.option(
    "--assembly-minutes",
    "minutes",
    type=EXISTING_FILE,
    required=True,
    help="The assembly's minutes (their SHA-256 is recorded).",
)
@key_option
@json_option
@pass_cli
@one_line_errors
@audited("ledger")
def ballot_record(
    ctx: CliContext,
    key_path: Path,
    proposal: str,
    voter: str,
    choice: str,
    minutes: Path,
    signing_key_path: Path | None,
    as_json: bool,
) -> None:
    """(Secretary, with the operator) record a ballot cast at an assembly, marked as such."""
    operator, settings = operator_of(ctx, signing_key_path)
    minutes_sha = hashlib.sha256(minutes.read_bytes()).hexdigest()
    with database(settings) as conn:
        genesis = journal.genesis_hash(conn)
        if genesis is None:
            raise InvalidRequest("the ledger has no entries yet")
        document = docs.new_document(
            "ballot_record",
            genesis,
            proposal=proposal.strip().lower(),
            voter=voter,
            choice=choice,
            minutes_sha256=minutes_sha,
        )
        signed = docs.sign(docs.BALLOT_RECORD_DOMAIN, document, load_signer(key_path).private_key)
        entry = service.record_ballot(conn, operator, signed)
    report(entry, as_json, f"{voter}'s ballot ({choice}) recorded by the secretary")


@command.command(name="tally")
@click.argument("proposal")
@key_option
@json_option
@pass_cli
@one_line_errors
@audited("ledger")
def tally_command(ctx: CliContext, proposal: str, signing_key_path: Path | None, as_json: bool) -> None:
    """After the vote closed: count it and record the tally (adopted: in force from then on)."""
    operator, settings = operator_of(ctx, signing_key_path)
    with database(settings) as conn:
        entry = service.tally(conn, operator, proposal)
    t = entry.sources[0]
    verdict = f"adopted, in force from {t['effective_from']}" if t["adopted"] else "not adopted"
    report(
        entry,
        as_json,
        f"{t['proposal_id']}: yes {t['yes']}, no {t['no']}, abstain {t['abstain']} "
        f"of {t['total']}: {verdict}",
    )


@command.command()
@click.option("--coop", "coop_id", help="Only this co-op.")
@json_option
@pass_cli
@one_line_errors
def show(ctx: CliContext, coop_id: str | None, as_json: bool) -> None:
    """Each co-op's governance: secretary, keys, policy periods, proposals and their state."""
    with database(ledger_settings(ctx)) as conn:
        state = service.load_state(conn)
    view = service.describe(state, coop_id)
    if as_json:
        echo_json(view)
        return
    for line in service.describe_lines(view):
        click.echo(line)


@command.command(name="policy")
@click.option("--coop", "coop_id", required=True)
@click.option(
    "--at", "moment", help="The policy in force at this time (default: now), e.g. 2026-12-20T18:00:00Z."
)
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the policy file here (default: stdout).")  # fmt: skip
@pass_cli
@one_line_errors
def policy_command(ctx: CliContext, coop_id: str, moment: str | None, output: Path | None) -> None:
    """The exact policy file a governed co-op settles under (to start a proposal from)."""
    with database(ledger_settings(ctx)) as conn:
        state = service.load_state(conn)
    at = parse_ts(moment) if moment else datetime.now(UTC)
    period = state.coop(coop_id).period_at(at)
    if period is None or period.policy_toml is None:
        raise NotFound(
            f"co-op {coop_id} is not governed at {format_ts(at)}: it settles under the deployment's policy"
        )
    if output is None:
        click.echo(period.policy_toml, nl=False)
    else:
        output.write_text(period.policy_toml, encoding="utf-8")
    click.echo(
        f"{period.policy_version} (sha256 {period.policy_sha256}, "
        f"adopted by {period.adopted_by or 'governance enable'}, "
        f"in force from {format_ts(period.effective_from)})",
        err=True,
    )
