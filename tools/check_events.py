#!/usr/bin/env python3
"""Checks every events/*.json: valid JSON of a known kind, and what each kind must hold.

Kinds: API Gateway HTTP API 2.0 events (a JSON body parses), a fallback-queue page, an S3
notification, a schedule input (exactly what EventBridge Scheduler sends: the template's
Input), core banking's `customer relationship ended` event, a GoPay identification-status
response. An event of an IAM (SigV4) route carries the
IAM authorizer's attestation, as API Gateway hands it over, unless its name says
`without-iam` (the functions refuse such requests). Exits 1 naming the first bad file.
"""
import glob
import json
import sys

# The routes template.yaml puts behind the IAM authorizer (Auth: Authorizer: AWS_IAM).
IAM_ROUTES = (
    "POST /gopay/consents",
    "POST /gopay/consents/complete",
    "GET /customers/{id}/kyc",
    "GET /customers/{id}/kyc/history",
    "POST /customers/{id}/relationship-end",
)


def check_iam(name, event):
    if event.get("routeKey") not in IAM_ROUTES:
        return
    iam = (event["requestContext"].get("authorizer") or {}).get("iam")
    if "without-iam" in name:
        assert iam is None, "named without-iam but attested"
    else:
        assert iam and iam["userArn"].startswith("arn:") and iam["accessKey"] and iam["accountId"], (
            "an IAM route's event without the IAM authorizer's attestation (userArn, accessKey, accountId)"
        )


def kind_of(event):
    if isinstance(event, list):
        assert all("metadata" in e and "payload" in e for e in event), "queue entry shape"
        return "fallback-queue page"
    if "requestContext" in event:
        assert event["version"] == "2.0", "payload format 2.0"
        headers = {k.lower(): v for k, v in event.get("headers", {}).items()}
        if "json" in headers.get("content-type", "") and event.get("body"):
            json.loads(event["body"])
        return "API Gateway HTTP API 2.0"
    if "Records" in event:
        assert event["Records"][0]["s3"]["object"]["key"], "an object key"
        return "S3 notification"
    if event.get("source") == "kyc-hooks.scheduler":
        assert set(event) == {"source", "detail-type", "detail"}, "the Scheduler's Input only"
        return "schedule input"
    if event.get("source") == "kyc-hooks" and event.get("detail-type") == "KYC decision changed":
        assert event["detail"]["schemaVersion"] == 1, "a decision event of schema version 1"
        return "published decision event"
    if event.get("source") == "kyc-hooks" and event.get("detail-type") == "KYC customer erased":
        assert event["detail"]["schemaVersion"] == 1, "an erasure event of schema version 1"
        return "published erasure event"
    if event.get("detail-type") == "customer relationship ended":
        d = event["detail"]
        assert set(d) == {"customerId", "endedOn", "outcome"}, "core banking's message"
        return "core-banking event"
    if "clientProfileId" in event and "state" in event:
        return "GoPay identification status"
    raise AssertionError("unknown kind")


counts = {}
for name in sorted(glob.glob("events/*.json")):
    try:
        with open(name) as f:
            event = json.load(f)
        kind = kind_of(event)
        if kind == "API Gateway HTTP API 2.0":
            check_iam(name, event)
    except (AssertionError, KeyError, ValueError) as e:
        sys.exit(f"{name}: {e}")
    counts[kind] = counts.get(kind, 0) + 1
print(", ".join(f"{n} {k}" for k, n in counts.items()), "- ok")
