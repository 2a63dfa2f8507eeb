"""Provisions the local stack for `make demo`: the table, the credentials and the payload keyrings.

Uses boto3 (installed with moto) against AWS_ENDPOINT_URL. Credentials are demo values.
"""

import base64
import json
import os
import sys

import boto3

endpoint = os.environ["AWS_ENDPOINT_URL"]
table = os.environ.get("TABLE_NAME", "kyc-hooks")
ddb = boto3.client("dynamodb", endpoint_url=endpoint)
ddb.create_table(
    TableName=table,
    BillingMode="PAY_PER_REQUEST",
    AttributeDefinitions=[
        {"AttributeName": n, "AttributeType": "S"} for n in ("PK", "SK", "GSI1PK", "GSI1SK")
    ],
    KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
    # GSI1: sparse secondary access paths (e.g. GoPay profiles by next-due time).
    GlobalSecondaryIndexes=[{
        "IndexName": "GSI1",
        "KeySchema": [{"AttributeName": "GSI1PK", "KeyType": "HASH"}, {"AttributeName": "GSI1SK", "KeyType": "RANGE"}],
        "Projection": {"ProjectionType": "ALL"},
    }],
    # The state publisher's source (make demo reads it and hands the records to the function).
    StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
)
ddb.update_time_to_live(TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expiresAt"})
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
        }),
    )
print(f"provisioned table {table} and secrets", file=sys.stderr)
