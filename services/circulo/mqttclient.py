"""How every Circulo service connects to the broker: its credentials, TLS verified, errors in one line.

``mqtts://`` URLs get a context from :func:`circulo_schemas.broker.tls_context` (TLS 1.2+,
the broker's certificate checked against ``?cafile=`` and its host name). A client that
cannot verify the broker never falls back to plaintext: :func:`connect` and
:func:`check_broker` raise a :class:`~circulo.errors.ServiceUnavailable` that says why.
"""

from __future__ import annotations

import ssl
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from circulo.errors import ConfigError, ServiceUnavailable
from circulo.settings import MqttEndpoint
from circulo_schemas.broker import BrokerTlsError, check_tls, tls_context, tls_failure


def ssl_context(endpoint: MqttEndpoint) -> ssl.SSLContext:
    """The TLS context of an ``mqtts://`` endpoint; ConfigError when its CA file does not load."""
    try:
        return tls_context(cafile=endpoint.cafile)
    except BrokerTlsError as e:
        raise ConfigError(f"mqtt_url: {e}") from e


def new_client(endpoint: MqttEndpoint, client_id: str = "", **options: Any) -> mqtt.Client:
    """A paho MQTT v5 client with the endpoint's credentials and, for ``mqtts://``, verified TLS."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5, **options)
    if endpoint.username:
        client.username_pw_set(endpoint.username, endpoint.password)
    if endpoint.tls:
        client.tls_set_context(ssl_context(endpoint))
    return client


def unreachable(endpoint: MqttEndpoint, error: BaseException) -> ServiceUnavailable:
    """The one-line error for a connection that failed (TLS refusals said as such)."""
    why = tls_failure(error, endpoint.host, endpoint.cafile)
    if why is not None:
        return ServiceUnavailable(f"{endpoint.where()}: TLS: {why}")
    return ServiceUnavailable(f"{endpoint.where()}: {getattr(error, 'strerror', None) or error}")


def connect(client: mqtt.Client, endpoint: MqttEndpoint, **options: Any) -> None:
    """``client.connect`` to the endpoint; ServiceUnavailable naming why it failed."""
    try:
        client.connect(endpoint.host, endpoint.port, **options)
    except (OSError, ValueError) as e:
        raise unreachable(endpoint, e) from e


def check_broker(endpoint: MqttEndpoint, *, timeout: float = 5.0) -> bool:
    """For daemons that retry: a TLS refusal is an error now; an unreachable broker is False."""
    if not endpoint.tls:
        return True
    try:
        check_tls(endpoint.broker_url(), ssl_context(endpoint), timeout=timeout)
    except ssl.SSLError as e:
        raise unreachable(endpoint, e) from e
    except OSError:
        return False
    return True
