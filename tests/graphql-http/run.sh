#!/usr/bin/env bash
# The GraphQL over HTTP server audit (npm `graphql-http`, `serverAudits`, pinned in
# package-lock.json) against the real binary: builds it, starts it on a free port over a fresh
# SQLite database in a temp dir, runs the audits, stops the server. Fails on any MUST or SHOULD.
set -euo pipefail

DIR="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$DIR/../.." && pwd)"
cd "$DIR"

log() { printf '\n==> %s\n' "$*"; }

if [ ! -d node_modules ]; then
  log "npm ci"
  npm ci --no-audit --no-fund
fi

log "cargo build"
(cd "$ROOT" && cargo build --locked --bin portal-admin)
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/debug/portal-admin"

free_port() {
  node -e "const s=require('net').createServer();s.listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"
}

WORK="$(mktemp -d -t portal-admin-graphql-http.XXXXXX)"
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

PORT="$(free_port)"
export DATABASE_URL="sqlite://$WORK/portal-admin.db"
export LISTEN_ADDR="127.0.0.1:$PORT"
export MAIL_DIR="$WORK/mail"
export PORTAL_ENV=development
export RUST_LOG="${RUST_LOG:-warn}"

log "server on 127.0.0.1:$PORT"
"$BIN" serve >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 100); do
  if node -e "fetch('http://127.0.0.1:$PORT/readyz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"; then break; fi
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then cat "$WORK/server.log"; echo "server exited"; exit 1; fi
  sleep 0.2
done

log "graphql-http server audits"
node audit.mjs "http://127.0.0.1:$PORT/graphql"
