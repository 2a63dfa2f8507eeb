//! Writes `target/bench-results/<name>.json` (`[{"figure","goal","value","unit","pass"}]`) for
//! `make bench`'s closing table (the same format as `kyc_integration_tests::bench_results`,
//! which this crate's benches cannot depend on).

use serde_json::{json, Value};
use std::path::PathBuf;

/// The workspace's `target` (or `CARGO_TARGET_DIR`).
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"))
}

pub fn figure(figure: &str, goal: &str, value: f64, unit: &str, pass: Option<bool>) -> Value {
    json!({"figure": figure, "goal": goal, "value": value, "unit": unit, "pass": pass})
}

pub fn write(name: &str, figures: Vec<Value>) {
    let dir = target_dir().join("bench-results");
    std::fs::create_dir_all(&dir).expect("create target/bench-results");
    let path = dir.join(format!("{name}.json"));
    std::fs::write(
        &path,
        serde_json::to_vec_pretty(&Value::Array(figures)).unwrap(),
    )
    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    eprintln!("figures written to {}", path.display());
}
