//! `kyc verify` (`docs/evidence.md`): the history as it is now against the sealed hours.

use crate::failure::{transient, Failure};
use kyc_aws::aws_sdk_dynamodb::types::AttributeValue as Av;
use kyc_aws::aws_sdk_dynamodb::Client;
use kyc_core::chrono::{DateTime, Utc};
use kyc_evidence::aws::{lock_mode, DynamoHistory, S3Digests};
use kyc_evidence::export::{
    decrypt, encrypt, key_from_base64, open, zip, EntryProof, ExportInput, ExportedEvent,
    SealedProof,
};
use kyc_evidence::leaf::leaf_as_sealed;
use kyc_evidence::seal::DigestStore;
use kyc_evidence::seal::HistorySource;
use kyc_evidence::verify::hours_between;
use serde_json::Value;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Verify {
    /// Our customer id: every hour in which it has history entries now, e.g. customer-0042.
    #[arg(required_unless_present = "since", conflicts_with = "since")]
    customer: Option<String>,
    /// Every hour from this time (RFC 3339, e.g. 2026-12-01T00:00:00Z) to --until.
    #[arg(long)]
    since: Option<DateTime<Utc>>,
    /// The end of the --since range (default: now).
    #[arg(long)]
    until: Option<DateTime<Utc>>,
    /// The DynamoDB table, e.g. kyc-hooks-prod.
    #[arg(long, env = "TABLE_NAME", default_value = "kyc-hooks")]
    table: String,
    /// The evidence bucket (the stack's EvidenceBucketName output).
    #[arg(long, env = "EVIDENCE_BUCKET")]
    bucket: String,
}

/// `kyc verify CUSTOMER|--since TIME`: exit 0 when nothing was changed after its hour was
/// sealed; exit 1 with the findings (hour and entry keys, never content) otherwise.
pub async fn verify(args: Verify) -> Result<Value, Failure> {
    let config = kyc_aws::load_config().await;
    let history = DynamoHistory::new(Client::new(&config), &args.table);
    let digests = S3Digests {
        client: kyc_aws::s3_client(&config),
        bucket: args.bucket.clone(),
        // Reading only: the lock settings are the seal's.
        lock_mode: lock_mode("GOVERNANCE").expect("a mode"),
        lock_days: 1,
    };
    let mut extra = Vec::new();
    let hours = match (&args.customer, args.since) {
        (Some(c), _) => {
            // The customer's entries from the table itself too: one written without its
            // hour-index keys would not be in the index.
            extra = history.entries_of_customer(c).await?;
            let mut hours: std::collections::BTreeSet<String> =
                history.hours_of_customer(c).await?.into_iter().collect();
            hours.extend(
                extra
                    .iter()
                    .filter_map(|e| e.sk.get(5..18).map(str::to_string)),
            );
            hours.into_iter().collect()
        }
        (None, Some(since)) => {
            let until = args.until.unwrap_or_else(Utc::now);
            if until < since {
                return Err(Failure::BadInput("--until is before --since".into()));
            }
            hours_between(since, until)
        }
        (None, None) => unreachable!("clap requires one"),
    };
    let report = kyc_evidence::verify::verify_with(&history, &digests, &hours, &extra).await?;
    let json = serde_json::to_value(&report).expect("the report serialises");
    if report.is_clean() {
        Ok(json)
    } else {
        println!("{json:#}");
        Err(Failure::BadInput(format!(
            "{} finding(s): the history was changed after its hour was sealed",
            report.tampering.len()
        )))
    }
}

/// The bank action that records an evidence export (`kyc history`).
pub const EVIDENCE_EXPORTED: &str = "evidenceExported";

#[derive(clap::Args)]
pub struct Export {
    /// Our customer id, e.g. customer-0042.
    customer: String,
    /// Why: a code of the bank's procedures (1 to 64 of [A-Za-z0-9._:-]), e.g. AUDIT-2026-7.
    /// Recorded in the customer's history with your AWS identity before anything is read.
    #[arg(long)]
    reason: String,
    /// The bundle's key: a file holding 32 random bytes in base64 (`openssl rand -base64 32`),
    /// given to the auditor apart from the bundle.
    #[arg(long)]
    key_file: PathBuf,
    /// Where to write the encrypted bundle.
    #[arg(long)]
    out: PathBuf,
    /// The DynamoDB table, e.g. kyc-hooks-prod.
    #[arg(long, env = "TABLE_NAME", default_value = "kyc-hooks")]
    table: String,
    /// The evidence bucket (the stack's EvidenceBucketName output).
    #[arg(long, env = "EVIDENCE_BUCKET")]
    bucket: String,
    #[command(flatten)]
    keyrings: crate::reseal::KeyringSecrets,
    #[command(flatten)]
    objects: crate::lifecycle::ObjectBuckets,
}

#[derive(clap::Args)]
pub struct OpenBundle {
    /// The encrypted bundle `kyc export` wrote.
    file: PathBuf,
    /// The key file it was written under.
    #[arg(long)]
    key_file: PathBuf,
    /// The directory to write its files into (created).
    #[arg(long)]
    out: PathBuf,
    /// The evidence bucket: each proof's root is also compared with its hour's locked digest
    /// (without it, proofs are checked against the roots the bundle carries).
    #[arg(long, env = "EVIDENCE_BUCKET")]
    bucket: Option<String>,
}

fn read_key(path: &std::path::Path) -> Result<[u8; 32], Failure> {
    let text =
        std::fs::read_to_string(path).map_err(|e| Failure::BadInput(format!("key file: {e}")))?;
    key_from_base64(&text).map_err(|e| Failure::BadInput(e.to_string()))
}

async fn s3_bytes(
    s3: &kyc_aws::aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
) -> Result<Option<Vec<u8>>, Failure> {
    match s3.get_object().bucket(bucket).key(key).send().await {
        Ok(out) => Ok(Some(
            out.body
                .collect()
                .await
                .map_err(|e| transient("GetObject body", e))?
                .into_bytes()
                .to_vec(),
        )),
        Err(e) if e.as_service_error().is_some_and(|e| e.is_no_such_key()) => Ok(None),
        Err(e) => Err(transient(
            "GetObject",
            kyc_aws::aws_sdk_s3::error::DisplayErrorContext(&e),
        )),
    }
}

/// `kyc export CUSTOMER`: the customer's evidence bundle, encrypted under the key file; the
/// export is recorded in the customer's history first.
pub async fn export(args: Export) -> Result<Value, Failure> {
    use kyc_core::bank::{BankAction, BankHistory};
    use kyc_core::intake::{EventRecord, EventStore, Provider};
    if !kyc_decision::is_reason_code(&args.reason) {
        return Err(Failure::BadInput(
            "reason must be a code of 1 to 64 characters [A-Za-z0-9._:-]".into(),
        ));
    }
    let key = read_key(&args.key_file)?;
    let config = kyc_aws::load_config().await;
    let operator = crate::decision::caller().await?;
    let ddb = Client::new(&config);
    let now = Utc::now();
    kyc_aws::bank_history::DynamoBankHistory::new(ddb.clone(), &args.table)
        .append(
            &args.customer,
            &BankAction {
                at: now,
                action: EVIDENCE_EXPORTED.into(),
                operator: operator.clone(),
                reason: args.reason.clone(),
                detail: serde_json::json!({"what": "evidenceBundle"}),
            },
        )
        .await?;
    let keyrings = args.keyrings.load(&config, &Provider::ALL).await?;
    let store = kyc_aws::DynamoStore::from_client(ddb.clone(), &args.table);
    let s3 = kyc_aws::s3_client(&config);
    // Each provider's data under the id the alias map names (`kyc customer alias`): an aliased
    // id's state and history are this customer's, its own id's there another's.
    use kyc_decision::store::DecisionStore;
    let inputs = kyc_decision::aws::DynamoDecisionStore::new(ddb.clone(), &args.table)
        .inputs(&args.customer)
        .await?;
    let states = inputs.states;
    let mut history = Vec::new();
    let mut ids: std::collections::BTreeMap<&str, Vec<Provider>> = Default::default();
    for p in Provider::ALL {
        if let Some(id) = inputs.aliases.state_id(&args.customer, p) {
            ids.entry(id).or_default().push(p);
        }
    }
    for (id, providers) in ids {
        history.extend(
            store
                .history(id)
                .await?
                .into_iter()
                .filter(|h| providers.contains(&h.provider)),
        );
    }
    history.sort_by_key(|h| h.position());
    let mut input = ExportInput {
        customer: args.customer.clone(),
        exported_at: Some(now),
        operator: operator.clone(),
        reason: args.reason.clone(),
        states: kyc_core::kyc_state::status_json(&args.customer, states.clone()),
        history: history
            .iter()
            .map(|h| serde_json::to_value(h).expect("entries serialise"))
            .collect(),
        ..ExportInput::default()
    };
    for (n, h) in history.iter().enumerate() {
        let item = ddb
            .get_item()
            .table_name(&args.table)
            .key(
                "PK",
                Av::S(kyc_core::keys::event_pk(h.provider, &h.event_id)),
            )
            .key("SK", Av::S(kyc_core::keys::EVENT_SK.into()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| {
                transient(
                    "GetItem",
                    kyc_aws::aws_sdk_dynamodb::error::DisplayErrorContext(&e),
                )
            })?
            .item;
        let text = |i: &std::collections::HashMap<String, Av>, n: &str| {
            i.get(n).and_then(|v| v.as_s().ok()).cloned()
        };
        let mut body = None;
        if let Some(item) = &item {
            let sealed = match (text(item, "sealedBody"), text(item, "bodyRef")) {
                (Some(s), _) => Some(s),
                (None, Some(location)) => match location
                    .strip_prefix("s3://")
                    .and_then(|r| r.split_once('/'))
                {
                    Some((bucket, key)) => s3_bytes(&s3, bucket, key)
                        .await?
                        .map(|b| String::from_utf8_lossy(&b).into_owned()),
                    None => None,
                },
                _ => None,
            };
            if let (Some(sealed), Some(ring)) = (sealed, keyrings.get(&h.provider)) {
                let aad = EventRecord::body_aad(
                    h.provider,
                    &h.event_id,
                    text(item, "subject").as_deref(),
                );
                let opened = ring
                    .open(&aad, &sealed)
                    .map_err(|e| Failure::BadInput(format!("event body does not open: {e}")))?;
                body = Some(
                    serde_json::from_slice::<Value>(&opened)
                        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&opened).into())),
                );
            }
        }
        // A Trust & Sign event's descriptor names the report.json copy.
        if let Some(b) = &body {
            if let (Some(bucket), Some(key)) =
                (b["object"]["bucket"].as_str(), b["processedKey"].as_str())
            {
                if let Some(bytes) = s3_bytes(&s3, bucket, key).await? {
                    input
                        .attachments
                        .insert(format!("trust-sign/{n:04}-report.json"), bytes);
                }
            }
        }
        input.events.push(ExportedEvent {
            provider: h.provider.as_str().into(),
            event_id: h.event_id.clone(),
            event_type: h.event_type.clone(),
            received_at: h.received_at,
            outcome: h.outcome.clone(),
            summary: h.summary.clone(),
            body,
        });
    }
    // GoPay identification PDFs the GoPay state names.
    if let (Some(bucket), Some(gp)) = (&args.objects.gopay_bucket, states.get(&Provider::Gopay)) {
        for (n, v) in gp.streams.values().enumerate() {
            if let Some(key) = v.detail.get("s3Key").and_then(Value::as_str) {
                if let Some(bytes) = s3_bytes(&s3, bucket, key).await? {
                    input
                        .attachments
                        .insert(format!("gopay/{n:02}-identification.pdf"), bytes);
                }
            }
        }
    }
    input.decision = kyc_decision::aws::DynamoDecisionStore::new(ddb.clone(), &args.table)
        .get(&args.customer)
        .await?
        .map(|d| serde_json::to_value(d).expect("a decision serialises"));
    input.explanation = crate::decision::explanation_of(&args.table, &args.customer).await?;
    // Each history entry's inclusion proof in its sealed hour.
    let sealed_history = DynamoHistory::new(ddb.clone(), &args.table);
    let digests = S3Digests {
        client: s3.clone(),
        bucket: args.bucket.clone(),
        lock_mode: lock_mode("GOVERNANCE").expect("a mode"),
        lock_days: 1,
    };
    for e in sealed_history.entries_of_customer(&args.customer).await? {
        let hour = e
            .sk
            .get(kyc_core::keys::HISTORY_PREFIX.len()..kyc_core::keys::HISTORY_PREFIX.len() + 13)
            .unwrap_or_default()
            .to_string();
        // Under the salt its hour was sealed with (an alias added since changes the salt).
        let salts = sealed_history.salts_for(&e.pk).await?;
        let digest = digests.get(&hour).await?;
        let (leaf, salt) = leaf_as_sealed(&e, &salts, |k| {
            digest
                .as_ref()
                .is_some_and(|d| d.seal.proof_of(k).is_some())
        });
        let sealed = digest.as_ref().and_then(|d| {
            d.seal.proof_of(&leaf.key).map(|steps| SealedProof {
                leaf_key: leaf.key,
                content: leaf.content,
                steps,
                root: d.seal.root,
            })
        });
        input.proofs.push(EntryProof {
            added_after_seal: digest.is_some() && sealed.is_none(),
            entry: e.item.clone(),
            salt: salt.iter().map(|b| format!("{b:02x}")).collect(),
            pk: e.pk,
            sk: e.sk,
            hour,
            sealed,
        });
    }
    let bundle = encrypt(&key, &zip(&input));
    std::fs::write(&args.out, &bundle)
        .map_err(|e| Failure::BadInput(format!("{}: {e}", args.out.display())))?;
    Ok(serde_json::json!({
        "customer": args.customer,
        "out": args.out,
        "bytes": bundle.len(),
        "sha256": kyc_core::intake::sha256_hex(&bundle),
        "events": input.events.len(),
        "attachments": input.attachments.len(),
        "proofs": {
            "sealed": input.proofs.iter().filter(|p| p.sealed.is_some()).count(),
            "notSealedYet": input.proofs.iter().filter(|p| p.sealed.is_none() && !p.added_after_seal).count(),
            "addedAfterSeal": input.proofs.iter().filter(|p| p.added_after_seal).count(),
        },
        "operator": operator,
    }))
}

/// `kyc bundle open FILE`: decrypts, checks every file against the manifest and every
/// inclusion proof against its root, writes the files. Exit 1 if anything does not check.
pub async fn open_bundle(args: OpenBundle) -> Result<Value, Failure> {
    let key = read_key(&args.key_file)?;
    let bytes = std::fs::read(&args.file)
        .map_err(|e| Failure::BadInput(format!("{}: {e}", args.file.display())))?;
    let files = decrypt(&key, &bytes)
        .and_then(|z| open(&z))
        .map_err(|e| Failure::BadInput(e.to_string()))?;
    let proofs: Vec<EntryProof> = files
        .get("proofs.json")
        .and_then(|p| serde_json::from_slice(p).ok())
        .unwrap_or_default();
    // Each proof recomputed from its entry (keys, salt, content) up to its root.
    let verified = proofs.iter().filter(|p| p.verifies()).count();
    // A proof that does not hold, or an entry missing from its sealed hour.
    let mut failed = proofs
        .iter()
        .filter(|p| p.added_after_seal || (p.sealed.is_some() && !p.verifies()))
        .count();
    // The roots the bundle carries, against the locked digests (an auditor's own check).
    let mut roots_checked = None;
    if let Some(bucket) = &args.bucket {
        let config = kyc_aws::load_config().await;
        let digests = S3Digests {
            client: kyc_aws::s3_client(&config),
            bucket: bucket.clone(),
            lock_mode: lock_mode("GOVERNANCE").expect("a mode"),
            lock_days: 1,
        };
        let mut matched = 0;
        for p in &proofs {
            if let Some(s) = &p.sealed {
                match digests.get(&p.hour).await? {
                    Some(d) if d.seal.root == s.root => matched += 1,
                    _ => failed += 1,
                }
            }
        }
        roots_checked = Some(matched);
    }
    for (path, content) in &files {
        // Paths are the bundle's own (no `..`): refuse anything else.
        if path.split('/').any(|c| c == ".." || c.is_empty()) {
            return Err(Failure::BadInput(format!(
                "unsafe path in the bundle: {path}"
            )));
        }
        let target = args.out.join(path);
        if let Some(dir) = target.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| Failure::BadInput(format!("{}: {e}", dir.display())))?;
        }
        std::fs::write(&target, content)
            .map_err(|e| Failure::BadInput(format!("{}: {e}", target.display())))?;
    }
    let report = serde_json::json!({
        "files": files.len(),
        "manifest": "every file matches",
        "proofsVerified": verified,
        "proofsFailed": failed,
        "notSealedYet": proofs
            .iter()
            .filter(|p| p.sealed.is_none() && !p.added_after_seal)
            .count(),
        "addedAfterSeal": proofs.iter().filter(|p| p.added_after_seal).count(),
        "rootsMatchingTheLockedDigests": roots_checked,
        "out": args.out,
    });
    if failed > 0 {
        println!("{report:#}");
        return Err(Failure::BadInput(format!(
            "{failed} inclusion proof(s) do not verify"
        )));
    }
    Ok(report)
}
