"""The rewards policy file: SPEC §4 defaults, validation naming the bad key, exact decimals."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest

from circulo.rewards.policy import PolicyError, default_policy, default_policy_text, load_policy, parse_policy

REPO = Path(__file__).resolve().parents[2]
DEPLOY_POLICY = REPO / "deploy" / "policy" / "rewards-policy-v2.toml"
POLICY_V1 = REPO / "deploy" / "policy" / "rewards-policy-v1.toml"


def test_the_default_policy_holds_the_spec_defaults() -> None:
    policy = default_policy()
    assert policy.version == "rewards-v2"
    assert (policy.green.grn_per_kwh, policy.green.treasury_bp) == (1, 1000)
    assert (policy.green.glitch_window_s, policy.green.glitch_window_us) == (900, 900_000_000)
    assert (policy.green.plausibility_pct, policy.green.idle_timeout_s) == (110, 900)
    assert policy.recycling.daily_cap_micro == 100_000_000
    assert (policy.recycling.tolerance_pct, policy.recycling.collection_grace_s) == (15, 10)
    assert policy.recycling.rates_rcy_per_kg == {
        "aluminium": 20, "pet": 10, "hdpe": 8, "pp": 6, "steel": 6, "glass": 2, "paper": 2,
        "cardboard": 2, "textile": 4, "ewaste": 15, "organic": 0, "mixed": 0,
    }  # fmt: skip
    assert (policy.repair.rcy_per_kg, policy.repair.owner_pct, policy.repair.max_weight_factor) == (5, 50, 3)
    assert policy.repair.max_weight_g_without_reference == 50_000


def test_the_deploy_policy_file_is_the_packaged_default() -> None:
    assert DEPLOY_POLICY.read_text(encoding="utf-8") == default_policy_text()
    assert load_policy(DEPLOY_POLICY) == default_policy()
    assert load_policy(None) == default_policy()


def test_a_v1_policy_still_loads_with_the_glitch_rule_off() -> None:
    policy = load_policy(POLICY_V1)
    assert (policy.version, policy.green.glitch_window_s) == ("rewards-v1", 0)
    assert policy.green.model_dump(exclude={"glitch_window_s"}) == default_policy().green.model_dump(
        exclude={"glitch_window_s"}
    )


def test_decimal_rates_are_read_exactly_not_as_binary_floats() -> None:
    policy = parse_policy(default_policy_text().replace("pet = 10", "pet = 0.1"), origin="test")
    assert policy.recycling.rates_rcy_per_kg["pet"] == Decimal("0.1")


@pytest.mark.parametrize(
    ("old", "new", "named"),
    [
        ("treasury_bp = 1000", "treasury_bp = 10001", "green.treasury_bp"),
        ("treasury_bp = 1000", "treasury_bp = 10.5", "green.treasury_bp"),
        ("plausibility_pct = 110", "plausibility_pct = 0", "green.plausibility_pct"),
        ("idle_timeout_s = 900", "idle_timeout = 900", "'green.idle_timeout': unknown key"),
        ("idle_timeout_s = 900", "", "'green.idle_timeout_s': Field required"),
        ("grn_per_kwh = 1", "grn_per_kwh = -1", "green.grn_per_kwh"),
        ("grn_per_kwh = 1", 'grn_per_kwh = "1"', "green.grn_per_kwh"),
        ("pet = 10", "pet = true", "recycling.rates_rcy_per_kg.pet"),
        ("pet = 10", "pett = 10", "unknown material 'pett'"),
        ("mixed = 0", "", "no rate for material 'mixed'"),
        ("owner_pct = 50", "owner_pct = 101", "repair.owner_pct"),
        ('version = "rewards-v2"', 'version = ""', "version"),
        ("glitch_window_s = 900", "glitch_window_s = -1", "green.glitch_window_s"),
        ("glitch_window_s = 900", "glitch_window_s = 9.5", "green.glitch_window_s"),
        ("[repair]", "[repairs]", "'repairs': unknown key"),
    ],
)
def test_a_bad_policy_is_refused_with_an_error_naming_the_key(old: str, new: str, named: str) -> None:
    text = default_policy_text()
    assert old in text
    with pytest.raises(PolicyError, match=re.escape(named)):
        parse_policy(text.replace(old, new, 1), origin="bad.toml")


def test_a_missing_or_malformed_policy_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match=r"nowhere\.toml"):
        load_policy(tmp_path / "nowhere.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("version = ", encoding="utf-8")
    with pytest.raises(PolicyError, match="not valid TOML"):
        load_policy(broken)
