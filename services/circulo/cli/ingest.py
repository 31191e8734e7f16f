"""`circulo ingest`: the ingest daemon."""

from __future__ import annotations

import click

from circulo.cli.common import CliContext, one_line_errors, pass_cli, setup_logging
from circulo.ingest.daemon import run_ingest
from circulo.ingest.settings import IngestSettings
from circulo.ingest.supervisor import check_processes, run_supervised
from circulo.settings import load_settings


@click.command(name="ingest")
@click.option("--worker-id", help="MQTT client id and watermark name; fixed per worker [CIRCULO_WORKER_ID].")
@click.option("--shared-group", help="Join a shared-subscription group ($share/GROUP/…) to split the stream.")
@click.option("--queue-max", type=int, help="Receive Maximum = receipt queue bound (default 5000).")
@click.option("--batch-max", type=int, help="Messages per transaction at most (default 2000).")
@click.option("--flush-interval-ms", type=int, help="How long a batch waits to fill (default 25).")
@click.option(
    "--metrics-port", type=int, help="Port of /metrics and /healthz; 0 turns them off (default 9108)."
)
@click.option(
    "--once",
    "until_idle_s",
    type=float,
    is_flag=False,
    flag_value=3.0,
    default=None,
    help="One-shot: drain what the broker holds, exit once idle for N s (default 3).",
)
@click.option(
    "--processes",
    type=int,
    help="Run N workers of the --shared-group under one supervisor (one /healthz and /metrics; a "
    "crashed worker is restarted; SIGTERM stops all gracefully); ids <worker-id>-0…N-1 (default 1).",
)
@click.option(
    "--leave-group",
    is_flag=True,
    help="Leave the shared group for good: stop new deals, drain this worker's session, end it.",
)
@pass_cli
@one_line_errors
def command(
    ctx: CliContext,
    worker_id: str | None,
    shared_group: str | None,
    queue_max: int | None,
    batch_max: int | None,
    flush_interval_ms: int | None,
    metrics_port: int | None,
    until_idle_s: float | None,
    processes: int | None,
    leave_group: bool,
) -> None:
    """Run the ingest daemon: validate, store once or quarantine, acknowledge after commit."""
    settings = load_settings(
        IngestSettings,
        flags=ctx.flags(
            worker_id=worker_id,
            shared_group=shared_group,
            queue_max=queue_max,
            batch_max=batch_max,
            flush_interval_ms=flush_interval_ms,
            metrics_port=metrics_port,
            processes=processes,
        ),
        config_file=ctx.config_file,
        section="ingest",
    )
    setup_logging(ctx, json_lines=True)
    if settings.processes > 1:
        check_processes(settings, settings.processes)
        if until_idle_s is not None or leave_group:
            raise click.UsageError("--once and --leave-group run one worker: not with --processes")
        run_supervised(settings, settings.processes, json_lines=True)
        return
    if leave_group and until_idle_s is None:
        until_idle_s = 5.0
    run_ingest(settings, until_idle_s=until_idle_s, leave_group=leave_group)
