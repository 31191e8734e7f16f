#!/bin/sh
# Entrypoint of the Mosquitto container (eclipse-mosquitto:2.0.x, deploy/docker-compose.yml).
#
# 1. Initialises dynamic security once: `mosquitto_ctrl dynsec init` writes the plugin's
#    JSON file (plugin_opt_config_file in mosquitto.conf) with the admin client named by
#    MOSQUITTO_ADMIN_USER and the secret MOSQUITTO_ADMIN_PASSWORD. When the file exists (a
#    restart, or an admin password rotated with mosquitto_ctrl) it is left alone.
# 2. Installs the TLS files (SPEC §9) from the PKI's broker/ folder (MOSQUITTO_CERTS_SOURCE,
#    read-only, written by `circulo pki`) into MOSQUITTO_CERTS_DIR, owned by the broker's
#    user, the key 0600.
# 3. Runs the given command (the broker) and, every MOSQUITTO_CERTS_WATCH_S seconds,
#    installs changed TLS files and sends the broker SIGHUP, which re-reads its certificate,
#    key and CRL: a CRL published by `circulo device sync` or the renewal timer is in force
#    within that time, without a restart. SIGTERM, SIGINT and SIGHUP are passed on.
set -eu

DATA_DIR="${MOSQUITTO_DATA_DIR:-/mosquitto/data}"
DYNSEC_FILE="${DATA_DIR}/dynamic-security.json"
ADMIN_USER="${MOSQUITTO_ADMIN_USER:-circulo-admin}"
CERTS_SOURCE="${MOSQUITTO_CERTS_SOURCE:-/circulo/pki/broker}"
CERTS_DIR="${MOSQUITTO_CERTS_DIR:-/mosquitto/certs}"
WATCH_S="${MOSQUITTO_CERTS_WATCH_S:-10}"
LOG_DIR="${MOSQUITTO_LOG_DIR:-/mosquitto/log}"
TLS_FILES="server.pem server.key clients-ca.pem crl.pem"

if [ ! -s "$DYNSEC_FILE" ]; then
    if [ -z "${MOSQUITTO_ADMIN_PASSWORD:-}" ]; then
        echo "entrypoint: MOSQUITTO_ADMIN_PASSWORD is not set; cannot initialise dynamic security" >&2
        exit 1
    fi
    mkdir -p "$DATA_DIR"
    mosquitto_ctrl dynsec init "$DYNSEC_FILE" "$ADMIN_USER" "$MOSQUITTO_ADMIN_PASSWORD" >/dev/null
    chmod 600 "$DYNSEC_FILE"
    echo "entrypoint: dynamic security initialised with admin client ${ADMIN_USER}"
fi

as_broker_user() {
    if [ "$(id -u)" = "0" ] && id mosquitto >/dev/null 2>&1; then
        chown -R mosquitto:mosquitto "$@"
    fi
}

# Copy the TLS files that differ from the installed ones; exit status 0 when any changed.
install_tls_files() {
    changed=1
    for name in $TLS_FILES; do
        if ! cmp -s "$CERTS_SOURCE/$name" "$CERTS_DIR/$name" 2>/dev/null; then
            cp "$CERTS_SOURCE/$name" "$CERTS_DIR/.$name.new"
            chmod 600 "$CERTS_DIR/.$name.new"
            as_broker_user "$CERTS_DIR/.$name.new"
            mv -f "$CERTS_DIR/.$name.new" "$CERTS_DIR/$name"
            changed=0
        fi
    done
    return "$changed"
}

for name in $TLS_FILES; do
    if [ ! -r "$CERTS_SOURCE/$name" ]; then
        echo "entrypoint: no $CERTS_SOURCE/$name: create the PKI first (circulo pki init, docs/deployment.md)" >&2
        exit 1
    fi
done
mkdir -p "$CERTS_DIR" "$LOG_DIR"
install_tls_files || true
echo "entrypoint: TLS files installed from ${CERTS_SOURCE}"

# The broker drops root to the mosquitto user: it must own its data, certificates and log.
as_broker_user "$DATA_DIR" "$CERTS_DIR" "$LOG_DIR"

"$@" &
BROKER=$!
trap 'kill -TERM "$BROKER" 2>/dev/null || true' TERM INT
trap 'kill -HUP "$BROKER" 2>/dev/null || true' HUP

(
    while kill -0 "$BROKER" 2>/dev/null; do
        sleep "$WATCH_S" </dev/null >/dev/null 2>&1  # holds no pipe of ours when we are killed
        if install_tls_files; then
            echo "entrypoint: TLS files changed; reloading the broker (SIGHUP)"
            kill -HUP "$BROKER" 2>/dev/null || true
        fi
    done
) &
WATCHER=$!

# `wait` returns early when a trapped signal arrives: wait until the broker has really exited
while :; do
    if wait "$BROKER"; then status=0; else status=$?; fi
    kill -0 "$BROKER" 2>/dev/null || break
done
kill "$WATCHER" 2>/dev/null || true
exit "$status"
