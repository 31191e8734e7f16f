"""Registry fixtures: settings pointing at the test's database and the session broker."""

from __future__ import annotations

import pytest

from circulo.localstack.mosquitto import MosquittoBroker
from circulo.registry import members
from circulo.registry.settings import RegistrySettings


@pytest.fixture
def registry_settings(db_url: str, broker: MosquittoBroker, admin_mqtt_url: str) -> RegistrySettings:
    """The registry on a fresh database and the session broker (device ids must be unique per test)."""
    return RegistrySettings(database_url=db_url, mqtt_url=broker.url(), broker_admin_url=admin_mqtt_url)


@pytest.fixture
def coop_id(registry_settings: RegistrySettings) -> str:
    """A registered co-op."""
    members.add_coop(registry_settings, "coop1", "Co-op One")
    return "coop1"


@pytest.fixture
def own_broker_settings(db_url: str, fresh_broker: MosquittoBroker) -> RegistrySettings:
    """The registry on a fresh database and a broker of the test's own (sync sees only its clients)."""
    admin_url = fresh_broker.url(fresh_broker.admin_username, fresh_broker.admin_password)
    return RegistrySettings(database_url=db_url, mqtt_url=fresh_broker.url(), broker_admin_url=admin_url)
