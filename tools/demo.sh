#!/usr/bin/env bash
# make demo: one local AWS (moto server) shared by every provider's demo section in
# tools/demo/*.sh (each provisions what it needs, runs its function the way Lambda would, and
# prints the resulting states). Stops everything it started.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
MOTO_PORT=$(free_port)
LAMBDA_PORT=$(free_port)
LOGS=$(mktemp -d)
export AWS_ENDPOINT_URL="http://127.0.0.1:$MOTO_PORT"
export TABLE_NAME=kyc-hooks-demo
export XPOLLENS_CREDENTIALS_SECRET=kyc-hooks/xpollens-credentials
# One `cargo lambda watch` serves every function with ONE environment, so the demo's functions
# share one payload keyring; template.yaml gives each provider's functions their own secret
# (Xpollens, Trust & Sign, GoPay) and only theirs. The CLI reads the three names below.
export PAYLOAD_KEY_SECRET=kyc-hooks/payload-key
export XPOLLENS_PAYLOAD_KEY_SECRET=$PAYLOAD_KEY_SECRET
export TRUST_SIGN_PAYLOAD_KEY_SECRET=$PAYLOAD_KEY_SECRET
export GOPAY_PAYLOAD_KEY_SECRET=$PAYLOAD_KEY_SECRET
export XPOLLENS_BODY_BUCKET=kyc-hooks-demo-payloads
export EVENT_BUS_NAME=kyc-hooks-demo-state
export AWS_LAMBDA_LOG_FORMAT=JSON

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

echo "== local AWS: moto server on 127.0.0.1:$MOTO_PORT"
python tools/moto_serial.py -H 127.0.0.1 -p "$MOTO_PORT" >"$LOGS/moto.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do curl -sf "$AWS_ENDPOINT_URL/moto-api/" >/dev/null && break; sleep 0.2; done
python tools/provision.py

echo "== building the functions and the CLI"
cargo build -q --workspace --bins --features kyc-integration-tests/demo
echo "== cargo lambda watch on 127.0.0.1:$LAMBDA_PORT (function logs: $LOGS/lambda.log)"
# Serves every function of the workspace: HTTP ones at /lambda-url/<bin>/..., event ones
# through `cargo lambda invoke <bin> --invoke-port $LAMBDA_PORT`. Each compiles on first use.
cargo lambda watch --ignore-changes -A 127.0.0.1 -P "$LAMBDA_PORT" >"$LOGS/lambda.log" 2>&1 &
pids+=($!)
for _ in $(seq 300); do curl -s -o /dev/null "http://127.0.0.1:$LAMBDA_PORT/" && break; sleep 0.5; done
export LAMBDA_PORT LOGS

KYC="target/debug/kyc"
for section in tools/demo/*.sh; do
  # shellcheck source=/dev/null
  source "$section"
done
