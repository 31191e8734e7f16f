"""What a device may do on the broker, and its secret (pure, apart from the random source).

Each device gets its own dynamic-security role, ``circulo-device-{device_id}``, whose ACL
lets it publish under ``circulo/v1/{kind}/{device_id}/#`` (SPEC §1, §6) except the command
topics of device firmware inside that tree (Shelly ``…/rpc`` and ``…/command``, Tasmota
``…/cmnd``; SPEC §10), which deny rules of a higher priority close. It may subscribe to its
own command topic ``circulo/cmd/v1/{kind}/{device_id}`` (replay requests, SPEC §11) and to
nothing else, and publishes nowhere under ``circulo/cmd/`` (only the ingest's replay role
does). Everything else falls to the broker's default ACL access, which denies publishing
and subscribing.
"""

from __future__ import annotations

import base64
import secrets

from circulo.registry.dynsec import DENY_PRIORITY, Acl
from circulo_schemas.profiles import command_topic_filters
from circulo_schemas.topics import COMMAND_PREFIX, command_topic, device_topic_filter

DEVICE_ROLE_PREFIX = "circulo-device-"
DEVICE_TEXTNAME_PREFIX = "Circulo device "
ANY_COMMAND_TOPIC = COMMAND_PREFIX.split("/", 1)[0] + "/cmd/#"  # circulo/cmd/#: every command version
PASSWORD_BYTES = 24  # 192 bits, 32 URL-safe characters: easy to paste, impossible to guess


def new_password() -> str:
    """A fresh device or service password."""
    return secrets.token_urlsafe(PASSWORD_BYTES)


def new_passphrase() -> str:
    """The passphrase of a device's encrypted key: 24 characters of base32 in groups of four,
    easy to read out or type on a phone (120 bits)."""
    raw = base64.b32encode(secrets.token_bytes(15)).decode().lower()
    return "-".join(raw[i : i + 4] for i in range(0, len(raw), 4))


def device_role(device_id: str) -> str:
    """The dynamic-security role of one device."""
    return DEVICE_ROLE_PREFIX + device_id


def device_acls(kind: str, device_id: str) -> tuple[Acl, ...]:
    """The device may publish to its own topics but not its firmware's command topics, and nothing else;
    it may subscribe to its own command topic only, and never publish a command."""
    commands = command_topic(kind, device_id)
    return (
        Acl("publishClientSend", device_topic_filter(kind, device_id)),
        *(
            Acl("publishClientSend", topic, allow=False, priority=DENY_PRIORITY)
            for topic in command_topic_filters(kind, device_id)
        ),
        Acl("publishClientSend", ANY_COMMAND_TOPIC, allow=False, priority=DENY_PRIORITY),
        Acl("subscribeLiteral", commands),
        Acl("publishClientReceive", commands),
    )


def device_textname(kind: str, coop_id: str) -> str:
    """The broker-side description of a device client (shown by mosquitto_ctrl)."""
    return f"{DEVICE_TEXTNAME_PREFIX}({kind}, co-op {coop_id})"


def is_device_role(rolename: str) -> bool:
    return rolename.startswith(DEVICE_ROLE_PREFIX)
