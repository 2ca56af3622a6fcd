#!/usr/bin/env bash
# Interoperability tests of the SCIM provider against the real scim2-server (PyPI, pinned):
# one server with the core schemas of RFC 7643, one with orgplan's extension schemas
# (schema/scim/) loaded, and a third (extension schemas) behind a real TLS terminator:
# stunnel (Debian's `stunnel4`, installed with apt-get when missing) serving a certificate
# for 127.0.0.1 issued by a throwaway CA made here with openssl. Installs scim2-server into
# target/ci-tools/scim-venv when missing, starts everything on free loopback ports, waits
# for it, runs the ignored `scim::` and `scim_tls::` tests of the `it` target, and always
# stops the servers.
set -euo pipefail
cd "$(dirname "$0")/../.."

VERSION=0.8.3
VENV=target/ci-tools/scim-venv
SERVER="$VENV/bin/scim2-server"
if ! "$VENV/bin/pip" show scim2-server 2>/dev/null | grep -qx "Version: $VERSION"; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "scim2-server==$VERSION"
fi

WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

# --schema and --resource-type replace the server's defaults: serve RFC 7643's schemas
# plus orgplan's, and the resource types that extend User and Group with them.
"$VENV/bin/python" - "$WORK" <<'PY'
import json, pathlib, sys
import scim2_server
work = pathlib.Path(sys.argv[1])
defaults = pathlib.Path(scim2_server.__file__).parent / "resources" / "default-schemas.json"
schemas = json.loads(defaults.read_text()) + json.loads(pathlib.Path("schema/scim/schemas.json").read_text())
(work / "schemas.json").write_text(json.dumps(schemas))
PY

free_port() {
  "$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

TOKEN="scim-test-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
PORT=$(free_port)
"$SERVER" --hostname 127.0.0.1 --port "$PORT" --bearer-token "$TOKEN" >"$WORK/core.log" 2>&1 &
PIDS+=($!)
PORT_EXT=$(free_port)
"$SERVER" --hostname 127.0.0.1 --port "$PORT_EXT" --bearer-token "$TOKEN" \
  --schema "$WORK/schemas.json" --resource-type schema/scim/resource-types.json >"$WORK/ext.log" 2>&1 &
PIDS+=($!)

PORT_TLS_BACKEND=$(free_port)
"$SERVER" --hostname 127.0.0.1 --port "$PORT_TLS_BACKEND" --bearer-token "$TOKEN" \
  --schema "$WORK/schemas.json" --resource-type schema/scim/resource-types.json >"$WORK/tls-backend.log" 2>&1 &
PIDS+=($!)

for port in "$PORT" "$PORT_EXT" "$PORT_TLS_BACKEND"; do
  ready=
  for _ in $(seq 1 100); do
    if curl -fsS -o /dev/null -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$port/v2/ServiceProviderConfig" 2>/dev/null; then
      ready=1; break
    fi
    sleep 0.1
  done
  if [ -z "$ready" ]; then
    echo "scim2-server on port $port did not become ready in 10 s:" >&2
    cat "$WORK"/*.log >&2
    exit 1
  fi
done

# TLS: a throwaway CA (valid two days) and a server certificate for IP 127.0.0.1 signed by
# it, served by stunnel in front of the third server.
if ! command -v stunnel4 >/dev/null 2>&1 && ! command -v stunnel >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y --no-install-recommends stunnel4 >/dev/null 2>&1 \
    || { apt-get update -qq && apt-get install -y --no-install-recommends stunnel4 >/dev/null; }
fi
STUNNEL=$(command -v stunnel4 || command -v stunnel)
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=orgplan throwaway test CA" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
  -keyout "$WORK/ca.key" -out "$WORK/ca.pem" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
  -keyout "$WORK/server.key" -out "$WORK/server.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n' >"$WORK/server.ext"
openssl x509 -req -in "$WORK/server.csr" -CA "$WORK/ca.pem" -CAkey "$WORK/ca.key" -CAcreateserial \
  -days 2 -extfile "$WORK/server.ext" -out "$WORK/server.pem" 2>/dev/null
PORT_TLS=$(free_port)
cat >"$WORK/stunnel.conf" <<CONF
foreground = yes
pid =
[scim]
accept = 127.0.0.1:$PORT_TLS
connect = 127.0.0.1:$PORT_TLS_BACKEND
cert = $WORK/server.pem
key = $WORK/server.key
CONF
"$STUNNEL" "$WORK/stunnel.conf" >"$WORK/stunnel.log" 2>&1 &
PIDS+=($!)
ready=
for _ in $(seq 1 100); do
  if curl -fsS -o /dev/null --cacert "$WORK/ca.pem" -H "Authorization: Bearer $TOKEN" \
    "https://127.0.0.1:$PORT_TLS/v2/ServiceProviderConfig" 2>/dev/null; then
    ready=1; break
  fi
  sleep 0.1
done
if [ -z "$ready" ]; then
  echo "stunnel on port $PORT_TLS did not become ready in 10 s:" >&2
  cat "$WORK"/stunnel.log >&2
  exit 1
fi

export ORGPLAN_SCIM_TEST_URL="scim+http://127.0.0.1:$PORT/v2"
export ORGPLAN_SCIM_TEST_URL_EXT="scim+http://127.0.0.1:$PORT_EXT/v2"
export ORGPLAN_SCIM_TEST_TOKEN="$TOKEN"
export ORGPLAN_SCIM_TEST_URL_TLS="scim+https://127.0.0.1:$PORT_TLS/v2"
export ORGPLAN_SCIM_TEST_CA="$WORK/ca.pem"
cargo test --locked --test it scim:: -- --ignored
cargo test --locked --test it scim_tls:: -- --ignored
