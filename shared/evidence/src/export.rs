//! The evidence bundle of one customer (`kyc export`): every file an auditor needs, a
//! `manifest.json` of their SHA-256 digests, each history entry's inclusion proof in its sealed
//! hour, and a self-contained `summary.html` (no external asset: it opens offline). The zip is
//! encrypted (AES-256-GCM-SIV) under a 32-byte key the operator names; `open` reverses it and
//! checks the manifest.

use crate::merkle::{self, Step};
use aes_gcm_siv::aead::{Aead, KeyInit, Payload};
use aes_gcm_siv::{Aes256GcmSiv, Nonce};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::{Cursor, Read, Write};

/// The first bytes of an encrypted bundle.
pub const MAGIC: &[u8] = b"KYCHOOKS-BUNDLE-1\n";
const AAD: &[u8] = b"kyc-hooks evidence bundle v1";

/// One event of the customer, with its provider body opened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportedEvent {
    /// `xpollens`, `trust_sign`, `gopay`.
    pub provider: String,
    /// The provider's id of the event.
    pub event_id: String,
    /// The provider's type (callback number, archive, consent...).
    pub event_type: String,
    /// When kyc-hooks received it.
    pub received_at: DateTime<Utc>,
    /// What recording it did (as in the history).
    pub outcome: String,
    /// The redacted summary kept with the event.
    pub summary: Value,
    /// The body as the provider sent it (JSON when it is, else text); `None` if not kept.
    pub body: Option<Value>,
}

/// A history entry's place in its sealed hour.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EntryProof {
    /// The entry's partition key.
    pub pk: String,
    /// The entry's sort key.
    pub sk: String,
    /// `yyyy-mm-ddTHH` of the hour it belongs to.
    pub hour: String,
    /// `None`: the hour is not sealed yet, or (see `added_after_seal`) the entry is not in it.
    pub sealed: Option<SealedProof>,
    /// The hour is sealed and this entry is not in it: written (or altered in its keys) after
    /// the seal.
    #[serde(default)]
    pub added_after_seal: bool,
    /// The entry's attributes as hashed (its content).
    #[serde(default)]
    pub entry: Value,
    /// The customer's salt, hex (the leaf key is HMAC-SHA256 of the entry's keys under it).
    #[serde(default)]
    pub salt: String,
}

impl EntryProof {
    /// Whether the proof holds for this entry: its leaf recomputed from `entry`, `pk`, `sk`
    /// and `salt` (not taken on trust) leads to the root.
    pub fn verifies(&self) -> bool {
        let Some(sealed) = &self.sealed else {
            return false;
        };
        let Ok(salt) = hex::decode(&self.salt) else {
            return false;
        };
        let leaf = crate::leaf::Leaf::of(
            &crate::leaf::Entry {
                pk: self.pk.clone(),
                sk: self.sk.clone(),
                item: self.entry.clone(),
            },
            &salt,
        );
        leaf.key == sealed.leaf_key && leaf.content == sealed.content && sealed.verifies()
    }
}

/// The leaf and the path to the hour's root.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SealedProof {
    #[serde(with = "merkle::hex_hash")]
    /// The entry's keyed key hash (its leaf key).
    pub leaf_key: merkle::Hash,
    #[serde(with = "merkle::hex_hash")]
    /// The hash of its content.
    pub content: merkle::Hash,
    /// The path to the root.
    pub steps: Vec<Step>,
    #[serde(with = "merkle::hex_hash")]
    /// The sealed hour's root.
    pub root: merkle::Hash,
}

impl SealedProof {
    /// Whether the leaf leads to the root.
    pub fn verifies(&self) -> bool {
        merkle::verify(
            &merkle::leaf_hash(&self.leaf_key, &self.content),
            &self.steps,
            &self.root,
        )
    }
}

/// Everything the bundle holds.
#[derive(Debug, Clone, Default)]
pub struct ExportInput {
    /// The bank's customer id.
    pub customer: String,
    /// When the export was made.
    pub exported_at: Option<DateTime<Utc>>,
    /// Who made it (the caller's AWS identity).
    pub operator: String,
    /// Why (a code).
    pub reason: String,
    /// Every event, bodies opened.
    pub events: Vec<ExportedEvent>,
    /// The history entries as stored.
    pub history: Vec<Value>,
    /// The provider states.
    pub states: Value,
    /// The KYC decision item.
    pub decision: Option<Value>,
    /// `kyc decision explain`'s view of it.
    pub explanation: Option<Value>,
    /// Each history entry's inclusion proof.
    pub proofs: Vec<EntryProof>,
    /// Other files (GoPay PDFs, Trust & Sign report.json), by path in the bundle.
    pub attachments: BTreeMap<String, Vec<u8>>,
}

/// Why a bundle cannot be opened.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// Not a bundle.
    #[error("not a kyc-hooks evidence bundle")]
    NotABundle,
    /// The key is wrong or the bytes were changed.
    #[error("the bundle does not open with this key (wrong key, or altered)")]
    WrongKeyOrAltered,
    /// A key that is not 32 bytes of base64.
    #[error("the key must be 32 bytes, base64")]
    BadKey,
    /// The zip inside is unreadable or incomplete.
    #[error("the bundle's zip is unreadable: {0}")]
    Zip(String),
    /// A file that is not what the manifest says.
    #[error("{0}: its digest is not the manifest's")]
    DigestMismatch(String),
}

fn pretty(v: &impl Serialize) -> Vec<u8> {
    serde_json::to_vec_pretty(v).expect("serialises")
}

/// The files of the bundle, `manifest.json` and `summary.html` included.
pub fn files(input: &ExportInput) -> BTreeMap<String, Vec<u8>> {
    let mut files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for (i, e) in input.events.iter().enumerate() {
        let safe: String = e
            .event_id
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .take(80)
            .collect();
        files.insert(
            format!("events/{}/{i:04}-{safe}.json", e.provider),
            pretty(e),
        );
    }
    files.insert("history.json".into(), pretty(&input.history));
    files.insert("states.json".into(), pretty(&input.states));
    files.insert("decision.json".into(), pretty(&input.decision));
    files.insert("explanation.json".into(), pretty(&input.explanation));
    files.insert("proofs.json".into(), pretty(&input.proofs));
    for (path, bytes) in &input.attachments {
        files.insert(path.clone(), bytes.clone());
    }
    files.insert("summary.html".into(), summary_html(input).into_bytes());
    let manifest: BTreeMap<&String, String> = files
        .iter()
        .map(|(p, b)| (p, hex::encode(Sha256::digest(b))))
        .collect();
    let manifest = pretty(&json!({
        "customerId": input.customer,
        "exportedAt": input.exported_at,
        "operator": input.operator,
        "reason": input.reason,
        "sha256": manifest,
    }));
    files.insert("manifest.json".into(), manifest);
    files
}

/// The zip of [`files`].
pub fn zip(input: &ExportInput) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (path, bytes) in files(input) {
        w.start_file(path, options).expect("an in-memory zip");
        w.write_all(&bytes).expect("an in-memory zip");
    }
    w.finish().expect("an in-memory zip").into_inner()
}

/// A 32-byte key from its base64 text.
pub fn key_from_base64(text: &str) -> Result<[u8; 32], BundleError> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or(BundleError::BadKey)
}

/// `MAGIC ‖ nonce ‖ AES-256-GCM-SIV(zip)`.
pub fn encrypt(key: &[u8; 32], zip: &[u8]) -> Vec<u8> {
    let cipher = Aes256GcmSiv::new(key.into());
    let nonce: [u8; 12] = rand::random();
    let sealed = cipher
        .encrypt(Nonce::from_slice(&nonce), Payload { msg: zip, aad: AAD })
        .expect("AES-GCM-SIV encrypts any length here");
    [MAGIC, &nonce, &sealed].concat()
}

/// The zip inside an encrypted bundle.
pub fn decrypt(key: &[u8; 32], bundle: &[u8]) -> Result<Vec<u8>, BundleError> {
    let rest = bundle.strip_prefix(MAGIC).ok_or(BundleError::NotABundle)?;
    if rest.len() < 12 {
        return Err(BundleError::NotABundle);
    }
    let (nonce, sealed) = rest.split_at(12);
    Aes256GcmSiv::new(key.into())
        .decrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: sealed,
                aad: AAD,
            },
        )
        .map_err(|_| BundleError::WrongKeyOrAltered)
}

/// The files of a zip, every one checked against `manifest.json`.
pub fn open(zip_bytes: &[u8]) -> Result<BTreeMap<String, Vec<u8>>, BundleError> {
    let mut archive = zip::ZipArchive::new(Cursor::new(zip_bytes))
        .map_err(|e| BundleError::Zip(e.to_string()))?;
    let mut files = BTreeMap::new();
    for i in 0..archive.len() {
        let mut f = archive
            .by_index(i)
            .map_err(|e| BundleError::Zip(e.to_string()))?;
        let mut bytes = Vec::new();
        f.read_to_end(&mut bytes)
            .map_err(|e| BundleError::Zip(e.to_string()))?;
        files.insert(f.name().to_string(), bytes);
    }
    let manifest: Value = files
        .get("manifest.json")
        .and_then(|m| serde_json::from_slice(m).ok())
        .ok_or_else(|| BundleError::Zip("no manifest.json".into()))?;
    let digests = manifest["sha256"]
        .as_object()
        .ok_or_else(|| BundleError::Zip("manifest.json has no sha256".into()))?;
    for (path, bytes) in &files {
        if path == "manifest.json" {
            continue;
        }
        if digests.get(path).and_then(Value::as_str) != Some(&hex::encode(Sha256::digest(bytes))) {
            return Err(BundleError::DigestMismatch(path.clone()));
        }
    }
    if digests.len() + 1 != files.len() {
        return Err(BundleError::Zip(
            "the manifest names files the bundle lacks".into(),
        ));
    }
    Ok(files)
}

fn esc(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn short(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// A page a compliance officer opens in a browser: the decision, then one timeline per
/// provider. Inline CSS only; nothing loads from anywhere.
pub fn summary_html(input: &ExportInput) -> String {
    let mut out = String::new();
    out.push_str("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">");
    out.push_str(&format!(
        "<title>KYC evidence: {}</title>",
        esc(&input.customer)
    ));
    out.push_str("<style>body{font:14px system-ui,sans-serif;margin:2em;color:#111}h1{font-size:1.4em}h2{font-size:1.15em;margin-top:2em;border-bottom:1px solid #ccc}table{border-collapse:collapse;width:100%}td,th{border:1px solid #ddd;padding:4px 6px;text-align:left;vertical-align:top}th{background:#f3f3f3}.meta{color:#555}.ok{color:#064}.no{color:#a00}code{font-size:12px}</style></head><body>");
    out.push_str(&format!(
        "<h1>KYC evidence of customer <code>{}</code></h1>",
        esc(&input.customer)
    ));
    out.push_str(&format!(
        "<p class=\"meta\">Exported {} by <code>{}</code>, reason <code>{}</code>. {} events, {} history entries, {} of them in a sealed hour.</p>",
        input.exported_at.map(|t| t.to_rfc3339()).unwrap_or_default(),
        esc(&input.operator),
        esc(&input.reason),
        input.events.len(),
        input.history.len(),
        input.proofs.iter().filter(|p| p.sealed.is_some()).count()
    ));
    if let Some(d) = &input.decision {
        out.push_str(&format!(
            "<h2>Decision</h2><p><strong id=\"decision\">{}</strong> {}</p>",
            esc(&short(&d["decision"])),
            esc(&short(&d["reasons"]))
        ));
    }
    let mut by_provider: BTreeMap<&str, Vec<&ExportedEvent>> = BTreeMap::new();
    for e in &input.events {
        by_provider.entry(&e.provider).or_default().push(e);
    }
    for (provider, events) in by_provider {
        out.push_str(&format!(
            "<h2>{} <span class=\"meta\">({} events)</span></h2><table><tr><th>received</th><th>type</th><th>outcome</th><th>status</th><th>event id</th></tr>",
            esc(provider),
            events.len()
        ));
        let mut events = events;
        events.sort_by_key(|e| e.received_at);
        for e in events {
            // The status field each provider's summaries name.
            let status = [
                "status",
                "kycStatus",
                "userRecordStatus",
                "enrolmentStatus",
                "authenticationStatus",
                "decision",
                "consent",
                "state",
            ]
            .iter()
            .find_map(|k| e.summary.get(*k).filter(|v| !v.is_null()))
            .map(short)
            .unwrap_or_default();
            out.push_str(&format!(
                "<tr class=\"event\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
                e.received_at.format("%Y-%m-%d %H:%M:%S UTC"),
                esc(&e.event_type),
                esc(&e.outcome),
                esc(&status),
                esc(&e.event_id)
            ));
        }
        out.push_str("</table>");
    }
    out.push_str("<h2>Sealed history</h2><table><tr><th>hour</th><th>entry</th><th>inclusion proof</th></tr>");
    for p in &input.proofs {
        let verdict = match &p.sealed {
            Some(_) if p.verifies() => "<span class=\"ok\">verifies against the hour's root</span>",
            Some(_) => "<span class=\"no\">does not verify</span>",
            None if p.added_after_seal => {
                "<span class=\"no\">not in its sealed hour: added after the seal</span>"
            }
            None => "<span class=\"meta\">hour not sealed yet</span>",
        };
        out.push_str(&format!(
            "<tr><td>{}</td><td><code>{}</code></td><td>{verdict}</td></tr>",
            esc(&p.hour),
            esc(&p.sk)
        ));
    }
    out.push_str("</table><p class=\"meta\">Files and their SHA-256: manifest.json. Proofs: proofs.json (leaf = SHA-256(0x00 ‖ key ‖ content), node = SHA-256(0x01 ‖ left ‖ right)).</p></body></html>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> ExportInput {
        let entry = json!({"eventId": "e/1", "outcome": "applied"});
        let leaf = crate::leaf::Leaf::of(
            &crate::leaf::Entry {
                pk: "XP#C#c".into(),
                sk: "HIST#x".into(),
                item: entry.clone(),
            },
            &[5; 32],
        );
        let mut leaves: Vec<merkle::Hash> = (0..3u8)
            .map(|i| merkle::leaf_hash(&[i; 32], &[9; 32]))
            .collect();
        leaves[1] = leaf.hash();
        let root = merkle::root(&leaves);
        ExportInput {
            customer: "cust <42>".into(),
            exported_at: Some(Utc::now()),
            operator: "arn:aws:sts::1:assumed-role/op".into(),
            reason: "AUDIT-1".into(),
            events: vec![ExportedEvent {
                provider: "xpollens".into(),
                event_id: "e/1".into(),
                event_type: "4".into(),
                received_at: Utc::now(),
                outcome: "applied".into(),
                summary: json!({"status": "Complete"}),
                body: Some(json!({"type": "4", "appUserId": "cust <42>"})),
            }],
            history: vec![json!({"eventId": "e/1"})],
            states: json!({}),
            decision: Some(json!({"decision": "verified", "reasons": []})),
            explanation: None,
            proofs: vec![EntryProof {
                pk: "XP#C#c".into(),
                sk: "HIST#x".into(),
                hour: "2026-12-06T10".into(),
                added_after_seal: false,
                entry: entry.clone(),
                salt: hex::encode([5u8; 32]),
                sealed: Some(SealedProof {
                    leaf_key: leaf.key,
                    content: leaf.content,
                    steps: merkle::proof(&leaves, 1),
                    root,
                }),
            }],
            attachments: BTreeMap::from([("gopay/1.pdf".to_string(), b"%PDF-1.4".to_vec())]),
        }
    }

    #[test]
    fn a_bundle_round_trips_and_an_altered_one_is_refused() {
        let key = [7u8; 32];
        let bundle = encrypt(&key, &zip(&input()));
        assert!(!bundle.windows(8).any(|w| w == b"appUserI"), "encrypted");
        let files = open(&decrypt(&key, &bundle).unwrap()).unwrap();
        assert!(files.contains_key("summary.html") && files.contains_key("gopay/1.pdf"));
        let proofs: Vec<EntryProof> = serde_json::from_slice(&files["proofs.json"]).unwrap();
        assert!(proofs[0].verifies());
        // The entry altered in the bundle: its proof no longer holds.
        let mut altered = proofs[0].clone();
        altered.entry["outcome"] = json!("not applied");
        assert!(!altered.verifies());
        assert!(matches!(
            decrypt(&[8; 32], &bundle),
            Err(BundleError::WrongKeyOrAltered)
        ));
        let mut altered = bundle.clone();
        let last = altered.len() - 1;
        altered[last] ^= 1;
        assert!(decrypt(&key, &altered).is_err());
    }

    #[test]
    fn the_summary_escapes_and_loads_nothing_from_outside() {
        let html = summary_html(&input());
        assert!(html.contains("cust &lt;42&gt;") && !html.contains("cust <42>"));
        assert!(!html.contains("src=") && !html.contains("href=") && !html.contains("http"));
        assert!(html.contains("verifies against the hour"));
    }
}
