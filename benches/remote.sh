#!/usr/bin/env bash
# Remote benchmarks of the SCIM provider (issue 15), measured side by side in one run and
# printed as one markdown table:
#
# 1. The stand-in SCIM server of the tests with LATENCY_MS added to every answer
#    (`cargo bench --bench remote -- standin`): apply of a USERS-user synthetic org with
#    WRITERS (default 4, as `apply`), then plan against it with 1 and READERS (default 8,
#    as `plan`); requests made vs the minimum, wall
#    time vs the latency floor (minimum requests × latency / parallelism).
# 2. The real scim2-server (PyPI, pinned, installed like tests/scim/run.sh does): `orgplan
#    apply` of the same org to a fresh server, vs the server's own capacity: the minimal
#    request set of that plan (one POST per user and group, one PATCH per group with all
#    its members) sent by 4 plain client threads to another fresh server
#    (`cargo bench --bench remote -- minimal`). Requests are counted in the server's log.
#    Median of RUNS runs each.
# 3. The stand-in Admin API of the tests with ADMIN_LATENCY_MS (default 50) added to every
#    answer (`cargo bench --bench remote -- admin`): plan of ADMIN_USERS (default 2000)
#    users in ADMIN_GROUPS (default 100) groups with 1 and READERS readers; requests made
#    vs the minimum, wall time vs the latency floor.
#
#   bash benches/remote.sh                                  # USERS=1000 LATENCY_MS=20 RUNS=3
#   USERS=2000 LATENCY_MS=50 WRITERS=8 RUNS=5 bash benches/remote.sh
set -euo pipefail
cd "$(dirname "$0")/.."

USERS=${USERS:-1000}
LATENCY_MS=${LATENCY_MS:-20}
WRITERS=${WRITERS:-4}
READERS=${READERS:-8}
RUNS=${RUNS:-3}
VERSION=0.8.3
VENV=target/ci-tools/scim-venv

if ! "$VENV/bin/pip" show scim2-server 2>/dev/null | grep -qx "Version: $VERSION"; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "scim2-server==$VERSION"
fi
# One build: the bench profile builds the release binary too (a separate `cargo build
# --release` would build every dependency again without the dev-dependencies' features).
cargo bench --bench remote --no-run --quiet 2>/dev/null
BIN=$PWD/target/release/orgplan

WORK=$(mktemp -d)
PID=
stop_server() {
  if [ -n "$PID" ]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; PID=; fi
}
trap 'stop_server; rm -rf "$WORK"' EXIT INT TERM

free_port() {
  "$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
TOKEN="scim-bench-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
export ORGPLAN_SCIM_TOKEN=$TOKEN

# start_server LOG: a fresh, empty scim2-server (core schemas); sets URL and PID.
start_server() {
  local port
  port=$(free_port)
  "$VENV/bin/scim2-server" --hostname 127.0.0.1 --port "$port" --bearer-token "$TOKEN" >"$1" 2>&1 &
  PID=$!
  URL="scim+http://127.0.0.1:$port/v2"
  for _ in $(seq 1 100); do
    if curl -fsS -o /dev/null -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$port/v2/ServiceProviderConfig" 2>/dev/null; then
      return
    fi
    sleep 0.1
  done
  echo "scim2-server did not become ready in 10 s:" >&2
  cat "$1" >&2
  exit 1
}

# Requests the server answered, from its access log (minus the readiness probe).
requests() { echo $(( $(grep -cE '"(GET|POST|PUT|PATCH|DELETE) /v2/' "$1") - 1 )); }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

ORG=$WORK/org
"$BIN" synth --users "$USERS" --seed 1 -o "$ORG" >/dev/null

echo "stand-in: $USERS users, $LATENCY_MS ms per answer" >&2
STANDIN=$(cargo bench --quiet --bench remote -- standin --users "$USERS" \
  --latency-ms "$LATENCY_MS" --parallelism "$WRITERS" --readers "$READERS" 2>/dev/null)

ADMIN_USERS=${ADMIN_USERS:-2000}
ADMIN_GROUPS=${ADMIN_GROUPS:-100}
ADMIN_LATENCY_MS=${ADMIN_LATENCY_MS:-50}
echo "admin stand-in: $ADMIN_USERS users, $ADMIN_GROUPS groups, $ADMIN_LATENCY_MS ms per answer" >&2
ADMIN=$(cargo bench --quiet --bench remote -- admin --users "$ADMIN_USERS" \
  --groups "$ADMIN_GROUPS" --latency-ms "$ADMIN_LATENCY_MS" --readers "$READERS" 2>/dev/null)

APPLY=() MINIMAL=() APPLY_REQ=0 MIN_REQ=0
for run in $(seq "$RUNS"); do
  echo "scim2-server: run $run of $RUNS" >&2
  start_server "$WORK/apply.log"
  start=$(date +%s.%N)
  "$BIN" apply --auto-approve -p "$ORG" --live "$URL" --audit "$WORK/audit.jsonl" \
    --parallelism "$WRITERS" >/dev/null
  APPLY+=("$(echo "$(date +%s.%N) - $start" | bc)")
  APPLY_REQ=$(requests "$WORK/apply.log")
  "$BIN" plan -p "$ORG" --live "$URL" --detailed-exitcode >/dev/null || {
    echo "plan after apply is not empty" >&2; exit 1; }
  stop_server

  start_server "$WORK/minimal.log"
  "$BIN" plan -p "$ORG" --live "$URL" -o "$WORK/plan.json" >/dev/null
  before=$(requests "$WORK/minimal.log")
  out=$(cargo bench --quiet --bench remote -- minimal --url "$URL" --plan "$WORK/plan.json" --threads 4 2>/dev/null)
  MINIMAL+=("$(echo "$out" | awk '/^minimal/ {print $4}')")
  MIN_REQ=$(( $(requests "$WORK/minimal.log") - before ))
  stop_server
done
apply=$(median "${APPLY[@]}")
minimal=$(median "${MINIMAL[@]}")

echo
echo "| scenario | requests | minimum | wall | floor | wall / floor |"
echo "|---|---:|---:|---:|---:|---:|"
echo "$STANDIN"
echo "$ADMIN"
printf '| scim2-server %s, apply %s users, parallelism %s (median of %s) | %s | %s | %.2f s | %.2f s | %s |\n' \
  "$VERSION" "$USERS" "$WRITERS" "$RUNS" "$APPLY_REQ" "$MIN_REQ" "$apply" "$minimal" \
  "$(awk -v a="$apply" -v b="$minimal" 'BEGIN { printf "%.2f×", a / b }')"
echo
echo "For scim2-server the floor is the minimal request set sent by 4 plain client threads"
echo "(median $minimal s of: ${MINIMAL[*]}); orgplan's runs: ${APPLY[*]} s."
