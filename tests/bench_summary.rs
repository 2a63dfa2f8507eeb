//! `make bench`'s closing table: every `target/bench-results/*.json` a benchmark wrote, one
//! line per figure (bench, figure, goal, measured, pass/fail). Exits 1 when a figure misses its
//! goal, so a regression fails `make bench` (figures without a goal are printed as "reported").
//!
//! `bench-summary sizes BIN...` first records the release binaries' sizes
//! (`target/release/BIN`, goal: each under 20 MiB unzipped, i.e. small enough that the
//! Lambda package stays far below its 50 MB zipped / 250 MB unzipped limits and cold starts
//! load little).

use kyc_integration_tests::bench_results::{self, Figure};
use serde_json::Value;

const MAX_BINARY_MIB: f64 = 20.0;

fn record_sizes(bins: &[String]) {
    let release = bench_results::results_dir().join("../release");
    let figures: Vec<Figure> = bins
        .iter()
        .map(|bin| {
            let path = release.join(bin);
            let bytes = std::fs::metadata(&path)
                .unwrap_or_else(|e| {
                    panic!(
                        "{}: {e} (build it with cargo build --release)",
                        path.display()
                    )
                })
                .len();
            let mib = bytes as f64 / (1024.0 * 1024.0);
            Figure::checked(
                &format!("binary size: {bin}"),
                &format!("< {MAX_BINARY_MIB} MiB"),
                (mib * 100.0).round() / 100.0,
                "MiB",
                mib < MAX_BINARY_MIB,
            )
        })
        .collect();
    bench_results::write("binary-sizes", &figures);
}

fn measured(v: &Value) -> String {
    match v.as_f64() {
        Some(x) if x.fract() == 0.0 && x.abs() < 1e15 => format!("{x:.0}"),
        Some(x) if x.abs() >= 100.0 => format!("{x:.1}"),
        Some(x) => format!("{x:.2}"),
        None => v.to_string(),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("sizes") {
        record_sizes(&args[1..]);
        return;
    }
    let dir = bench_results::results_dir();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| {
            panic!(
                "{}: {e} (run the benchmarks first: make bench)",
                dir.display()
            )
        })
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    println!("\n| bench | figure | goal | measured | result |\n|---|---|---|---|---|");
    let (mut failed, mut lines) = (0, 0);
    for path in &files {
        let bench = path.file_stem().unwrap().to_string_lossy().to_string();
        let text = std::fs::read_to_string(path).unwrap();
        let Ok(Value::Array(figures)) = serde_json::from_str::<Value>(&text) else {
            println!("| {bench} | (unreadable file) | | | FAIL |");
            failed += 1;
            continue;
        };
        for f in figures {
            lines += 1;
            let result = match f.get("pass").and_then(Value::as_bool) {
                Some(true) => "pass",
                Some(false) => {
                    failed += 1;
                    "FAIL"
                }
                None => "reported",
            };
            println!(
                "| {bench} | {} | {} | {} {} | {result} |",
                f["figure"].as_str().unwrap_or("?"),
                f["goal"].as_str().unwrap_or(""),
                measured(&f["value"]),
                f["unit"].as_str().unwrap_or(""),
            );
        }
    }
    println!(
        "\n{lines} figures from {} benchmarks; {failed} failing.",
        files.len()
    );
    if failed > 0 {
        std::process::exit(1);
    }
}
