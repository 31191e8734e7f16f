"""Governance tests use the rewards fixtures (a signing key, engine settings, test data)."""

from tests.rewards.conftest import data, key_path, settings

__all__ = ["data", "key_path", "settings"]
