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
