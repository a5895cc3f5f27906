#!/usr/bin/env bash
# Browser stories for the admin console.
#
# Builds the binary, starts it on a free port over a fresh SQLite database in a temp dir, with
# SMTP_URL pointing at the SMTP server the stories run in their own process, creates the first
# admin, runs the stories (node --test, one file at a time), and stops the server. Screenshots go
# to tests/e2e/screenshots/. Any browser console error fails the story. Arguments, when given, are
# the story files to run (e.g. `bash tests/e2e/run.sh stories/discard.test.mjs`); default: all.
set -euo pipefail

E2E_DIR="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$E2E_DIR/../.." && pwd)"
cd "$E2E_DIR"

log() { printf '\n==> %s\n' "$*"; }

if [ ! -x /usr/bin/chromium ]; then
  log "installing Debian chromium"
  apt-get update && apt-get install -y chromium
fi

if [ ! -d node_modules ]; then
  log "npm ci"
  npm ci --no-audit --no-fund
fi

log "cargo build"
(cd "$ROOT" && cargo build --locked --bin portal-admin)
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
BIN="$TARGET_DIR/debug/portal-admin"

free_port() {
  node -e "const s=require('net').createServer();s.listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"
}

WORK="$(mktemp -d -t portal-admin-e2e.XXXXXX)"
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

HTTP_PORT="$(free_port)"
SMTP_PORT="$(free_port)"
export DATABASE_URL="sqlite://$WORK/portal-admin.db"
export LISTEN_ADDR="127.0.0.1:$HTTP_PORT"
export PUBLIC_URL="http://127.0.0.1:$HTTP_PORT"
export SMTP_URL="smtp://127.0.0.1:$SMTP_PORT"
export MAIL_DIR="$WORK/mail"
export PORTAL_ENV=development
export RUST_LOG="${RUST_LOG:-warn}"

export E2E_BASE_URL="$PUBLIC_URL"
export E2E_SMTP_PORT="$SMTP_PORT"
export E2E_ADMIN_EMAIL="ada@example.com"
export E2E_ADMIN_NAME="Ada Admin"
export E2E_ADMIN_PASSWORD="e2e correct horse battery staple"
export E2E_SCREENSHOTS="$E2E_DIR/screenshots"
mkdir -p "$E2E_SCREENSHOTS"

log "first admin"
"$BIN" migrate >/dev/null
printf '%s\n' "$E2E_ADMIN_PASSWORD" | "$BIN" create-admin --email "$E2E_ADMIN_EMAIL" --name "$E2E_ADMIN_NAME" --password-stdin >/dev/null

log "server on $PUBLIC_URL (SMTP to 127.0.0.1:$SMTP_PORT)"
"$BIN" serve >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 100); do
  if node -e "fetch('$PUBLIC_URL/readyz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"; then break; fi
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then cat "$WORK/server.log"; echo "server exited"; exit 1; fi
  sleep 0.2
done

log "stories"
status=0
if [ "$#" -gt 0 ]; then STORIES=("$@"); else STORIES=(stories/*.test.mjs); fi
node --test --test-concurrency=1 "${STORIES[@]}" || status=$?
if [ "$status" -ne 0 ]; then
  log "server log (last 60 lines)"
  tail -n 60 "$WORK/server.log" || true
fi
exit "$status"
