"""Registry fixtures: settings pointing at the test's database and the session broker."""

from __future__ import annotations

import pytest

from circulo.localstack.mosquitto import MosquittoBroker
from circulo.registry import members
from circulo.registry.settings import RegistrySettings
from tests.conftest import BrokerAccounts


@pytest.fixture
def registry_settings(
    db_url: str, broker: MosquittoBroker, broker_accounts: BrokerAccounts
) -> RegistrySettings:
    """The registry on a fresh database and the session broker (device ids must be unique per test)."""
    return broker_accounts.registry_settings(db_url)


@pytest.fixture
def coop_id(registry_settings: RegistrySettings) -> str:
    """A registered co-op."""
    members.add_coop(registry_settings, "coop1", "Co-op One")
    return "coop1"


@pytest.fixture
def own_broker_settings(db_url: str, fresh_broker_accounts: BrokerAccounts) -> RegistrySettings:
    """The registry on a fresh database and a broker of the test's own (sync sees only its clients)."""
    return fresh_broker_accounts.registry_settings(db_url)
