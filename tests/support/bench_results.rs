//! Benchmark figures for `make bench`'s closing table: each benchmark writes
//! `target/bench-results/<name>.json` as `[{"figure","goal","value","unit","pass"}]`; the
//! `bench-summary` bin prints them all in one table. `pass` is `null` for a figure reported
//! without a goal (e.g. a throughput that measures moto, not the code).

use serde_json::{json, Value};
use std::path::PathBuf;

#[derive(Debug, Clone)]
pub struct Figure {
    pub figure: String,
    pub goal: String,
    pub value: f64,
    pub unit: String,
    pub pass: Option<bool>,
}

impl Figure {
    /// A figure checked against its goal.
    pub fn checked(figure: &str, goal: &str, value: f64, unit: &str, pass: bool) -> Self {
        Self {
            figure: figure.into(),
            goal: goal.into(),
            value,
            unit: unit.into(),
            pass: Some(pass),
        }
    }

    /// A figure reported as measured, without a pass/fail goal.
    pub fn reported(figure: &str, note: &str, value: f64, unit: &str) -> Self {
        Self {
            figure: figure.into(),
            goal: note.into(),
            value,
            unit: unit.into(),
            pass: None,
        }
    }

    fn to_json(&self) -> Value {
        json!({"figure": self.figure, "goal": self.goal, "value": self.value, "unit": self.unit, "pass": self.pass})
    }
}

/// `target/bench-results` of the workspace (or of `CARGO_TARGET_DIR`).
pub fn results_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"))
        .join("bench-results")
}

/// Writes (replaces) `<results_dir>/<name>.json`.
pub fn write(name: &str, figures: &[Figure]) {
    let dir = results_dir();
    std::fs::create_dir_all(&dir).expect("create target/bench-results");
    let doc = Value::Array(figures.iter().map(Figure::to_json).collect());
    let path = dir.join(format!("{name}.json"));
    std::fs::write(&path, serde_json::to_vec_pretty(&doc).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    eprintln!("figures written to {}", path.display());
}
