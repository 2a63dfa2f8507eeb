//! The provider pages' Mermaid state diagrams against the code's own status tables: a status
//! the code knows is in its stream's diagram, and a diagram names no status the code does not
//! know (issue 28). Each diagram says which stream it draws (`%% stream: <name>`).

use kyc_xpollens::status::{
    AuthenticationStatus, DiligenceStatus, KycStatus, PepStatus, StatusRules, UserFreezeStatus,
    UserRecordStatus,
};
use std::collections::{BTreeMap, BTreeSet};

/// stream → the states its diagram names (`[*]` left out).
fn diagrams(page: &str) -> BTreeMap<String, BTreeSet<String>> {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../docs/providers")
            .join(page),
    )
    .unwrap();
    let mut out = BTreeMap::new();
    for block in text.split("```mermaid").skip(1) {
        let block = block.split("```").next().unwrap();
        let stream = block
            .lines()
            .find_map(|l| l.trim().strip_prefix("%% stream:"))
            .unwrap_or_else(|| panic!("{page}: a diagram without `%% stream: <name>`"))
            .trim()
            .to_string();
        let mut states = BTreeSet::new();
        for line in block.lines().filter(|l| l.contains("-->")) {
            let (from, to) = line.split_once("-->").unwrap();
            let to = to.split(':').next().unwrap();
            for s in [from.trim(), to.trim()] {
                if s != "[*]" {
                    states.insert(s.to_string());
                }
            }
        }
        assert!(
            out.insert(stream.clone(), states).is_none(),
            "{page}: two diagrams of {stream}"
        );
    }
    out
}

fn names<T: StatusRules + Copy>(all: &[T]) -> BTreeSet<String> {
    all.iter().map(|s| s.name().to_string()).collect()
}

fn strings(all: &[&str]) -> BTreeSet<String> {
    all.iter().map(|s| s.to_string()).collect()
}

fn check(page: &str, code: BTreeMap<&str, BTreeSet<String>>) {
    let drawn = diagrams(page);
    assert_eq!(
        drawn.keys().map(String::as_str).collect::<BTreeSet<_>>(),
        code.keys().copied().collect::<BTreeSet<_>>(),
        "{page}: the streams drawn"
    );
    for (stream, states) in code {
        let d = &drawn[stream];
        let missing: Vec<_> = states.difference(d).collect();
        let unknown: Vec<_> = d.difference(&states).collect();
        assert!(
            missing.is_empty() && unknown.is_empty(),
            "{page} {stream}: missing from the diagram {missing:?}, unknown to the code {unknown:?}"
        );
    }
}

#[test]
fn the_xpollens_diagrams_name_every_status_of_status_rs() {
    check(
        "xpollens.md",
        BTreeMap::from([
            ("kycDemand", names(KycStatus::ALL)),
            ("userRecord", names(UserRecordStatus::ALL)),
            ("userFreeze", names(UserFreezeStatus::ALL)),
            ("scaResult", names(AuthenticationStatus::ALL)),
            ("pepScreening", names(PepStatus::ALL)),
            ("diligence", names(DiligenceStatus::ALL)),
        ]),
    );
}

#[test]
fn the_trust_sign_diagram_names_every_client_file_state() {
    let mut states = strings(kyc_trust_sign::report::ClientFileState::ALL);
    // What the plan stores for a report without a state.
    states.insert("UNKNOWN".into());
    check("trust-sign.md", BTreeMap::from([("clientFile", states)]));
}

#[test]
fn the_gopay_diagrams_name_every_status_the_streams_store() {
    use kyc_gopay::plan;
    let mut identification = strings(kyc_gopay::identification::IdentificationState::DOCUMENTED);
    identification.insert(plan::IDENTITY_MISMATCH.into());
    check(
        "gopay.md",
        BTreeMap::from([
            (plan::IDENTIFICATION_STREAM, identification),
            (plan::CONSENT_STREAM, strings(plan::CONSENT_STATUSES)),
            (plan::BINDING_STREAM, strings(plan::BINDING_STATUSES)),
        ]),
    );
}
