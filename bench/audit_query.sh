#!/usr/bin/env bash
# Audit query benchmark on PostgreSQL (issue 6).
#
#   bench/audit_query.sh [EVENTS ...]        default: 1000000 10000000
#
# For each size: a fresh database, `portal-admin seed-audit --events N` (730 days of events up
# to now), a server on it, then RUNS times each (first page, over GraphQL as an admin):
#   billing  "every change to billing fields of companies in the last 30 days"
#            auditEvents(filter: {recordType: COMPANY, field: "billing*", from: now-30d}, first: 20)
#   history  one record's history: company(id) { history(first: 20) }
# It prints p50/p95 of the HTTP round trip (curl's time_total) and EXPLAIN (ANALYZE, BUFFERS)
# of the SQL those pages run. Needs psql, curl, jq.
#
# Environment: BENCH_ADMIN_URL (a PostgreSQL superuser URL, default
# postgres://postgres@127.0.0.1:5432/postgres), RUNS (default 200), BIN (default the debug
# build, built if missing), KEEP=1 keeps the databases.
set -euo pipefail

ADMIN_URL=${BENCH_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}
RUNS=${RUNS:-200}
BIN=${BIN:-target/debug/portal-admin}
PORT=${PORT:-18641}
SIZES=("$@")
[ ${#SIZES[@]} -eq 0 ] && SIZES=(1000000 10000000)

[ -x "$BIN" ] || cargo build --quiet
export TOTP_ENCRYPTION_KEY=${TOTP_ENCRYPTION_KEY:-$(head -c 32 /dev/urandom | base64)}

gql() { # token query variables-json
  jq -nc --arg q "$2" --argjson v "$3" '{query: $q, variables: $v}' |
    curl -s "http://127.0.0.1:$PORT/graphql" -H 'content-type: application/json' \
      ${1:+-H "authorization: Bearer $1"} --data-binary @-
}

percentiles() { # file of seconds -> "p50 X ms  p95 Y ms"
  sort -n "$1" | awk '{ v[NR] = $1 } END {
    p50 = v[int(NR * 0.50 + 0.5)]; p95 = v[int(NR * 0.95 + 0.5)];
    printf "p50 %.2f ms  p95 %.2f ms  (n=%d)\n", p50 * 1000, p95 * 1000, NR }'
}

timed() { # label token query variables-json
  local out; out=$(mktemp)
  local body; body=$(jq -nc --arg q "$3" --argjson v "$4" '{query: $q, variables: $v}')
  for _ in $(seq 1 10); do # warm-up
    curl -s -o /dev/null "http://127.0.0.1:$PORT/graphql" -H 'content-type: application/json' \
      -H "authorization: Bearer $2" --data-binary "$body"
  done
  for _ in $(seq 1 "$RUNS"); do
    curl -s -o /dev/null -w '%{time_total}\n' "http://127.0.0.1:$PORT/graphql" \
      -H 'content-type: application/json' -H "authorization: Bearer $2" --data-binary "$body" >>"$out"
  done
  printf '%-8s %s\n' "$1" "$(percentiles "$out")"
  rm -f "$out"
}

for N in "${SIZES[@]}"; do
  DB="portal_audit_bench_$N"
  URL="${ADMIN_URL%/*}/$DB"
  echo "== $N events =="
  psql "$ADMIN_URL" -qX -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
  DATABASE_URL="$URL" "$BIN" seed-audit --events "$N" 2>&1 | tail -1
  psql "$URL" -qAtX -c "SELECT 'table sizes: events ' || pg_size_pretty(pg_total_relation_size('audit_events')) || ', changes ' || pg_size_pretty(pg_total_relation_size('audit_changes')) || ', refs ' || pg_size_pretty(pg_total_relation_size('audit_event_refs'))"
  echo 'a-long-bench-password' | DATABASE_URL="$URL" "$BIN" create-admin --email bench@example.com \
    --name 'Bench Admin' --password-stdin >/dev/null
  DATABASE_URL="$URL" LISTEN_ADDR="127.0.0.1:$PORT" RUST_LOG=warn AUDIT_SEAL_INTERVAL_SECONDS=86400 \
    "$BIN" serve 2>/dev/null &
  SERVER=$!
  trap 'kill $SERVER 2>/dev/null || true' EXIT
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 0.1; done
  TOKEN=$(gql "" 'mutation($i: SignInInput!) { signIn(input: $i) { token } }' \
    '{"i": {"email": "bench@example.com", "password": "a-long-bench-password"}}' | jq -r .data.signIn.token)
  ORG=$(gql "$TOKEN" 'mutation { createOrganization(input: {name: "Bench Org"}) { id } }' '{}' | jq -r .data.createOrganization.id)
  COMPANY=$(gql "$TOKEN" 'mutation($i: CreateCompanyInput!) { createCompany(input: $i) { id } }' \
    "{\"i\": {\"organizationId\": \"$ORG\", \"name\": \"Bench Co\"}}" | jq -r .data.createCompany.id)
  FROM=$(date -u -d '30 days ago' +%Y-%m-%dT%H:%M:%SZ)
  BILLING='query($from: DateTime!) { auditEvents(filter: {recordType: COMPANY, field: "billing*", from: $from}, first: 20) { pageInfo { hasNextPage endCursor } edges { node { id occurredAt action recordId viaImpersonation actor { id name } changes { field before after } } } } }'
  HISTORY='query($id: ID!) { company(id: $id) { history(first: 20) { pageInfo { hasNextPage endCursor } edges { node { id occurredAt action recordType actor { id name } changes { field before after } } } } } }'
  echo "first page sizes: billing $(gql "$TOKEN" "$BILLING" "{\"from\": \"$FROM\"}" | jq '.data.auditEvents.edges | length'), history $(gql "$TOKEN" "$HISTORY" "{\"id\": \"$COMPANY\"}" | jq '.data.company.history.edges | length') (company $COMPANY)"
  echo "billing matches in the window: $(gql "$TOKEN" 'query($from: DateTime!) { auditEvents(filter: {recordType: COMPANY, field: "billing*", from: $from}, first: 1) { totalCount } }' "{\"from\": \"$FROM\"}" | jq .data.auditEvents.totalCount)"
  timed billing "$TOKEN" "$BILLING" "{\"from\": \"$FROM\"}"
  timed history "$TOKEN" "$HISTORY" "{\"id\": \"$COMPANY\"}"
  echo "-- EXPLAIN: billing, one of the three per-field scans (billingRateCents)"
  psql "$URL" -qX -c "EXPLAIN (ANALYZE, BUFFERS) SELECT audit_changes.occurred_at, audit_changes.event_id
    FROM audit_changes INNER JOIN audit_events ON audit_changes.event_id = audit_events.id
    WHERE audit_changes.record_type = 'COMPANY' AND audit_changes.field = 'billingRateCents'
      AND audit_events.record_type = 'COMPANY' AND audit_changes.occurred_at >= '$FROM'
    ORDER BY audit_changes.occurred_at DESC, audit_changes.event_id DESC LIMIT 21"
  echo "-- EXPLAIN: history"
  psql "$URL" -qX -c "EXPLAIN (ANALYZE, BUFFERS) SELECT audit_events.*
    FROM audit_event_refs INNER JOIN audit_events ON audit_event_refs.event_id = audit_events.id
    WHERE audit_event_refs.record_type = 'COMPANY' AND audit_event_refs.record_id = $COMPANY
      AND audit_event_refs.event_id < 9223372036854775807
    ORDER BY audit_event_refs.event_id DESC LIMIT 21"
  kill $SERVER; wait $SERVER 2>/dev/null || true
  trap - EXIT
  [ "${KEEP:-0}" = 1 ] || psql "$ADMIN_URL" -qX -c "DROP DATABASE $DB WITH (FORCE)"
done
