# GoPay section of `make demo` (sourced by tools/demo.sh after the others: moto is up,
# AWS_ENDPOINT_URL/TABLE_NAME/PAYLOAD_KEY_SECRET/LAMBDA_PORT/LOGS exported, $KYC is the CLI).
#
# The functions read GoPay's hosts from their environment, and the simulator's ports are only
# known once it runs; `cargo lambda watch` hands a function the environment it was started
# with, so this section starts its own watcher (GoPay variables set) on a second port.
#
# The consent completes in the bank's session (the template's default): GoPay sends the
# browser to the bank's front end (GOPAY_FRONTEND_REDIRECT_URI); this script plays the bank's
# back end, which calls POST /gopay/consents/complete for the customer of ITS session.
GP_DIR="$LOGS/gopay"
mkdir -p "$GP_DIR"
GP_LAMBDA_PORT=$(free_port)
GP_URL="http://127.0.0.1:$GP_LAMBDA_PORT/lambda-url/gopay-consent"
GP_FRONT_END=https://app.example/gopay/return

echo "== GoPay: simulator (auth + identification hosts on loopback, real clock)"
target/debug/gopay-sim >"$GP_DIR/sim.json" 2>"$GP_DIR/sim.log" &
pids+=($!)
for _ in $(seq 50); do [ -s "$GP_DIR/sim.json" ] && break; sleep 0.1; done
read -r GP_AUTH GP_CLIENT GP_ID GP_SECRET < <(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["authBaseUrl"], d["clientBaseUrl"], d["clientId"], d["clientSecret"])' "$GP_DIR/sim.json")
echo "   auth $GP_AUTH, identification $GP_CLIENT"

export GOPAY_CLIENT_SECRET=kyc-hooks/gopay-client
export GOPAY_AUTH_BASE_URL="$GP_AUTH" GOPAY_CLIENT_BASE_URL="$GP_CLIENT"
export GOPAY_BUCKET=kyc-hooks-gopay-demo
export GOPAY_COMPLETION_MODE=bank-session GOPAY_FRONTEND_REDIRECT_URI="$GP_FRONT_END"
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

# The next customer at GoPay's consent page: behaviour, identified as (first, last, born),
# and optionally GoPay's identification state and reasons (default: IDENTIFIED).
gp_next() {
  curl -s -X POST "$GP_AUTH/_sim/next-consent?behaviour=$1&firstName=$2&lastName=$3&dateOfBirth=$4&${5:-state=IDENTIFIED}" >/dev/null
}
# POST /gopay/consents and POST /gopay/consents/complete are IAM-authorised: API Gateway's IAM
# authorizer checks our backend's SigV4 signature and hands the function its attestation
# (requestContext.authorizer.iam); the function refuses a request without it. cargo lambda
# watch's HTTP front adds none, so the demo invokes the function with the event API Gateway
# would hand over (events/gopay-consent-start.json, events/gopay-consent-complete.json) and
# this body. Prints the answer: {"statusCode", "body"}.
gp_invoke() { # sample event, body (JSON), name
  python3 - "$1" "$2" >"$GP_DIR/$3.json" <<'PY'
import json, sys
event = json.load(open(sys.argv[1]))
event["body"] = sys.argv[2]
print(json.dumps(event))
PY
  cargo lambda invoke gopay-consent -A 127.0.0.1 --invoke-port "$GP_LAMBDA_PORT" --data-file "$GP_DIR/$3.json"
}
# Our back end starts a consent for $1 declaring identity $2 (JSON) → the consent URL.
gp_start() {
  gp_invoke events/gopay-consent-start.json \
    "{\"customerId\":\"$1\",\"declaredIdentity\":$2,\"prefill\":{\"email\":\"$1@example.cz\"}}" "start-$1" |
    python3 -c 'import json,sys; print(json.loads(json.load(sys.stdin)["body"])["consentUrl"])'
}
# The browser at GoPay, sent back to the bank's front end; the bank's back end completes the
# consent for the customer of ITS session ($2): prints the HTTP status and the answer.
gp_complete() {
  local back body
  back=$(curl -s -o /dev/null -w '%{redirect_url}' "$1")
  body=$(python3 - "$back" "$2" <<'PY'
import json, sys, urllib.parse
back, customer = sys.argv[1:]
q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(back).query))
body = {"customerId": customer, "state": q["state"]}
body.update({k: q[k] for k in ("code", "error") if k in q})
print(json.dumps(body))
PY
)
  gp_invoke events/gopay-consent-complete.json "$body" "complete-$2" |
    python3 -c 'import json,sys; r=json.load(sys.stdin); print("   -> HTTP", r["statusCode"], r["body"])'
}

echo "== demo-dana declares Dana Dvořáková, born 1985-01-01; GoPay identifies the same person (first call compiles the function)"
gp_next grant Dana 'DVO%C5%98%C3%81KOV%C3%81' 1985-01-01
CONSENT=$(gp_start demo-dana '{"firstName":"Dana","lastName":"Dvořáková","birthDate":"1985-01-01"}')
echo "   consentUrl: ${CONSENT%%\?*}?scopes[]=...&client_id=...&state=<random, single use>&redirect_uri=<the bank's front end>&prefill_id=..."
echo "== the same request without IAM authentication (as on a route deployed without AWS_IAM): refused, nothing stored"
curl -s -o /dev/null -w '   -> HTTP %{http_code}\n' -X POST "$GP_URL/gopay/consents" -H 'content-type: application/json' \
  -d '{"customerId":"demo-dana"}'
gp_complete "$CONSENT" demo-dana

echo "== demo-fanny declares Fanny Novotná; GoPay identifies Fanny Horáková (same birth date)"
gp_next grant Fanny 'Hor%C3%A1kov%C3%A1' 1990-02-03
gp_complete "$(gp_start demo-fanny '{"firstName":"Fanny","lastName":"Novotná","birthDate":"1990-02-03"}')" demo-fanny

echo "== demo-erik refuses consent at GoPay"
gp_next deny Erik Svoboda 1970-05-05
gp_complete "$(gp_start demo-erik '{"firstName":"Erik"}')" demo-erik

echo "== demo-mallory's consent link, opened by demo-gita and completed in demo-gita's session: refused"
gp_next grant Gita 'Dvo%C5%99%C3%A1k' 1992-07-08
gp_complete "$(gp_start demo-mallory '{"firstName":"Mallory"}')" demo-gita

echo "== demo-hana's identity document has expired: GoPay answers NOT_IDENTIFIED, reason EXPIRED_IDENT_DOCUMENT"
gp_next grant Hana 'Kov%C3%A1%C5%99ov%C3%A1' 1988-09-10 'state=NOT_IDENTIFIED&reasons=EXPIRED_IDENT_DOCUMENT'
gp_complete "$(gp_start demo-hana '{"firstName":"Hana","lastName":"Kovářová","birthDate":"1988-09-10"}')" demo-hana

echo "== cargo lambda invoke gopay-sync (EventBridge Scheduler input; the first call compiles it)"
cargo lambda invoke gopay-sync -A 127.0.0.1 --invoke-port "$GP_LAMBDA_PORT" --data-file events/gopay-sync-scheduled.json |
  python3 -c 'import json,sys; r=json.load(sys.stdin); print("  ", {k: r[k] for k in ("claimed","polled","changes","pdfs","identityMismatches")})'
for c in demo-dana demo-fanny demo-erik demo-mallory demo-gita demo-hana; do
  echo "== $c: GoPay state"
  "$KYC" status "$c" | python3 -c '
import json, sys
gp = json.load(sys.stdin).get("providers", {}).get("gopay", {})
if not gp:
    print("   (nothing)")
for stream, v in sorted(gp.items()):
    d = v.get("detail") or {}
    extra = {k: d[k] for k in ("identityMatch", "gopayState", "error", "completingCustomerId") if k in d}
    print("  ", stream.ljust(20), v["status"].ljust(18), json.dumps(extra, ensure_ascii=False) if extra else "")'
done
echo "== demo-fanny: history"
"$KYC" history demo-fanny | python3 -c 'import json,sys; [print("  ", h["receivedAt"][11:23], h["eventType"].ljust(22), h["outcome"], json.dumps(h["summary"].get("identityMatch", {}).get("differingFields") or h["summary"].get("state") or h["summary"].get("consent"))) for h in json.load(sys.stdin)["history"]]'
echo "== kyc inspect gopay (offline, personal data redacted)"
"$KYC" inspect gopay events/gopay-identification-status.json | python3 -c 'import json,sys; d=json.load(sys.stdin); print("  ", {k: d[k] for k in ("state","reasons","inProgress","dateLastChange","subjectData")})'
echo "== kyc gopay revoke demo-dana"
"$KYC" gopay revoke demo-dana
"$KYC" status demo-dana | python3 -c 'import json,sys; print("   consent:", json.load(sys.stdin)["providers"]["gopay"]["gopayConsent"]["status"])'
echo "== simulator: refresh tokens used twice = $(curl -s "$GP_AUTH/_sim/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("refreshTokenReuses", "?"))')"
echo "== GoPay function log lines (JSON, no tokens, codes or personal data):"
grep -hE 'gopay' "$GP_DIR/lambda.log" | grep -E '"(message|fields)"' | tail -5 || true
