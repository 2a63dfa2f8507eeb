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
