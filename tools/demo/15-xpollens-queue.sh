# Xpollens fallback-queue section of `make demo` (sourced by tools/demo.sh after the live
# callbacks: moto is up, AWS_ENDPOINT_URL/TABLE_NAME/PAYLOAD_KEY_SECRET/XPOLLENS_BODY_BUCKET/
# LOGS exported, $KYC is the CLI).
#
# Xpollens keeps every callback it sent in a 14-day queue. Here the simulated queue holds a
# callback we received live (answered 202: it comes back as a duplicate) and demo-dave's
# rejection and new demand, which never reached us live (no answer, then 503s). The drain, run
# as EventBridge Scheduler would run it, recovers them. Like the GoPay section, it starts its
# own `cargo lambda watch`: the drain reads the simulator's URLs from its environment.
XQ_DIR="$LOGS/xpollens-queue"
mkdir -p "$XQ_DIR"
XQ_LAMBDA_PORT=$(free_port)

echo "== Xpollens API simulator: token endpoint + fallback queue (one entry per delivery attempt)"
target/debug/xpollens-sim \
  events/xpollens-04-v1-pending.json=202 \
  events/xpollens-04-v2-dave-rejected.json=none,503,503 \
  events/xpollens-04-v2-dave-new-demand.json=none \
  >"$XQ_DIR/sim.json" 2>"$XQ_DIR/sim.log" &
pids+=($!)
for _ in $(seq 50); do [ -s "$XQ_DIR/sim.json" ] && break; sleep 0.1; done
read -r XQ_BASE XQ_TOKEN XQ_ID XQ_SECRET XQ_SCOPE XQ_ENTRIES < <(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["baseUrl"], d["tokenUrl"], d["clientId"], d["clientSecret"], d["scope"], d["queuedEntries"])' "$XQ_DIR/sim.json")
echo "   $XQ_BASE: $XQ_ENTRIES entries queued (alice's pending demand answered 202 live; demo-dave's rejection: no answer, 503, 503; his new demand: no answer)"

export XPOLLENS_API_SECRET=kyc-hooks/xpollens-api-client
export XPOLLENS_API_BASE_URL="$XQ_BASE" XPOLLENS_TOKEN_URL="$XQ_TOKEN" XPOLLENS_API_SCOPE="$XQ_SCOPE"
export XPOLLENS_QUEUE_LIMIT=2   # small pages, to show the read / record / remove loop
python3 - "$XQ_ID" "$XQ_SECRET" <<'PY'
import json, os, sys, boto3
boto3.client("secretsmanager").create_secret(
    Name=os.environ["XPOLLENS_API_SECRET"],
    SecretString=json.dumps({"clientId": sys.argv[1], "clientSecret": sys.argv[2]}))
PY

echo "== cargo lambda watch for the drain on 127.0.0.1:$XQ_LAMBDA_PORT (log: $XQ_DIR/lambda.log)"
cargo lambda watch --ignore-changes -A 127.0.0.1 -P "$XQ_LAMBDA_PORT" >"$XQ_DIR/lambda.log" 2>&1 &
pids+=($!)
for _ in $(seq 300); do curl -s -o /dev/null "http://127.0.0.1:$XQ_LAMBDA_PORT/" && break; sleep 0.5; done

echo "== cargo lambda invoke xpollens-queue-drain (scheduler input; the first call compiles it)"
cargo lambda invoke xpollens-queue-drain -A 127.0.0.1 --invoke-port "$XQ_LAMBDA_PORT" \
  --data-file events/xpollens-queue-drain-scheduled.json | tee "$XQ_DIR/run1.json"
echo
echo "== the drain's warning for what was missed live (function log, JSON, no payload):"
grep -F "missed live" "$XQ_DIR/lambda.log" | head -2 || true
echo "== demo-dave: state (the rejection, then the NEW demand, recovered from the queue: the newest demand wins)"
"$KYC" status demo-dave
echo "== demo-dave: history (channel, attempts as Xpollens recorded them)"
"$KYC" history demo-dave | python3 -c 'import json,sys; [print("  ", h["receivedAt"][11:23], "type", h["eventType"], h["outcome"].ljust(8), h["summary"]["kycStatus"], "via", h["summary"]["delivery"]["channel"], [a["httpStatusCode"] for a in h["summary"]["delivery"].get("attempts", [])]) for h in json.load(sys.stdin)["history"]]'
echo "== a second run: the queue is empty, nothing new"
cargo lambda invoke xpollens-queue-drain -A 127.0.0.1 --invoke-port "$XQ_LAMBDA_PORT" \
  --data-file events/xpollens-queue-drain-scheduled.json
echo
echo "== kyc replay xpollens (offline): live events, then a queue page — what would this sequence do?"
"$KYC" replay xpollens events/xpollens-04-v1-pending.json events/xpollens-queue-page.json |
  python3 -c 'import json,sys; d=json.load(sys.stdin); [print("  ", x["file"].split("/")[-1], "#%d" % x["index"], x["status"], x["outcome"]) for x in d["deliveries"]]; print("   demo-dave:", d["customers"]["demo-dave"]["state"]["providers"]["xpollens"]["kycDemand"]["status"])'
