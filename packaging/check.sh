#!/usr/bin/env bash
# Runs the release binary as packaging/portal-admin.service would, on this machine, without
# systemd: the variables of packaging/portal-admin.env.example plus the unit's Environment=
# lines, in a state directory as its working directory, then checks /healthz, /readyz and
# /metrics, stops it with SIGTERM and checks that it exits 0.
#
#   bash packaging/check.sh postgres://postgres@127.0.0.1:5432/pkgcheck   # a database you made
#   bash packaging/check.sh sqlite                                        # ALLOW_SQLITE_IN_PRODUCTION
#
# Adapted from the example, and only these: DATABASE_URL (the argument; `sqlite` is
# sqlite://portal-admin.db, relative to the state directory as in the unit),
# TOTP_ENCRYPTION_KEY (generated: the example's is CHANGE-ME), the state directory (a temp dir
# for /var/lib/portal-admin). SANDBOX=1 (root, util-linux) also imitates the unit's hardening:
# every mount read-only but the state directory (ProtectSystem=strict), a private /tmp
# (PrivateTmp), a /proc showing only the service's own processes (ProtectProc=invisible), an
# unprivileged uid with no capabilities (DynamicUser, CapabilityBoundingSet=, NoNewPrivileges).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BIN="${BIN:-$ROOT/target/release/portal-admin}"
ENV_FILE="${ENV_FILE:-$ROOT/packaging/portal-admin.env.example}"
UNIT="$ROOT/packaging/portal-admin.service"
DB="${1:?usage: check.sh postgres://…/DATABASE | sqlite}"

STATE="$(mktemp -d /var/tmp/portal-admin-check.XXXXXX)"
LOG="$STATE.log"
PID=""
cleanup() {
  if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then kill -KILL "$PID" 2>/dev/null || true; fi
  rm -rf "$STATE"
}
trap cleanup EXIT

# The unit's Environment= lines, MAIL_DIR moved with the state directory.
UNIT_ENV=()
while IFS= read -r line; do
  UNIT_ENV+=("${line//\/var\/lib\/portal-admin/$STATE}")
done < <(sed -n 's/^Environment=//p' "$UNIT")

if [ "$DB" = sqlite ]; then
  DB_ENV=(DATABASE_URL=sqlite://portal-admin.db ALLOW_SQLITE_IN_PRODUCTION=true)
else
  DB_ENV=("DATABASE_URL=$DB")
fi
KEY="$(head -c 32 /dev/urandom | base64)"

# The service's environment: nothing from this shell but PATH.
SERVICE_ENV="$(env -i PATH="$PATH" bash -c 'set -a; . "$1"; shift; export "$@"; env -u _ -u PWD -u OLDPWD -u SHLVL' \
  _ "$ENV_FILE" "${UNIT_ENV[@]}" "${DB_ENV[@]}" "TOTP_ENCRYPTION_KEY=$KEY")"
listen="$(sed -n 's/^LISTEN_ADDR=//p' <<<"$SERVICE_ENV")"
metrics="$(sed -n 's/^METRICS_LISTEN_ADDR=//p' <<<"$SERVICE_ENV")"
echo "environment (secrets cut):"
sed -E 's/^(TOTP_ENCRYPTION_KEY|DATABASE_URL|SMTP_URL)=.*/\1=…/' <<<"$SERVICE_ENV" | sort | sed 's/^/  /'

mapfile -t ENV_ARGS <<<"$SERVICE_ENV"
cd "$STATE"
if [ "${SANDBOX:-0}" = 1 ]; then
  chown 61234:61234 "$STATE" && chmod 0750 "$STATE"
  # PROC_OPTS=hidepid=invisible,subset=pid shows what ProcSubset=pid would do.
  export PROC_OPTS="${PROC_OPTS:-hidepid=invisible}"
  # In a mount and pid namespace of its own; the service is not pid 1 there (`& wait`).
  unshare --mount --pid --fork --propagation private bash -c '
    set -e
    state="$1"; shift
    mount --bind "$state" "$state"
    findmnt -rno TARGET | sort -u | while read -r m; do
      case "$m" in /proc*|/sys*|/dev*|"$state") ;; *) mount -o remount,bind,ro "$m" 2>/dev/null || true ;; esac
    done
    mount -t tmpfs -o mode=1777 tmpfs /tmp
    mount -t proc -o "$PROC_OPTS" proc /proc
    if touch /usr/portal-admin-check 2>/dev/null; then echo "sandbox: /usr is writable" >&2; exit 1; fi
    setpriv --reuid 61234 --regid 61234 --clear-groups --no-new-privs \
      --inh-caps=-all --bounding-set=-all -- env -i "$@" serve &
    wait $!' _ "$STATE" "${ENV_ARGS[@]}" "$BIN" >"$LOG" 2>&1 &
else
  env -i "${ENV_ARGS[@]}" "$BIN" serve >"$LOG" 2>&1 &
fi
PID=$!

for _ in $(seq 1 100); do
  if curl -fsS "http://$listen/readyz" >/dev/null 2>&1; then break; fi
  if ! kill -0 "$PID" 2>/dev/null; then cat "$LOG"; echo "FAIL: the service exited"; exit 1; fi
  sleep 0.2
done
printf 'GET /healthz: %s\n' "$(curl -sS -o /dev/null -w '%{http_code}' "http://$listen/healthz")"
printf 'GET /readyz:  %s\n' "$(curl -sS -o /dev/null -w '%{http_code}' "http://$listen/readyz")"
if [ -n "$metrics" ]; then
  figures="$(curl -fsS "http://$metrics/metrics")"
  printf 'GET http://%s/metrics: %s lines; %s\n' "$metrics" "$(wc -l <<<"$figures")" \
    "$(grep -E '^process_start_time_seconds' <<<"$figures" || echo 'no process_start_time_seconds')"
  main="$(curl -sS "http://$listen/metrics")"
  printf 'GET http://%s/metrics (LISTEN_ADDR): %s\n' "$listen" \
    "$(grep -q '^portal_admin_' <<<"$main" && echo 'FIGURES (should not be here)' || echo 'no figures (the console page)')"
fi
echo "written in the state directory: $(cd "$STATE" && find . -mindepth 1 | sort | tr '\n' ' ')"

# SIGTERM to the service itself (in the sandbox: the child of the namespace's shell).
target="$PID"
if [ "${SANDBOX:-0}" = 1 ]; then
  target="$(pgrep -P "$(pgrep -P "$PID")")"
fi
echo "service uid: $(ps -o uid= -p "$target" | tr -d ' ')"
kill -TERM "$target"
status=0
wait "$PID" || status=$?
PID=""
echo "log:"
sed 's/^/  /' "$LOG"
echo "exit status after SIGTERM: $status"
[ "$status" -eq 0 ]
