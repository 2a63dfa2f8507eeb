# Lifecycle section of `make demo` (docs/lifecycle.md): core banking ends two relationships
# long ago (their retention has run), the bank puts one under legal hold, and the sweep deletes
# only the other.
echo "== lifecycle: core banking's POST /customers/demo-erik/relationship-end (refused applicant, 2020-01-31; IAM-attested event; compiles the function)"
cargo lambda invoke lifecycle --invoke-address 127.0.0.1 --invoke-port "$LAMBDA_PORT" --data-file events/lifecycle-relationship-end.json |
  python3 -c 'import json,sys; r=json.load(sys.stdin); b=json.loads(r["body"]); print("   -> HTTP", r["statusCode"], b.get("outcome"), "deleteAfter", b.get("deleteAfter"))'
echo "== lifecycle: core banking's EventBridge event 'customer relationship ended' (demo-dana, customer, 2020-02-29)"
cargo lambda invoke lifecycle --invoke-address 127.0.0.1 --invoke-port "$LAMBDA_PORT" --data-file events/lifecycle-relationship-ended-event.json
echo
echo "== kyc hold demo-dana --reason LEGAL-DEMO-1 (a legal hold: no deletion until released)"
"$KYC" hold demo-dana --reason LEGAL-DEMO-1 | python3 -c 'import json,sys; d=json.load(sys.stdin); print("  ", d["customer"], "held:", d["hold"]["reason"])'
echo "== kyc retention report (from the due index)"
"$KYC" retention report | python3 -c 'import json,sys; d=json.load(sys.stdin); print("   overdue:", d["overdue"], " within 30 days:", json.dumps(d["fallingDue"].get("30", {})), " objects:", json.dumps(d["objectsFallingDue"].get("30", {})))'
echo "== the daily sweep (EventBridge Scheduler input) -> lifecycle"
cargo lambda invoke lifecycle --invoke-address 127.0.0.1 --invoke-port "$LAMBDA_PORT" --data-file events/lifecycle-sweep-scheduled.json |
  python3 -c 'import json,sys; r=json.load(sys.stdin); print("  ", {k: r[k] for k in ("due","deleted","held","reopened","gopayConsentLive")}, "items:", r["items"])'
for c in demo-erik demo-dana; do
  "$KYC" status "$c" | python3 -c 'import json,sys; d=json.load(sys.stdin); print("  ", sys.argv[1].ljust(10), "providers left:", sorted(d.get("providers") or {}) or "none")' "$c"
done
echo "== kyc history demo-dana: the bank's actions on the record (who, why)"
"$KYC" history demo-dana | python3 -c 'import json,sys; [print("  ", a["at"][:19], a["action"].ljust(20), a["reason"].ljust(14), a["operator"]) for a in json.load(sys.stdin)["bank"]]'
# Erasure (docs/lifecycle.md#erasure): an applicant asks to be forgotten; Xpollens then retries
# one of their callbacks, which must not bring them back.
echo "== erasure: kyc erase demo-dana --reason gdprArticle17 (under legal hold: refused, nothing written)"
if out=$("$KYC" erase demo-dana --reason gdprArticle17 2>&1); then echo "   unexpected: $out"; exit 1; else echo "   -> ${out##*$'\n'}"; fi
echo "== erasure: kyc erase demo-paul --reason gdprArticle17 --dry-run (the checks; what would go)"
"$KYC" erase demo-paul --reason gdprArticle17 --dry-run |
  python3 -c 'import json,sys; d=json.load(sys.stdin); print("   providers:", d["providers"], " tombstones:", d["tombstones"], " events:", d["eventsNamed"], " dropUntil:", d["dropUntil"][:10])'
echo "== erasure: kyc erase demo-paul --reason gdprArticle17 (tombstones first, then every item and object version)"
ARCHIVE_BUCKET=$TS_BUCKET "$KYC" erase demo-paul --reason gdprArticle17 |
  python3 -c 'import json,sys; d=json.load(sys.stdin); print("   deleted:", d["items"], " announced:", d["announced"], " by", d["operator"])'
echo "== Xpollens retries demo-paul's user record (same Webhook-Id): dropped by the tombstone, nothing recorded"
python tools/send_events.py "$URL" events/xpollens-34-paul-inprogress.json
"$KYC" status demo-paul | python3 -c 'import json,sys; d=json.load(sys.stdin); print("   demo-paul providers left:", sorted(d.get("providers") or {}) or "none")'
echo "== the erasures consumer received (erases its own copies by customerId)"
python tools/downstream_demo.py erased
