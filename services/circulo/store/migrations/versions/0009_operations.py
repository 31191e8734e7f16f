"""Operations: the operator audit trail, monitor samples, and the views the alert rules read.

Revision ID: 0009
Revises: 0008

**Audit trail.** Every registry and ledger command an operator runs writes one row to
``operator_audit`` before it acts (who, from where, what, with which arguments, secrets
left out) and one row to ``operator_audit_outcome`` when it ends. Both tables are
append-only like the ledger journal (0003): triggers refuse UPDATE, DELETE and TRUNCATE
for every role, the owner included, and the roles that run operator commands
(``circulo_registry``, ``circulo_rewards``, ``circulo_operator``) may only INSERT and
SELECT. Operators should log in as a member of ``circulo_operator``, not as the owner:
an owner can drop a trigger (as with the ledger, a superuser can do anything).

**Monitor samples.** ``circulo monitor`` writes what the database cannot derive by
itself later: each co-op's cumulative sequence counters (so message loss can be
measured over a window) and the broker's ``$SYS`` store counters (queue depth).

**Alert views.** Grafana's alert rules read only schema ``dashboards`` (0005), like the
panels: these views add the samples.
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

APPEND_ONLY_TABLES = ("operator_audit", "operator_audit_outcome")

DDL = r"""
DO $$ BEGIN CREATE ROLE circulo_operator NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
DO $$ BEGIN CREATE ROLE circulo_monitor NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$;

-- One row per operator command, written before the command acts. db_user and
-- client_addr are the server's own view of the session, not what the client claims.
CREATE TABLE operator_audit (
    invocation   uuid PRIMARY KEY,
    started_at   timestamptz NOT NULL DEFAULT now(),
    os_user      text NOT NULL,
    sudo_user    text,
    operator     text,
    db_user      text NOT NULL DEFAULT session_user,
    client_addr  inet DEFAULT inet_client_addr(),
    host         text NOT NULL,
    pid          integer NOT NULL,
    command      text NOT NULL CHECK (command <> ''),
    arguments    jsonb NOT NULL CHECK (jsonb_typeof(arguments) = 'object'),
    version      text NOT NULL
);
CREATE INDEX operator_audit_started_idx ON operator_audit (started_at);

-- How the command ended; a command without a row here was interrupted.
CREATE TABLE operator_audit_outcome (
    invocation   uuid PRIMARY KEY REFERENCES operator_audit (invocation),
    finished_at  timestamptz NOT NULL DEFAULT now(),
    outcome      text NOT NULL CHECK (outcome IN ('ok', 'error')),
    detail       text NOT NULL DEFAULT ''
);

CREATE FUNCTION operator_audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% on % refused: the operator audit trail is append-only', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$;

-- Monitor samples -----------------------------------------------------------------------
-- Each co-op's cumulative seq counters (device_state, 0002) at a moment: the difference of
-- two samples is the loss over the window between them.
CREATE TABLE monitor_seq_sample (
    coop_id       text NOT NULL,
    sampled_at    timestamptz NOT NULL,
    seq_received  bigint NOT NULL,
    seq_missing   bigint NOT NULL,
    PRIMARY KEY (coop_id, sampled_at)
);

-- The broker's $SYS counters at a moment (Mosquitto: $SYS/broker/store/messages/count
-- counts retained and queued messages; retained messages/count the retained ones).
CREATE TABLE monitor_broker_sample (
    broker             text NOT NULL,
    sampled_at         timestamptz NOT NULL,
    store_messages     bigint NOT NULL,
    retained_messages  bigint NOT NULL,
    clients_connected  bigint,
    PRIMARY KEY (broker, sampled_at)
);
CREATE INDEX monitor_broker_sample_time_idx ON monitor_broker_sample (sampled_at);

-- Views for the alert rules ----------------------------------------------------------------
CREATE VIEW dashboards.seq_sample AS
SELECT coop_id, sampled_at, seq_received, seq_missing FROM monitor_seq_sample;

CREATE VIEW dashboards.broker_sample AS
SELECT broker, sampled_at, store_messages, retained_messages,
       GREATEST(store_messages - retained_messages, 0) AS queued_messages, clients_connected
FROM monitor_broker_sample;

-- W as the ingest computes it (ingest_low_watermark(), 0002), for the reader: the minimum
-- over live workers, else the latest watermark any worker published; NULL before any ran.
CREATE VIEW dashboards.ingest_watermark AS
SELECT COALESCE(
    (SELECT min(low_watermark) FROM ingest_worker
      WHERE stopped_at IS NULL AND heartbeat_at > now() - interval '60 seconds'),
    (SELECT max(low_watermark) FROM ingest_worker)) AS watermark;
"""

TRIGGERS = """
CREATE TRIGGER {table}_no_update_delete BEFORE UPDATE OR DELETE ON {table}
    FOR EACH ROW EXECUTE FUNCTION operator_audit_refuse_change();
CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}
    FOR EACH STATEMENT EXECUTE FUNCTION operator_audit_refuse_change();
"""

# The operator role runs the registry and ledger commands: it has their rights through
# membership, and may only add to the audit trail.
GRANTS = """
REVOKE ALL ON operator_audit, operator_audit_outcome FROM PUBLIC;
GRANT circulo_registry, circulo_rewards TO circulo_operator;
GRANT SELECT, INSERT ON operator_audit, operator_audit_outcome
    TO circulo_registry, circulo_rewards, circulo_operator;
GRANT USAGE ON SCHEMA public TO circulo_monitor;
GRANT SELECT ON device, device_state TO circulo_monitor;
GRANT SELECT, INSERT, DELETE ON monitor_seq_sample, monitor_broker_sample TO circulo_monitor;
GRANT SELECT ON dashboards.seq_sample, dashboards.broker_sample, dashboards.ingest_watermark
    TO circulo_reader;
"""


def upgrade() -> None:
    """Create the audit trail with its append-only triggers, the monitor samples and the alert views."""
    op.execute(DDL)
    for table in APPEND_ONLY_TABLES:
        op.execute(TRIGGERS.format(table=table))
    op.execute(GRANTS)


def downgrade() -> None:
    """Forward-only: Circulo never downgrades a schema that may hold ledger data."""
    raise NotImplementedError("forward-only migrations")
