"""A client for Mosquitto's dynamic-security plugin (``$CONTROL/dynamic-security/v1``).

Commands are JSON documents published by an admin client; the plugin answers on the
response topic in the same order. Each call here sends one batch and waits for its
answers, so the caller sees errors per command.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.reasoncodes import ReasonCode

from circulo.errors import CirculoError, ServiceUnavailable
from circulo.mqttclient import connect, new_client
from circulo.settings import MqttEndpoint
from circulo_schemas.profiles import any_device_command_filters
from circulo_schemas.topics import COMMAND_PREFIX

CONTROL_TOPIC = "$CONTROL/dynamic-security/v1"
# The plugin checks a role's ACLs highest priority first and the first match decides, so a
# deny rule above an allow rule carves topics out of it.
DENY_PRIORITY = 10
RESPONSE_TOPIC = CONTROL_TOPIC + "/response"


class DynsecError(CirculoError):
    """The broker refused a dynamic-security command."""

    def __init__(self, command: str, error: str) -> None:
        super().__init__(f"broker refused {command}: {error}")
        self.command = command
        self.error = error


@dataclass(frozen=True)
class Acl:
    """One ACL entry of a role (``acltype`` as the plugin names it)."""

    acltype: str
    topic: str
    allow: bool = True
    priority: int = 0

    def as_json(self) -> dict[str, Any]:
        return {"acltype": self.acltype, "topic": self.topic, "allow": self.allow, "priority": self.priority}


@dataclass(frozen=True)
class ClientInfo:
    """A broker client as the plugin lists it (no password: the plugin never returns one)."""

    username: str
    roles: tuple[str, ...]
    disabled: bool
    textname: str = ""

    @classmethod
    def from_json(cls, client: Mapping[str, Any]) -> ClientInfo:
        return cls(
            username=client["username"],
            roles=tuple(r["rolename"] for r in client.get("roles", [])),
            disabled=bool(client.get("disabled", False)),
            textname=client.get("textname", "") or "",
        )


@dataclass(frozen=True)
class RoleInfo:
    """A broker role and its ACLs."""

    rolename: str
    acls: frozenset[Acl]

    @classmethod
    def from_json(cls, role: Mapping[str, Any]) -> RoleInfo:
        return cls(
            rolename=role["rolename"],
            acls=frozenset(
                Acl(a["acltype"], a["topic"], bool(a.get("allow", True)), int(a.get("priority", 0)))
                for a in role.get("acls", [])
            ),
        )


class DynsecAdmin:
    """An admin connection to the broker's dynamic-security plugin (use as a context manager)."""

    def __init__(self, endpoint: MqttEndpoint, *, timeout: float = 10.0) -> None:
        if not endpoint.username or not endpoint.password:
            raise CirculoError("dynamic security: the admin URL needs a username and password")
        self._endpoint = endpoint
        self._timeout = timeout
        self._lock = threading.Lock()
        self._pending: dict[str, threading.Event] = {}
        self._answers: dict[str, dict[str, Any]] = {}
        self._subscribed = threading.Event()
        self._client = new_client(endpoint, f"circulo-dynsec-{uuid.uuid4().hex[:12]}")
        self._client.on_message = self._on_message
        self._client.on_subscribe = self._on_subscribe

    def __enter__(self) -> DynsecAdmin:
        self.connect()
        return self

    def __exit__(self, *_: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()

    def connect(self) -> None:
        """Connect, subscribe to the response topic, and wait until both are done."""
        connect(self._client, self._endpoint, keepalive=30)
        self._client.loop_start()
        self._client.subscribe(RESPONSE_TOPIC, qos=1)
        if not self._subscribed.wait(self._timeout):
            self.close()
            raise ServiceUnavailable(
                "broker: no answer to the dynamic-security subscription (wrong admin credentials?)"
            )

    def close(self) -> None:
        """Disconnect and stop the network thread."""
        self._client.disconnect()
        self._client.loop_stop()
        # paho closes its wake-up socket pair only when the client is finalised: drop the
        # callbacks (bound methods of self) so no cycle delays that to a garbage collection
        self._client.on_message = None
        self._client.on_subscribe = None

    def _on_subscribe(
        self, client: mqtt.Client, userdata: Any, mid: int, reason_codes: list[ReasonCode], properties: Any
    ) -> None:
        if all(not rc.is_failure for rc in reason_codes):
            self._subscribed.set()

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        try:
            responses = json.loads(message.payload)["responses"]
        except (ValueError, KeyError, TypeError):
            return
        with self._lock:
            for response in responses:
                correlation = response.get("correlationData")
                if correlation in self._pending:
                    self._answers[correlation] = response
                    self._pending.pop(correlation).set()

    def execute(
        self, commands: Sequence[Mapping[str, Any]], *, ignore: Sequence[str] = ()
    ) -> list[dict[str, Any]]:
        """Run commands; raise DynsecError for the first refused one whose error is not in ``ignore``."""
        batch, events = [], []
        with self._lock:
            for command in commands:
                correlation = uuid.uuid4().hex
                event = threading.Event()
                self._pending[correlation] = event
                batch.append({**command, "correlationData": correlation})
                events.append((correlation, event))
        self._client.publish(CONTROL_TOPIC, json.dumps({"commands": batch}), qos=1)
        answers = []
        for (correlation, event), command in zip(events, batch, strict=True):
            if not event.wait(self._timeout):
                raise ServiceUnavailable(f"broker: no answer to dynamic-security {command['command']}")
            answer = self._answers.pop(correlation)
            error = answer.get("error")
            if error and not any(text in error for text in ignore):
                raise DynsecError(command["command"], error)
            answers.append(answer)
        return answers

    # --- convenience commands ------------------------------------------------------------
    def ensure_role(self, rolename: str, acls: Sequence[Acl]) -> None:
        """Create the role, or bring its ACLs to exactly ``acls`` (idempotent; no-op when equal).

        Only the ACLs that differ are removed and added, so a role in use never passes
        through an empty state.
        """
        existing = self.execute([{"command": "getRole", "rolename": rolename}], ignore=("not found",))[0]
        if existing.get("error"):
            self.execute(
                [{"command": "createRole", "rolename": rolename, "acls": [a.as_json() for a in acls]}]
            )
            return
        current = {(a.acltype, a.topic): a for a in RoleInfo.from_json(existing["data"]["role"]).acls}
        wanted = {(a.acltype, a.topic): a for a in acls}
        removals = [
            {"command": "removeRoleACL", "rolename": rolename, "acltype": acltype, "topic": topic}
            for (acltype, topic), acl in current.items()
            if wanted.get((acltype, topic)) != acl
        ]
        additions = [
            {"command": "addRoleACL", "rolename": rolename, **acl.as_json()}
            for key, acl in wanted.items()
            if current.get(key) != acl
        ]
        if removals or additions:
            self.execute([*removals, *additions])

    def ensure_client(
        self, username: str, password: str, roles: Sequence[str], *, textname: str = ""
    ) -> None:
        """Create the client with these roles, or reset its password and roles (idempotent)."""
        existing = self.execute([{"command": "getClient", "username": username}], ignore=("not found",))[0]
        role_list = [{"rolename": r, "priority": 0} for r in roles]
        if existing.get("error"):
            self.execute(
                [
                    {
                        "command": "createClient",
                        "username": username,
                        "password": password,
                        "textname": textname,
                        "roles": role_list,
                    }
                ]
            )
            return
        self.execute(
            [
                {"command": "setClientPassword", "username": username, "password": password},
                {"command": "modifyClient", "username": username, "roles": role_list, "textname": textname},
                {"command": "enableClient", "username": username},
            ]
        )

    def list_clients(self) -> dict[str, ClientInfo]:
        """Every client of the broker, by username."""
        answer = self.execute([{"command": "listClients", "verbose": True, "count": -1}])[0]
        clients = answer.get("data", {}).get("clients", [])
        return {c["username"]: ClientInfo.from_json(c) for c in clients}

    def list_roles(self) -> dict[str, RoleInfo]:
        """Every role of the broker, by name."""
        answer = self.execute([{"command": "listRoles", "verbose": True, "count": -1}])[0]
        return {r["rolename"]: RoleInfo.from_json(r) for r in answer.get("data", {}).get("roles", [])}

    def get_client(self, username: str) -> ClientInfo | None:
        """One client, or None when the broker has none of that name."""
        answer = self.execute([{"command": "getClient", "username": username}], ignore=("not found",))[0]
        if answer.get("error"):
            return None
        return ClientInfo.from_json(answer["data"]["client"])

    def create_client(
        self, username: str, password: str, roles: Sequence[str], *, textname: str = ""
    ) -> None:
        """Create a client (refused by the broker when one of that name exists)."""
        self.execute(
            [
                {
                    "command": "createClient",
                    "username": username,
                    "password": password,
                    "textname": textname,
                    "roles": [{"rolename": r, "priority": 0} for r in roles],
                }
            ]
        )

    def set_client_password(self, username: str, password: str) -> None:
        self.execute([{"command": "setClientPassword", "username": username, "password": password}])

    def set_client_roles(self, username: str, roles: Sequence[str]) -> None:
        self.execute(
            [
                {
                    "command": "modifyClient",
                    "username": username,
                    "roles": [{"rolename": r, "priority": 0} for r in roles],
                }
            ]
        )

    def add_client_role(self, username: str, rolename: str) -> None:
        """Give a client one more role, keeping those it has."""
        command = {"command": "addClientRole", "username": username, "rolename": rolename, "priority": 0}
        self.execute([command])

    def disable_client(self, username: str) -> None:
        """Refuse the client's logins from now on, and disconnect it if it is connected."""
        self.execute([{"command": "disableClient", "username": username}])

    def enable_client(self, username: str) -> None:
        self.execute([{"command": "enableClient", "username": username}])


FIRMWARE_OPERATOR_ROLE = "circulo-firmware-operator"
FIRMWARE_REPLIES = "circulo/firmware-replies"
REPLAY_ROLE = "circulo-replay"

SERVICE_ROLES: Mapping[str, Sequence[Acl]] = {
    # the ingest reads every device topic, alone or in a shared-subscription group
    "circulo-ingest": (
        Acl("subscribePattern", "circulo/v1/#"),
        Acl("subscribePattern", "$share/+/circulo/v1/#"),
        Acl("publishClientReceive", "circulo/v1/#"),
    ),
    # replay requests to devices (SPEC §11): held by the ingest's account beside circulo-ingest,
    # never by the simulator's, an operator's or a device's
    REPLAY_ROLE: (Acl("publishClientSend", f"{COMMAND_PREFIX}/#"),),
    # the simulator's bulk mode publishes for many devices over few connections, never to
    # the command topics of device firmware (SPEC §10)
    "circulo-simulator": (
        Acl("publishClientSend", "circulo/v1/#"),
        *(
            Acl("publishClientSend", topic, allow=False, priority=DENY_PRIORITY)
            for topic in any_device_command_filters()
        ),
    ),
    # the rewards engine alone writes the ledger checkpoint (SPEC §5)
    "circulo-rewards": (
        Acl("publishClientSend", "circulo/ledger/v1/checkpoint"),
        Acl("subscribePattern", "circulo/ledger/v1/#"),
        Acl("publishClientReceive", "circulo/ledger/v1/#"),
    ),
    # circulo monitor reads the broker's own counters (queue depth for the alerts)
    "circulo-monitor": (
        Acl("subscribePattern", "$SYS/broker/#"),
        Acl("publishClientReceive", "$SYS/broker/#"),
    ),
    # operator tools watch device topics (device check, mosquitto_sub in the demo)
    "circulo-operator": (
        Acl("subscribePattern", "circulo/#"),
        Acl("publishClientReceive", "circulo/#"),
    ),
    # commands to device firmware (Shelly RPC and MQTT control, Tasmota console): only an
    # account a co-op creates on purpose with this role may send them (SPEC §10); Shelly
    # answers an RPC on ``{src}/rpc``, so requests name a ``src`` under FIRMWARE_REPLIES
    FIRMWARE_OPERATOR_ROLE: (
        *(Acl("publishClientSend", topic) for topic in any_device_command_filters()),
        Acl("subscribePattern", f"{FIRMWARE_REPLIES}/#"),
        Acl("publishClientReceive", f"{FIRMWARE_REPLIES}/#"),
        Acl("subscribePattern", "circulo/v1/#"),
        Acl("publishClientReceive", "circulo/v1/#"),
    ),
}


# Roles a service account holds beside its own: the ingest publishes replay requests (SPEC §11)
# with its own credentials, through a role of their own so that no other account gets them.
COMPANION_ROLES: Mapping[str, Sequence[str]] = {"circulo-ingest": (REPLAY_ROLE,)}


def service_roles(role: str) -> tuple[str, ...]:
    """Every role an account of the service role ``role`` holds: its own first, then its companions."""
    return (role, *COMPANION_ROLES.get(role, ()))


def ensure_service_account(admin: DynsecAdmin, username: str, password: str, role: str) -> None:
    """Create (or reset) a service client with one of the SERVICE_ROLES (and that role's companions)."""
    roles = service_roles(role)
    for name in roles:
        admin.ensure_role(name, SERVICE_ROLES[name])
    admin.ensure_client(username, password, roles, textname=f"Circulo service ({role})")
