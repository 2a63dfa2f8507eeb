//! Generator of realistic Namirial Trust & Sign client-file archives (a ZIP holding
//! report.json V6 and the files it names), and of every kind of bad archive, for tests, the
//! benchmark and `make demo`. No public sample archive exists: the contents follow the V6
//! reference's examples with fictitious people.
//!
//! Archives stream into any `std::io::Write`: a 1 GiB archive never sits in memory (its large
//! entry is generated on the fly, stored, 64 KiB at a time).

pub mod scenarios;
pub mod zip_writer;

use scenarios::Scenario;
use std::io::{self, Write};
use zip_writer::{EntryOptions, Method, NoiseSource, ZipWriter};

/// Every archive this crate can build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A French ID card (MRZ) whose automatic check failed: expired, MRZ mismatch, inverted names.
    IdCard,
    /// A photo face match failed automatically, then accepted by an operator's review.
    FaceMatchOverturned,
    /// The face-match section's shape (`faceMatch.faceMatches[]`): one selfie failed then
    /// accepted on review, one passed.
    FaceMatchNested,
    VideoIdentification,
    Lin,
    Payslip,
    TaxNotice,
    Rib,
    SignedDocuments,
    /// A client file rejected by an operator.
    Rejected,
    LegalEntity,
    /// Everything above in one accepted client file.
    Full,
    // Bad archives.
    NotZip,
    Truncated,
    NoReport,
    ReportNotJson,
    ReportNotV6,
    /// report.json flagged as encrypted.
    Encrypted,
    /// report.json declares an inflated size beyond 64 MiB.
    ZipBomb,
    /// report.json declares 1 KiB but inflates beyond 64 MiB.
    ZipBombLying,
    /// An entry named `../../etc/cron.d/evil`.
    DotDotName,
    /// An entry named `/etc/cron.d/evil`.
    AbsoluteName,
    /// report.json compressed with bzip2 (method 12).
    UnsupportedCompression,
    /// A valid archive missing a named file and holding an unexpected one.
    ManifestMismatch,
    // Verdict cases of issue 23.
    /// A VALIDATED ID card marked as defrauded, then reviewed: failed, `fraudMarked`.
    FraudMarked,
    /// A fraud mark naming a task of no document: the file still fails (unlinked mark).
    FraudUnlinked,
    /// Two participants' `ID_CARD`s; a review of participant 2's (task 2_1) and one naming
    /// only `ID_CARD`: participant 1's failure stands.
    ReviewOtherParticipant,
    /// A face match review carrying an acceptance field (`reviewState`, the generator's name).
    ReviewOutcomeField,
    /// A NOT_VALIDATED payslip whose controls failed: unconfirmed failures.
    NotValidatedFailures,
    /// Dates in other ISO 8601 forms: basic offset, no offset, comma fraction, basic format.
    IsoDates,
    /// `externalInfo` holding a ~63 MiB `[0,0,...]` array, deflated to ~64 KiB: processed
    /// with the value clipped, never an out-of-memory crash.
    ExternalInfoBomb,
    /// A 1 MiB `version` string naming no V6: quarantined `report_not_v6`, the value clipped.
    VersionHuge,
}

impl Kind {
    pub const ALL: [Kind; 32] = [
        Kind::IdCard,
        Kind::FaceMatchOverturned,
        Kind::FaceMatchNested,
        Kind::VideoIdentification,
        Kind::Lin,
        Kind::Payslip,
        Kind::TaxNotice,
        Kind::Rib,
        Kind::SignedDocuments,
        Kind::Rejected,
        Kind::LegalEntity,
        Kind::Full,
        Kind::NotZip,
        Kind::Truncated,
        Kind::NoReport,
        Kind::ReportNotJson,
        Kind::ReportNotV6,
        Kind::Encrypted,
        Kind::ZipBomb,
        Kind::ZipBombLying,
        Kind::DotDotName,
        Kind::AbsoluteName,
        Kind::UnsupportedCompression,
        Kind::ManifestMismatch,
        Kind::FraudMarked,
        Kind::FraudUnlinked,
        Kind::ReviewOtherParticipant,
        Kind::ReviewOutcomeField,
        Kind::NotValidatedFailures,
        Kind::IsoDates,
        Kind::ExternalInfoBomb,
        Kind::VersionHuge,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kind::IdCard => "id-card",
            Kind::FaceMatchOverturned => "face-match-overturned",
            Kind::FaceMatchNested => "face-match-nested",
            Kind::VideoIdentification => "video",
            Kind::Lin => "lin",
            Kind::Payslip => "payslip",
            Kind::TaxNotice => "tax-notice",
            Kind::Rib => "rib",
            Kind::SignedDocuments => "signed",
            Kind::Rejected => "rejected",
            Kind::LegalEntity => "legal-entity",
            Kind::Full => "full",
            Kind::NotZip => "not-zip",
            Kind::Truncated => "truncated",
            Kind::NoReport => "no-report",
            Kind::ReportNotJson => "report-not-json",
            Kind::ReportNotV6 => "report-not-v6",
            Kind::Encrypted => "encrypted",
            Kind::ZipBomb => "zip-bomb",
            Kind::ZipBombLying => "zip-bomb-lying",
            Kind::DotDotName => "dotdot-name",
            Kind::AbsoluteName => "absolute-name",
            Kind::UnsupportedCompression => "unsupported-compression",
            Kind::ManifestMismatch => "manifest-mismatch",
            Kind::FraudMarked => "fraud-marked",
            Kind::FraudUnlinked => "fraud-unlinked",
            Kind::ReviewOtherParticipant => "review-other-participant",
            Kind::ReviewOutcomeField => "review-outcome-field",
            Kind::NotValidatedFailures => "not-validated-failures",
            Kind::IsoDates => "iso-dates",
            Kind::ExternalInfoBomb => "external-info-bomb",
            Kind::VersionHuge => "version-huge",
        }
    }

    pub fn from_name(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// Whether the archive is meant to be processed successfully.
    pub fn is_valid(self) -> bool {
        matches!(
            self,
            Kind::IdCard
                | Kind::FaceMatchOverturned
                | Kind::FaceMatchNested
                | Kind::VideoIdentification
                | Kind::Lin
                | Kind::Payslip
                | Kind::TaxNotice
                | Kind::Rib
                | Kind::SignedDocuments
                | Kind::Rejected
                | Kind::LegalEntity
                | Kind::Full
                | Kind::ManifestMismatch
                | Kind::FraudMarked
                | Kind::FraudUnlinked
                | Kind::ReviewOtherParticipant
                | Kind::ReviewOutcomeField
                | Kind::NotValidatedFailures
                | Kind::IsoDates
                | Kind::ExternalInfoBomb
        )
    }
}

/// Options of [`write_archive`].
#[derive(Debug, Clone, Default)]
pub struct ArchiveOptions {
    /// Pads the archive to exactly this many bytes (when larger than its natural size) with a
    /// video file named in the report, streamed and stored.
    pub target_size: Option<u64>,
    /// Writes ZIP64 records even when not needed.
    pub zip64: bool,
    /// A JSON merge patch (RFC 7386) applied to the report of a valid kind: another report
    /// `date`, another customer link... (tests of versions and link keys).
    pub report_patch: Option<serde_json::Value>,
    /// Identifiers written as numbers where the reference's examples write strings:
    /// `clientFile.externalId` (the customer link, [`NUMERIC_EXTERNAL_ID`]), the documents'
    /// `attachmentId`, and `clientFile.id` (a number in the reference too). Applied before
    /// `report_patch`.
    pub numeric_ids: bool,
}

/// The customer id of an archive generated with `numeric_ids`.
pub const NUMERIC_EXTERNAL_ID: u64 = 420042;

fn make_ids_numeric(report: &mut serde_json::Value) {
    use serde_json::json;
    report["clientFile"]["externalId"] = json!(NUMERIC_EXTERNAL_ID);
    report["clientFile"]["id"] = json!(10002);
    if let Some(docs) = report["documents"].as_array_mut() {
        for (i, d) in docs.iter_mut().enumerate() {
            d["attachmentId"] = json!(100 + i);
        }
    }
    if let Some(ps) = report["clientFile"]["participants"].as_array_mut() {
        for p in ps {
            for c in p["identityChecks"].as_array_mut().into_iter().flatten() {
                if c["idDocument"].is_object() {
                    c["idDocument"]["attachmentId"] = json!(1);
                }
            }
        }
    }
}

/// RFC 7386: objects merge recursively, `null` removes, anything else replaces.
fn merge_patch(target: &mut serde_json::Value, patch: &serde_json::Value) {
    use serde_json::Value;
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Default::default());
    }
    let t = target.as_object_mut().expect("made an object above");
    for (k, v) in p {
        if v.is_null() {
            t.remove(k);
        } else {
            merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
        }
    }
}

/// The name of the large video entry.
pub const VIDEO_NAME: &str = "1_john_doe_video_identification.mp4";
/// What the zip-bomb kinds inflate to: just past the default 64 MiB limit.
pub const BOMB_SIZE: u64 = 64 * 1024 * 1024 + 1024 * 1024;

/// The scenario behind each valid kind.
pub fn scenario(kind: Kind) -> Scenario {
    use scenarios::*;
    match kind {
        Kind::IdCard => Scenario {
            state: Some("PENDING"),
            ..french_id_card(true)
        },
        Kind::FaceMatchOverturned => face_match_overturned(),
        Kind::FaceMatchNested => face_match_nested(),
        Kind::VideoIdentification => video_identification(VIDEO_NAME),
        Kind::Lin => lin(),
        Kind::Payslip => payslip(),
        Kind::TaxNotice => tax_notice(),
        Kind::Rib => rib(),
        Kind::SignedDocuments => signed_documents(),
        Kind::Rejected => Scenario {
            rejection: Some((
                "DOCUMENT_REJECTED",
                "Pièce d'identité expirée, merci de recommencer",
            )),
            ..french_id_card(true)
        },
        Kind::LegalEntity => legal_entity().merge(signed_documents()),
        Kind::FraudMarked => fraud_marked(),
        Kind::FraudUnlinked => fraud_unlinked(),
        Kind::ReviewOtherParticipant => review_other_participant(),
        Kind::ReviewOutcomeField => review_outcome_field(),
        Kind::NotValidatedFailures => not_validated_failures(),
        Kind::IsoDates | Kind::ExternalInfoBomb | Kind::VersionHuge => Scenario {
            state: Some("ACCEPTED"),
            ..french_id_card(false)
        },
        _ => face_match_overturned()
            .merge(video_identification(VIDEO_NAME))
            .merge(lin())
            .merge(payslip())
            .merge(tax_notice())
            .merge(rib())
            .merge(signed_documents())
            .merge(legal_entity())
            .merge(Scenario {
                state: Some("ACCEPTED"),
                ..Scenario::default()
            }),
    }
}

/// The report.json of a valid kind.
pub fn report_json(kind: Kind) -> serde_json::Value {
    let mut report = scenarios::report(&scenario(kind));
    if let Some(patch) = kind_patch(kind) {
        merge_patch(&mut report, &patch);
    }
    report
}

/// What a kind changes in its scenario's report (before the caller's patch).
fn kind_patch(kind: Kind) -> Option<serde_json::Value> {
    use serde_json::json;
    match kind {
        // The same instants as the other kinds, in other ISO 8601 forms; startDate has no
        // offset (read in Europe/Paris: 09:00 UTC).
        Kind::IsoDates => Some(json!({
            "date": "2024-06-18T10:00:05+0200",
            "clientFile": {
                "startDate": "2024-06-14T11:00:00",
                "finishDate": "2024-06-18T10:00:00,000+02",
                "validationDate": "20240618T080000Z"
            }
        })),
        Kind::VersionHuge => Some(json!({"version": format!("5.{}", "9".repeat(1 << 20))})),
        _ => None,
    }
}

/// The size report.json of [`Kind::ExternalInfoBomb`] inflates to: under the default 64 MiB
/// limit, so it is read and parsed (the bomb is in a free-form field, not the archive).
pub const EXTERNAL_INFO_BOMB_SIZE: u64 = 63 * 1024 * 1024;

fn deflated() -> EntryOptions {
    EntryOptions {
        method: Some(Method::Deflated),
        ..EntryOptions::default()
    }
}

/// Writes the archive of `kind` into `out`; returns its size in bytes.
pub fn write_archive<W: Write>(kind: Kind, opts: &ArchiveOptions, out: W) -> io::Result<u64> {
    match kind {
        Kind::NotZip => return write_not_zip(opts, out),
        Kind::Truncated => {
            // A whole archive cut in the middle: its end records are gone.
            let mut full = Vec::new();
            write_archive(
                Kind::Full,
                &ArchiveOptions {
                    target_size: None,
                    ..opts.clone()
                },
                &mut full,
            )?;
            let cut = &full[..full.len() * 3 / 5];
            let mut out = out;
            out.write_all(cut)?;
            return Ok(cut.len() as u64);
        }
        _ => {}
    }
    let mut zip = ZipWriter::new(out, opts.zip64);
    let valid_scenario = kind.is_valid()
        || matches!(
            kind,
            Kind::NoReport | Kind::Encrypted | Kind::DotDotName | Kind::AbsoluteName
        );
    let s = if valid_scenario {
        scenario(if kind == Kind::ManifestMismatch {
            Kind::Full
        } else {
            kind
        })
    } else {
        scenario(Kind::IdCard)
    };
    let mut report = scenarios::report(&s);
    if let Some(patch) = kind_patch(kind) {
        merge_patch(&mut report, &patch);
    }
    if opts.numeric_ids {
        make_ids_numeric(&mut report);
    }
    if let Some(patch) = &opts.report_patch {
        merge_patch(&mut report, patch);
    }
    let report = serde_json::to_vec_pretty(&report)?;

    match kind {
        Kind::NoReport => {}
        Kind::ReportNotJson => zip.add(
            "report.json",
            b"<html><body>502 Bad Gateway</body></html>",
            &deflated(),
        )?,
        Kind::ReportNotV6 => {
            // An older-style report: participants at the top level, no clientFile, version 5.
            let old = serde_json::json!({"version": 5, "date": "2017-05-16T15:37:59Z",
                "participants": [{"uuid": scenarios::JOHN}], "documents": []});
            zip.add("report.json", &serde_json::to_vec(&old)?, &deflated())?
        }
        Kind::Encrypted => zip.add(
            "report.json",
            &report,
            &EntryOptions {
                extra_flags: 1,
                ..deflated()
            },
        )?,
        Kind::UnsupportedCompression => zip.add(
            "report.json",
            &report,
            &EntryOptions {
                method: Some(Method::Stored),
                method_override: Some(12),
                ..EntryOptions::default()
            },
        )?,
        Kind::ExternalInfoBomb => {
            let (payload, size, crc) = external_info_bomb(&report, EXTERNAL_INFO_BOMB_SIZE)?;
            zip.add_raw(
                "report.json",
                &payload,
                size,
                crc,
                Method::Deflated,
                &EntryOptions::default(),
            )?
        }
        Kind::ZipBomb | Kind::ZipBombLying => {
            let (payload, crc) = bomb(BOMB_SIZE)?;
            let declared = (kind == Kind::ZipBombLying).then_some(1024);
            zip.add_raw(
                "report.json",
                &payload,
                BOMB_SIZE,
                crc,
                Method::Deflated,
                &EntryOptions {
                    declared_uncompressed: declared,
                    ..EntryOptions::default()
                },
            )?
        }
        _ => zip.add("report.json", &report, &deflated())?,
    }
    for (i, f) in s.files.iter().enumerate() {
        if kind == Kind::ManifestMismatch && i == 0 {
            continue; // the first named file goes missing
        }
        // JPEGs and PDFs are stored or deflated as a real writer would choose.
        let method = if f.mime.starts_with("image/") {
            Method::Stored
        } else {
            Method::Deflated
        };
        zip.add(
            &f.name,
            &f.bytes,
            &EntryOptions {
                method: Some(method),
                ..EntryOptions::default()
            },
        )?;
    }
    match kind {
        Kind::DotDotName => zip.add("../../etc/cron.d/evil", b"* * * * * root sh", &deflated())?,
        Kind::AbsoluteName => zip.add("/etc/cron.d/evil", b"* * * * * root sh", &deflated())?,
        Kind::ManifestMismatch => {
            zip.add("notes_operateur.txt", b"not in the report", &deflated())?
        }
        _ => {}
    }
    // The video named by the report: streamed, sized to reach the target.
    let names_video = s
        .identity_checks
        .iter()
        .any(|(_, c)| c.get("videoIdentification").is_some());
    if names_video {
        let fixed =
            zip.position() + zip.stream_overhead(VIDEO_NAME) + zip.trailer_len(&[VIDEO_NAME]);
        let video_len = opts
            .target_size
            .map_or(64 * 1024, |t| t.saturating_sub(fixed).max(1024));
        let mut noise = NoiseSource::new(0x5eed);
        zip.add_stream(VIDEO_NAME, video_len, |buf| noise.fill(buf))?;
    } else if let Some(target) = opts.target_size {
        // Kinds without a video reach the size with an unnamed filler (the manifest lists it).
        let name = "filler.bin";
        let fixed = zip.position() + zip.stream_overhead(name) + zip.trailer_len(&[name]);
        if target > fixed {
            let mut noise = NoiseSource::new(0xf111);
            zip.add_stream(name, target - fixed, |buf| noise.fill(buf))?;
        }
    }
    let (_, size) = zip.finish()?;
    Ok(size)
}

fn write_not_zip<W: Write>(opts: &ArchiveOptions, mut out: W) -> io::Result<u64> {
    let head = b"%PDF-1.7\n% not a zip archive, a PDF uploaded by mistake\n";
    out.write_all(head)?;
    let len = opts.target_size.unwrap_or(16 * 1024).max(head.len() as u64) - head.len() as u64;
    let mut noise = NoiseSource::new(7);
    let mut buf = vec![0u8; 64 * 1024];
    let mut left = len;
    while left > 0 {
        let n = left.min(buf.len() as u64) as usize;
        noise.fill(&mut buf[..n]);
        out.write_all(&buf[..n])?;
        left -= n as u64;
    }
    Ok(head.len() as u64 + len)
}

/// A deflate stream of `size` bytes of valid JSON (`{`, spaces, `}`), built from one 1 MiB
/// block repeated: after a full flush a deflate block refers to nothing before it, so
/// identical blocks can be concatenated. Cheap to build, ~1000:1 to inflate.
fn bomb(size: u64) -> io::Result<(Vec<u8>, u32)> {
    use flate2::{Compress, Compression, FlushCompress};
    const BLOCK: usize = 1024 * 1024;
    let mut c = Compress::new(Compression::best(), false);
    let mut step = |input: &[u8], flush| -> io::Result<Vec<u8>> {
        let mut out = Vec::with_capacity(input.len() / 2 + 1024);
        let before = c.total_in();
        c.compress_vec(input, &mut out, flush)
            .map_err(io::Error::other)?;
        assert_eq!(
            (c.total_in() - before) as usize,
            input.len(),
            "output buffer large enough"
        );
        Ok(out)
    };
    let spaces = vec![b' '; BLOCK];
    let mut payload = step(b"{", FlushCompress::Full)?;
    let block = step(&spaces, FlushCompress::Full)?;
    let blocks = (size - 2) / BLOCK as u64;
    let rest = (size - 2 - blocks * BLOCK as u64) as usize;
    let mut crc = crc32fast::Hasher::new();
    crc.update(b"{");
    for _ in 0..blocks {
        payload.extend_from_slice(&block);
        crc.update(&spaces);
    }
    let mut tail = spaces[..rest].to_vec();
    tail.push(b'}');
    crc.update(&tail);
    payload.extend(step(&tail, FlushCompress::Finish)?);
    Ok((payload, crc.finalize()))
}

/// report.json (pretty JSON bytes) with `clientFile.externalInfo.bomb` set to a `[0,0,...]`
/// array making the whole about `size` bytes, deflated without ever holding it inflated: the
/// array is one 1 MiB block of `0,` compressed once after a full flush and repeated (see
/// [`bomb`]). Returns the deflated bytes, the inflated size and its CRC-32.
fn external_info_bomb(report: &[u8], size: u64) -> io::Result<(Vec<u8>, u64, u32)> {
    use flate2::{Compress, Compression, FlushCompress};
    const BLOCK: usize = 1024 * 1024;
    const MARK: &str = "\"@@bomb@@\"";
    let mut value: serde_json::Value = serde_json::from_slice(report)?;
    value["clientFile"]["externalInfo"]["bomb"] = serde_json::json!("@@bomb@@");
    let text = serde_json::to_string(&value)?;
    let at = text.find(MARK).expect("the mark was just written");
    let head = format!("{}[", &text[..at]);
    let tail = format!("0]{}", &text[at + MARK.len()..]);
    let mut c = Compress::new(Compression::best(), false);
    let mut step = |input: &[u8], flush| -> io::Result<Vec<u8>> {
        let mut out = Vec::with_capacity(input.len() / 2 + 1024);
        let before = c.total_in();
        c.compress_vec(input, &mut out, flush)
            .map_err(io::Error::other)?;
        assert_eq!(
            (c.total_in() - before) as usize,
            input.len(),
            "output buffer large enough"
        );
        Ok(out)
    };
    let block_text = "0,".repeat(BLOCK / 2);
    let mut payload = step(head.as_bytes(), FlushCompress::Full)?;
    let block = step(block_text.as_bytes(), FlushCompress::Full)?;
    let fixed = (head.len() + tail.len()) as u64;
    let blocks = size.saturating_sub(fixed) / BLOCK as u64;
    let mut crc = crc32fast::Hasher::new();
    crc.update(head.as_bytes());
    for _ in 0..blocks {
        payload.extend_from_slice(&block);
        crc.update(block_text.as_bytes());
    }
    crc.update(tail.as_bytes());
    payload.extend(step(tail.as_bytes(), FlushCompress::Finish)?);
    Ok((payload, fixed + blocks * BLOCK as u64, crc.finalize()))
}

/// A small archive of `kind` in memory (tests).
pub fn archive_bytes(kind: Kind) -> Vec<u8> {
    let mut v = Vec::new();
    write_archive(kind, &ArchiveOptions::default(), &mut v).expect("writing to a Vec cannot fail");
    v
}

#[cfg(test)]
mod tests;
