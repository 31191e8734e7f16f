"""Property: arbitrary bytes and JSON on valid and invalid topics never crash the ingest,
and every message ends in exactly one outcome (counted in its metrics)."""

from __future__ import annotations

import json
import re
import time
import urllib.request
from collections.abc import Callable
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from tests.support import IngestProcess, Publisher, register, wait_for

from circulo.localstack.procs import free_port

OUTCOME_LINE = re.compile(
    r'^circulo_ingest_messages_total\{outcome="(\w+)",reason="([^"]*)"\} ([0-9.e+]+)$', re.M
)

# MQTT forbids NUL and surrogates in topics and Mosquitto refuses control characters (it
# disconnects the publisher), so topics stay valid UTF-8 text; wildcards cannot be published.
segment = st.text(
    st.characters(blacklist_characters="/+#", blacklist_categories=("Cs", "Cc", "Cn")), max_size=12
)
topics = st.one_of(
    st.builds(
        "circulo/v1/{}/{}/{}".format,
        st.sampled_from(["meter", "bin", "repair", "x"]),
        st.sampled_from(["m1", "b1", "r1", "ghost", "bad id"]),
        st.sampled_from(["telemetry", "event", "status", "other"]),
    ),
    st.builds(lambda parts: "circulo/v1/" + "/".join(parts), st.lists(segment, min_size=1, max_size=5)),
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=12,
)
plausible = st.fixed_dictionaries(
    {
        "v": st.sampled_from([1, 2, "1"]),
        "ts": st.sampled_from(["2026-11-20T10:00:00Z", 0, "nope"]),
        "seq": st.integers(-1, 2**33),
    },
    optional={
        "energy_wh": st.integers(-5, 10**12),
        "power_w": st.floats(allow_nan=False),
        "state": st.sampled_from(["online", "offline", "maybe"]),
        "type": st.sampled_from(["deposit", "x"]),
        "event_id": st.text(max_size=70),
        "weight_kg": st.floats(allow_nan=False, allow_infinity=False),
    },
)
payloads = st.one_of(
    st.binary(max_size=300),
    json_values.map(lambda v: json.dumps(v).encode()),
    plausible.map(lambda v: json.dumps(v).encode()),
)


def outcome_total(port: int) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return sum(float(m.group(3)) for m in OUTCOME_LINE.finditer(text))


def settle_outcomes(port: int, quiet_s: float = 1.0) -> None:
    """Until the outcome count stops moving: a new session is first sent the broker's
    retained messages (other tests' statuses), each of which has an outcome too."""
    last = (-1.0, 0.0)

    def quiet() -> bool:
        nonlocal last
        now, total = time.monotonic(), outcome_total(port)
        if total != last[0]:
            last = (total, now)
        return now - last[1] >= quiet_s

    wait_for(quiet, timeout=60, interval=0.1, what="the retained messages' outcomes")


def test_any_message_ends_in_exactly_one_outcome_and_never_crashes_the_ingest(
    db_url: str, ingest_url: str, service_mqtt_url: str, ingest_factory: Callable[..., Any]
) -> None:
    register(db_url, [("m1", "meter"), ("b1", "bin"), ("r1", "repair")])
    port = free_port()
    worker: IngestProcess = ingest_factory(db_url, ingest_url, args=["--metrics-port", str(port)])
    settle_outcomes(port)

    with Publisher(service_mqtt_url) as pub:

        @settings(max_examples=150, database=None)
        @given(topic=topics, body=payloads)
        def one_message(topic: str, body: bytes) -> None:
            before = outcome_total(port)
            pub.publish_all([(topic, body)])
            wait_for(
                lambda: outcome_total(port) >= before + 1,
                timeout=10,
                interval=0.01,
                what=f"an outcome for {topic!r}",
            )
            assert outcome_total(port) == before + 1
            assert worker.process is not None and worker.process.poll() is None

        one_message()


profile_topics = st.builds(
    "circulo/v1/meter/{}/{}".format,
    st.sampled_from(["sh1", "ta1"]),
    st.sampled_from(
        [
            "status/switch:0", "status/em1data:0", "status/sys", "status/x", "events/rpc", "online",
            "tele/SENSOR", "tele/STATE", "tele/LWT", "tele/INFO1", "stat/RESULT", "telemetry", "a/b/c",
        ]
    ),
)  # fmt: skip
firmware_payloads = st.one_of(
    st.binary(max_size=200),
    st.sampled_from(
        [
            b'{"Time":"2026-11-20T10:00:00","ENERGY":{"Total":1.234,"Power":[1,2]}}',
            b'{"method":"NotifyStatus","params":{"ts":1795000000.5,"switch:0":{"aenergy":{"total":5}}}}',
            b'{"aenergy":{"total":1.5,"minute_ts":1795000000},"apower":-2}',
            b"true", b"false", b"Online", b"Offline",
        ]
    ),
)  # fmt: skip


def test_any_message_on_a_profiled_meters_topics_ends_in_exactly_one_outcome(
    db_url: str, ingest_url: str, service_mqtt_url: str, ingest_factory: Callable[..., Any]
) -> None:
    register(db_url, [("sh1", "meter"), ("ta1", "meter")], profiles={"sh1": "shelly-gen2", "ta1": "tasmota"})
    port = free_port()
    worker: IngestProcess = ingest_factory(db_url, ingest_url, args=["--metrics-port", str(port)])
    settle_outcomes(port)

    with Publisher(service_mqtt_url) as pub:

        @settings(max_examples=100, database=None)
        @given(topic=profile_topics, body=firmware_payloads)
        def one_message(topic: str, body: bytes) -> None:
            before = outcome_total(port)
            pub.publish_all([(topic, body)])
            wait_for(lambda: outcome_total(port) >= before + 1, timeout=10, interval=0.01, what=topic)
            assert outcome_total(port) == before + 1
            assert worker.process is not None and worker.process.poll() is None

        one_message()
