"""Provisioning through the registry's real paths: co-op and members, service accounts, devices, key.

Co-op and members go through :mod:`circulo.registry.members` (what ``circulo coop add`` and
``circulo member add`` call); service accounts through the registry's dynamic-security
client; devices through ``circulo device import --bundle-dir`` (a subprocess), which gives
every device its own broker client and writes its provisioning bundle, the files the
simulator connects with; the ledger key through ``circulo ledger keygen``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from circulo.demo.fleet import SurveyDevice, survey_csv
from circulo.demo.options import DemoOptions, member_accounts
from circulo.demo.paths import DemoPaths
from circulo.demo.processes import DemoStepFailed, run_circulo
from circulo.demo.secrets import SERVICE_ACCOUNTS, DemoSecrets
from circulo.ledger.settings import KEY_FILE_NAME
from circulo.registry import members
from circulo.registry.dynsec import DynsecAdmin, ensure_service_account
from circulo.registry.settings import RegistrySettings
from circulo.settings import MqttEndpoint


def provision_coop(database_url: str, options: DemoOptions) -> list[tuple[str, int]]:
    """Register the co-op and its members with their shares; the accounts and shares."""
    settings = RegistrySettings(database_url=database_url)
    members.add_coop(settings, options.coop_id, options.coop_name)
    accounts = member_accounts(options.coop_id, options.fleet.members)
    for account, shares in accounts:
        members.add_member(settings, options.coop_id, account, shares)
    return accounts


def provision_service_accounts(broker_admin_url: str, secrets: DemoSecrets) -> None:
    """Create (or reset to the stored password) every service account with its role."""
    with DynsecAdmin(MqttEndpoint.from_url(broker_admin_url)) as admin:
        for name, (username, role) in SERVICE_ACCOUNTS.items():
            ensure_service_account(admin, username, secrets.password(name), role)


def import_fleet(paths: DemoPaths, config_file: Path, devices: Sequence[SurveyDevice]) -> list[str]:
    """Write the survey and import it with ``--bundle-dir``; the device ids registered."""
    for stale in paths.bundle_dir.glob("*"):
        stale.unlink()
    paths.survey_file.write_text(survey_csv(list(devices)), encoding="utf-8")
    args = ["device", "import", str(paths.survey_file), "--bundle-dir", str(paths.bundle_dir), "--json"]
    output = run_circulo(config_file, args, what="circulo device import")
    try:
        added = [str(d) for d in json.loads(output)["issued"]]
    except (ValueError, KeyError, TypeError) as e:
        raise DemoStepFailed(f"circulo device import: unexpected output ({e})") from e
    missing = sorted({d.device_id for d in devices} - set(added))
    if missing:
        raise DemoStepFailed(f"circulo device import issued no credentials for {', '.join(missing[:5])}")
    return added


def ensure_signing_key(paths: DemoPaths, config_file: Path) -> Path:
    """The ledger signing key in the demo's ledger folder (``circulo ledger keygen`` once)."""
    key = paths.ledger_dir / KEY_FILE_NAME
    if not key.is_file():
        run_circulo(config_file, ["ledger", "keygen", "--json"], what="circulo ledger keygen")
    return key
