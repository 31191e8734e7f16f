"""A device's boot epoch and seq register (SPEC §11), and where the epoch survives a reboot.

Each run of the simulator is a boot of every ``circulo`` device it plays: the epoch kept in
``{state_dir}/{device_id}.json`` goes up by one and is written back *before* the device
publishes anything (as firmware must: a crash right after boot cannot reuse an epoch), and
``seq`` starts again (from 0, or ``seq_start`` for tests near the wrap). The register is
shared by the plan (which numbers the device's data messages) and the replay responder
(whose ``replay_unavailable`` events take fresh seqs), hence the lock.

The replay ring is flash too: at the end of a run it is written to
``{state_dir}/{device_id}.ring.jsonl`` and read back at the next boot, so a command queued at
the broker while the device was away is answered for the epoch before as well.
"""

from __future__ import annotations

import base64
import functools
import json
import os
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from circulo_sim.errors import ConfigError
from circulo_sim.replay import Kept
from circulo_sim.wire import SEQ_MODULUS

STATE_FILE_SUFFIX = ".json"
RING_FILE_SUFFIX = ".ring.jsonl"


@dataclass
class DeviceCounter:
    """The seq register of one boot of a device (``epoch`` None: firmware without a replay buffer)."""

    epoch: int | None = None
    next_seq: int = 0
    boot_seq: int = 0  # where seq starts again after a reboot
    # counts a reboot where it survives (BootStore.boot) and returns the new epoch
    on_boot: Callable[[], int] | None = field(default=None, repr=False, compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def take(self) -> int:
        """The next seq (wrapping at 2^32)."""
        with self._lock:
            seq, self.next_seq = self.next_seq, (self.next_seq + 1) % SEQ_MODULUS
            return seq

    def reboot(self) -> int:
        """A reboot mid-run: the next epoch (counted on disk first) and seq from ``boot_seq``."""
        if self.epoch is None:
            raise ValueError("a device without a boot epoch does not reboot into a new one")
        epoch = self.on_boot() if self.on_boot else (self.epoch + 1) % SEQ_MODULUS
        with self._lock:
            self.epoch, self.next_seq = epoch, self.boot_seq
        return epoch


@dataclass(frozen=True)
class BootStore:
    """The devices' boot epochs on disk, one small JSON file each (the firmware's boot counter)."""

    state_dir: Path

    def path(self, device_id: str) -> Path:
        return self.state_dir / f"{device_id}{STATE_FILE_SUFFIX}"

    def epoch(self, device_id: str) -> int:
        """The epoch of the device's last boot (0 before its first)."""
        path = self.path(device_id)
        if not path.exists():
            return 0
        try:
            epoch = json.loads(path.read_text(encoding="utf-8"))["epoch"]
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise ConfigError(f"device state {path}: unreadable ({e})") from e
        if type(epoch) is not int or not 0 <= epoch < SEQ_MODULUS:
            raise ConfigError(f"device state {path}: epoch {epoch!r} is not an integer 0..2^32-1")
        return epoch

    def boot(self, device_id: str) -> int:
        """Count one more boot and return its epoch, written to disk first (atomically)."""
        epoch = (self.epoch(device_id) + 1) % SEQ_MODULUS
        try:
            self.state_dir.mkdir(parents=True, exist_ok=True)
            temporary = self.path(device_id).with_suffix(".tmp")
            temporary.write_text(json.dumps({"epoch": epoch}) + "\n", encoding="utf-8")
            os.replace(temporary, self.path(device_id))
        except OSError as e:
            raise ConfigError(f"device state {self.state_dir}: cannot write ({e})") from e
        return epoch

    def save_ring(self, device_id: str, kept: Iterable[Kept]) -> None:
        """Write the device's replay ring (oldest first), atomically."""
        path = self.state_dir / f"{device_id}{RING_FILE_SUFFIX}"
        lines = (
            json.dumps(
                {
                    "epoch": k.epoch,
                    "seq": k.seq,
                    "topic": k.topic,
                    "type": k.message_type,
                    "payload": base64.b64encode(k.payload).decode("ascii"),
                }
            )
            for k in kept
        )
        try:
            self.state_dir.mkdir(parents=True, exist_ok=True)
            temporary = path.with_suffix(".tmp")
            temporary.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
            os.replace(temporary, path)
        except OSError as e:
            raise ConfigError(f"device state {self.state_dir}: cannot write ({e})") from e

    def load_ring(self, device_id: str) -> list[Kept]:
        """The replay ring saved at the end of the device's last run (empty when there is none)."""
        path = self.state_dir / f"{device_id}{RING_FILE_SUFFIX}"
        if not path.exists():
            return []
        try:
            rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
            return [
                Kept(
                    int(r["epoch"]),
                    int(r["seq"]),
                    str(r["topic"]),
                    base64.b64decode(r["payload"]),
                    str(r["type"]),
                )
                for r in rows
            ]
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise ConfigError(f"device state {path}: unreadable ({e})") from e


def boot_devices(
    store: BootStore, device_ids: Iterable[str], *, seq_start: int = 0
) -> dict[str, DeviceCounter]:
    """Boot each device: a new epoch on disk, seq from ``seq_start``."""
    if not 0 <= seq_start < SEQ_MODULUS:
        raise ConfigError(f"seq_start {seq_start}: must be 0..2^32-1")
    return {
        d: DeviceCounter(store.boot(d), seq_start, seq_start, on_boot=functools.partial(store.boot, d))
        for d in device_ids
    }
