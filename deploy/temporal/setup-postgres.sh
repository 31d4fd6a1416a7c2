#!/bin/sh
# Creates (once) and migrates (every start) Temporal's two databases on Postgres. Idempotent: `create` and
# `setup-schema -v 0.0` fail harmlessly when they already exist; `update-schema` applies only what is new.
set -eu
SQL="temporal-sql-tool --plugin postgres12 --ep ${POSTGRES_SEEDS} -p ${DB_PORT:-5432} -u ${POSTGRES_USER} --pw ${POSTGRES_PWD}"
for db in temporal temporal_visibility; do
  $SQL --db "$db" create || echo "database $db exists"
  $SQL --db "$db" setup-schema -v 0.0 || echo "schema of $db already set up"
done
$SQL --db temporal update-schema -d /etc/temporal/schema/postgresql/v12/temporal/versioned
$SQL --db temporal_visibility update-schema -d /etc/temporal/schema/postgresql/v12/visibility/versioned
echo "Temporal schemas up to date"
