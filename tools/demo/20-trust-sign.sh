# Trust & Sign section of `make demo` (sourced by tools/demo.sh after the Xpollens one: moto is
# up, AWS_ENDPOINT_URL/TABLE_NAME/PAYLOAD_KEY_SECRET/LAMBDA_PORT/LOGS exported, `cargo lambda
# watch` serves every workspace bin, $KYC is the CLI).
TS_BUCKET=kyc-hooks-archives-demo
TS_DIR="$LOGS/trust-sign"
mkdir -p "$TS_DIR"

echo "== Trust & Sign: bucket s3://$TS_BUCKET (versioned), two generated archives"
target/debug/gen-archive --kind full --out "$TS_DIR/full.zip"
target/debug/gen-archive --kind dotdot-name --out "$TS_DIR/bad.zip"

# Uploads each archive under incoming/ and writes the S3 notification AWS would send for it
# (from events/s3-trust-sign-archive.json: real key URL-encoded, size, ETag, version id).
python3 - "$TS_BUCKET" "$TS_DIR" <<'PY'
import json, sys, urllib.parse
import boto3
bucket, out = sys.argv[1], sys.argv[2]
s3 = boto3.client("s3")
s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-3"})
s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
sample = json.load(open("events/s3-trust-sign-archive.json"))
for name, key in [("full", "incoming/dossier 89eb482c (juin).zip"), ("bad", "incoming/dossier suspect.zip")]:
    body = open(f"{out}/{name}.zip", "rb").read()
    r = s3.put_object(Bucket=bucket, Key=key, Body=body)
    event = json.loads(json.dumps(sample))
    o = event["Records"][0]["s3"]["object"]
    o.update(key=urllib.parse.quote_plus(key, safe="/"), size=len(body),
             eTag=r["ETag"].strip('"'), versionId=r["VersionId"])
    event["Records"][0]["s3"]["bucket"]["name"] = bucket
    json.dump(event, open(f"{out}/{name}-event.json", "w"))
    print(f"   uploaded s3://{bucket}/{key} ({len(body)} bytes, version {r['VersionId'][:8]}...)")
PY

ts_invoke() {
  echo "== cargo lambda invoke trust-sign-archive: $2"
  cargo lambda invoke trust-sign-archive --invoke-address 127.0.0.1 --invoke-port "$LAMBDA_PORT" --data-file "$TS_DIR/$1-event.json"
  echo
}
ts_invoke full "the accepted client file (the first invocation waits for cargo lambda to compile)"
ts_invoke bad "an archive with a ../ entry"
ts_invoke full "the first notification again (S3 delivers at least once)"
echo "   (first: applied; bad: recorded as failed and quarantined, invocation succeeded; redelivery: duplicate)"

echo "== customer-0042 (the report's externalId): state"
"$KYC" status customer-0042
echo "== quarantine: tag and copy of the bad archive"
python3 - "$TS_BUCKET" <<'PY'
import sys, boto3
s3 = boto3.client("s3"); b = sys.argv[1]
for o in s3.list_objects_v2(Bucket=b).get("Contents", []):
    tags = s3.get_object_tagging(Bucket=b, Key=o["Key"])["TagSet"]
    print(f"   {o['Key']:<48} {o['Size']:>7} bytes  {' '.join(t['Key'] + '=' + t['Value'] for t in tags)}")
PY
echo "== kyc inspect archive (offline) of the bad one"
"$KYC" inspect archive "$TS_DIR/bad.zip" || true
echo "== kyc reprocess s3://$TS_BUCKET/incoming/ (already recorded: duplicates)"
"$KYC" reprocess "s3://$TS_BUCKET/incoming/" --quiet
echo "== function log lines (JSON: event ids, outcomes, reason codes; never keys or report content):"
grep -F '"archive' "$LOGS/lambda.log" | grep -o '"fields":{[^}]*}' | tail -3 || true
