"""The local stack's throwaway PKI: its own CA, and certificates for the broker and PostgreSQL.

Created on first use in the stack's folder (a test session's, a demo's, a benchmark's) with
the production code (:mod:`circulo.pki.authority`) and defaults, for ``127.0.0.1`` and
``localhost``, so the demo and every test run over the same TLS as production.
"""

from __future__ import annotations

from pathlib import Path

from circulo.localstack.mosquitto import MOSQUITTO_USER, BrokerTls
from circulo.localstack.postgres import ServerTls
from circulo.localstack.procs import is_root, open_path_for
from circulo.pki import authority, files
from circulo.pki.authority import InitRequest, ServerNames
from circulo.pki.settings import PkiSettings

LOCAL_NAMES = ServerNames(hosts=("localhost",), ips=("127.0.0.1",))
POSTGRES_SERVER = "postgres"
ORGANISATION = "Circulo local stack"


def local_pki(directory: Path, *, mutual_tls: bool = False, names: ServerNames = LOCAL_NAMES) -> PkiSettings:
    """The PKI in ``directory`` (created when absent), with mutual TLS on or off as asked;
    ``names``: what the broker's and PostgreSQL's certificates are for."""
    settings = PkiSettings(pki_dir=str(directory), broker_group=MOSQUITTO_USER if is_root() else None)
    layout = settings.layout()
    if not layout.config_file.exists():
        authority.init(settings, InitRequest(ORGANISATION, names, mutual_tls=mutual_tls))
        authority.issue_server(settings, POSTGRES_SERVER, names)
    elif files.load_config(layout).mutual_tls != mutual_tls:
        authority.set_mutual_tls(settings, mutual_tls)
    open_path_for(directory)
    return settings


def broker_tls(settings: PkiSettings) -> BrokerTls:
    """The broker's files and the clients' CA file of a local PKI."""
    layout = settings.layout()
    return BrokerTls(layout.broker_dir, layout.broker_anchor, files.load_config(layout).mutual_tls)


def postgres_tls(settings: PkiSettings) -> ServerTls:
    """PostgreSQL's certificate of a local PKI."""
    layout = settings.layout()
    return ServerTls(
        layout.server_cert(POSTGRES_SERVER), layout.server_key(POSTGRES_SERVER), layout.trust_anchor
    )
