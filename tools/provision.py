"""Provisions the local stack for `make demo`: the table, the credentials and the payload keyrings.

Uses boto3 (installed with moto) against AWS_ENDPOINT_URL. Credentials are demo values.
"""

import base64
import json
import os
import sys

import boto3

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import table_schema  # noqa: E402

endpoint = os.environ["AWS_ENDPOINT_URL"]
table = os.environ.get("TABLE_NAME", "kyc-hooks")
ddb = boto3.client("dynamodb", endpoint_url=endpoint)
# The table as the template defines it (schemas/kyc-table.json, checked against template.yaml):
# GSI1 keys only, the stream the state publisher reads (make demo hands its records to the
# function), TTL on expiresAt.
schema = table_schema.load_schema()
ddb.create_table(**table_schema.create_table_args(schema, table))
ddb.update_time_to_live(
    TableName=table,
    TimeToLiveSpecification={"Enabled": True, "AttributeName": schema["TimeToLiveAttribute"]},
)
s3 = boto3.client("s3", endpoint_url=endpoint)
if os.environ.get("XPOLLENS_BODY_BUCKET"):
    s3.create_bucket(
        Bucket=os.environ["XPOLLENS_BODY_BUCKET"],
        CreateBucketConfiguration={"LocationConstraint": os.environ.get("AWS_REGION", "eu-west-3")},
    )
sm = boto3.client("secretsmanager", endpoint_url=endpoint)
sm.create_secret(
    Name=os.environ["XPOLLENS_CREDENTIALS_SECRET"],
    SecretString=json.dumps({"scheme": "basic", "username": "xpollens", "password": "demo-password"}),
)
# Payload keyrings (issue 10): one per provider, each {"currentKeyId", "keys": [...]} with its
# own random key. Every name set below gets one; names shared between variables get one secret
# (make demo runs all functions in one `cargo lambda watch` environment: see tools/demo.sh).
keyrings = sorted({
    os.environ[v]
    for v in ("PAYLOAD_KEY_SECRET", "XPOLLENS_PAYLOAD_KEY_SECRET",
              "TRUST_SIGN_PAYLOAD_KEY_SECRET", "GOPAY_PAYLOAD_KEY_SECRET")
    if os.environ.get(v)
})
for n, name in enumerate(keyrings, start=1):
    key_id = f"demo-{n}"
    sm.create_secret(
        Name=name,
        SecretString=json.dumps({
            "currentKeyId": key_id,
            "keys": [{"keyId": key_id, "key": base64.b64encode(os.urandom(32)).decode()}],
            # The key of keyed names (Trust & Sign quarantine copies), not a payload key.
            "namingKey": {"keyId": f"demo-names-{n}", "key": base64.b64encode(os.urandom(32)).decode()},
        }),
    )
print(f"provisioned table {table} and secrets", file=sys.stderr)
