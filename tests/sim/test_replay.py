"""Replay on the device (pure): the ring, the answer to a command, the boot epoch, seq wrap (SPEC §11)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path

import pytest
from tests.sim.sim_factories import MEMBERS, small_fleet

from circulo_schemas import ReplayCommand, ReplayUnavailable, parse_payload, parse_topic
from circulo_sim.boot import BootStore, DeviceCounter, boot_devices
from circulo_sim.errors import ConfigError
from circulo_sim.faults import FaultRates
from circulo_sim.plan import Publish, Reboot, build_device, device_actions
from circulo_sim.replay import (
    InvalidCommand,
    Kept,
    ReplayRing,
    answer,
    parse_command,
    span,
    unavailable_payload,
)
from circulo_sim.responder import DeviceMemory
from circulo_sim.service import default_state_dir
from circulo_sim.summary import RunStats

TOP = 2**32
DAY = datetime(2026, 6, 1, tzinfo=UTC)


def command(from_seq: int, to_seq: int, *, epoch: int = 1) -> ReplayCommand:
    return ReplayCommand(v=1, cmd="replay", id="r1", epoch=epoch, from_seq=from_seq, to_seq=to_seq)


def ring_of(seqs: list[int], *, epoch: int = 1, capacity: int = 2000) -> ReplayRing:
    ring = ReplayRing(capacity)
    for seq in seqs:
        ring.keep(
            Kept(epoch, seq, "circulo/v1/meter/m1/telemetry", f"payload {seq}".encode(), "meter_telemetry")
        )
    return ring


@pytest.mark.parametrize(
    ("held", "asked", "replayed", "missing"),
    [
        (range(10), (2, 5), [2, 3, 4, 5], []),
        (range(5, 10), (2, 8), [5, 6, 7, 8], [(2, 4)]),  # overrun: the oldest are gone
        (range(5, 10), (7, 12), [7, 8, 9], [(10, 12)]),  # not sent yet (or lost before the ring)
        ([1, 2, 5, 6, 9], (0, 10), [1, 2, 5, 6, 9], [(0, 0), (3, 4), (7, 8), (10, 10)]),
        ([], (3, 3), [], [(3, 3)]),
        ([TOP - 2, TOP - 1, 0, 1], (TOP - 2, 1), [TOP - 2, TOP - 1, 0, 1], []),  # wraps at 2^32
        ([TOP - 1, 0, 1], (TOP - 3, 3), [TOP - 1, 0, 1], [(TOP - 3, TOP - 2), (2, 3)]),
        ([0, 1, 2], (TOP - 2, 0), [0], [(TOP - 2, TOP - 1)]),
        ([5], (6, 4), [], [(6, 4)]),  # the whole seq space but the one held: one wrapping run
    ],
)  # fmt: skip
def test_an_answer_replays_what_the_ring_holds_in_range_order_and_names_each_missing_run(
    held: list[int], asked: tuple[int, int], replayed: list[int], missing: list[tuple[int, int]]
) -> None:
    result = answer(ring_of(list(held)), command(*asked))
    assert [k.seq for k in result.held] == replayed
    assert list(result.missing) == missing
    assert sum(span(*run) for run in result.missing) + len(result.held) == span(*asked)


def test_messages_of_another_boot_are_not_replayed_for_this_one() -> None:
    ring = ring_of([0, 1, 2], epoch=1)
    assert answer(ring, command(0, 2, epoch=2)).missing == ((0, 2),)
    assert [k.seq for k in answer(ring, command(0, 2, epoch=1)).held] == [0, 1, 2]


def test_a_full_ring_drops_its_oldest_message_and_counts_it() -> None:
    ring = ring_of(list(range(7)), capacity=5)
    assert len(ring) == 5 and ring.overwritten == 2
    assert [k.seq for k in ring.held(1)] == [2, 3, 4, 5, 6]


def test_the_default_ring_holds_at_least_the_2000_messages_the_contract_asks_for() -> None:
    assert ReplayRing().capacity >= 2000


@pytest.mark.parametrize(
    ("payload", "why"),
    [
        (b"not json", "not_json"),
        (b'{"v":1,"cmd":"reboot","id":"x","epoch":1,"from_seq":0,"to_seq":1}', "cmd"),
        (b'{"v":1,"cmd":"replay","id":"x","epoch":1,"from_seq":-1,"to_seq":1}', "from_seq"),
        (b'{"v":1,"cmd":"replay","id":"x","epoch":1,"from_seq":0,"to_seq":4294967296}', "to_seq"),
        (b'{"v":1,"cmd":"replay","id":"x","epoch":1,"from_seq":0}', "to_seq"),
        (b'{"v":1,"cmd":"replay","id":"x","epoch":"1","from_seq":0,"to_seq":1}', "epoch"),
        (b'{"v":1,"cmd":"replay","id":"x","epoch":1,"from_seq":0,"to_seq":1,"all":true}', "all"),
        (b'{"v":2,"cmd":"replay","id":"x","epoch":1,"from_seq":0,"to_seq":1}', "v"),
        (b"\xff\xfe", "UTF-8"),
        (b"{" + b" " * 2000 + b"}", "bytes"),
    ],
)  # fmt: skip
def test_an_invalid_command_is_refused_saying_why(payload: bytes, why: str) -> None:
    with pytest.raises(InvalidCommand, match=why):
        parse_command(payload)


def test_a_valid_command_parses() -> None:
    raw = b'{"v":1,"cmd":"replay","id":"gap-7","epoch":3,"from_seq":4294967290,"to_seq":5}'
    assert parse_command(raw) == ReplayCommand(
        v=1, cmd="replay", id="gap-7", epoch=3, from_seq=4294967290, to_seq=5
    )


def test_the_replay_unavailable_event_obeys_the_v2_contract_on_every_kinds_event_channel() -> None:
    raw = unavailable_payload(command(TOP - 2, 3, epoch=4), (TOP - 2, 1), ts=DAY, seq=17)
    assert json.loads(raw) == {
        "v": 2, "ts": "2026-06-01T00:00:00.000Z", "seq": 17, "type": "replay_unavailable", "id": "r1",
        "epoch": 4, "from_seq": TOP - 2, "to_seq": 1,
    }  # fmt: skip
    for kind in ("meter", "bin", "repair"):
        parsed = parse_payload(parse_topic(f"circulo/v1/{kind}/d1/event"), raw)
        assert isinstance(parsed, ReplayUnavailable) and parsed.epoch == 4


def test_a_boot_counts_up_on_disk_before_anything_is_sent_and_seq_starts_again(tmp_path: Path) -> None:
    store = BootStore(tmp_path / "state")
    first = boot_devices(store, ["m1", "b1"])
    assert {d: c.epoch for d, c in first.items()} == {"m1": 1, "b1": 1}
    assert json.loads((tmp_path / "state" / "m1.json").read_text()) == {"epoch": 1}
    first["m1"].take(), first["m1"].take()
    again = boot_devices(store, ["m1"])
    assert again["m1"].epoch == 2 and again["m1"].take() == 0


def test_an_unreadable_boot_counter_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "m1.json").write_text('{"epoch": -3}')
    with pytest.raises(ConfigError, match=r"m1\.json"):
        BootStore(tmp_path).boot("m1")
    with pytest.raises(ConfigError, match="seq_start"):
        boot_devices(BootStore(tmp_path), [], seq_start=TOP)


def test_seq_wraps_at_2_to_the_32() -> None:
    counter = DeviceCounter(epoch=1, next_seq=TOP - 2)
    assert [counter.take() for _ in range(4)] == [TOP - 2, TOP - 1, 0, 1]


def native_publishes(counter: DeviceCounter, hours: int = 2) -> list[Publish]:
    spec = small_fleet(meters=0, bins=1, repairs=0).devices[0]
    device = build_device(spec, MEMBERS, 7)
    actions = device_actions(
        device, DAY, DAY + timedelta(hours=hours), seed=7, rates=FaultRates(), counter=counter
    )
    return [a for a in actions if isinstance(a, Publish)]


def test_a_native_devices_messages_carry_its_epoch_and_wrap_their_seq_near_2_to_the_32() -> None:
    sent = native_publishes(DeviceCounter(epoch=9, next_seq=TOP - 3))
    documents = [json.loads(p.payload) for p in sent]
    assert [d["seq"] for d in documents[:5]] == [TOP - 3, TOP - 2, TOP - 1, 0, 1]
    assert {d["epoch"] for d in documents} == {9}
    assert [(p.epoch, p.seq) for p in sent[:2]] == [(9, TOP - 3), (9, TOP - 2)]
    for publish in sent:
        assert parse_payload(parse_topic(publish.topic), publish.payload).epoch == 9  # type: ignore[union-attr]


def test_without_a_boot_epoch_a_devices_messages_are_as_before() -> None:
    sent = native_publishes(DeviceCounter())
    assert all("epoch" not in json.loads(p.payload) for p in sent)
    assert all(p.epoch is None and p.seq is None for p in sent)


def test_a_device_answers_from_its_memory_unavailable_runs_first_each_with_a_fresh_seq() -> None:
    counter = DeviceCounter(epoch=2, next_seq=0)
    sent = native_publishes(counter)
    memory = DeviceMemory(small_fleet(meters=0, bins=1, repairs=0).devices[0], counter, ReplayRing(5))
    for publish in sent:
        memory.keep(publish)
    last = sent[-1].seq or 0
    stats = RunStats()
    raw = json.dumps({"v": 1, "cmd": "replay", "id": "q", "epoch": 2, "from_seq": 0, "to_seq": last})
    out = memory.respond(raw.encode(), DAY, stats)
    [gap, *replayed] = out
    assert json.loads(gap.payload) | {"ts": None} == {
        "v": 2, "ts": None, "seq": last + 1, "type": "replay_unavailable", "id": "q", "epoch": 2,
        "from_seq": 0, "to_seq": last - 5,
    }  # fmt: skip
    assert [(p.topic, p.payload) for p in replayed] == [(p.topic, p.payload) for p in sent[-5:]]
    assert memory.respond(b"nonsense", DAY, stats) == []
    summary = stats.summary()["replay"]
    assert summary["commands"] == 1 and summary["invalid"] == 1
    assert summary["unavailable_events"] == 1 and summary["unavailable_seqs"] == last - 4


def test_boot_counters_live_beside_the_bundles_not_among_them(tmp_path: Path) -> None:
    assert default_state_dir(tmp_path / "bundles") == tmp_path.resolve() / "bundles-state"


def test_the_ring_survives_a_reboot_on_disk_byte_for_byte(tmp_path: Path) -> None:
    store = BootStore(tmp_path)
    kept = [
        Kept(1, TOP - 1, "circulo/v1/bin/b1/event", b"\xffnot utf-8{", "deposit"),
        *ring_of([0]).everything(),
    ]
    store.save_ring("b1", kept)
    assert store.load_ring("b1") == kept
    assert store.load_ring("nobody") == []


def test_a_reboot_fault_moves_the_device_to_a_new_epoch_counted_on_disk_and_starts_seq_again(
    tmp_path: Path,
) -> None:
    store = BootStore(tmp_path)
    counter = boot_devices(store, ["b1"], seq_start=TOP - 1)["b1"]
    spec = small_fleet(meters=0, bins=1, repairs=0).devices[0]
    device = build_device(spec, MEMBERS, 7)
    rates = FaultRates(reboot=0.05)
    actions = list(device_actions(device, DAY, DAY + timedelta(days=1), seed=7, rates=rates, counter=counter))
    reboots = [a for a in actions if isinstance(a, Reboot)]
    assert len(reboots) >= 3 and [r.epoch for r in reboots] == list(range(2, 2 + len(reboots)))
    assert store.epoch("b1") == reboots[-1].epoch == counter.epoch
    boot, previous = 1, None
    for action in actions:
        if isinstance(action, Reboot):
            boot, previous = action.epoch, None
        elif isinstance(action, Publish):
            document = json.loads(action.payload)
            assert document["epoch"] == boot
            assert document["seq"] == (TOP - 1 if previous is None else (previous + 1) % TOP)
            previous = document["seq"]
    last_before = [a for a, b in pairwise(actions) if isinstance(b, Reboot)]
    assert all(isinstance(a, Publish) and a.label.fault == "reboot" for a in last_before)


def test_without_a_boot_epoch_a_reboot_is_not_drawn_into_the_plan() -> None:
    spec = small_fleet(meters=0, bins=1, repairs=0).devices[0]
    device = build_device(spec, MEMBERS, 7)
    actions = list(
        device_actions(device, DAY, DAY + timedelta(days=1), seed=7, rates=FaultRates(reboot=0.05))
    )
    assert not any(isinstance(a, Reboot) for a in actions)
    assert not any(isinstance(a, Publish) and a.label.fault == "reboot" for a in actions)
