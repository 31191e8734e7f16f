"""The alerting provisioning files: valid against the schema written from Grafana's docs, and coherent.

No Grafana server runs here. The files are checked against
``grafana-alerting-provisioning.schema.json`` (strict: unknown keys fail) and for what
Grafana checks when it loads them: unique uids, a condition that names a query, group
intervals in whole 10 s steps, receivers that exist, panels that exist, labels without
``$`` (Grafana expands environment variables in labels and titles, not in annotations).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft7Validator

from circulo.dashboards import alerts
from circulo.dashboards.build import panel_ids, render_alerting, render_all

SCHEMA = Draft7Validator(
    json.loads((Path(__file__).with_name("grafana-alerting-provisioning.schema.json")).read_text())
)
FILES = render_alerting()
RULE_DOCS = [rule for group in FILES["circulo-alert-rules.json"]["groups"] for rule in group["rules"]]
DURATION = re.compile(r"^(\d+)([smh])$")
COMMAND = re.compile(r"`(circulo|systemctl|journalctl) [^`]+`")


def problems(document: Any) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in SCHEMA.iter_errors(document)]


@pytest.mark.parametrize("name", sorted(FILES))
def test_each_provisioning_file_validates_against_the_schema_written_from_grafanas_docs(name: str) -> None:
    assert problems(FILES[name]) == []


@pytest.mark.parametrize(
    ("mutate", "where"),
    [
        (lambda d: d["groups"][0]["rules"][0].update(noDataState="Ok"), "noDataState"),
        (lambda d: d["groups"][0]["rules"][0].update(keepFiringFor="5m"), "keepFiringFor"),
        (lambda d: d["groups"][0].update(interval="1 minute"), "interval"),
        (lambda d: d["groups"][0]["rules"][0].update(uid="x" * 41), "uid"),
        (lambda d: d["groups"][0]["rules"][0]["data"][0]["model"].pop("rawSql"), "rawSql"),
        (lambda d: d["groups"][0]["rules"][0]["data"][1]["model"].update(type="thresh"), "type"),
    ],
)
def test_the_schema_refuses_what_grafana_would_misread(mutate: Any, where: str) -> None:
    document = json.loads(json.dumps(FILES["circulo-alert-rules.json"]))
    mutate(document)
    assert any(where in p for p in problems(document)), problems(document)


def test_rule_uids_are_unique_and_every_condition_names_one_of_its_queries() -> None:
    uids = [rule["uid"] for rule in RULE_DOCS]
    assert len(uids) == len(set(uids))
    for rule in RULE_DOCS:
        assert rule["condition"] in {query["refId"] for query in rule["data"]}, rule["uid"]


def test_group_intervals_are_whole_multiples_of_grafanas_10_second_base_interval() -> None:
    for group in FILES["circulo-alert-rules.json"]["groups"]:
        number, unit = DURATION.fullmatch(group["interval"]).groups()  # type: ignore[union-attr]
        seconds = int(number) * {"s": 1, "m": 60, "h": 3600}[unit]
        assert seconds % 10 == 0 and seconds > 0, group["name"]


def test_every_rule_links_to_a_panel_of_a_provisioned_dashboard() -> None:
    known = {(uid, panel_id) for (uid, _title), panel_id in panel_ids(render_all()).items()}
    for rule in RULE_DOCS:
        assert (rule["dashboardUid"], rule["panelId"]) in known, rule["uid"]


def test_every_role_label_routes_to_a_contact_point_that_exists() -> None:
    contact_points = {cp["name"] for cp in FILES["circulo-contact-points.json"]["contactPoints"]}
    [root] = FILES["circulo-notification-policies.json"]["policies"]
    routes = {route["object_matchers"][0][2]: route["receiver"] for route in root["routes"]}
    assert root["receiver"] in contact_points
    assert set(routes.values()) <= contact_points
    assert {rule["labels"]["role"] for rule in RULE_DOCS} == set(routes) == {"installers", "operators"}


def test_labels_and_titles_hold_no_dollar_that_grafana_would_expand_as_an_environment_variable() -> None:
    for rule in RULE_DOCS:
        assert "$" not in rule["title"] and all("$" not in v for v in rule["labels"].values()), rule["uid"]


def test_contact_point_addresses_come_from_grafanas_environment() -> None:
    for contact_point in FILES["circulo-contact-points.json"]["contactPoints"]:
        [receiver] = contact_point["receivers"]
        assert re.fullmatch(r"\$CIRCULO_ALERT_EMAIL_[A-Z]+", receiver["settings"]["addresses"])


def test_every_message_says_what_to_do_and_names_its_runbook_section() -> None:
    runbook = (Path(__file__).resolve().parents[2] / alerts.RUNBOOK).read_text()
    anchors = set(re.findall(r'<a id="([\w-]+)"></a>', runbook))
    for rule in RULE_DOCS:
        page, anchor = rule["annotations"]["runbook"].split("#")
        assert page == alerts.RUNBOOK and anchor in anchors, rule["uid"]
        assert COMMAND.search(rule["annotations"]["description"]), rule["uid"]


def test_rules_whose_data_is_not_there_yet_wait_for_the_migration_that_adds_their_view() -> None:
    # every view is there now (0017 added dashboards.replay_gap): every rule is provisioned
    assert {rule.name for rule in alerts.active_rules()} == {r.name for r in alerts.RULES}
    without = alerts.defined_views() - {"replay_gap"}
    assert "replay_gap_open" not in {rule.name for rule in alerts.active_rules(views=without)}


def test_every_provisioned_rule_reads_only_views_some_migration_creates() -> None:
    views = alerts.defined_views()
    for rule in alerts.active_rules():
        assert rule.views() and rule.views() <= views, rule.name
