#!/usr/bin/env bash
# Build and install the TimescaleDB extension (Apache-licensed edition) for the
# local PostgreSQL from Debian's source package, when it is not installed yet.
#
# Debian 12 ships no timescaledb package; Debian 13 ships its source. We fetch the
# source with a private apt sources list and state directory so the machine's own
# apt configuration is left alone, then build with cmake against
# postgresql-server-dev-$PGVER.
set -euo pipefail

PGVER="${PGVER:-15}"
SUITE="${TIMESCALEDB_SUITE:-trixie}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
PG_CONFIG="/usr/lib/postgresql/${PGVER}/bin/pg_config"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

log() { printf '[timescaledb] %s\n' "$*"; }

if [ -x "$PG_CONFIG" ]; then
  extdir="$("$PG_CONFIG" --sharedir)/extension"
  if ls "$extdir"/timescaledb.control >/dev/null 2>&1; then
    log "already installed ($(grep default_version "$extdir/timescaledb.control" | cut -d"'" -f2)); skipping build"
    exit 0
  fi
fi

work="${TIMESCALEDB_BUILD_DIR:-/var/tmp/circulo-timescaledb-build}"
$SUDO mkdir -p "$work/lists/partial" "$work/src"
$SUDO chown -R "$(id -u):$(id -g)" "$work"
printf 'deb-src %s %s main\n' "$MIRROR" "$SUITE" > "$work/sources.list"

apt_private=(
  -o "Dir::Etc::sourcelist=$work/sources.list"
  -o "Dir::Etc::sourceparts=-"
  -o "Dir::State::Lists=$work/lists"
  -o "APT::Get::List-Cleanup=0"
)
log "fetching the timescaledb source package from $SUITE (private apt lists in $work)"
$SUDO apt-get -qq "${apt_private[@]}" update
cd "$work/src"
rm -rf ./timescaledb-*/
apt-get -qq "${apt_private[@]}" source --download-only timescaledb
dsc="$(ls -1 timescaledb_*.dsc | sort -V | tail -n 1)"
dpkg-source --no-check -x "$dsc" >/dev/null
srcdir="$(find . -maxdepth 1 -type d -name 'timescaledb-*' | sort -V | tail -n 1)"
log "building $srcdir against PostgreSQL $PGVER (about a minute)"
cd "$srcdir"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DPG_CONFIG="$PG_CONFIG" \
  -DAPACHE_ONLY=1 -DREGRESS_CHECKS=OFF -DTAP_CHECKS=OFF -DWARNINGS_AS_ERRORS=OFF \
  -DSEND_TELEMETRY_DEFAULT=NO >build.log 2>&1 || { tail -n 40 build.log; exit 1; }
cmake --build build -j "$(nproc)" >>build.log 2>&1 || { tail -n 40 build.log; exit 1; }
$SUDO cmake --install build >>build.log 2>&1 || { tail -n 40 build.log; exit 1; }
log "installed: $(ls "$("$PG_CONFIG" --pkglibdir)"/timescaledb*.so | xargs -n1 basename | tr '\n' ' ')"
