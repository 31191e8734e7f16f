#!/bin/sh
# First start of the TimescaleDB container (docker-entrypoint-initdb.d): the group roles
# of SPEC §6 and one login role per service, with the passwords from deploy/.env.
# Migrations (`circulo db upgrade`, run by the compose `migrate` service as the owner)
# create the tables and grant the group roles what each service may do; Grafana's login
# is a member of circulo_reader, which can read only the views in schema `dashboards`.
set -eu

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -v ingest_pw="$CIRCULO_INGEST_DB_PASSWORD" \
    -v rewards_pw="$CIRCULO_REWARDS_DB_PASSWORD" \
    -v monitor_pw="$CIRCULO_MONITOR_DB_PASSWORD" \
    -v operator_pw="$CIRCULO_OPERATOR_DB_PASSWORD" \
    -v grafana_pw="$GRAFANA_DB_PASSWORD" \
    -v grafana_user="$GRAFANA_DB_USER" <<'SQL'
SELECT 'CREATE ROLE ' || r || ' NOLOGIN'
FROM unnest(ARRAY['circulo_ingest', 'circulo_rewards', 'circulo_registry', 'circulo_reader',
                  'circulo_operator', 'circulo_monitor']) AS r
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) \gexec
CREATE ROLE circulo_ingest_login LOGIN PASSWORD :'ingest_pw' IN ROLE circulo_ingest;
CREATE ROLE circulo_rewards_login LOGIN PASSWORD :'rewards_pw' IN ROLE circulo_rewards;
CREATE ROLE circulo_monitor_login LOGIN PASSWORD :'monitor_pw' IN ROLE circulo_monitor;
CREATE ROLE circulo_operator_login LOGIN PASSWORD :'operator_pw' IN ROLE circulo_operator;
CREATE ROLE :"grafana_user" LOGIN PASSWORD :'grafana_pw' IN ROLE circulo_reader;
ALTER ROLE :"grafana_user" SET default_transaction_read_only = on;
ALTER ROLE :"grafana_user" SET statement_timeout = '30s';
SQL
