"""Co-ops and their members' shares (SPEC §4 splits a co-op's credits pro rata to them)."""

from __future__ import annotations

from circulo.errors import Conflict, NotFound
from circulo.registry import store
from circulo.registry.errors import InvalidInput
from circulo.registry.model import Coop, Member, OpenData
from circulo.registry.settings import RegistrySettings
from circulo.registry.validation import coop_problems, member_problems, open_data_problems


def add_coop(settings: RegistrySettings, coop_id: str, name: str) -> tuple[Coop, bool]:
    """Register a co-op; adding the same one again is a no-op (False), another name a Conflict."""
    problems = coop_problems(coop_id, name)
    if problems:
        raise InvalidInput(f"co-op {coop_id}", problems)
    with store.database(settings.database_url) as conn:
        created = store.insert_coop(conn, coop_id, name)
        if created:
            return created, True
        existing = store.require_coop(conn, coop_id)
    if existing.name != name:
        raise Conflict(f"co-op {coop_id} is registered with the name {existing.name!r}")
    return existing, False


def list_coops(settings: RegistrySettings) -> list[Coop]:
    with store.database(settings.database_url) as conn:
        return store.list_coops(conn)


def add_member(settings: RegistrySettings, coop_id: str, account: str, shares: int) -> tuple[Member, bool]:
    """Add a member with integer shares; the same again is a no-op, other shares a Conflict."""
    problems = member_problems(account, shares)
    if problems:
        raise InvalidInput(f"member {account}", problems)
    with store.database(settings.database_url) as conn, conn.transaction():
        store.require_coop(conn, coop_id)
        created = store.insert_member(conn, coop_id, account, shares)
        if created:
            return created, True
        existing = store.get_member(conn, coop_id, account)
    if existing is None or existing.shares != shares:
        held = existing.shares if existing else "?"
        raise Conflict(
            f"{account} is a member of {coop_id} with {held} shares; "
            f"change them with `circulo member set-shares {coop_id} {account} {shares}`"
        )
    return existing, False


def set_shares(settings: RegistrySettings, coop_id: str, account: str, shares: int) -> Member:
    """Change a member's shares (settlements after this use the new number)."""
    problems = member_problems(account, shares)
    if problems:
        raise InvalidInput(f"member {account}", problems)
    with store.database(settings.database_url) as conn:
        member = store.set_shares(conn, coop_id, account, shares)
    if member is None:
        raise NotFound(f"{account} is not a member of {coop_id} (add it with `circulo member add`)")
    return member


def list_members(settings: RegistrySettings, coop_id: str | None = None) -> list[Member]:
    with store.database(settings.database_url) as conn:
        if coop_id is not None:
            store.require_coop(conn, coop_id)
        return store.list_members(conn, coop_id)


def open_data(settings: RegistrySettings, coop_id: str) -> OpenData | None:
    """The co-op's open-data settings (None: never set; the export then refuses the co-op)."""
    with store.database(settings.database_url) as conn:
        store.require_coop(conn, coop_id)
        return store.get_open_data(conn, coop_id)


def set_open_data(
    settings: RegistrySettings,
    coop_id: str,
    *,
    data_provider: str | None,
    country: str | None,
    publish_problems: bool | None,
) -> OpenData:
    """Set what the co-op publishes as open repair data; unset options keep their value.

    The data provider defaults to the co-op's name; the country has no default.
    """
    with store.database(settings.database_url) as conn, conn.transaction():
        coop = store.require_coop(conn, coop_id)
        current = store.get_open_data(conn, coop_id)
        wanted = OpenData(
            coop_id=coop_id,
            data_provider=data_provider or (current.data_provider if current else coop.name),
            country=(country or (current.country if current else "")).upper(),
            publish_problems=publish_problems
            if publish_problems is not None
            else bool(current and current.publish_problems),
        )
        problems = open_data_problems(wanted.data_provider, wanted.country)
        if problems:
            raise InvalidInput(f"co-op {coop_id} open data", problems)
        return store.save_open_data(conn, wanted)
