# Downstream section of `make demo` (sourced by tools/demo.sh after the provider sections):
# every state change they made goes through the state-publisher function to EventBridge.
echo "== downstream: bus $EVENT_BUS_NAME with a consumer (rule -> SQS queue)"
python tools/downstream_demo.py setup
echo "== downstream: the table's stream records -> state-publisher (as Lambda's event source would)"
python tools/downstream_demo.py records "$LOGS/stream-event.json"
cargo lambda invoke state-publisher --invoke-address 127.0.0.1 --invoke-port "$LAMBDA_PORT" --data-file "$LOGS/stream-event.json"
echo
echo "== downstream: events the consumer received (customer, provider, stream, previous -> new)"
python tools/downstream_demo.py received
echo "== downstream: kyc publish demo-alice --dry-run (the replay path: same ids, previousStatus null)"
"$KYC" publish demo-alice --dry-run | python3 -c 'import json,sys; [print("  ", e["stream"].ljust(20), e["status"].ljust(14), "id="+e["id"][:12]) for e in json.load(sys.stdin)["events"]]'
# The read API is IAM-authorised like POST /gopay/consents: the sample event carries what API
# Gateway's IAM authorizer attests; the same request without it is refused.
echo "== read API: GET /customers/demo-alice/kyc as API Gateway hands it over after checking the SigV4 signature"
cargo lambda invoke kyc-read-api --invoke-address 127.0.0.1 --invoke-port "$LAMBDA_PORT" --data-file events/read-api-customer-kyc.json |
  python3 -c 'import json,sys; r=json.load(sys.stdin); b=json.loads(r["body"]); print("   -> HTTP", r["statusCode"], "providers:", sorted(b.get("providers", {})))'
echo "== read API: the same request without the IAM attestation (a route deployed without AWS_IAM)"
cargo lambda invoke kyc-read-api --invoke-address 127.0.0.1 --invoke-port "$LAMBDA_PORT" --data-file events/read-api-customer-kyc-without-iam.json |
  python3 -c 'import json,sys; r=json.load(sys.stdin); print("   -> HTTP", r["statusCode"], json.loads(r["body"])["error"])'
# The KYC decision (docs/decision.md): the state publisher recomputed each customer's decision
# from the state records above; the decision items' own records now publish KYC decision changed.
echo "== decision: the stream again (the decision items' records) -> state-publisher"
python tools/downstream_demo.py records "$LOGS/stream-event-decisions.json"
cargo lambda invoke state-publisher --invoke-address 127.0.0.1 --invoke-port "$LAMBDA_PORT" --data-file "$LOGS/stream-event-decisions.json"
echo
echo "== decision: one demo customer per KYC decision (kyc decision explain: decision, reasons, rules that applied)"
# notStarted, pending, actionRequired, inReview, verified, rejected, blocked, expired; then the
# other demo customers. The last line checks that every decision of the vocabulary was shown.
shown=""
for c in demo-carol demo-paul demo-dave demo-fanny demo-alice demo-rita demo-bob demo-hana \
  demo-dana demo-erik demo-gita; do
  line=$("$KYC" decision explain "$c" 2>/dev/null | python3 -c '
import json, sys
d = json.load(sys.stdin)
rules = [r["rule"] for p in d["providers"].values() for r in p["rules"]]
print(d["customer"].ljust(12), d["decision"].ljust(15), ",".join(d["reasons"]) or "-", " ", "; ".join(rules))' 2>/dev/null) ||
    line="$c: no decision (no decisive provider state)"
  echo "   $line"
  shown="$shown $(echo "$line" | awk '{print $2}')"
done
python3 - "$shown" <<'PY'
import sys
want = ["notStarted", "pending", "actionRequired", "inReview", "verified", "rejected", "blocked", "expired"]
seen = set(sys.argv[1].split())
missing = [d for d in want if d not in seen]
print("   decisions shown:", sum(d in seen for d in want), "of", len(want), "(missing: " + ", ".join(missing) + ")" if missing else "")
sys.exit(1 if missing else 0)
PY
