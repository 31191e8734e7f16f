"""Ingest throughput and latency, as ratios against baselines run in the same invocation.

Run: .venv/bin/python bench/bench_ingest.py [--messages 200000] [--naive 20000] [--steady-s 20]

Measurements (QoS 1, ack after commit, a realistic mix from 1,000 devices):
- drain: N messages queued in the broker for the ingest's persistent session while it is
  stopped; start it; time from its broker connection to the last row committed;
- steady: publishers at half the drain rate; publish-to-commit latency p50/p99;
- the same drain with two ingest processes in one shared-subscription group;
- the one-worker drain over plaintext and over TLS, alternately in the same run (the
  broker's plaintext migration listener against its TLS service listener; PostgreSQL is
  over TLS in both): what TLS costs.
Baselines, same broker and database:
1. broker ceiling: a paho subscriber with the same protocol options that does nothing
   with the messages (acknowledges each at once); and the physical limit next to it, the C
   client ``mosquitto_sub -c -q 1`` (libmosquitto, the same session options) counting the
   backlog until drained;
2. database ceiling: the same rows written with COPY directly, 2,000 per transaction;
3. naive pipeline: paho callback, one INSERT per message, autocommit.

Classification (in process, ``--classify-only`` runs just this): the ingest's
``classify`` on the native mix against the native path as it was before device profiles
(SPEC §10) — the same checks, no profile dispatch — alternated in rounds; and on Shelly
and Tasmota messages, against the native mix. ``--profiled-meters N`` makes N of the 600
meters Shelly (half) and Tasmota (half) in the drain's mix.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import signal
import statistics
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.stack import BenchStack, start_stack
from circulo.ingest.fastclient import FastClient, new_fast_client
from circulo.mqttclient import new_client
from circulo.settings import MqttEndpoint

DEVICES = 1000
RESULTS = Path(__file__).with_name("results")
TABLES = ("meter_reading", "bin_reading", "bin_event", "repair_event")
POLL_S = 0.05
# CPU time per message of each drain (µs, all the consumer's threads), by result name: on a
# machine shared with other work it moves far less than the wall-clock rates do
CPU_US: dict[str, float] = {}


def own_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def process_cpu_s(pid: int) -> float:
    """utime + stime of a running process (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- the message mix --------------------------------------------------------------------------
def device(i: int) -> tuple[str, str]:
    """600 meters, 300 bins, 100 repair stations."""
    if i < 600:
        return f"m{i:04d}", "meter"
    if i < 900:
        return f"b{i:04d}", "bin"
    return f"r{i:04d}", "repair"


def message(i: int, start: datetime, ts: datetime | None = None) -> tuple[str, bytes]:
    """The i-th message of the stream: one per device in turn, distinct keys throughout."""
    device_id, kind = device(i % DEVICES)
    k = i // DEVICES
    at = (ts or start + timedelta(seconds=k)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if kind == "meter":
        body = {
            "v": 1,
            "ts": at,
            "seq": k,
            "energy_wh": 100_000 + 3 * k,
            "power_w": 412.5,
            "voltage_v": 230.1,
        }
        return f"circulo/v1/meter/{device_id}/telemetry", json.dumps(body).encode()
    if kind == "bin" and k % 4:
        body = {"v": 1, "ts": at, "seq": k, "fill_pct": 40.5, "weight_kg": 12.345, "battery_pct": 80}
        return f"circulo/v1/bin/{device_id}/telemetry", json.dumps(body).encode()
    if kind == "bin":
        body = {
            "v": 1,
            "ts": at,
            "seq": k,
            "type": "deposit",
            "event_id": f"{device_id}-{i}",
            "material": "pet",
            "weight_g": 350,
            "account": f"member{k % 50}",
        }
        return f"circulo/v1/bin/{device_id}/event", json.dumps(body).encode()
    body = {
        "v": 1,
        "ts": at,
        "seq": k,
        "type": "repair",
        "event_id": f"{device_id}-{i}",
        "category": "Kettle",
        "status": "fixed",
        "weight_kg": 1.25,
        "owner": f"member{k % 50}",
    }
    return f"circulo/v1/repair/{device_id}/event", json.dumps(body).encode()


def stream(n: int, start: datetime, profiled: int = 0) -> list[tuple[str, bytes]]:
    return [profiled_message(i, start, profiled) or message(i, start) for i in range(n)]


def profile_of(index: int, profiled: int) -> str:
    """The first ``profiled`` meters run Shelly (the first half) or Tasmota firmware."""
    if index >= profiled:
        return "circulo"
    return "shelly-gen2" if index < profiled // 2 else "tasmota"


def profiled_message(i: int, start: datetime, profiled: int) -> tuple[str, bytes] | None:
    """A profiled meter's reading as its firmware publishes it (None: a native message)."""
    index = i % DEVICES
    profile = profile_of(index, profiled) if index < 600 else "circulo"
    if profile == "circulo":
        return None
    device_id, k = device(index)[0], i // DEVICES
    at = start + timedelta(seconds=k)
    if profile == "shelly-gen2":
        body = (
            f'{{"id":0, "source":"init", "output":true, "apower":412.5, "voltage":230.1, "freq":50.0, '
            f'"current":1.793, "aenergy":{{"total":{100_000 + 3 * k}.250,"by_minute":[6875.000,6875.000,'
            f'6875.000],"minute_ts":{int(at.timestamp())}}},"temperature":{{"tC":41.2, "tF":106.2}}}}'
        )
        return f"circulo/v1/meter/{device_id}/status/switch:0", body.encode()
    body = (
        f'{{"Time":"{at.strftime("%Y-%m-%dT%H:%M:%S")}","ENERGY":{{"TotalStartTime":"2026-01-01T00:00:00",'
        f'"Total":{(100_000 + 3 * k) / 1000:.3f},"Yesterday":1.234,"Today":0.567,"Period":3,"Power":412,'
        f'"ApparentPower":416,"ReactivePower":58,"Factor":0.99,"Voltage":230,"Current":1.809}}}}'
    )
    return f"circulo/v1/meter/{device_id}/tele/SENSOR", body.encode()


def register_fleet(db_url: str, profiled: int = 0) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("INSERT INTO coop (coop_id, name) VALUES ('bench', 'Bench') ON CONFLICT DO NOTHING")
        with conn.cursor().copy(
            "COPY device (device_id, kind, coop_id, rated_power_w, status, profile) FROM STDIN"
        ) as cp:
            for i in range(DEVICES):
                device_id, kind = device(i)
                rated = 5000 if kind == "meter" else None
                cp.write_row((device_id, kind, "bench", rated, "active", profile_of(i, profiled)))


# --- MQTT helpers ------------------------------------------------------------------------------
def client(url: str, client_id: str = "", *, manual_ack: bool = False) -> tuple[mqtt.Client, MqttEndpoint]:
    """A paho MQTT v5 client for the URL (TLS verified for mqtts://, as every Circulo client)."""
    endpoint = MqttEndpoint.from_url(url)
    return new_client(endpoint, client_id, manual_ack=manual_ack), endpoint


def publish(url: str, messages: list[tuple[str, bytes]]) -> float:
    """Publish at QoS 1 as fast as the broker acknowledges; returns messages/s."""
    c, ep = client(url)
    c.max_inflight_messages_set(2000)
    c.max_queued_messages_set(0)
    c.connect(ep.host, ep.port)
    c.loop_start()
    started = time.perf_counter()
    # paho's message ids are 16-bit: keep fewer than 65,535 unacknowledged at a time
    for chunk in range(0, len(messages), 50_000):
        infos = [c.publish(topic, body, qos=1) for topic, body in messages[chunk : chunk + 50_000]]
        for info in infos:
            info.wait_for_publish(300)
    elapsed = time.perf_counter() - started
    c.disconnect()
    c.loop_stop()
    return len(messages) / elapsed


def session_properties(receive_maximum: int) -> Properties:
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 3600
    props.ReceiveMaximum = receive_maximum
    return props


def broker_ceiling(
    stack: BenchStack, messages: list[tuple[str, bytes]], receive_maximum: int, *, fast: bool = False
) -> float:
    """A subscriber with the ingest's protocol options that only acknowledges: messages/s.

    ``fast``: with the ingest's own client (circulo.ingest.fastclient: buffered reads, one
    PUBACK write per 500 messages) instead of stock paho."""
    client_id = "bench-fast-ceiling" if fast else "bench-ceiling"
    n = len(messages)
    for phase in ("session", "drain"):
        if fast:
            ep = MqttEndpoint.from_url(stack.mqtt_url("watcher"))
            c = new_fast_client(ep, client_id, manual_ack=True)
        else:
            c, ep = client(stack.mqtt_url("watcher"), client_id, manual_ack=True)
        unacked: list[int] = []
        got = {"n": 0, "first": 0.0, "last": 0.0}
        done, connected = threading.Event(), threading.Event()

        def on_message(
            cl: mqtt.Client,
            _u: Any,
            msg: mqtt.MQTTMessage,
            got: dict[str, float] = got,
            done: threading.Event = done,
            unacked: list[int] = unacked,
        ) -> None:
            if isinstance(cl, FastClient):
                unacked.append(msg.mid)
                if len(unacked) >= 500 or got["n"] + 1 >= n:
                    cl.ack_many(unacked)
                    unacked.clear()
            else:
                cl.ack(msg.mid, msg.qos)
            got["n"] += 1
            got["last"] = time.perf_counter()
            if got["n"] >= n:
                done.set()

        def on_connect(
            cl: mqtt.Client, *_: Any, connected: threading.Event = connected, got: dict[str, float] = got
        ) -> None:
            got["first"], got["cpu"] = time.perf_counter(), own_cpu_s()
            cl.subscribe("circulo/v1/#", qos=1)
            connected.set()

        c.on_message, c.on_connect = on_message, on_connect
        c.connect(ep.host, ep.port, clean_start=False, properties=session_properties(receive_maximum))
        c.loop_start()
        connected.wait(10)
        if phase == "session":
            time.sleep(0.5)
            c.disconnect()
            c.loop_stop()
            publish(stack.mqtt_url("publisher"), messages)
            continue
        done.wait(600)
        CPU_US["fast_client_ceiling" if fast else "broker_ceiling"] = 1e6 * (own_cpu_s() - got["cpu"]) / n
        c.disconnect()
        c.loop_stop()
    return n / (got["last"] - got["first"])


def c_client_ceiling(stack: BenchStack, messages: list[tuple[str, bytes]], receive_maximum: int) -> float:
    """The physical limit: libmosquitto's ``mosquitto_sub -c -q 1`` (C, MQTT v5, the same persistent
    session and Receive Maximum; the library acknowledges each message as it arrives) drains the
    same backlog, counting to N (``-C``). Timed from its start to its exit, connection and TLS
    handshake included: messages/s."""
    ep = MqttEndpoint.from_url(stack.mqtt_url("watcher"))
    args = ["mosquitto_sub", "-h", ep.host, "-p", str(ep.port)]
    args += ["-u", ep.username or "", "-P", ep.password or ""]
    args += ["--cafile", ep.cafile] if ep.tls and ep.cafile else []
    args += ["-V", "mqttv5", "-c", "-x", "3600", "-q", "1", "-i", "bench-c-ceiling", "-t", "circulo/v1/#"]
    args += ["-D", "connect", "receive-maximum", str(receive_maximum), "-N", "-F", ""]
    subprocess.run([*args, "-E"], check=True, timeout=30)  # the session and its subscription
    publish(stack.mqtt_url("publisher"), messages)
    started, cpu = time.perf_counter(), children_cpu_s()
    subprocess.run([*args, "-C", str(len(messages))], check=True, timeout=600, stdout=subprocess.DEVNULL)
    elapsed = time.perf_counter() - started
    CPU_US["c_client_ceiling"] = 1e6 * (children_cpu_s() - cpu) / len(messages)
    return len(messages) / elapsed


# --- database helpers ---------------------------------------------------------------------------
def committed(db_url: str) -> int:
    with psycopg.connect(db_url, autocommit=True) as conn:
        return sum(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES)  # type: ignore[index]


def wait_committed(db_url: str, n: int, timeout: float = 900) -> float:
    """perf_counter time at which n rows were first seen committed (polled every POLL_S)."""
    deadline = time.perf_counter() + timeout
    while (count := committed(db_url)) < n:
        if time.perf_counter() > deadline:
            raise RuntimeError(f"only {count} of {n} rows committed")
        time.sleep(POLL_S)
    return time.perf_counter()


def database_ceiling(stack: BenchStack, messages: list[tuple[str, bytes]]) -> float:
    """The same rows written with COPY directly, 2,000 per transaction: rows/s."""
    from circulo.ingest.classify import Limits, RegisteredDevice, classify  # noqa: PLC0415
    from circulo.ingest.records import Received, Valid  # noqa: PLC0415
    from circulo.ingest.tables import TABLES as SPECS  # noqa: PLC0415
    from circulo.ingest.tables import stored_type  # noqa: PLC0415
    from circulo_schemas.topics import address_of  # noqa: PLC0415

    db_url = stack.fresh_database("bench_copy")
    register_fleet(db_url)
    registry = {device(i)[0]: RegisteredDevice(device(i)[1], False) for i in range(DEVICES)}
    now = datetime.now(UTC)
    rows: list[tuple[str, tuple[Any, ...]]] = []
    for topic, body in messages:
        valid = classify(Received(topic, body, now, 0, 0), address_of(topic), registry, Limits())
        assert isinstance(valid, Valid)
        spec = stored_type(valid)
        assert spec is not None
        rows.append((spec.table, spec.row(valid)))

    started = time.perf_counter()
    with psycopg.connect(db_url) as conn:
        for chunk_start in range(0, len(rows), 2000):
            chunk = rows[chunk_start : chunk_start + 2000]
            with conn.cursor() as cur:
                for table in TABLES:
                    cols = ", ".join(SPECS[table].column_names)
                    with cur.copy(f"COPY {table} ({cols}) FROM STDIN") as cp:
                        for t, row in chunk:
                            if t == table:
                                cp.write_row(row)
            conn.commit()
    return len(rows) / (time.perf_counter() - started)


# --- naive pipeline -----------------------------------------------------------------------------
NAIVE_SQL = {
    "meter": "INSERT INTO meter_reading (device_id, ts, received_at, seq, energy_wh, power_w, voltage_v, "
             "payload_sha256) VALUES (%s, %s, now(), %s, %s, %s, %s, '\\x00') ON CONFLICT DO NOTHING",
    "bin-telemetry": "INSERT INTO bin_reading (device_id, ts, received_at, seq, fill_pct, weight_g, "
                     "battery_pct, payload_sha256) VALUES (%s, %s, now(), %s, %s, %s, %s, '\\x00') "
                     "ON CONFLICT DO NOTHING",
    "bin-event": "INSERT INTO bin_event (device_id, event_id, type, ts, received_at, seq, material, "
                 "weight_g, account, payload_sha256) "
                 "VALUES (%s, %s, 'deposit', %s, now(), %s, %s, %s, %s, '\\x00') ON CONFLICT DO NOTHING",
    "repair": "INSERT INTO repair_event (device_id, event_id, ts, received_at, seq, category, status, "
              "weight_g, owner, payload_sha256) VALUES (%s, %s, %s, now(), %s, %s, %s, %s, %s, '\\x00') "
              "ON CONFLICT DO NOTHING",
}  # fmt: skip


def naive_insert(conn: psycopg.Connection, topic: str, payload: bytes) -> None:
    """What a tutorial would write: json.loads and one INSERT, autocommit."""
    _, _, kind, device_id, channel = topic.split("/")
    m = json.loads(payload)
    if kind == "meter":
        conn.execute(
            NAIVE_SQL["meter"], (device_id, m["ts"], m["seq"], m["energy_wh"], m["power_w"], m["voltage_v"])
        )
    elif kind == "bin" and channel == "telemetry":
        conn.execute(
            NAIVE_SQL["bin-telemetry"],
            (device_id, m["ts"], m["seq"], m["fill_pct"], int(m["weight_kg"] * 1000), m["battery_pct"]),
        )
    elif kind == "bin":
        conn.execute(
            NAIVE_SQL["bin-event"],
            (device_id, m["event_id"], m["ts"], m["seq"], m["material"], m["weight_g"], m["account"]),
        )
    else:
        conn.execute(
            NAIVE_SQL["repair"],
            (
                device_id,
                m["event_id"],
                m["ts"],
                m["seq"],
                m["category"],
                m["status"],
                int(m["weight_kg"] * 1000),
                m["owner"],
            ),
        )


def naive_pipeline(stack: BenchStack, messages: list[tuple[str, bytes]]) -> float:
    db_url = stack.fresh_database("bench_naive")
    register_fleet(db_url)
    conn = psycopg.connect(db_url, autocommit=True)
    n = len(messages)
    got = {"n": 0, "first": 0.0, "last": 0.0}
    done, connected = threading.Event(), threading.Event()
    c, ep = client(stack.mqtt_url("watcher"), "bench-naive")

    def on_message(_c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        naive_insert(conn, msg.topic, msg.payload)
        got["n"] += 1
        got["last"] = time.perf_counter()
        if got["n"] >= n:
            done.set()

    def on_connect(cl: mqtt.Client, *_: Any) -> None:
        got["first"] = time.perf_counter()
        cl.subscribe("circulo/v1/#", qos=1)
        connected.set()

    c.on_message, c.on_connect = on_message, on_connect
    c.connect(ep.host, ep.port, clean_start=False, properties=session_properties(65535))
    c.loop_start()
    connected.wait(10)
    time.sleep(0.5)
    c.disconnect()
    c.loop_stop()
    publish(stack.mqtt_url("publisher"), messages)
    c.connect(ep.host, ep.port, clean_start=False, properties=session_properties(65535))
    c.loop_start()
    done.wait(900)
    c.disconnect()
    c.loop_stop()
    conn.close()
    return n / (got["last"] - got["first"])


# --- the real ingest ----------------------------------------------------------------------------
class Ingest:
    """``circulo ingest`` subprocesses."""

    def __init__(
        self,
        stack: BenchStack,
        db_url: str,
        worker_id: str,
        group: str | None,
        log_dir: Path,
        *,
        listener: str = "services",
        receiver: bool = True,
    ) -> None:
        self.env = {**os.environ, "CIRCULO_INGEST_RECEIVER_PROCESS": "true" if receiver else "false"}
        self.args = [
            sys.executable,
            "-m",
            "circulo",
            "--database-url",
            db_url,
            "--mqtt-url",
            stack.mqtt_url("ingest", listener),
            "ingest",
            "--worker-id",
            worker_id,
            "--metrics-port",
            "0",
        ]
        if group:
            self.args += ["--shared-group", group]
        self.log = log_dir / f"{worker_id}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self._subscribed_before = 0

    def start(self) -> None:
        self._subscribed_before = self.subscriptions()
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(self.args, stdout=log, stderr=subprocess.STDOUT, env=self.env)

    def subscriptions(self) -> int:
        return self.log.read_text().count('"subscribed"') if self.log.exists() else 0

    def wait_subscribed(self, timeout: float = 60) -> None:
        """Until this start's subscription is confirmed (before it, a new session misses messages)."""
        deadline = time.time() + timeout
        while self.subscriptions() <= self._subscribed_before:
            if time.time() > deadline:
                raise RuntimeError(f"ingest did not subscribe; see {self.log}")
            time.sleep(0.05)

    def connections(self) -> int:
        return self.log.read_text().count('"broker_connected"') if self.log.exists() else 0

    def cpu_when_connected(self, before: int, timeout: float = 60) -> float:
        """The process's CPU seconds once this start connected to the broker (polled)."""
        assert self.process is not None
        deadline = time.time() + timeout
        while self.connections() <= before:
            if time.time() > deadline:
                raise RuntimeError(f"ingest did not connect; see {self.log}")
            time.sleep(0.005)
        return self.cpu_s()

    def cpu_s(self) -> float:
        """CPU seconds of the worker and its receiver process."""
        return sum(self.cpu_parts())

    def cpu_parts(self) -> tuple[float, float]:
        """CPU seconds of the worker's own process and of its children (the receiver)."""
        assert self.process is not None
        children = [
            int(pid)
            for listing in Path(f"/proc/{self.process.pid}/task").glob("*/children")
            for pid in listing.read_text().split()
        ]
        return process_cpu_s(self.process.pid), sum(process_cpu_s(pid) for pid in children)

    def stop(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(60)

    def connected_at(self) -> datetime:
        lines = [
            json.loads(line) for line in self.log.read_text().splitlines() if '"broker_connected"' in line
        ]
        return datetime.fromisoformat(lines[-1]["timestamp"])


def wait_heartbeat(db_url: str, worker_ids: list[str]) -> None:
    deadline = time.time() + 30
    while time.time() < deadline:
        with psycopg.connect(db_url, autocommit=True) as conn:
            live = conn.execute(
                "SELECT count(*) FROM ingest_worker WHERE worker_id = ANY(%s) AND stopped_at IS NULL",
                (worker_ids,),
            ).fetchone()
        if live and live[0] == len(worker_ids):
            return
        time.sleep(0.1)
    raise RuntimeError("ingest did not start")


def ingest_drain(
    stack: BenchStack,
    messages: list[tuple[str, bytes]],
    workers: int,
    name: str,
    *,
    listener: str = "services",
    profiled: int = 0,
    receiver: bool = True,
) -> float:
    """Queue the stream for the workers' sessions, start them, time until all rows are committed."""
    db_url = stack.fresh_database(name)
    register_fleet(db_url, profiled)
    group = f"{name}grp" if workers > 1 else None
    procs = [
        Ingest(stack, db_url, f"{name}-w{i}", group, stack.base, listener=listener, receiver=receiver)
        for i in range(workers)
    ]
    for p in procs:
        p.start()
    wait_heartbeat(db_url, [f"{name}-w{i}" for i in range(workers)])
    for p in procs:
        p.wait_subscribed()
    for p in procs:
        p.stop()
    publish(stack.mqtt_url("publisher"), messages)
    before = [p.connections() for p in procs]
    for p in procs:
        p.start()
    for p, b in zip(procs, before, strict=True):
        p.cpu_when_connected(b)
    cpu = [p.cpu_parts() for p in procs]
    done = wait_committed(db_url, len(messages))
    now = [p.cpu_parts() for p in procs]
    spent = [(n[0] - t[0], n[1] - t[1]) for n, t in zip(now, cpu, strict=True)]
    CPU_US[name] = 1e6 * sum(a + b for a, b in spent) / len(messages)
    if receiver:
        CPU_US[f"{name} (worker)"] = 1e6 * sum(a for a, _ in spent) / len(messages)
        CPU_US[f"{name} (receiver)"] = 1e6 * sum(b for _, b in spent) / len(messages)
    done_wall = datetime.now(UTC) - timedelta(seconds=time.perf_counter() - done)
    first_connect = min(p.connected_at() for p in procs)
    for p in procs:
        p.stop()
    return len(messages) / (done_wall - first_connect).total_seconds()


def tls_cost(stack: BenchStack, messages: list[tuple[str, bytes]], rounds: int) -> dict[str, Any]:
    """The one-worker drain over plaintext and over TLS, alternately (``rounds`` each): rates and
    the ratio of the medians (TLS / plaintext)."""
    rates: dict[str, list[float]] = {"plain": [], "tls": []}
    for n in range(rounds):
        for transport, listener in (("plain", "plain"), ("tls", "services")):
            rate = ingest_drain(stack, messages, 1, f"bench_{transport}{n}", listener=listener)
            rates[transport].append(rate)
            print(f"ingest, 1 worker, {transport:5} {rate:10.0f} msg/s", flush=True)
    ratio = statistics.median(rates["tls"]) / statistics.median(rates["plain"])
    return {**rates, "tls_vs_plain": ratio, "cost_pct": 100 * (1 - ratio)}


def publish_at_rate(url: str, rate: float, seconds: float) -> None:
    """Publish the mix at a fixed rate, each message stamped with its publish time as ``ts``."""
    c, ep = client(url)
    c.max_inflight_messages_set(2000)
    c.max_queued_messages_set(0)
    c.connect(ep.host, ep.port)
    c.loop_start()
    started, i = time.time(), 0
    while (elapsed := time.time() - started) < seconds:
        while i < elapsed * rate:
            now = datetime.now(UTC)
            c.publish(*message(i, now, ts=now.replace(microsecond=now.microsecond // 1000 * 1000)), qos=1)
            i += 1
        time.sleep(0.002)
    time.sleep(1)
    c.disconnect()
    c.loop_stop()


def steady_latency(stack: BenchStack, rate: float, seconds: float) -> dict[str, float]:
    """Publish at a fixed rate from another process; latency = when a meter row is first seen
    committed − its publish time (its ``ts``), polled every 10 ms with a light incremental query."""
    db_url = stack.fresh_database("bench_steady")
    register_fleet(db_url)
    proc = Ingest(stack, db_url, "steady-w0", None, stack.base)
    proc.start()
    wait_heartbeat(db_url, ["steady-w0"])
    proc.wait_subscribed()
    publisher = multiprocessing.get_context("fork").Process(
        target=publish_at_rate, args=(stack.mqtt_url("publisher"), rate, seconds)
    )
    first_seen: dict[tuple[str, datetime], float] = {}
    since = datetime.now(UTC)
    publisher.start()
    with psycopg.connect(db_url, autocommit=True) as conn:
        deadline = time.time() + seconds + 10
        while time.time() < deadline:
            found = conn.execute(
                "SELECT device_id, ts, received_at FROM meter_reading WHERE received_at > %s", (since,)
            ).fetchall()
            seen = time.time()
            for device_id, ts, _ in found:
                first_seen.setdefault((device_id, ts), seen)
            if found:
                # one worker commits batches in receipt order; a margin covers the batch in flight
                since = max(r for _, _, r in found) - timedelta(milliseconds=500)
            time.sleep(0.01)
    publisher.join()
    proc.stop()
    with psycopg.connect(db_url, autocommit=True) as conn:
        stored_meter = conn.execute("SELECT count(*) FROM meter_reading").fetchone()[0]  # type: ignore[index]
    latencies = [seen - ts.timestamp() for (_, ts), seen in first_seen.items()]
    return summarise_latency(latencies, rate, stored_meter)


def summarise_latency(latencies: list[float], rate: float, stored_meter: int) -> dict[str, float]:
    ordered = sorted(latencies)
    return {
        "rate": rate,
        "meter_rows": stored_meter,
        "observations": len(ordered),
        "p50_ms": 1000 * statistics.median(ordered),
        "p99_ms": 1000 * ordered[int(len(ordered) * 0.99) - 1],
        "max_ms": 1000 * ordered[-1],
    }


# --- classification, in process ---------------------------------------------------------------
def native_path_before_profiles() -> Any:
    """The baseline: ``classify`` as it was before device profiles (SPEC §10), check for check."""
    import hashlib  # noqa: PLC0415

    from circulo.ingest.classify import registry_rejection, reject, time_rejection  # noqa: PLC0415
    from circulo.ingest.records import Valid  # noqa: PLC0415
    from circulo_schemas.errors import Rejection  # noqa: PLC0415
    from circulo_schemas.topics import topic_of  # noqa: PLC0415
    from circulo_schemas.validate import parse_payload  # noqa: PLC0415

    def classify_before(received: Any, address: Any, registry: Any, limits: Any) -> Any:
        try:
            topic = topic_of(address)
            if len(received.payload) > limits.max_payload_bytes:
                raise Rejection("too_large", f"{len(received.payload)} bytes > {limits.max_payload_bytes}")
            refused = registry_rejection(topic.kind, registry.get(topic.device_id))
            if refused:
                raise Rejection(*refused)
            message = parse_payload(topic, received.payload, max_bytes=limits.max_payload_bytes)
            late_or_early = time_rejection(message.ts, received.received_at, limits)
            if late_or_early:
                raise Rejection(*late_or_early)
        except Rejection as rejection:
            return reject(received, address, rejection.reason, rejection.detail)
        return Valid(received, address, topic, message, hashlib.sha256(received.payload).digest())

    return classify_before


def classify_rates(count: int, rounds: int = 5) -> dict[str, float]:
    """Messages per CPU second through classification, the cases alternating in small chunks."""
    from circulo.ingest.classify import Limits, RegisteredDevice, classify  # noqa: PLC0415
    from circulo.ingest.records import Received, Valid  # noqa: PLC0415
    from circulo_schemas.topics import address_of  # noqa: PLC0415

    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
    now = datetime.now(UTC)
    native = stream(count, start)
    profiled = [m for i in range(count) if (m := profiled_message(i % 600, start, 600)) is not None]
    registry = {device(i)[0]: RegisteredDevice(device(i)[1], False) for i in range(DEVICES)}
    profiled_registry = {
        device(i)[0]: RegisteredDevice(device(i)[1], False, profile_of(i, 600)) for i in range(DEVICES)
    }
    cases = {
        "native, before profiles (baseline)": (native_path_before_profiles(), native, registry),
        "native, classify": (classify, native, registry),
        "shelly and tasmota, classify": (classify, profiled, profiled_registry),
    }
    # CPU time of this process, chunk by chunk, the cases taking turns: on a machine shared
    # with other work, wall time and load spikes would decide more than the code does
    spent: dict[str, float] = dict.fromkeys(cases, 0.0)
    counted: dict[str, int] = dict.fromkeys(cases, 0)
    limits = Limits()
    prepared = {
        name: [(Received(t, b, now, 0, 0), address_of(t)) for t, b in batch]
        for name, (_, batch, _) in cases.items()
    }
    chunk = 500
    for _ in range(rounds):
        for first in range(0, count, chunk):
            for name, (judge, _, devices) in cases.items():
                part = prepared[name][first : first + chunk]
                started = time.process_time()
                verdicts = [judge(r, a, devices, limits) for r, a in part]
                spent[name] += time.process_time() - started
                counted[name] += len(part)
                assert all(isinstance(v, Valid) for v in verdicts), name
    return {name: counted[name] / spent[name] for name in cases}


def report_classify(count: int) -> dict[str, float]:
    rates = classify_rates(count)
    baseline = rates["native, before profiles (baseline)"]
    for name, rate in rates.items():
        print(f"classify {name:<36} {rate:10.0f} msg/s  {rate / baseline:.3f} of the baseline", flush=True)
    return rates


def profiled_drain(stack: BenchStack, count: int, start: datetime, profiled: int) -> dict[str, Any]:
    """One worker's drain with ``profiled`` of the meters on Shelly and Tasmota firmware."""
    mixed = stream(count, start, profiled)
    rate = ingest_drain(stack, mixed, 1, "bench_prof", profiled=profiled)
    print(f"ingest, 1 worker, {profiled} profiled meters {rate:10.0f} msg/s", flush=True)
    return {"ingest_1_profiled": rate, "profiled_meters": profiled}


def drain_baselines(
    stack: BenchStack, messages: list[tuple[str, bytes]], naive: int, results: dict[str, Any]
) -> None:
    """The ceilings, the naive pipeline and the one-worker drain, into ``results``."""
    results["publish_rate"] = None
    results["broker_ceiling"] = broker_ceiling(stack, messages, 5000)
    print(f"broker ceiling      {results['broker_ceiling']:10.0f} msg/s", flush=True)
    results["c_client_ceiling"] = c_client_ceiling(stack, messages, 5000)
    print(f"C client ceiling    {results['c_client_ceiling']:10.0f} msg/s", flush=True)
    results["fast_client_ceiling"] = broker_ceiling(stack, messages, 5000, fast=True)
    print(f"ingest's client ceiling {results['fast_client_ceiling']:6.0f} msg/s", flush=True)
    results["database_ceiling"] = database_ceiling(stack, messages)
    print(f"database ceiling    {results['database_ceiling']:10.0f} rows/s", flush=True)
    results["naive"] = naive_pipeline(stack, messages[:naive])
    print(f"naive pipeline      {results['naive']:10.0f} msg/s", flush=True)
    results["ingest_1"] = ingest_drain(stack, messages, 1, "bench_one", receiver=True)
    print(f"ingest, 1 worker (default, receiver process) {results['ingest_1']:8.0f} msg/s", flush=True)
    results["ingest_1_one_process"] = ingest_drain(stack, messages, 1, "bench_oneproc", receiver=False)
    print(f"ingest, 1 worker, one process {results['ingest_1_one_process']:8.0f} msg/s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--naive", type=int, default=20_000)
    parser.add_argument("--steady-s", type=float, default=20)
    parser.add_argument("--tls-rounds", type=int, default=2, help="plaintext/TLS drain pairs")
    parser.add_argument("--only-tls", action="store_true", help="only the plaintext/TLS comparison")
    parser.add_argument("--only-drain", action="store_true", help="ceilings, naive, 1 worker")
    parser.add_argument("--classify", type=int, default=60_000, help="messages per classification round")
    parser.add_argument("--classify-only", action="store_true", help="only the in-process classification")
    parser.add_argument("--profiled-meters", type=int, default=0, help="of 600 meters, Shelly/Tasmota ones")
    args = parser.parse_args()
    if args.classify_only:
        report_classify(args.classify)
        return
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)
    messages = stream(args.messages, start)
    stack = start_stack()
    print(f"stack in {stack.base}; {args.messages} messages from {DEVICES} devices", flush=True)
    try:
        results: dict[str, Any] = {
            "messages": args.messages,
            "naive_messages": args.naive,
            "cpus": os.cpu_count(),
        }
        if args.only_tls:
            results["tls"] = tls_cost(stack, messages, args.tls_rounds)
            print_tls(results["tls"])
            RESULTS.mkdir(exist_ok=True)
            (RESULTS / "ingest-tls.json").write_text(json.dumps(results, indent=2) + "\n")
            return
        drain_baselines(stack, messages, args.naive, results)
        if args.only_drain:
            print_ratios(results, ["ingest_1", "ingest_1_one_process"])
            RESULTS.mkdir(exist_ok=True)
            (RESULTS / "ingest-drain.json").write_text(json.dumps(results, indent=2) + "\n")
            return
        results["ingest_2"] = ingest_drain(stack, messages, 2, "bench_two")
        print(f"ingest, 2 workers   {results['ingest_2']:10.0f} msg/s", flush=True)
        if args.profiled_meters:
            results |= profiled_drain(stack, args.messages, start, args.profiled_meters)
        results["classify"] = report_classify(args.classify)
        results["steady"] = steady_latency(stack, results["ingest_1"] / 2, args.steady_s)
        s = results["steady"]
        print(
            f"steady at {s['rate']:.0f} msg/s: p50 {s['p50_ms']:.0f} ms, p99 {s['p99_ms']:.0f} ms, "
            f"max {s['max_ms']:.0f} ms ({s['observations']} of {s['meter_rows']} meter rows observed)",
            flush=True,
        )
        results["tls"] = tls_cost(stack, messages, args.tls_rounds)
        print_ratios(results, ["ingest_1", "ingest_1_one_process", "ingest_2"])
        print_tls(results["tls"])
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "ingest.json").write_text(json.dumps(results, indent=2) + "\n")
    finally:
        stack.stop()


def print_ratios(results: dict[str, Any], keys: list[str]) -> None:
    results["cpu_us_per_message"] = dict(CPU_US)
    for name, us in CPU_US.items():
        print(f"CPU per message     {name:<20} {us:8.1f} µs", flush=True)
    for key in keys:
        print(
            f"{key}: {results[key] / results['broker_ceiling']:.2f} of broker ceiling (paho), "
            f"{results[key] / results['fast_client_ceiling']:.2f} of the ingest's client's, "
            f"{results[key] / results['c_client_ceiling']:.2f} of the C client's, "
            f"{results[key] / results['database_ceiling']:.2f} of database ceiling, "
            f"{results[key] / results['naive']:.1f}x naive"
        )


def print_tls(tls: dict[str, Any]) -> None:
    print(
        f"TLS vs plaintext, 1 worker: {tls['tls_vs_plain']:.2f} (TLS costs {tls['cost_pct']:.1f} % of the "
        "drain rate; target: at most 15 %)",
        flush=True,
    )


if __name__ == "__main__":
    main()
