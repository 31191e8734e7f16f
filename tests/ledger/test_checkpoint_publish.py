"""Checkpoints are published retained, QoS 1, MQTT v5 on circulo/ledger/v1/checkpoint, and to a file."""

from __future__ import annotations

import json
import queue
import uuid
from collections.abc import Iterator

import paho.mqtt.client as mqtt
import pytest
from tests.conftest import BrokerAccounts
from tests.ledger.conftest import LedgerCli, seed
from tests.ledger.ledger_factories import T0
from tests.support import Publisher, v5_client

from circulo.errors import ServiceUnavailable
from circulo.ledger.checkpoint import checkpoint_from_dict, checkpoint_signature_holds, sign_checkpoint
from circulo.ledger.keys import Signer, load_signer
from circulo.ledger.publish import publish_checkpoint
from circulo.ledger.settings import CHECKPOINT_TOPIC


def retained_checkpoint(mqtt_url: str) -> mqtt.MQTTMessage:
    """Subscribe afresh and return the retained message the broker hands a new subscriber."""
    messages: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
    client, endpoint = v5_client(mqtt_url, f"t-{uuid.uuid4().hex[:8]}")
    client.on_connect = lambda c, *_: c.subscribe(CHECKPOINT_TOPIC, qos=1)
    client.on_message = lambda _c, _u, message: messages.put(message)
    client.connect(endpoint.host, endpoint.port)
    client.loop_start()
    try:
        return messages.get(timeout=10)
    finally:
        client.disconnect()
        client.loop_stop()


@pytest.fixture
def clear_retained(service_mqtt_url: str) -> Iterator[None]:
    """Leave the session broker without a retained checkpoint for the tests that follow."""
    yield
    with Publisher(service_mqtt_url) as publisher:
        publisher.publish_all([(CHECKPOINT_TOPIC, b"")], retain=True)


@pytest.mark.usefixtures("clear_retained")
def test_a_checkpoint_is_published_retained_and_written_to_the_file(
    ledger_cli: LedgerCli, db_url: str, service_mqtt_url: str
) -> None:
    ledger_cli.json("keygen")
    signer = load_signer(ledger_cli.key_path)
    seed(db_url, signer, 3)
    env = {**ledger_cli.env, "CIRCULO_MQTT_URL": service_mqtt_url}
    published = LedgerCli(env, ledger_cli.key_path, ledger_cli.checkpoint_file).json("checkpoint")
    assert published["size"] == 3
    message = retained_checkpoint(service_mqtt_url)
    assert message.retain
    assert message.qos == 1
    assert json.loads(message.payload) == published == json.loads(ledger_cli.checkpoint_file.read_text())
    checkpoint = checkpoint_from_dict(published)
    assert checkpoint_signature_holds(checkpoint, {signer.key_id: signer.public_key_hex})


def test_publishing_to_an_unreachable_broker_is_one_clear_error(ledger_cli: LedgerCli, db_url: str) -> None:
    ledger_cli.json("keygen")
    result = ledger_cli("checkpoint")
    assert result.exit_code == 3
    assert result.stderr.startswith("error: broker 127.0.0.1:1:")
    assert ledger_cli.checkpoint_file.exists()  # recorded and written before the publish failed


def test_a_broker_that_refuses_the_topic_is_an_error(broker_accounts: BrokerAccounts, signer: Signer) -> None:
    signed = sign_checkpoint(0, "00" * 32, T0, signer)
    with pytest.raises(ServiceUnavailable, match="publish to circulo/ledger/v1/checkpoint refused"):
        publish_checkpoint(broker_accounts.url("ingest"), signed, timeout_s=30)
