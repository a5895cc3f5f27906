#!/usr/bin/env bash
# The private PostgreSQL cluster the benchmark runs on (never a shared server: load and
# pg_stat_statements resets would disturb others).  bench/pg.sh up | down | wipe
set -euo pipefail
. "$(dirname "$0")/env.sh"
DATA=$BENCH_WORK/pg/data
as_pg() { if [ "$(id -u)" = 0 ]; then su postgres -s /bin/sh -c "$*"; else sh -c "$*"; fi; }
case ${1:-up} in
  up)
    mkdir -p "$BENCH_WORK/pg"
    [ "$(id -u)" = 0 ] && chown postgres:postgres "$BENCH_WORK/pg"
    if [ ! -f "$DATA/PG_VERSION" ]; then
      as_pg "$PGBIN/initdb -D $DATA -U postgres --auth=trust -E UTF8 --locale=C.UTF-8" >/dev/null
    fi
    if ! as_pg "$PGBIN/pg_ctl -D $DATA status" >/dev/null 2>&1; then
      # One set of settings for every peer. synchronous_commit=off: the write comparison is
      # about statements and round trips, not the disk of this VM. Sockets in the data dir.
      as_pg "$PGBIN/pg_ctl -D $DATA -l $BENCH_WORK/pg/pg.log -w -o \"-p $BENCH_PGPORT -k $DATA \
        -c listen_addresses=127.0.0.1 -c shared_buffers=1GB -c max_connections=200 -c work_mem=16MB \
        -c effective_cache_size=8GB -c synchronous_commit=off -c jit=off \
        -c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=top \
        -c pg_stat_statements.max=10000\" start" >/dev/null
    fi
    # pg_stat_statements lives in the 'postgres' database, so no peer's schema shows it.
    psql -qX -d postgres -c 'SET client_min_messages = warning' -c 'CREATE EXTENSION IF NOT EXISTS pg_stat_statements' >/dev/null
    echo "private cluster up on 127.0.0.1:$BENCH_PGPORT (pid $(head -1 "$DATA/postmaster.pid"))"
    ;;
  down) as_pg "$PGBIN/pg_ctl -D $DATA -m fast stop" >/dev/null 2>&1 && echo "private cluster stopped" || true ;;
  wipe) "$0" down; rm -rf "$BENCH_WORK/pg"; echo "private cluster removed" ;;
  *) echo "usage: $0 up|down|wipe" >&2; exit 2 ;;
esac
