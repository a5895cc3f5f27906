#!/usr/bin/env bash
# The benchmark of issue 11: portal-admin side by side with PostGraphile v4 and pgbench on one
# private PostgreSQL cluster. See bench/README.md.
#
#   bench/run.sh all                      install, build, seed, start, check, measure, print the table
#   bench/run.sh install                  wrk (Debian) and PostGraphile 4.14.1 (npm ci, package-lock)
#   bench/run.sh build                    cargo build --release
#   bench/run.sh setup [--users N] [--events N] [--no-sqlite]
#                                         private cluster + seeded database (and its SQLite copy)
#   bench/run.sh up | down                start / stop portal-admin (PostgreSQL, SQLite) and PostGraphile
#   bench/run.sh check | stmts | capture | load | contention | rss | report   [bench.py options]
#   bench/run.sh memory [--variant NAME]  a fresh server, bursts of 200 sign-ins, RSS before/peak/after
#   bench/run.sh --only b [--rounds 1]    check, then time just those queries (before/after a change)
#   bench/run.sh clean                    stop everything, remove the cluster and the work directory
set -euo pipefail
. "$(dirname "$0")/env.sh"
mkdir -p "$BENCH_WORK"
cd "$REPO_DIR"

log() { printf '\n### %s\n' "$*"; }

install() {
  local want=()
  command -v wrk >/dev/null || want+=(wrk)
  command -v sqlite3 >/dev/null || want+=(sqlite3)
  [ -x "${PGBIN:-/nonexistent}/initdb" ] && [ -x "$PGBIN/pgbench" ] || want+=(postgresql postgresql-contrib)
  [ ${#want[@]} -eq 0 ] || { apt-get update -qq && apt-get install -y -qq "${want[@]}"; }
  PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1); export PGBIN
  [ -x "$BENCH_DIR/postgraphile/node_modules/.bin/postgraphile" ] ||
    (cd "$BENCH_DIR/postgraphile" && npm ci --no-audit --no-fund --loglevel=error)
  echo "wrk: $(wrk -v 2>&1 | head -1); postgraphile: $("$BENCH_DIR/postgraphile/node_modules/.bin/postgraphile" --version 2>/dev/null | tail -1)"
}

build() { cargo build --release --quiet && echo "built $PA_BIN"; }

setup() {
  local users=10000 events=500000 sqlite=1
  while [ $# -gt 0 ]; do
    case $1 in
      --users) users=$2; shift 2 ;;
      --events) events=$2; shift 2 ;;
      --no-sqlite) sqlite=0; shift ;;
      *) echo "setup: unknown option $1" >&2; exit 2 ;;
    esac
  done
  "$BENCH_DIR/pg.sh" up
  down >/dev/null
  log "seeding $BENCH_DB: $users users, $events audit events"
  dropdb --if-exists --force "$BENCH_DB"
  createdb "$BENCH_DB"
  DATABASE_URL=$BENCH_PG_URL "$PA_BIN" migrate
  psql -qX -v users="$users" -f "$BENCH_DIR/sql/seed.sql" >/dev/null
  printf '%s' "$BENCH_ADMIN_PASSWORD" | DATABASE_URL=$BENCH_PG_URL "$PA_BIN" create-admin \
    --email "$BENCH_ADMIN_EMAIL" --name 'Bench Admin' --password-stdin >/dev/null
  # Active users get a real argon2 hash (the admin's), so rows have production width.
  psql -qX -c "UPDATE users SET password_hash = (SELECT password_hash FROM users WHERE email = '$BENCH_ADMIN_EMAIL')
               WHERE activated_at IS NOT NULL AND password_hash IS NULL"
  DATABASE_URL=$BENCH_PG_URL "$PA_BIN" seed-audit --events "$events" 2>/dev/null | tail -1
  # Production has sealed its history; seal once so the server's sealer sees only new events.
  DATABASE_URL=$BENCH_PG_URL "$PA_BIN" audit seal 2>/dev/null | tail -1
  psql -qX -c 'VACUUM ANALYZE'
  psql -qAtX -c "SELECT string_agg(n || ' ' || c, ', ') FROM (
      SELECT 'users' n, count(*) c FROM users UNION ALL SELECT 'companies', count(*) FROM companies
      UNION ALL SELECT 'memberships', count(*) FROM company_memberships
      UNION ALL SELECT 'audit events', count(*) FROM audit_events) t" | sed 's/^/  /'
  psql -qAtX -c "SELECT '  database size ' || pg_size_pretty(pg_database_size(current_database()))"
  [ "$sqlite" = 1 ] || return 0
  log "SQLite copy: $BENCH_SQLITE"
  rm -f "$BENCH_SQLITE" "$BENCH_SQLITE-wal" "$BENCH_SQLITE-shm"
  DATABASE_URL=sqlite://$BENCH_SQLITE "$PA_BIN" migrate
  # The same rows (pg_dump of the seeded tables, the admin included); the audit trail seeded by
  # the same generator on SQLite (same mix and size, times relative to now).
  { echo 'PRAGMA foreign_keys = OFF; BEGIN;'
    pg_dump --data-only --inserts --column-inserts -t organizations -t companies -t teams -t users \
      -t company_memberships -t team_memberships -t sessions "$BENCH_DB" |
      grep '^INSERT' | sed 's/^INSERT INTO public\./INSERT INTO /'
    echo 'COMMIT;'; } | sqlite3 "$BENCH_SQLITE"
  DATABASE_URL=sqlite://$BENCH_SQLITE "$PA_BIN" seed-audit --events "$events" 2>/dev/null | tail -1
  DATABASE_URL=sqlite://$BENCH_SQLITE "$PA_BIN" audit seal 2>/dev/null | tail -1
  sqlite3 "$BENCH_SQLITE" 'ANALYZE; PRAGMA wal_checkpoint(TRUNCATE);'
  echo "  $(du -h "$BENCH_SQLITE" | cut -f1)"
}

# start_pa NAME PORT DATABASE_URL [VAR=value ...]: production mode, pool 16 (PostGraphile: 2 x 8).
start_pa() {
  local name=$1 port=$2 url=$3; shift 3
  stop "$name"
  env PORTAL_ENV=${BENCH_PORTAL_ENV:-production} \
    DATABASE_URL="$url" LISTEN_ADDR=127.0.0.1:$port PUBLIC_URL=http://127.0.0.1:$port \
    MAIL_DIR="$BENCH_WORK/mail" DATABASE_POOL_SIZE=${DATABASE_POOL_SIZE:-16} AUDIT_SEAL_INTERVAL_SECONDS=3600 \
    ${BENCH_PRELOAD:+LD_PRELOAD=$BENCH_PRELOAD} "$@" setsid "$PA_BIN" serve >"$BENCH_WORK/$name.log" 2>&1 </dev/null &
  echo $! >"$BENCH_WORK/$name.pid"
  for _ in $(seq 1 100); do curl -sf -o /dev/null "http://127.0.0.1:$port/readyz" && break; sleep 0.2; done
  curl -sf -o /dev/null "http://127.0.0.1:$port/readyz" || { tail "$BENCH_WORK/$name.log" >&2; exit 1; }
  python3 - "$port" >"$BENCH_WORK/$name.token" <<'PY'
import json, os, sys, urllib.request
body = {'query': 'mutation($i: SignInInput!) { signIn(input: $i) { token } }',
        'variables': {'i': {'email': os.environ['BENCH_ADMIN_EMAIL'], 'password': os.environ['BENCH_ADMIN_PASSWORD']}}}
req = urllib.request.Request(f'http://127.0.0.1:{sys.argv[1]}/graphql', json.dumps(body).encode(),
                             {'content-type': 'application/json'})
answer = json.loads(urllib.request.urlopen(req).read())
token = (answer.get('data') or {}).get('signIn', {}).get('token') if answer.get('data') else None
sys.exit(f'sign-in failed: {answer}') if not token else print(token)
PY
  echo "portal-admin $name: pid $(cat "$BENCH_WORK/$name.pid"), http://127.0.0.1:$port ($url)"
}

start_pg4() {
  stop pg4
  # --cluster-workers 2 x pool 8 = 16 connections, as portal-admin's pool.
  NODE_ENV=production setsid "$BENCH_DIR/postgraphile/node_modules/.bin/postgraphile" -c "$BENCH_PG_URL" \
    --schema public --host 127.0.0.1 --port "$PG4_PORT" --disable-query-log --disable-graphiql --dynamic-json \
    --max-pool-size 8 --simple-collections both --cluster-workers 2 >"$BENCH_WORK/pg4.log" 2>&1 </dev/null &
  echo $! >"$BENCH_WORK/pg4.pid"
  for _ in $(seq 1 100); do
    curl -sf -o /dev/null -H 'content-type: application/json' -d '{"query":"{__typename}"}' \
      "http://127.0.0.1:$PG4_PORT/graphql" && { echo "PostGraphile v4: pid $(cat "$BENCH_WORK/pg4.pid"), http://127.0.0.1:$PG4_PORT/graphql"; return; }
    sleep 0.3
  done
  tail "$BENCH_WORK/pg4.log" >&2; exit 1
}

# stop NAME: the process group started above (setsid), by its recorded pid.
stop() {
  local f=$BENCH_WORK/$1.pid
  [ -f "$f" ] || return 0
  local pid; pid=$(cat "$f")
  kill -- -"$pid" 2>/dev/null || kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 -- -"$pid" 2>/dev/null || true
  rm -f "$f"
}

up() {
  "$BENCH_DIR/pg.sh" up
  start_pa pa "$PA_PORT" "$BENCH_PG_URL"
  [ -f "$BENCH_SQLITE" ] && start_pa sqlite "$PA_SQLITE_PORT" "sqlite://$BENCH_SQLITE"
  start_pg4
}

down() { for n in pa sqlite pg4 mem; do stop $n; done; }

bench_py() { python3 "$BENCH_DIR/bench.py" "$@"; }

memory() {
  local variant="this build"
  [ "${1:-}" = --variant ] && { variant=$2; shift 2; }
  # A fresh server: idle RSS before any sign-in but the harness's own.
  start_pa mem "$PA_MEM_PORT" "$BENCH_PG_URL" RUST_LOG=warn
  bench_py memory --variant "$variant" "$@"
  stop mem
}

new_results() {
  local dir=$BENCH_WORK/results/$(date +%Y%m%d-%H%M%S)
  mkdir -p "$dir"; ln -sfn "$dir" "$BENCH_WORK/results/current"
  { echo "commit $(git -C "$REPO_DIR" rev-parse --short HEAD)$(git -C "$REPO_DIR" diff --quiet || echo '+changes')"
    echo "date $(date -u +%FT%TZ)"; echo "uptime $(uptime)"; nproc; } >"$dir/info.txt"
  echo "results in $dir"
}

case ${1:-} in
  install) install ;;
  build) build ;;
  setup) shift; setup "$@" ;;
  up) up ;;
  down) down ;;
  memory) shift; memory "$@" ;;
  check|stmts|capture|load|contention|rss|report) bench_py "$@" ;;
  --only)
    new_results
    bench_py check --only "$2"
    bench_py load "$@"
    bench_py report ;;
  all)
    shift
    install; build; setup "$@"; up
    new_results
    log "same data?"; bench_py check
    log "the audited update's statements"; bench_py capture
    log "statements per request"; bench_py stmts
    log "load: interleaved A B A B x3 (a and b also on the SQLite copy)"; bench_py load
    log "viewer during sign-ins"; bench_py contention
    log "RSS idle and at c=64 on b"; bench_py rss
    log "memory after sign-in bursts"; memory
    bench_py report ;;
  clean) down; "$BENCH_DIR/pg.sh" wipe; rm -rf "$BENCH_WORK" ;;
  *) sed -n '2,16p' "$0"; exit 2 ;;
esac
