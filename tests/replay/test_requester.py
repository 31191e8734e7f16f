"""The requester's decisions (pure): due by W, given up at the limit, back-off; the subscription guard."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import generate_latest

from circulo.ingest.gaps import GapTally
from circulo.ingest.metrics import IngestMetrics
from circulo.ingest.requester import DueGap, back_off, decide
from circulo.ingest.settings import IngestSettings


@pytest.mark.parametrize("topic_filter", ["#", "circulo/#", "+/cmd/#", "+/+/v1/#", "circulo/cmd/v1/meter/m1"])
def test_a_topic_filter_that_reaches_the_command_topics_is_refused(topic_filter: str) -> None:
    with pytest.raises(ValueError, match="device commands"):
        IngestSettings(topic_filter=topic_filter)
    assert IngestSettings(topic_filter="circulo/v1/#").topic_filter == "circulo/v1/#"


def test_a_round_requests_what_w_made_due_and_gives_up_what_it_passed_the_limit_of() -> None:
    """``decide`` (pure): due by W only; given up at give_up_at; back-off doubles."""
    w = datetime(2026, 12, 1, tzinfo=UTC)
    retry = timedelta(seconds=30)
    due = [
        DueGap("m1", "meter", 1, 3, 4, 0, w + timedelta(minutes=9), w),
        DueGap("m1", "meter", 1, 9, 9, 2, w + timedelta(minutes=9), w + timedelta(seconds=1)),
        DueGap("m1", "meter", 1, 20, 21, 3, w, w - timedelta(minutes=5)),
        DueGap("m2", "meter", -1, 5, 5, 0, w + timedelta(seconds=1), w - timedelta(seconds=1)),
    ]
    decided = decide(due, w, retry)
    assert [(r.gap.from_seq, r.next_request_at - w) for r in decided.requests] == [(3, retry)]
    assert [g.from_seq for g in decided.given_up] == [20]
    assert [back_off(retry, n) for n in range(4)] == [retry * 1, retry * 2, retry * 4, retry * 8]
    body = json.loads(decided.requests[0].payload)
    assert body == {"v": 1, "cmd": "replay", "id": body["id"], "epoch": 1, "from_seq": 3, "to_seq": 4}
    assert decided.requests[0].topic == "circulo/cmd/v1/meter/m1"


def test_the_replay_metrics_count_gaps_requests_recoveries_and_final_losses() -> None:
    metrics = IngestMetrics()
    metrics.record_gaps(GapTally(opened=3, recovered=5, filled=9, lost={"unavailable": 2}))
    metrics.record_round(requests=4, given_up_missing=7)
    metrics.gaps_pending.labels("requested").set(2)
    text = generate_latest(metrics.registry).decode()
    for line in (
        "circulo_ingest_replay_gaps_opened_total 3.0",
        "circulo_ingest_replays_requested_total 4.0",
        "circulo_ingest_replay_messages_recovered_total 5.0",
        'circulo_ingest_replay_messages_lost_final_total{reason="unavailable"} 2.0',
        'circulo_ingest_replay_messages_lost_final_total{reason="timeout"} 7.0',
        'circulo_ingest_replay_gaps_pending{state="requested"} 2.0',
        'circulo_ingest_replay_gaps_pending{state="open"} 0.0',
    ):
        assert line in text.splitlines(), line
