# GoPay section of `make demo` (sourced by tools/demo.sh after the others: moto is up,
# AWS_ENDPOINT_URL/TABLE_NAME/PAYLOAD_KEY_SECRET/LAMBDA_PORT/LOGS exported, $KYC is the CLI).
#
# The functions read GoPay's hosts from their environment, and the simulator's ports are only
# known once it runs; `cargo lambda watch` hands a function the environment it was started
# with, so this section starts its own watcher (GoPay variables set) on a second port.
GP_DIR="$LOGS/gopay"
mkdir -p "$GP_DIR"
GP_LAMBDA_PORT=$(free_port)
GP_URL="http://127.0.0.1:$GP_LAMBDA_PORT/lambda-url/gopay-consent"

echo "== GoPay: simulator (auth + identification hosts on loopback, real clock)"
target/debug/gopay-sim >"$GP_DIR/sim.json" 2>"$GP_DIR/sim.log" &
pids+=($!)
for _ in $(seq 50); do [ -s "$GP_DIR/sim.json" ] && break; sleep 0.1; done
read -r GP_AUTH GP_CLIENT GP_ID GP_SECRET < <(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["authBaseUrl"], d["clientBaseUrl"], d["clientId"], d["clientSecret"])' "$GP_DIR/sim.json")
echo "   auth $GP_AUTH, identification $GP_CLIENT"

export GOPAY_CLIENT_SECRET=kyc-hooks/gopay-client
export GOPAY_AUTH_BASE_URL="$GP_AUTH" GOPAY_CLIENT_BASE_URL="$GP_CLIENT"
export GOPAY_BUCKET=kyc-hooks-gopay-demo
export GOPAY_REDIRECT_URI="$GP_URL/gopay/callback"
export GOPAY_SUCCESS_URL=https://app.example/gopay/done GOPAY_FAILURE_URL=https://app.example/gopay/failed

python3 - "$GP_ID" "$GP_SECRET" <<'PY'
import json, os, sys, boto3
boto3.client("secretsmanager").create_secret(
    Name=os.environ["GOPAY_CLIENT_SECRET"],
    SecretString=json.dumps({"clientId": sys.argv[1], "clientSecret": sys.argv[2]}))
boto3.client("s3").create_bucket(Bucket=os.environ["GOPAY_BUCKET"],
    CreateBucketConfiguration={"LocationConstraint": "eu-west-3"})
PY

echo "== cargo lambda watch for the GoPay functions on 127.0.0.1:$GP_LAMBDA_PORT (log: $GP_DIR/lambda.log)"
cargo lambda watch --ignore-changes -A 127.0.0.1 -P "$GP_LAMBDA_PORT" >"$GP_DIR/lambda.log" 2>&1 &
pids+=($!)
for _ in $(seq 300); do curl -s -o /dev/null "http://127.0.0.1:$GP_LAMBDA_PORT/" && break; sleep 0.5; done

# POST /gopay/consents is IAM-authorised: API Gateway's IAM authorizer checks our backend's
# SigV4 signature and hands the function its attestation (requestContext.authorizer.iam); the
# function refuses a request without it. cargo lambda watch's HTTP front adds none, so the demo
# invokes the function with the event API Gateway would hand over
# (events/gopay-consent-start.json, for this customer).
gp_start() { # customer → consent URL
  python3 - "$1" >"$GP_DIR/consent-$1.json" <<'PY'
import json, sys
event = json.load(open("events/gopay-consent-start.json"))
event["body"] = json.dumps({"customerId": sys.argv[1], "prefill": {"firstName": "Dana", "email": "dana@example.cz"}})
print(json.dumps(event))
PY
  cargo lambda invoke gopay-consent -A 127.0.0.1 --invoke-port "$GP_LAMBDA_PORT" --data-file "$GP_DIR/consent-$1.json" |
    python3 -c 'import json,sys; print(json.loads(json.load(sys.stdin)["body"])["consentUrl"])'
}
gp_show() { curl -s -o /dev/null -w '   -> HTTP %{http_code} %{redirect_url}\n' "$1"; }

echo "== demo-dana: POST /gopay/consents (the first call waits for cargo lambda to compile the function)"
CONSENT=$(gp_start demo-dana)
echo "   consentUrl: ${CONSENT%%\?*}?scopes[]=...&client_id=...&state=<random, single use>&prefill_id=..."
echo "== the same request without IAM authentication (as on a route deployed without AWS_IAM): refused, nothing stored"
curl -s -o /dev/null -w '   -> HTTP %{http_code}\n' -X POST "$GP_URL/gopay/consents" -H 'content-type: application/json' \
  -d '{"customerId":"demo-dana"}'
echo "== the customer consents at GoPay (simulator): redirected back to our callback"
CALLBACK=$(curl -s -o /dev/null -w '%{redirect_url}' "$CONSENT")
echo "   GET /gopay/callback?code=...&state=..."
gp_show "$CALLBACK"
echo "== the same callback again (replayed state): 400, nothing else happens"
gp_show "$CALLBACK"

echo "== demo-erik refuses consent"
curl -s -X POST "$GP_AUTH/_sim/next-consent?behaviour=deny" >/dev/null
DENIED=$(curl -s -o /dev/null -w '%{redirect_url}' "$(gp_start demo-erik)")
gp_show "$DENIED"

echo "== cargo lambda invoke gopay-sync (EventBridge Scheduler input; the first call compiles it)"
cargo lambda invoke gopay-sync -A 127.0.0.1 --invoke-port "$GP_LAMBDA_PORT" --data-file events/gopay-sync-scheduled.json
echo
for c in demo-dana demo-erik; do
  echo "== $c: GoPay state"
  "$KYC" status "$c"
  echo "== $c: history"
  "$KYC" history "$c" | python3 -c 'import json,sys; [print("  ", h["receivedAt"][11:23], h["eventType"].ljust(22), h["outcome"], json.dumps(h["summary"].get("state") or h["summary"].get("consent"))) for h in json.load(sys.stdin)["history"]]'
done
echo "== kyc inspect gopay (offline, personal data redacted)"
"$KYC" inspect gopay events/gopay-identification-status.json | python3 -c 'import json,sys; d=json.load(sys.stdin); print("  ", {k: d[k] for k in ("state","reasons","inProgress","dateLastChange","subjectData")})'
echo "== kyc gopay revoke demo-dana"
"$KYC" gopay revoke demo-dana
"$KYC" status demo-dana | python3 -c 'import json,sys; print("   consent:", json.load(sys.stdin)["providers"]["gopay"]["gopayConsent"]["status"])'
echo "== simulator: refresh tokens used twice = $(curl -s "$GP_AUTH/_sim/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("refreshTokenReuses", "?"))')"
echo "== GoPay function log lines (JSON, no tokens, codes or personal data):"
grep -hE 'gopay' "$GP_DIR/lambda.log" | grep -E '"(message|fields)"' | tail -5 || true
