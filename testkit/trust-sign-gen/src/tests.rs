//! Every archive is read back with the `zip` crate, an independent implementation: what this
//! crate writes is a valid ZIP (or broken exactly where intended).

use super::*;
use std::io::{Cursor, Read};

fn read_back(bytes: &[u8]) -> zip::ZipArchive<Cursor<&[u8]>> {
    zip::ZipArchive::new(Cursor::new(bytes)).expect("the zip crate opens the archive")
}

fn names(archive: &zip::ZipArchive<Cursor<&[u8]>>) -> Vec<String> {
    archive.file_names().map(str::to_string).collect()
}

#[test]
fn valid_kinds_are_valid_zips_naming_their_files() {
    // The external-info bomb is read back on its own (a JSON value of it would need GiBs).
    let kinds = Kind::ALL
        .into_iter()
        .filter(|k| k.is_valid() && *k != Kind::ExternalInfoBomb);
    for kind in kinds {
        for zip64 in [false, true] {
            let mut bytes = Vec::new();
            write_archive(
                kind,
                &ArchiveOptions {
                    zip64,
                    ..Default::default()
                },
                &mut bytes,
            )
            .unwrap();
            let mut archive = read_back(&bytes);
            let mut report = String::new();
            archive
                .by_name("report.json")
                .unwrap()
                .read_to_string(&mut report)
                .unwrap();
            let report: serde_json::Value = serde_json::from_str(&report).unwrap();
            assert_eq!(report["clientFile"]["uuid"], scenarios::CLIENT_FILE_UUID);
            // Every entry's data reads back with a matching CRC.
            for i in 0..archive.len() {
                let mut f = archive.by_index(i).unwrap();
                std::io::copy(&mut f, &mut std::io::sink()).unwrap();
            }
            let names = names(&archive);
            for doc in report["documents"].as_array().unwrap() {
                for f in doc["files"].as_array().unwrap() {
                    let present = names.contains(&f["name"].as_str().unwrap().to_string());
                    assert!(present || kind == Kind::ManifestMismatch, "{kind:?}: {f}");
                }
            }
            if let Some(signed) = report["signedDocuments"].as_array() {
                for d in signed {
                    assert!(names.contains(&format!("signed_{}.pdf", d["id"].as_str().unwrap())));
                }
            }
        }
    }
}

#[test]
fn target_size_is_reached_exactly_by_streaming() {
    for (kind, zip64) in [
        (Kind::VideoIdentification, false),
        (Kind::Payslip, true),
        (Kind::Full, false),
    ] {
        for target in [10 * 1024, 300 * 1024, 3 * 1024 * 1024] {
            let mut bytes = Vec::new();
            let opts = ArchiveOptions {
                target_size: Some(target),
                zip64,
                ..ArchiveOptions::default()
            };
            let size = write_archive(kind, &opts, &mut bytes).unwrap();
            assert_eq!(size, bytes.len() as u64);
            // Small targets cannot shrink the fixed content; larger ones are hit exactly.
            if target >= 300 * 1024 {
                assert_eq!(size, target, "{kind:?} {target}");
            }
            let mut archive = read_back(&bytes);
            let big = if kind == Kind::Payslip {
                "filler.bin"
            } else {
                VIDEO_NAME
            };
            std::io::copy(&mut archive.by_name(big).unwrap(), &mut std::io::sink()).unwrap();
        }
    }
}

#[test]
fn bad_kinds_are_broken_where_intended() {
    let not_zip = archive_bytes(Kind::NotZip);
    assert!(zip::ZipArchive::new(Cursor::new(&not_zip[..])).is_err());
    let truncated = archive_bytes(Kind::Truncated);
    assert!(truncated.starts_with(b"PK\x03\x04"));
    assert!(zip::ZipArchive::new(Cursor::new(&truncated[..])).is_err());

    let no_report = archive_bytes(Kind::NoReport);
    assert!(!names(&read_back(&no_report)).contains(&"report.json".to_string()));

    for (kind, evil) in [
        (Kind::DotDotName, "../../etc/cron.d/evil"),
        (Kind::AbsoluteName, "/etc/cron.d/evil"),
    ] {
        let bytes = archive_bytes(kind);
        assert!(
            names(&read_back(&bytes)).contains(&evil.to_string()),
            "{kind:?}"
        );
    }

    let encrypted = archive_bytes(Kind::Encrypted);
    // The zip crate sees the flag and asks for a password.
    let err = read_back(&encrypted)
        .by_name("report.json")
        .err()
        .expect("encrypted");
    assert!(err.to_string().contains("Password"), "{err}");

    let mut not_json = String::new();
    read_back(&archive_bytes(Kind::ReportNotJson))
        .by_name("report.json")
        .unwrap()
        .read_to_string(&mut not_json)
        .unwrap();
    assert!(serde_json::from_str::<serde_json::Value>(&not_json).is_err());

    let mut old = String::new();
    read_back(&archive_bytes(Kind::ReportNotV6))
        .by_name("report.json")
        .unwrap()
        .read_to_string(&mut old)
        .unwrap();
    let old: serde_json::Value = serde_json::from_str(&old).unwrap();
    assert!(old.get("clientFile").is_none());
}

#[test]
fn zip_bombs_declare_what_they_should() {
    for (kind, declared) in [(Kind::ZipBomb, BOMB_SIZE), (Kind::ZipBombLying, 1024)] {
        let bytes = archive_bytes(kind);
        assert!(
            bytes.len() < 1024 * 1024,
            "a bomb stays small: {}",
            bytes.len()
        );
        let mut archive = read_back(&bytes);
        let entry = archive.by_name("report.json").unwrap();
        assert_eq!(entry.size(), declared, "{kind:?}");
    }
}

#[test]
fn the_bomb_stream_inflates_to_valid_json_of_the_requested_size() {
    let size = 3 * 1024 * 1024 + 17;
    let (payload, crc) = bomb(size).unwrap();
    let mut out = Vec::new();
    flate2::read::DeflateDecoder::new(&payload[..])
        .read_to_end(&mut out)
        .unwrap();
    assert_eq!(out.len() as u64, size);
    assert_eq!(crc32fast::hash(&out), crc);
    assert!(serde_json::from_slice::<serde_json::Value>(&out)
        .unwrap()
        .is_object());
}

#[test]
fn the_external_info_bomb_is_small_and_inflates_to_a_valid_report_near_the_limit() {
    let bytes = archive_bytes(Kind::ExternalInfoBomb);
    assert!(bytes.len() < 256 * 1024, "{}", bytes.len());
    let mut archive = read_back(&bytes);
    let entry = archive.by_name("report.json").unwrap();
    assert!(entry.size() > 62 * 1024 * 1024 && entry.size() <= EXTERNAL_INFO_BOMB_SIZE);
    // Streamed through a JSON reader that keeps nothing: valid JSON (the CRC is checked by
    // the zip crate at the end of the entry).
    let mut reader = std::io::BufReader::new(entry);
    serde_json::from_reader::<_, serde::de::IgnoredAny>(&mut reader).unwrap();
}

#[test]
fn verdict_kinds_carry_what_they_are_about() {
    let events = |k: Kind| report_json(k)["events"].as_array().unwrap().clone();
    let fraud = events(Kind::FraudMarked);
    assert!(fraud
        .iter()
        .any(|e| e["type"] == "DEFRAUDED_DOCUMENT_REGISTRATION" && e["taskId"] == "1_1"));
    let unlinked = events(Kind::FraudUnlinked);
    assert!(unlinked
        .iter()
        .any(|e| e["type"] == "DEFRAUDED_DOCUMENT_REGISTRATION" && e["taskId"] == "9_9"));
    let r = report_json(Kind::ReviewOtherParticipant);
    let ids: Vec<_> = r["clientFile"]["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["identityChecks"][0]["idDocument"]["id"].clone())
        .collect();
    assert_eq!(ids, vec![serde_json::json!("ID_CARD"); 2]);
    let field = events(Kind::ReviewOutcomeField);
    assert!(field.iter().any(|e| e["reviewState"] == "ACCEPTED"));
    let nv = report_json(Kind::NotValidatedFailures);
    assert_eq!(nv["documents"][0]["validation"], "NOT_VALIDATED");
    let dates = report_json(Kind::IsoDates);
    assert_eq!(dates["date"], "2024-06-18T10:00:05+0200");
    assert_eq!(dates["clientFile"]["startDate"], "2024-06-14T11:00:00");
}

#[test]
fn kinds_round_trip_by_name() {
    for kind in Kind::ALL {
        assert_eq!(Kind::from_name(kind.name()), Some(kind));
    }
    assert_eq!(Kind::from_name("nope"), None);
}
