#!/usr/bin/env bash
# Bring a Debian 12 machine to the state Circulo's local stack and tests need:
# the Debian packages, then the TimescaleDB extension (built once, skipped when present).
# Idempotent and fast when everything is already there. Uses sudo when not root.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
PGVER="${PGVER:-15}"

PACKAGES=(
  mosquitto mosquitto-clients                          # the broker, with dynamic security and mosquitto_ctrl
  "postgresql-$PGVER" "postgresql-server-dev-$PGVER"   # the server, and headers to build TimescaleDB
  postgresql-client cmake gcc make libssl-dev dpkg-dev # the TimescaleDB build (dpkg-source unpacks it)
  python3 python3-venv python3-dev                     # the project's virtual environment
  procps util-linux ca-certificates                    # pgrep, runuser
  chromium                                             # headless browser: the member statement pages' tests
)
missing=()
for pkg in "${PACKAGES[@]}"; do
  status="$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)"
  [ "$status" = "install ok installed" ] || missing+=("$pkg")
done

if [ "${#missing[@]}" -gt 0 ]; then
  echo "[setup] installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "[setup] Debian packages: all present"
fi

PGVER="$PGVER" bash "$here/timescaledb.sh"
