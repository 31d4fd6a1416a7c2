#!/bin/sh
# The namespace and the search attributes Rollcall's workflows set (CourseId, RoomId, DeviceId, SessionDate:
# see workflows/searchAttributes.ts). Idempotent.
set -eu
NS="${TEMPORAL_NAMESPACE:-default}"
temporal operator namespace describe --namespace "$NS" >/dev/null 2>&1 ||
  temporal operator namespace create --namespace "$NS" --retention "${TEMPORAL_RETENTION:-30d}"
for name in CourseId RoomId DeviceId SessionDate; do
  temporal operator search-attribute create --namespace "$NS" --name "$name" --type Keyword ||
    echo "search attribute $name exists"
done
echo "namespace $NS ready"
