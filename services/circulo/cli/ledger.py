"""`circulo ledger`: keygen, verify, balances, history, export, checkpoint, prove, correct, transfer."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import psycopg

from circulo.cli.audited import audited
from circulo.cli.common import (
    TOKEN_AMOUNT,
    CliContext,
    echo_json,
    micro_units,
    one_line_errors,
    pass_cli,
    setup_logging,
)
from circulo.errors import NotFound, ServiceUnavailable, VerificationFailed
from circulo.ledger import audit, journal, log, service
from circulo.ledger.checkpoint import Checkpoint, checkpoint_from_dict
from circulo.ledger.describe import describe_entry
from circulo.ledger.entries import key_id
from circulo.ledger.errors import InvalidEntry, InvalidProof, SigningKeyError
from circulo.ledger.export import read_export, write_export
from circulo.ledger.keys import Signer, generate_key, load_signer, public_key_path
from circulo.ledger.proofs import ProofVerdict, verify_consistency_document, verify_inclusion_document
from circulo.ledger.requests import InvalidRequest
from circulo.ledger.settings import LedgerSettings
from circulo.ledger.verify import SIGNATURE_MODES, SignatureMode, VerifyResult, verify_entries
from circulo.rewards import moves
from circulo.rewards.records import Settlement
from circulo.settings import load_settings
from circulo.store.db import connect, first_line

json_option = click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
key_option = click.option(
    "--key",
    "signing_key_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Signing key file [env CIRCULO_SIGNING_KEY_PATH; default $CIRCULO_STATE_DIR/ledger-signing.key "
    "or ~/.config/circulo/ledger-signing.key].",
)
public_key_option = click.option(
    "--public-key",
    "public_keys",
    multiple=True,
    help="A trusted public key: 64 hex digits or a .pub file (repeat for rotated keys).",
)


@click.group(name="ledger")
def command() -> None:
    """The ledger: keygen, verify, balances, history, export, checkpoint, prove, correct."""


def ledger_settings(ctx: CliContext, **flags: Any) -> LedgerSettings:
    """The ledger's settings from flags, environment and config file."""
    return load_settings(
        LedgerSettings, flags=ctx.flags(**flags), config_file=ctx.config_file, section="ledger"
    )


@contextlib.contextmanager
def database(settings: LedgerSettings) -> Iterator[psycopg.Connection]:
    """A connection whose database errors become one-line Circulo errors."""
    with connect(settings.database_url, application_name="circulo-ledger") as conn:
        try:
            yield conn
        except psycopg.Error as e:
            raise ServiceUnavailable(f"database: {first_line(e)}") from e


def trusted_keys(values: tuple[str, ...]) -> dict[str, str] | None:
    """key_id -> public key for the --public-key values (None when none were given)."""
    if not values:
        return None
    keys: dict[str, str] = {}
    for value in values:
        text = Path(value).read_text(encoding="ascii") if os.path.isfile(value) else value
        text = text.strip().lower()
        try:
            keys[key_id(bytes.fromhex(text))] = text
        except (ValueError, InvalidEntry) as e:
            raise SigningKeyError(
                f"--public-key {value!r} is not an Ed25519 public key (64 hex digits)"
            ) from e
    return keys


@command.command()
@key_option
@click.option("--rotate", is_flag=True, help="Replace the current key and record the rotation in the ledger.")
@click.option(
    "--lost-key-id", help="With --rotate: the old key is lost; record the rotation from this key_id."
)
@click.option("--note", default="", help="With --rotate: why the key is rotated (recorded).")
@json_option
@pass_cli
@one_line_errors
@audited("ledger", when=lambda params: bool(params.get("rotate")))
def keygen(
    ctx: CliContext,
    signing_key_path: Path | None,
    rotate: bool,
    lost_key_id: str | None,
    note: str,
    as_json: bool,
) -> None:
    """Create the ledger's Ed25519 signing key (once; never overwrites), or rotate it."""
    settings = ledger_settings(ctx, signing_key_path=signing_key_path)
    path = settings.signing_key_path
    if rotate:
        signer, old_key_id = rotate_key(settings, lost_key_id, note)
    else:
        signer, old_key_id = generate_key(path), None
    info = {"key_id": signer.key_id, "public_key": signer.public_key_hex, "path": str(path),
            "public_key_file": str(public_key_path(path)), "rotated_from": old_key_id}  # fmt: skip
    if as_json:
        echo_json(info)
        return
    click.echo(f"signing key {signer.key_id} written to {path} (mode 0600)")
    click.echo(
        f"public key {signer.public_key_hex} (also in {public_key_path(path)}); publish it for auditors"
    )
    if old_key_id:
        click.echo(f"rotation {old_key_id} -> {signer.key_id} recorded in the ledger")


def rotate_key(settings: LedgerSettings, lost_key_id: str | None, note: str) -> tuple[Signer, str]:
    """Generate the new key, record the rotation, then put the new key in place."""
    path = settings.signing_key_path
    if lost_key_id:
        if path.exists():
            raise SigningKeyError(f"{path} exists; --lost-key-id is for when the old key is gone")
        signer = generate_key(path)
        with database(settings) as conn, conn.transaction():
            journal.record_key_rotation(conn, lost_key_id, signer, note=note)
        return signer, lost_key_id
    old = load_signer(path)
    staged = path.with_name(path.name + ".new")
    signer = generate_key(staged)
    with database(settings) as conn, conn.transaction():
        journal.record_key_rotation(conn, old, signer, note=note)
    retired = path.with_name(f"{path.name}.{old.key_id}.retired")
    os.replace(path, retired)
    os.replace(public_key_path(path), public_key_path(retired))
    os.replace(staged, path)
    os.replace(public_key_path(staged), public_key_path(path))
    return signer, old.key_id


@command.command()
@click.option("--export", "export_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Verify this export file instead of the database (no database needed).")  # fmt: skip
@public_key_option
@click.option(
    "--signatures",
    type=click.Choice(SIGNATURE_MODES),
    default="every",
    show_default=True,
    help="every: check each entry's signature; checkpoints: entries under a checkpoint signed by a "
    "trusted key are authenticated by it (hashes, links and its root still checked; see docs/ledger.md).",
)
@click.option(
    "--workers", type=click.IntRange(min=0), help="Signature-checking processes [default: one per core "
    "for 20,000 entries or more; 0: none]."
)  # fmt: skip
@click.option("--progress", is_flag=True, help="Say on stderr every 100,000 entries verified.")
@json_option
@pass_cli
@one_line_errors
def verify(
    ctx: CliContext,
    export_file: Path | None,
    public_keys: tuple[str, ...],
    signatures: SignatureMode,
    workers: int | None,
    progress: bool,
    as_json: bool,
) -> None:
    """Check every hash, link and signature; exit 0 only when all hold, else name the first bad entry."""
    keys = trusted_keys(public_keys)
    report = (lambda done: click.echo(f"verified {done:,} entries", err=True)) if progress else None
    options: dict[str, Any] = {"signatures": signatures, "workers": workers, "progress": report}
    if export_file is not None:
        result = verify_export_file(export_file, keys, **options)
    else:
        with database(ledger_settings(ctx)) as conn:
            result = audit.verify_database(conn, keys, **options)
    if as_json:
        echo_json(result.to_dict())
        if not result.ok:
            sys.exit(VerificationFailed.exit_code)
        return
    if result.first_bad is not None:
        raise VerificationFailed(str(result.first_bad))
    root = result.to_dict()["root"]
    click.echo(f"ledger OK: {result.verified} entries, head {result.head_hash}, root {root}")


def verify_export_file(path: Path, keys: dict[str, str] | None, **options: Any) -> VerifyResult:
    """Verify an export; without --public-key, the trailer's keys are trusted (consistency only)."""
    with path.open(encoding="utf-8") as lines:
        export = read_export(lines)
    checkpoints = [export.checkpoint] if export.checkpoint else []
    return verify_entries(
        export.entries,
        keys if keys is not None else export.public_keys,
        rotations=export.rotation_pairs,
        checkpoints=checkpoints,
        **options,
    )


@command.command()
@click.option("--account", help="Only this account.")
@click.option("--token", type=click.Choice(["GRN", "RCY"]), help="Only this token.")
@json_option
@pass_cli
@one_line_errors
def balances(ctx: CliContext, account: str | None, token: str | None, as_json: bool) -> None:
    """Balances per account and token: mints minus burns, in µ."""
    with database(ledger_settings(ctx)) as conn:
        rows = [
            b for b in journal.balances(conn) if account in (None, b.account) and token in (None, b.token)
        ]
    if as_json:
        echo_json([{"account": b.account, "token": b.token, "amount_micro": b.amount_micro} for b in rows])
        return
    for b in rows:
        click.echo(f"{b.account:<40} {b.token}  {micro_units(b.amount_micro):>20}  ({b.amount_micro} µ)")


@command.command()
@click.option("--account", required=True, help="The account whose entries to list.")
@json_option
@pass_cli
@one_line_errors
def history(ctx: CliContext, account: str, as_json: bool) -> None:
    """Every ledger entry of an account, oldest first."""
    with database(ledger_settings(ctx)) as conn:
        entries = journal.history(conn, account)
    if as_json:
        echo_json([entry.to_dict() for entry in entries])
        return
    for e in entries:
        click.echo(f"{e.seq:>8}  {e.body()['ts']}  {describe_entry(e)}")


@command.command()
@click.option(
    "--output", "-o", type=click.Path(dir_okay=False, path_type=Path), help="File (default stdout)."
)
@click.option("--no-sign", is_flag=True, help="Do not sign a fresh checkpoint; use the latest recorded one.")
@key_option
@pass_cli
@one_line_errors
def export(ctx: CliContext, output: Path | None, no_sign: bool, signing_key_path: Path | None) -> None:
    """Write the ledger as JSONL (one entry per line, then the trailer) for offline verification."""
    settings = ledger_settings(ctx, signing_key_path=signing_key_path)
    signer = None if no_sign else load_signer(settings.signing_key_path)
    with database(settings) as conn:
        if output is None:
            write_export(conn, sys.stdout, signer)
            return
        partial = output.with_name(output.name + ".partial")
        with partial.open("w", encoding="utf-8") as out:
            count = write_export(conn, out, signer)
        os.replace(partial, output)
    click.echo(f"{count} entries exported to {output}", err=True)


@command.command()
@click.option("--no-publish", is_flag=True, help="Record and write the file, but do not publish over MQTT.")
@click.option("--file", "checkpoint_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Checkpoint file [env CIRCULO_CHECKPOINT_FILE].")  # fmt: skip
@key_option
@json_option
@pass_cli
@one_line_errors
def checkpoint(
    ctx: CliContext,
    no_publish: bool,
    checkpoint_file: Path | None,
    signing_key_path: Path | None,
    as_json: bool,
) -> None:
    """Sign (size, root), record it, write it to the file and publish it retained on MQTT."""
    settings = ledger_settings(ctx, signing_key_path=signing_key_path, checkpoint_file=checkpoint_file)
    setup_logging(ctx)
    signer = load_signer(settings.signing_key_path)
    with database(settings) as conn:
        signed = service.checkpoint(conn, signer, settings, publish=not no_publish)
    if as_json:
        echo_json(signed.to_dict())
        return
    where = "written" if no_publish else "written and published"
    click.echo(f"checkpoint size {signed.size} root {signed.root} {where} ({settings.checkpoint_file})")


@command.command()
@click.argument("seq", type=int, required=False)
@click.option("--consistency", "old_size", type=int, help="Prove the tree of this size is a prefix.")
@click.option("--size", type=int, help="Tree size to prove against (default: the current one).")
@json_option
@pass_cli
@one_line_errors
def prove(ctx: CliContext, seq: int | None, old_size: int | None, size: int | None, as_json: bool) -> None:
    """Inclusion proof of entry SEQ, or --consistency OLD_SIZE proof, against a tree size."""
    if (seq is None) == (old_size is None):
        raise InvalidProof("give either SEQ or --consistency OLD_SIZE")
    with database(ledger_settings(ctx)) as conn:
        if seq is not None:
            proof = log.inclusion_proof(conn, seq, size)
        else:
            proof = log.consistency_proof(conn, old_size or 0, size)
    if as_json:
        echo_json(proof)
        return
    for name, value in proof.items():
        if name == "path":
            click.echo("path:" + "".join(f"\n  {node}" for node in value))
        else:
            click.echo(f"{name}: {value}")


def read_json_file(path: Path) -> Any:
    """A JSON document from a file, or InvalidProof."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise InvalidProof(f"{path}: {e}") from e


def read_checkpoint(path: Path | None) -> Checkpoint | None:
    """A checkpoint file (as written by ``circulo ledger checkpoint``), if given."""
    return checkpoint_from_dict(read_json_file(path)) if path else None


@command.command(name="verify-proof")
@click.argument("proof_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--entry-hash", help="Inclusion: the hash of the entry the proof is for.")
@click.option("--checkpoint", "checkpoint_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The (new) signed checkpoint the proof must match.")  # fmt: skip
@click.option("--old-checkpoint", "old_checkpoint_file",
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Consistency: the old checkpoint you kept.")  # fmt: skip
@public_key_option
@json_option
@one_line_errors
def verify_proof(
    proof_file: Path,
    entry_hash: str | None,
    checkpoint_file: Path | None,
    old_checkpoint_file: Path | None,
    public_keys: tuple[str, ...],
    as_json: bool,
) -> None:
    """Check a proof from `ledger prove` (no database); exit 0 only when it holds."""
    doc = read_json_file(proof_file)
    keys = trusted_keys(public_keys) or {}
    new, old = read_checkpoint(checkpoint_file), read_checkpoint(old_checkpoint_file)
    if (new or old) and not keys:
        raise InvalidProof("checking against a checkpoint needs --public-key")
    verdict: ProofVerdict
    if isinstance(doc, dict) and "old_size" in doc:
        verdict = verify_consistency_document(doc, old_checkpoint=old, checkpoint=new, public_keys=keys)
    else:
        verdict = verify_inclusion_document(doc, entry_hash=entry_hash, checkpoint=new, public_keys=keys)
    if as_json:
        echo_json({"ok": verdict.ok, "detail": verdict.detail})
        if not verdict.ok:
            sys.exit(VerificationFailed.exit_code)
        return
    if not verdict.ok:
        raise VerificationFailed(f"proof does not hold: {verdict.detail}")
    click.echo(f"proof OK: {verdict.detail}")


@command.command()
@click.argument("seq", type=int)
@click.option("--why", required=True, help="Why the entry is corrected (recorded in the entry's sources).")
@click.option("--amount-micro", type=int, help="Burn only this much (default: the whole entry).")
@key_option
@json_option
@pass_cli
@one_line_errors
@audited("ledger")
def correct(
    ctx: CliContext,
    seq: int,
    why: str,
    amount_micro: int | None,
    signing_key_path: Path | None,
    as_json: bool,
) -> None:
    """Reverse entry SEQ with a signed burn entry (reason correction); entries are never edited."""
    settings = ledger_settings(ctx, signing_key_path=signing_key_path)
    setup_logging(ctx)
    signer = load_signer(settings.signing_key_path)
    with database(settings) as conn:
        journal.ensure_signer_matches(conn, signer)
        entry = service.correct_entry(conn, seq, why, signer, amount_micro=amount_micro)
    if as_json:
        echo_json(entry.to_dict())
        return
    burned = f"{micro_units(entry.amount_micro)} {entry.token}"
    click.echo(f"entry {entry.seq}: burn {burned} from {entry.account} correcting entry {seq}")


@command.command()
@click.option("--coop", "coop_id", help="Operator transfer: from this co-op's treasury (treasury@COOP).")
@click.option("--to", "to_account", help="Operator transfer: the receiving member.")
@click.option("--token", type=click.Choice(["GRN", "RCY"]), help="Operator transfer: the token.")
@click.option("--amount", "amount_micro", type=TOKEN_AMOUNT, help="Operator transfer: amount, e.g. 2.5.")
@click.option("--nonce", help="Operator transfer: a request id (32-64 hex); the same nonce never pays twice.")
@click.option("--request", "request_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A member's signed transfer request (circulo member sign-transfer).")  # fmt: skip
@key_option
@json_option
@pass_cli
@one_line_errors
@audited("ledger")
def transfer(
    ctx: CliContext,
    coop_id: str | None,
    to_account: str | None,
    token: str | None,
    amount_micro: int | None,
    nonce: str | None,
    request_file: Path | None,
    signing_key_path: Path | None,
    as_json: bool,
) -> None:
    """Move tokens: a member's signed --request, or the operator's from a co-op's treasury."""
    settings = ledger_settings(ctx, signing_key_path=signing_key_path)
    setup_logging(ctx)
    operator = moves.operator(load_signer(settings.signing_key_path))
    with database(settings) as conn:
        journal.ensure_signer_matches(conn, operator.signer)
        if request_file is not None:
            if any(v is not None for v in (coop_id, to_account, token, amount_micro, nonce)):
                raise InvalidRequest("--request carries the whole transfer: give no other transfer option")
            settlement = moves.submit_request(conn, moves.read_signed_transfer(request_file), operator)
        else:
            settlement = moves.treasury_transfer(
                conn, operator, coop_id=coop_id, to_account=to_account, token=token,
                amount_micro=amount_micro, nonce=nonce,
            )  # fmt: skip
    report_move(settlement, as_json)


def report_move(settlement: Settlement, as_json: bool) -> None:
    """Print what a move appended."""
    if as_json:
        entries = [{k: v for k, v in vars(e).items() if k != "sources"} for e in settlement.entries]
        echo_json({"settlement_id": settlement.settlement_id, "entries": entries})
        return
    for entry in settlement.entries:
        sign = "+" if entry.kind == "mint" else "-"
        click.echo(f"{sign}{micro_units(entry.amount_micro)} {entry.token}  {entry.account}  {entry.reason}")
    click.echo(f"settled {settlement.settlement_id}")


@command.command()
@json_option
@pass_cli
@one_line_errors
@audited("ledger")
def genesis(ctx: CliContext, as_json: bool) -> None:
    """The ledger's genesis hash (entry 1's hash): signed requests name the ledger by it."""
    with database(ledger_settings(ctx)) as conn:
        value = journal.genesis_hash(conn)
    if value is None:
        raise NotFound("the ledger has no entries yet")
    if as_json:
        echo_json({"genesis": value})
    else:
        click.echo(value)
