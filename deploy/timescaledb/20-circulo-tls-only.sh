#!/bin/sh
# First start of the TimescaleDB container (docker-entrypoint-initdb.d): TCP connections
# only over TLS (SPEC §9). The image's pg_hba.conf ends with `host all all all <method>`;
# it becomes `hostssl`, and every TCP connection without TLS is refused. The Unix socket
# (these init scripts, pg_isready inside the container) is left as the image sets it.
# An existing database is not re-initialised: edit its pg_hba.conf the same way.
set -eu

HBA="$PGDATA/pg_hba.conf"
sed -i -E 's/^host([[:space:]]+all[[:space:]]+all[[:space:]]+all[[:space:]]+)/hostssl\1/' "$HBA"
printf '%s\n' "hostnossl all all all reject" >> "$HBA"
echo "20-circulo-tls-only: TCP connections need TLS (pg_hba.conf)"
