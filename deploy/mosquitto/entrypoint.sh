#!/bin/sh
# Entrypoint of the Mosquitto container (eclipse-mosquitto:2.0.x, deploy/docker-compose.yml).
#
# Initialises dynamic security once: `mosquitto_ctrl dynsec init` writes the plugin's
# JSON file (see plugin_opt_config_file in mosquitto.conf) with the admin client named
# by MOSQUITTO_ADMIN_USER and the secret MOSQUITTO_ADMIN_PASSWORD. When the file exists
# (a restart, or an admin password rotated with mosquitto_ctrl) it is left alone, so the
# broker's clients, roles and ACLs survive restarts. Then it runs the given command.
set -eu

DATA_DIR="${MOSQUITTO_DATA_DIR:-/mosquitto/data}"
DYNSEC_FILE="${DATA_DIR}/dynamic-security.json"
ADMIN_USER="${MOSQUITTO_ADMIN_USER:-circulo-admin}"

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

# The broker drops root to the mosquitto user: it must own its data (persistence, dynsec).
if [ "$(id -u)" = "0" ] && id mosquitto >/dev/null 2>&1; then
    chown -R mosquitto:mosquitto "$DATA_DIR"
fi

exec "$@"
