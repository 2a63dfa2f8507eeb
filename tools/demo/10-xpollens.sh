# Xpollens section of `make demo` (sourced by tools/demo.sh: moto is up, AWS_ENDPOINT_URL set).
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
  $E/xpollens-48-webview.json $E/xpollens-16-sct-in.json $E/xpollens-bad-missing-subject.json \
  $E/xpollens-15-user-freeze.json $E/xpollens-36-header-form.json $E/xpollens-37-topup-refund-query.json \
  $E/xpollens-34-paul-inprogress.json $E/xpollens-04-v2-rita-rejected.json
echo "   (the second 'complete' is a redelivery: duplicate; 'awaiting' arrived after 'complete': kept in history, state unchanged;"
echo "    16 and 37 are types we do not use: recorded, 204; 'bad-missing-subject' is malformed: 400, recorded;"
echo "    15 (user freeze) and 37 come as query strings, the second 36 in the OpenAPI's header form;
    demo-paul's user record is in progress and demo-rita's demand was rejected: see the KYC decisions at the end)"

for c in demo-alice demo-bob demo-carol; do
  echo "== $c: state"
  "$KYC" status "$c"
  echo "== $c: history"
  "$KYC" history "$c" | python3 -c 'import json,sys; [print("  ", h["receivedAt"][11:23], "type", h["eventType"].ljust(3), h["outcome"]) for h in json.load(sys.stdin)["history"]]'
done
echo "== function log lines (JSON, no payloads or secrets):"
grep -E '"(message|fields)"' "$LOGS/lambda.log" | grep -F "callback" | tail -4 || true
