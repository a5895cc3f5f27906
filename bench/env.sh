# Sourced by the bench scripts: where everything lives. Override any of these in the environment.
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$BENCH_DIR/.." && pwd)
export BENCH_DIR REPO_DIR
export BENCH_WORK=${BENCH_WORK:-/tmp/portal-admin-bench}        # cluster, logs, pids, results
export PGBIN=${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}
export BENCH_PGPORT=${BENCH_PGPORT:-55432}                        # the private cluster
export BENCH_DB=${BENCH_DB:-portal_bench}
export BENCH_PG_URL=postgres://postgres@127.0.0.1:$BENCH_PGPORT/$BENCH_DB
export BENCH_SQLITE=${BENCH_SQLITE:-$BENCH_WORK/$BENCH_DB.db}   # its SQLite copy
export PA_BIN=${PA_BIN:-${CARGO_TARGET_DIR:-$REPO_DIR/target}/release/portal-admin}   # built by run.sh
export PA_PORT=${PA_PORT:-18600}                 # portal-admin on PostgreSQL
export PA_SQLITE_PORT=${PA_SQLITE_PORT:-18601}   # portal-admin on the SQLite copy
export PA_MEM_PORT=${PA_MEM_PORT:-18602}         # a fresh instance for the memory runs
export PG4_PORT=${PG4_PORT:-5400}                # PostGraphile v4
# Production mode needs a TOTP key; a fixed one, so every command (create-admin too) agrees.
export TOTP_ENCRYPTION_KEY=${TOTP_ENCRYPTION_KEY:-$(printf 'bench-totp-key-32-bytes-exactly!' | base64)}
export BENCH_ADMIN_EMAIL=admin@bench.example.com
export BENCH_ADMIN_PASSWORD='bench-Passw0rd-2026-portal!'
# psql/pgbench defaults: the private cluster, the bench database
export PGHOST=127.0.0.1 PGPORT=$BENCH_PGPORT PGUSER=postgres PGDATABASE=$BENCH_DB
