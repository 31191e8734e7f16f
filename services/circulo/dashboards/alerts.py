"""Grafana alert rules, contact points and notification policies as code (Grafana 11.6 file provisioning).

Every rule is one :class:`AlertRule` entry in :data:`RULES` plus its SQL in
``sql/alerts/<name>.sql``. The SQL returns one row per thing that is wrong right now — a
device, a co-op, a worker — with string columns (they become the alert's labels, so one
device's recovery never hides another's failure) and exactly one number (Grafana's
"numeric data" form of a table query). A thing that is fine returns no row, so its alert
clears by itself on the next evaluation, and a query with no rows at all is ``noDataState:
OK``. The condition is a threshold on that number (``> 0`` unless the rule says otherwise).

Rules whose data another part of Circulo provides (certificate and CRL expiry, open
replay gaps) are in :data:`RULES` too; a rule is provisioned only once every
``dashboards.*`` view its SQL reads is created by a migration, so it switches itself on
when that migration lands (and ``circulo dashboards build --check`` then says the files are
stale until they are rebuilt).

Routing: each rule carries ``role`` (``installers`` or ``operators``); the notification
policy sends each role to its own contact point, grouped by rule and co-op. Messages say
what to do and name the runbook section in docs/operations.md.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Literal

from circulo.dashboards.boards import fleet, pipeline
from circulo.dashboards.query import DATASOURCE_TYPE, DATASOURCE_UID, read_sql

Role = Literal["installers", "operators"]
FOLDER = "Circulo"
ORG_ID = 1
EXPRESSION_UID = "__expr__"
RUNBOOK = "docs/operations.md"
VIEW_USE = re.compile(r"\bdashboards\.(\w+)")
VIEW_DEFINITION = re.compile(r"CREATE\s+(?:OR\s+REPLACE\s+)?VIEW\s+dashboards\.(\w+)", re.IGNORECASE)

# Contact point per role: e-mail to the addresses in Grafana's environment (provisioning
# files expand $VAR; deploy/docker-compose.yml requires both to be set).
CONTACT_POINTS: dict[Role, tuple[str, str]] = {
    "installers": ("Circulo installers", "$CIRCULO_ALERT_EMAIL_INSTALLERS"),
    "operators": ("Circulo co-op operators", "$CIRCULO_ALERT_EMAIL_OPERATORS"),
}


@dataclass(frozen=True)
class Group:
    """A rule group: evaluated together every ``interval``."""

    name: str
    interval: str


FLEET = Group("circulo-fleet", "1m")
PIPELINE = Group("circulo-pipeline", "1m")
LEDGER = Group("circulo-ledger", "5m")


@dataclass(frozen=True)
class AlertRule:
    """One alert rule: its SQL (``sql/alerts/<name>.sql``), who it goes to, and what to say."""

    name: str
    title: str
    group: Group
    role: Role
    summary: str
    action: str
    runbook: str
    panel: tuple[str, str]
    severity: Literal["warning", "critical"] = "warning"
    pending: str = "0s"
    threshold: float = 0.0
    window_s: int = 600
    extra_labels: dict[str, str] = field(default_factory=dict)

    @property
    def uid(self) -> str:
        """The rule's fixed uid (Grafana: at most 40 characters)."""
        return f"circulo-{self.name.replace('_', '-')}"

    @property
    def sql(self) -> str:
        """The rule's query, as Grafana runs it (after macro expansion)."""
        return read_sql(f"alerts/{self.name}")

    def views(self) -> set[str]:
        """The ``dashboards.*`` views the query reads."""
        return set(VIEW_USE.findall(self.sql))


def runbook_section(anchor: str) -> str:
    """Where the runbook of a rule is: ``docs/operations.md#<anchor>``."""
    return f"{RUNBOOK}#{anchor}"


RULES: tuple[AlertRule, ...] = (
    AlertRule(
        "device_silent", "Device silent", FLEET, "installers",
        "{{ $labels.kind }} {{ $labels.device_id }} ({{ $labels.coop_id }}) sent no data for "
        "{{ printf \"%.0f\" $values.A.Value }} min",
        "Run `circulo device check {{ $labels.device_id }}`; check its power, antenna and clock.",
        "alert-device-silent", (fleet.UID, "Devices"),
    ),
    AlertRule(
        "device_offline", "Device offline", FLEET, "installers",
        "{{ $labels.kind }} {{ $labels.device_id }} ({{ $labels.coop_id }}) offline for "
        "{{ printf \"%.0f\" $values.A.Value }} min (last will)",
        "Run `circulo device check {{ $labels.device_id }}`; visit the site if it stays offline.",
        "alert-device-offline", (fleet.UID, "Devices"),
    ),
    AlertRule(
        "message_loss", "Message loss", FLEET, "installers",
        "Co-op {{ $labels.coop_id }} lost {{ printf \"%.1f\" $values.A.Value }} % of its messages "
        "in the last hour",
        "Open the fleet dashboard's loss by device; run `circulo device check ID` on the worst.",
        "alert-message-loss", (fleet.UID, "Message loss by device"),
    ),
    AlertRule(
        "quarantine_spike", "Quarantine spike", FLEET, "operators",
        "{{ printf \"%.0f\" $values.A.Value }} messages quarantined `{{ $labels.reason }}` in 15 min "
        "(co-op {{ $labels.coop_id }})",
        "Run `circulo quarantine list --reason {{ $labels.reason }} --pending`; fix the cause, then "
        "`circulo quarantine replay --reason {{ $labels.reason }}`.",
        "alert-quarantine-spike", (fleet.UID, "Quarantined by reason per $resolution"),
    ),
    AlertRule(
        "settlement_stalled", "Settlement stalled", PIPELINE, "operators",
        "Co-op {{ $labels.coop_id }}: an hour ended {{ printf \"%.1f\" $values.A.Value }} h ago "
        "and is not settled",
        "Check `circulo rewards run` is running (health :9109/healthz) and W moves; see the runbook.",
        "alert-settlement-stalled", (pipeline.UID, "Green settlement progress"), severity="critical",
    ),
    AlertRule(
        "watermark_lag", "Ingest watermark lag", PIPELINE, "operators",
        "W is {{ printf \"%.0f\" $values.A.Value }} s behind now",
        "Check the ingest workers (health :9108/healthz, `journalctl -u circulo-ingest@*`) and the database.",
        "alert-watermark-lag", (pipeline.UID, "W behind now"), severity="critical",
    ),
    AlertRule(
        "ingest_worker_down", "Ingest worker down", PIPELINE, "operators",
        "Ingest worker {{ $labels.worker_id }} silent for {{ printf \"%.0f\" $values.A.Value }} s",
        "Restart it (`systemctl restart circulo-ingest@{{ $labels.worker_id }}`), or drain it for good "
        "with `circulo ingest --worker-id {{ $labels.worker_id }} --leave-group`.",
        "alert-ingest-worker-down", (pipeline.UID, "Ingest workers"),
    ),
    AlertRule(
        "checkpoint_overdue", "Ledger checkpoint overdue", LEDGER, "operators",
        "Ledger entries have waited {{ printf \"%.1f\" $values.A.Value }} h for a signed checkpoint",
        "Run `circulo ledger checkpoint`; check its timer (`systemctl status circulo-checkpoint.timer`).",
        "alert-checkpoint-overdue", (pipeline.UID, "Last checkpoint"),
    ),
    AlertRule(
        "broker_queue", "Broker queue depth", PIPELINE, "operators",
        "Broker {{ $labels.broker }} holds {{ printf \"%.0f\" $values.A.Value }} messages for its clients",
        "The ingest is behind or away: `systemctl status 'circulo-ingest@*'`; add a worker to the group.",
        "alert-broker-queue", (pipeline.UID, "Broker queue"), severity="critical",
    ),
    AlertRule(
        "broker_samples_stale", "Broker not sampled", PIPELINE, "operators",
        "No SYS-topic sample from broker {{ $labels.broker }} for {{ printf \"%.0f\" $values.A.Value }} s",
        "Check the broker and `circulo monitor` (`systemctl status circulo-monitor mosquitto`).",
        "alert-broker-samples-stale", (pipeline.UID, "Broker queue"),
    ),
    AlertRule(
        "certificate_expiry", "Certificate or CRL expiring", LEDGER, "operators",
        "{{ $labels.kind }} {{ $labels.subject }} expires in {{ printf \"%.1f\" $values.A.Value }} days",
        "Renew it with `circulo pki` (a CRL: re-issue it now); see the runbook.",
        "alert-certificate-expiry", (pipeline.UID, "Last checkpoint"), severity="critical",
    ),
    AlertRule(
        "replay_gap_open", "Replay gap open or messages lost", FLEET, "installers",
        "{{ $labels.device_id }} ({{ $labels.coop_id }}): {{ printf \"%.0f\" $values.A.Value }} messages "
        "{{ $labels.problem }} (pending: a replay not done 10 min after the gap was found; lost: final)",
        "Run `circulo device show {{ $labels.device_id }}` for its gaps and `circulo device check "
        "{{ $labels.device_id }}`; see the runbook for a device that keeps losing messages.",
        "alert-replay-gap-open", (pipeline.UID, "Pending replay gaps"),
    ),
)  # fmt: skip


def defined_views() -> set[str]:
    """Every ``dashboards.*`` view the migrations create (read from the migration files)."""
    versions = resources.files("circulo.store").joinpath("migrations", "versions")
    return {
        name
        for entry in versions.iterdir()
        if entry.name.endswith(".py")
        for name in VIEW_DEFINITION.findall(entry.read_text(encoding="utf-8"))
    }


def active_rules(rules: Iterable[AlertRule] = RULES, views: set[str] | None = None) -> list[AlertRule]:
    """The rules whose every view exists (the others wait for the migration that adds their data)."""
    available = defined_views() if views is None else views
    return [rule for rule in rules if rule.views() <= available]


def sql_query(rule: AlertRule) -> dict[str, Any]:
    """Query A: the rule's SQL on the TimescaleDB data source, as a table (numeric data)."""
    return {
        "refId": "A",
        "datasourceUid": DATASOURCE_UID,
        "relativeTimeRange": {"from": rule.window_s, "to": 0},
        "model": {
            "refId": "A",
            "datasource": {"type": DATASOURCE_TYPE, "uid": DATASOURCE_UID},
            "editorMode": "code",
            "format": "table",
            "rawQuery": True,
            "rawSql": rule.sql,
            "intervalMs": 60000,
            "maxDataPoints": 43200,
        },
    }


def threshold(rule: AlertRule) -> dict[str, Any]:
    """Expression C: A above the rule's threshold (a server-side expression)."""
    return {
        "refId": "C",
        "datasourceUid": EXPRESSION_UID,
        "relativeTimeRange": {"from": 0, "to": 0},
        "model": {
            "refId": "C",
            "datasource": {"type": EXPRESSION_UID, "uid": EXPRESSION_UID},
            "type": "threshold",
            "expression": "A",
            "conditions": [{"evaluator": {"type": "gt", "params": [rule.threshold]}}],
        },
    }


def rule_document(rule: AlertRule, panel_ids: dict[tuple[str, str], int]) -> dict[str, Any]:
    """One rule in the provisioning form."""
    return {
        "uid": rule.uid,
        "title": rule.title,
        "condition": "C",
        "data": [sql_query(rule), threshold(rule)],
        "dashboardUid": rule.panel[0],
        "panelId": panel_ids[rule.panel],
        "noDataState": "OK",
        "execErrState": "Error",
        "for": rule.pending,
        "annotations": {
            "summary": rule.summary,
            "description": rule.action,
            "runbook": runbook_section(rule.runbook),
        },
        "labels": {"role": rule.role, "severity": rule.severity, **rule.extra_labels},
        "isPaused": False,
    }


def rules_file(rules: Iterable[AlertRule], panel_ids: dict[tuple[str, str], int]) -> dict[str, Any]:
    """``circulo-alert-rules.json``: the rule groups, in the order the groups first appear."""
    groups: dict[Group, list[dict[str, Any]]] = {}
    for rule in rules:
        groups.setdefault(rule.group, []).append(rule_document(rule, panel_ids))
    return {
        "apiVersion": 1,
        "groups": [
            {"orgId": ORG_ID, "name": g.name, "folder": FOLDER, "interval": g.interval, "rules": r}
            for g, r in groups.items()
        ],
    }


def contact_points_file() -> dict[str, Any]:
    """``circulo-contact-points.json``: one e-mail contact point per role."""
    return {
        "apiVersion": 1,
        "contactPoints": [
            {
                "orgId": ORG_ID,
                "name": name,
                "receivers": [
                    {
                        "uid": f"circulo-{role}-email",
                        "type": "email",
                        "settings": {"addresses": addresses, "singleEmail": True},
                        "disableResolveMessage": False,
                    }
                ],
            }
            for role, (name, addresses) in CONTACT_POINTS.items()
        ],
    }


def policies_file() -> dict[str, Any]:
    """``circulo-notification-policies.json``: each role to its contact point, grouped by rule and co-op.

    Provisioning a policy tree replaces the organisation's whole tree; anything not
    routed by role goes to the co-op operators.
    """
    return {
        "apiVersion": 1,
        "policies": [
            {
                "orgId": ORG_ID,
                "receiver": CONTACT_POINTS["operators"][0],
                "group_by": ["grafana_folder", "alertname", "coop_id"],
                "group_wait": "30s",
                "group_interval": "5m",
                "repeat_interval": "4h",
                "routes": [
                    {"receiver": name, "object_matchers": [["role", "=", role]], "continue": False}
                    for role, (name, _) in CONTACT_POINTS.items()
                ],
            }
        ],
    }


def render_files(panel_ids: dict[tuple[str, str], int]) -> dict[str, dict[str, Any]]:
    """Every provisioning file of the alerting folder, by file name."""
    return {
        "circulo-alert-rules.json": rules_file(active_rules(), panel_ids),
        "circulo-contact-points.json": contact_points_file(),
        "circulo-notification-policies.json": policies_file(),
    }
