#!/usr/bin/env bash
# make demo: a local AWS (moto server) + the Xpollens callback function under `cargo lambda
# watch`, fed the sample callbacks over real HTTP with real credentials; then each customer's
# state and history. Stops everything it started.
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
export PAYLOAD_KEY_SECRET=kyc-hooks/payload-key
export AWS_LAMBDA_LOG_FORMAT=JSON

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

echo "== local AWS: moto server on 127.0.0.1:$MOTO_PORT"
python tools/moto_serial.py -H 127.0.0.1 -p "$MOTO_PORT" >"$LOGS/moto.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do curl -sf "$AWS_ENDPOINT_URL/moto-api/" >/dev/null && break; sleep 0.2; done
python tools/provision.py

echo "== building the function and the CLI"
cargo build -q -p xpollens-callback -p kyc-cli
echo "== cargo lambda watch on 127.0.0.1:$LAMBDA_PORT (function logs: $LOGS/lambda.log)"
cargo lambda watch --ignore-changes -p xpollens-callback -A 127.0.0.1 -P "$LAMBDA_PORT" >"$LOGS/lambda.log" 2>&1 &
pids+=($!)
for _ in $(seq 300); do curl -s -o /dev/null "http://127.0.0.1:$LAMBDA_PORT/" && break; sleep 0.5; done
URL="http://127.0.0.1:$LAMBDA_PORT/lambda-url/xpollens-callback"

E=events
echo "== sending callbacks (status, file, answer); the first one waits for cargo lambda to compile the function"
python tools/send_events.py "$URL" \
  $E/xpollens-34-inprogress.json $E/xpollens-04-v1-pending.json $E/xpollens-04-v2-incomplete.json \
  $E/xpollens-04-v2-complete.json \
  $E/xpollens-04-v2-awaiting.json \
  $E/xpollens-04-v2-complete.json \
  $E/xpollens-34-validated.json $E/xpollens-35-enrolment.json $E/xpollens-36-succeeded.json \
  $E/xpollens-04-fraud.json $E/xpollens-47-reupload.json $E/xpollens-36-failed.json \
  $E/xpollens-48-webview.json $E/xpollens-16-sct-in.json $E/xpollens-bad-missing-subject.json
echo "   (the second 'complete' is a redelivery: duplicate; 'awaiting' arrived after 'complete': kept in history, state unchanged; the last one is malformed: 400, recorded)"

KYC="target/debug/kyc"
for c in demo-alice demo-bob demo-carol; do
  echo "== $c: state"
  "$KYC" status "$c"
  echo "== $c: history"
  "$KYC" history "$c" | python3 -c 'import json,sys; [print("  ", h["receivedAt"][11:23], "type", h["eventType"].ljust(3), h["outcome"]) for h in json.load(sys.stdin)["history"]]'
done
echo "== function log lines (JSON, no payloads or secrets):"
grep -E '"(message|fields)"' "$LOGS/lambda.log" | grep -F "callback" | tail -4 || true
