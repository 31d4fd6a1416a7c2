#!/bin/sh
# The pgbackrest sidecar of docker-compose: creates the stanza (idempotent), checks that WAL reaches the
# repository, then takes a base backup every day at BACKUP_HOUR_UTC: full on Sundays, differential otherwise.
# pgBackRest reads its settings from PGBACKREST_* variables (deploy/.env); retention expires old sets.
set -eu
stanza="${PGBACKREST_STANZA:-rollcall}"
hour="${BACKUP_HOUR_UTC:-1}"

until pg_isready -q -h /var/run/postgresql; do sleep 2; done
pgbackrest --stanza="$stanza" stanza-create
pgbackrest --stanza="$stanza" check
# A first full backup straight away: PITR needs a base backup to start from.
pgbackrest --stanza="$stanza" info --output=json | grep -q '"label"' || pgbackrest --stanza="$stanza" --type=full backup

while true; do
  now=$(date -u +%s)
  next=$(date -u -d "$(date -u +%Y-%m-%d) ${hour}:30" +%s)
  [ "$next" -gt "$now" ] || next=$((next + 86400))
  sleep $((next - now))
  if [ "$(date -u +%u)" = 7 ]; then type=full; else type=diff; fi
  pgbackrest --stanza="$stanza" --type="$type" backup || echo "pgbackrest $type backup failed" >&2
done
