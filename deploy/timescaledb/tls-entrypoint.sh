#!/bin/sh
# Entrypoint of the TimescaleDB container (deploy/docker-compose.yml): install the server's
# certificate and key from the PKI (`circulo pki server issue postgres --host timescaledb`),
# owned by the postgres user with the key 0600 (PostgreSQL refuses a key others can read),
# then hand over to the image's own entrypoint. Clients connect with sslmode=verify-full
# and the PKI's root (ca.pem); 20-circulo-tls-only.sh refuses TCP without TLS.
set -eu

PKI_DIR="${CIRCULO_PKI_MOUNT:-/circulo/pki}"
TLS_DIR="${POSTGRES_TLS_DIR:-/var/lib/postgresql/tls}"
CERT="$PKI_DIR/servers/postgres/cert.pem"
KEY="$PKI_DIR/servers/postgres/key.pem"

for file in "$CERT" "$KEY"; do
    if [ ! -r "$file" ]; then
        echo "tls-entrypoint: no $file: issue it first (circulo pki server issue postgres --host timescaledb)" >&2
        exit 1
    fi
done
mkdir -p "$TLS_DIR"
install -m 0644 "$CERT" "$TLS_DIR/server.crt"
install -m 0600 "$KEY" "$TLS_DIR/server.key"
if [ "$(id -u)" = "0" ] && id postgres >/dev/null 2>&1; then
    chown -R postgres:postgres "$TLS_DIR"
fi
exec docker-entrypoint.sh "$@"
