"""Replay on request through the real broker and ingest (SPEC §11): asked by W, answered, given up."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from contextlib import ExitStack

import pytest

from circulo.localstack.procs import free_port
from circulo_schemas.topics import command_topic
from tests.replay.support import (
    ReplayingDevice,
    gaps,
    lagging_worker,
    reading,
    replay_env,
    stored_seqs,
)
from tests.support import IngestProcess, http_get, register, rows, scalar, wait_for

SEQ_MODULUS = 2**32


@pytest.fixture(autouse=True)
def _replay_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    replay_env(monkeypatch)  # the ingest's account holds the circulo-replay role (SPEC §11)


def publish_except(device: ReplayingDevice, seqs: range, held_back: set[int], epoch: int = 1) -> None:
    """Publish the device's readings ``seqs`` except ``held_back`` (kept, as a broker crash loses them)."""
    messages = [device.keep(epoch, s, reading(device.device_id, s, epoch)) for s in seqs]
    device.publish(m for s, m in zip(seqs, messages, strict=True) if s not in held_back)


def outcomes_at_stop(worker: IngestProcess) -> dict[str, int]:
    assert worker.terminate() == 0
    last = [json.loads(line) for line in worker.logs().splitlines() if '"ingest_stopped"' in line][-1]
    return {k: v for k, v in last.items() if k in ("stored", "duplicate", "quarantined")}


def test_a_gap_is_requested_only_once_w_passed_replay_after(
    db_url: str, ingest: IngestProcess, service_mqtt_url: str
) -> None:
    register(db_url, [("m1", "meter")])
    with ReplayingDevice(service_mqtt_url, "m1", answer=False) as device:
        with lagging_worker(db_url):
            publish_except(device, range(0, 11), {4, 5, 6})
            wait_for(lambda: gaps(db_url, "m1") == [(1, 4, 6, 3, "open", None, 0)], what="the open gap")
            assert device.no_command_for(3.0), "W lags an hour: wall time alone must not ask"
        command = device.next_command()  # W caught up once the lagging worker stopped
        assert (command.epoch, command.from_seq, command.to_seq) == (1, 4, 6)
        wait_for(lambda: gaps(db_url, "m1") == [(1, 4, 6, 3, "requested", None, 1)], what="requested")
    assert scalar(db_url, "SELECT request_id FROM replay_gap") == command.id
    assert rows(db_url, "SELECT last_seq, seq_epoch, seq_missing FROM device_state") == [(10, 1, 3)]


def test_a_device_that_answers_fills_its_gap_overlap_is_duplicate_never_conflict(
    db_url: str, ingest: IngestProcess, service_mqtt_url: str
) -> None:
    register(db_url, [("m1", "meter")])
    with ReplayingDevice(service_mqtt_url, "m1") as device:
        publish_except(device, range(0, 20), {7, 8, 9, 10, 11})
        command = device.next_command()
        assert (command.from_seq, command.to_seq) == (7, 11)
        wait_for(lambda: stored_seqs(db_url, "m1") == list(range(20)), what="the replayed readings")
        device.respond(command.model_copy(update={"from_seq": 5, "to_seq": 14}))  # overlaps what is stored
        time.sleep(1.0)
    assert gaps(db_url, "m1") == [(1, 11, 11, 0, "recovered", None, 1)] or all(
        g[4] == "recovered" for g in gaps(db_url, "m1")
    )
    assert rows(db_url, "SELECT seq_received, seq_missing FROM device_state") == [(20, 0)]
    assert scalar(db_url, "SELECT count(*) FROM quarantine") == 0, "a replayed message is no conflict"
    assert outcomes_at_stop(ingest) == {"stored": 20, "duplicate": 5 + 5}


def test_replay_unavailable_makes_exactly_the_missing_range_lost_and_its_repeat_a_duplicate(
    db_url: str, ingest: IngestProcess, service_mqtt_url: str
) -> None:
    register(db_url, [("m1", "meter")])
    with ReplayingDevice(service_mqtt_url, "m1", answer=False) as device:
        publish_except(device, range(0, 30), set(range(10, 16)) | {20})
        first = device.next_command()
        second = device.next_command()
        by_start = {c.from_seq: c for c in (first, second)}
        assert {(c.from_seq, c.to_seq) for c in by_start.values()} == {(10, 15), (20, 20)}
        # the device lost 5..25 of epoch 1: more than is missing, some of it stored
        answer = device.unavailable(by_start[10], 5, 25)
        device.publish([answer, answer])
        wait_for(lambda: all(g[4] == "lost" for g in gaps(db_url, "m1")), what="the final loss")
    assert gaps(db_url, "m1") == [
        (1, 10, 15, 6, "lost", "unavailable", 1),
        (1, 20, 20, 1, "lost", "unavailable", 1),
    ]
    assert rows(db_url, "SELECT request_id, epoch, from_seq, to_seq FROM replay_unavailable") == [
        (by_start[10].id, 1, 5, 25)
    ]
    assert stored_seqs(db_url, "m1") == [s for s in range(30) if not 10 <= s <= 15 and s != 20]
    assert rows(db_url, "SELECT seq_missing FROM device_state") == [(7,)], "a final loss stays missing"
    assert outcomes_at_stop(ingest) == {"stored": 23 + 1, "duplicate": 1}


def test_an_unanswered_gap_is_given_up_at_replay_timeout_judged_by_w(
    db_url: str, ingest_url: str, ingest_factory: Callable[..., IngestProcess], service_mqtt_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    replay_env(monkeypatch, replay_timeout_s=4, replay_retry_s=1)
    port = free_port()
    worker = ingest_factory(db_url, ingest_url, args=["--metrics-port", str(port)])
    register(db_url, [("m1", "meter")])
    with ReplayingDevice(service_mqtt_url, "m1", answer=False) as device:
        publish_except(device, range(0, 5), {2})
        device.next_command()
        device.next_command()  # asked again after the back-off
        wait_for(lambda: gaps(db_url, "m1")[0][4] == "lost", timeout=20, what="given up")
    ((_, _, _, missing, state, reason, requests),) = gaps(db_url, "m1")
    assert (missing, state, reason) == (1, "lost", "timeout") and requests >= 2
    metrics = wait_for(lambda: lost_metric_line(port), what="the final loss in the metrics")
    assert metrics == 'circulo_ingest_replay_messages_lost_final_total{reason="timeout"} 1.0'
    _, text = http_get(f"http://127.0.0.1:{port}/metrics")
    assert f"circulo_ingest_replays_requested_total {float(requests)}" in text.splitlines()
    assert "circulo_ingest_replay_gaps_opened_total 1.0" in text.splitlines()
    assert '"replay_given_up"' in worker.logs() and '"replay_requested"' in worker.logs()


def lost_metric_line(port: int) -> str | None:
    _, text = http_get(f"http://127.0.0.1:{port}/metrics")
    lines = [line for line in text.splitlines() if 'lost_final_total{reason="timeout"} 1.0' in line]
    return lines[0] if lines else None


def test_an_ingest_restart_keeps_the_open_request_and_asks_again_only_after_the_back_off(
    db_url: str, ingest: IngestProcess, service_mqtt_url: str
) -> None:
    register(db_url, [("m1", "meter")])
    with ReplayingDevice(service_mqtt_url, "m1", answer=False) as device:
        publish_except(device, range(0, 10), {3})
        command = device.next_command()
        ingest.kill()
        ingest.start()
        ingest.wait_ready()
        assert device.no_command_for(4.0), "the request is in the database: no second one before 30 s"
        assert gaps(db_url, "m1") == [(1, 3, 3, 1, "requested", None, 1)]
        assert scalar(db_url, "SELECT request_id FROM replay_gap") == command.id
        device.publish([device.kept[(1, 3)]])  # the device answers late: the request still stands
        wait_for(lambda: gaps(db_url, "m1") == [(1, 3, 3, 0, "recovered", None, 1)], what="recovered")


def test_two_workers_of_a_group_ask_once(
    db_url: str, ingest_url: str, ingest_factory: Callable[..., IngestProcess], service_mqtt_url: str
) -> None:
    workers = [ingest_factory(db_url, ingest_url, args=["--shared-group", "replay"]) for _ in range(2)]
    register(db_url, [(f"m{i}", "meter") for i in range(5)])
    with ExitStack() as stack:
        devices = [
            stack.enter_context(ReplayingDevice(service_mqtt_url, f"m{i}", answer=False)) for i in range(5)
        ]
        for device in devices:
            publish_except(device, range(0, 40), {11, 12, 30})
        for device in devices:
            got = {(c.from_seq, c.to_seq) for c in (device.next_command(), device.next_command())}
            assert got == {(11, 12), (30, 30)}
        assert all(device.no_command_for(0.5) for device in devices)
    assert {g[6] for d in devices for g in gaps(db_url, d.device_id)} == {1}
    assert all(w.process and w.process.poll() is None for w in workers)


def test_a_reboot_mid_stream_and_seq_wrapping_at_2_32_open_no_gap(
    db_url: str, ingest: IngestProcess, service_mqtt_url: str
) -> None:
    register(db_url, [("m1", "meter"), ("m2", "meter")])
    with (
        ReplayingDevice(service_mqtt_url, "m1") as rebooting,
        ReplayingDevice(service_mqtt_url, "m2") as wrapping,
    ):
        rebooting.publish([reading("m1", s, epoch=4, minute=s) for s in range(50)])
        rebooting.publish([reading("m1", s, epoch=5, minute=50 + s) for s in range(50)])
        top = SEQ_MODULUS - 25
        wrapping.publish([reading("m2", (top + i) % SEQ_MODULUS, epoch=1, minute=i) for i in range(50)])
        wait_for(lambda: scalar(db_url, "SELECT count(*) FROM meter_reading") == 150, what="150 readings")
        time.sleep(2.0)  # past replay_after: a gap would be requested now
        assert rebooting.no_command_for(0.5) and wrapping.no_command_for(0.5)
    assert rows(db_url, "SELECT * FROM replay_gap") == []
    assert rows(db_url, "SELECT device_id, seq_epoch, last_seq, seq_missing, seq_resets FROM device_state "
                "ORDER BY device_id") == [("m1", 5, 49, 0, 0), ("m2", 1, 24, 0, 0)]  # fmt: skip


def test_the_ingest_subscription_never_receives_commands(
    db_url: str, ingest: IngestProcess, service_mqtt_url: str
) -> None:
    register(db_url, [("m1", "meter")])
    with ReplayingDevice(service_mqtt_url, "m1", answer=False) as device:
        device.publish([(command_topic("meter", "m1"), b'{"v":1,"cmd":"replay"}')])
        device.publish([reading("m1", 0)])
        wait_for(lambda: stored_seqs(db_url, "m1") == [0], what="the reading")
    assert scalar(db_url, "SELECT count(*) FROM quarantine") == 0


def test_a_quarantined_message_that_names_its_seq_leaves_no_gap_to_ask_for(
    db_url: str, ingest: IngestProcess, service_mqtt_url: str
) -> None:
    register(db_url, [("m1", "meter")])
    topic, _ = reading("m1", 2)
    bad = json.dumps(
        {"v": 1, "ts": "2026-12-01T00:00:00Z", "seq": 2, "epoch": 1, "energy_wh": -1, "power_w": 1}
    )
    with ReplayingDevice(service_mqtt_url, "m1", answer=False) as device:
        device.publish([reading("m1", 0), reading("m1", 1), (topic, bad.encode()), reading("m1", 3)])
        wait_for(lambda: stored_seqs(db_url, "m1") == [0, 1, 3], what="the valid readings")
        assert device.no_command_for(2.5), "its seq arrived: the message is in the quarantine, not lost"
    assert scalar(db_url, "SELECT reason FROM quarantine") == "schema"
    assert gaps(db_url, "m1") == []
