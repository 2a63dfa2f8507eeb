#!/usr/bin/env python3
"""Writes the seed corpus fuzz/corpus/<target>/ (committed; `make fuzz` mutates a copy).

Sources: events/ (API Gateway events, queue page), the Trust & Sign generator (small archives
and their report.json), the reference examples' shapes (GoPay answers, Xpollens/GoPay dates).
Run from the repository root: python3 fuzz/make_seeds.py PATH/TO/gen-archive
"""
import hashlib
import io
import json
import pathlib
import shutil
import subprocess
import sys
import tempfile
import zipfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
CORPUS = ROOT / "fuzz" / "corpus"
# Archives up to this size only: the corpus stays small (< 2 MB in all).
MAX_ARCHIVE = 16 * 1024


def put(target, name, data):
    d = CORPUS / target
    d.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    (d / name).write_bytes(data)


def archives(gen_archive):
    kinds = subprocess.run([gen_archive, "--list"], check=True, capture_output=True, text=True)
    with tempfile.TemporaryDirectory() as tmp:
        runs = [([k.split()[0]], k.split()[0]) for k in kinds.stdout.splitlines() if k.strip()]
        runs.append((["id-card", "--zip64"], "id-card-zip64"))
        for args, name in runs:
            out = pathlib.Path(tmp) / f"{name}.zip"
            subprocess.run([gen_archive, "--kind", args[0], *args[1:], "--out", str(out)],
                           check=True, capture_output=True)
            data = out.read_bytes()
            if len(data) <= MAX_ARCHIVE:
                put("zip_locate", f"{name}.zip", data)
            try:
                with zipfile.ZipFile(io.BytesIO(data)) as z:
                    report = z.read("report.json")
                if len(report) <= MAX_ARCHIVE:
                    put("report_json", f"{name}.json", report)
            except Exception:
                pass  # bad archives: no readable report.json


def xpollens():
    for path in sorted((ROOT / "events").glob("xpollens-*.json")):
        raw = path.read_bytes()
        put("xpollens_event", path.name, raw)
        event = json.loads(raw)
        if not isinstance(event, dict):
            continue  # the queue page
        body = event.get("body")
        if isinstance(body, str) and body:
            put("xpollens_body", path.name, body)
        headers = event.get("headers", {})
        if "webhook-processdate" in headers:
            put("dates", f"{path.stem}.txt", headers["webhook-processdate"])
    # Callback forms the events do not show.
    put("xpollens_body", "form-15.txt", "userid=4242&userstatus=2&type=15")
    put("xpollens_body", "json-in-string.json",
        json.dumps(json.dumps({"type": 4, "appUserId": "fz-1", "status": "Pending"})))


def reference_examples():
    """Request-body examples and dates of the Xpollens callback OpenAPI (reference copy)."""
    ref = pathlib.Path("/work/shared/reference/xpollens/callbacks.openapi.json")
    if not ref.exists():
        return
    bodies, dates_seen = {}, set()

    def walk(node, in_body):
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "example" and in_body and isinstance(value, dict):
                    text = json.dumps(value, ensure_ascii=False)
                    bodies.setdefault(hashlib.sha256(text.encode()).hexdigest()[:12], text)
                elif key == "example" and isinstance(value, str) and any(
                        m in value for m in ("/20", "T0", "T1", "T2")) and len(value) < 40:
                    dates_seen.add(value)
                walk(value, in_body or key == "requestBody")
        elif isinstance(node, list):
            for value in node:
                walk(value, in_body)

    walk(json.loads(ref.read_text()), False)
    for digest, text in sorted(bodies.items()):
        put("xpollens_body", f"reference-{digest}.json", text)
    for i, d in enumerate(sorted(dates_seen)):
        put("dates", f"reference-{i}.txt", d)


def dates():
    for i, d in enumerate([
        "12/12/2023 17:51:40 +00:00", "12/11/2026 17:51:40 +0100", "01/02/2026 00:00:00.123 -05:00",
        "2023-12-18T13:05:14.9053587+00:00", "2024-09-24T22:10:24", "2024-09-24 22:10:24.1",
        "2021-05-18T12:47:14.4008694Z", "2026-03-29T02:30:00", "2026-10-25T02:30:00",
        "2026-11-27T10:00:00+01:00", "2026-11-27T10:00:00.000",
    ]):
        put("dates", f"date-{i}.txt", d)


def gopay():
    token = {"accessToken": "eyJhbGciOiJSUzI1NiJ9.e30.c2ln", "refreshToken": "eyJhbGciOiJSUzI1NiJ9.e30.cmVm",
             "clientProfileId": 123, "expiresIn": 1800}
    received, verified = "2026-11-12 09:01:00", "2026-11-12 09:20:00"
    person = {"firstName": "Fuzz", "lastName": "Seed", "dateOfBirth": "1970-01-01", "sex": "MALE",
              "nationality": "CZE",
              "faceMatch": {"verified": True, "source": "WEBCAM", "dateReceived": received},
              "identDocuments": [{"documentNumber": 1, "state": "VERIFIED", "documentType": "ID_CARD",
                                  "expiryDate": "2036-01-01", "dateVerified": verified}],
              "bankAccounts": [{"state": "VERIFIED", "iban": "CZ0000000000000000000000",
                                "dateReceived": received, "dateVerified": verified}]}
    answers = {
        "app-token.json": {"accessToken": "eyJhbGciOiJSUzI1NiJ9.e30.YXBw"},
        "client-tokens.json": token,
        "client-tokens-snake.json": {"access_token": "a", "refresh_token": "r", "client_profile_id": "77"},
        "error-grant.json": {"errors": [{"error_code": 500, "error_name": "INVALID_GRANT",
                                         "message": "refresh token expired", "field": "refresh_token"}]},
        "error-oauth.json": {"error": "invalid_grant", "error_description": "expired"},
        "status-pending.json": {"clientProfileId": 123, "state": "PENDING", "reasons": [],
                                "dateStarted": "2026-11-12 09:00:00", "dateLastChange": "2026-11-12 09:00:00"},
        "status-identified.json": {"clientProfileId": 123, "state": "IDENTIFIED", "reasons": ["FACE_MATCH"],
                                   "dateStarted": "2026-11-12 09:00:00", "dateLastChange": verified,
                                   "subjectType": "PERSON", "subjectData": {"firstName": "Fuzz"},
                                   "identificationData": {"persons": [person]}},
        "prefill.json": {"prefillId": "pf-0001"},
    }
    for name, value in answers.items():
        put("gopay_answer", name, json.dumps(value))
    put("gopay_answer", "pdf.txt", b"application/pdf\n%PDF-1.4\n%%EOF\n")
    put("gopay_answer", "error-page.txt", b"text/html; charset=utf-8\n<html>error</html>")


def consent_queries():
    state = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    event = json.loads((ROOT / "events" / "gopay-callback-unknown-state.json").read_text())
    put("gopay_consent_query", "event.txt", event["rawQueryString"])
    for i, q in enumerate([f"?code=c0de&state={state}", f"error=access_denied&state={state}",
                           f"error=invalid_scope&state={state}&x=1", f"code=&state={state}",
                           f"code=a&error=b&state={state}", f"state={state}&state={state}&code=a"]):
        put("gopay_consent_query", f"query-{i}.txt", q)


def main():
    if len(sys.argv) != 2 or not pathlib.Path(sys.argv[1]).is_file():
        sys.exit(__doc__)
    if CORPUS.exists():
        shutil.rmtree(CORPUS)
    archives(sys.argv[1])
    xpollens()
    reference_examples()
    dates()
    gopay()
    consent_queries()
    total = sum(f.stat().st_size for f in CORPUS.rglob("*") if f.is_file())
    for d in sorted(CORPUS.iterdir()):
        print(f"{d.name}: {len(list(d.iterdir()))} seeds")
    print(f"total {total} bytes")
    assert total < 2 * 1024 * 1024, "the seed corpus must stay under 2 MB"


if __name__ == "__main__":
    main()
