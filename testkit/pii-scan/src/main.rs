//! `pii-scan --planted FILE --inputs DIR... --output LOG...`: fails (exit 1) when a planted
//! value appears in the test output, naming its label and line (never the value); exit 2 when
//! the scan could prove nothing (a planted value no fixture holds, no product log captured).

use pii_scan::{input_files, is_log_line, parse_planted, Hit, Scanner};
use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "usage: pii-scan --planted FILE --inputs PATH... --output LOG...";

struct Args {
    planted: PathBuf,
    inputs: Vec<PathBuf>,
    outputs: Vec<PathBuf>,
}

fn parse_args() -> Result<Args, String> {
    let (mut planted, mut inputs, mut outputs) = (None, vec![], vec![]);
    let mut list: Option<&mut Vec<PathBuf>> = None;
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--planted" => {
                planted = Some(PathBuf::from(it.next().ok_or(USAGE)?));
                list = None;
            }
            "--inputs" => list = Some(&mut inputs),
            "--output" => list = Some(&mut outputs),
            other => match list.as_deref_mut() {
                Some(l) => l.push(PathBuf::from(other)),
                None => return Err(format!("unexpected {other:?}\n{USAGE}")),
            },
        }
    }
    match planted {
        Some(planted) if !inputs.is_empty() && !outputs.is_empty() => Ok(Args {
            planted,
            inputs,
            outputs,
        }),
        _ => Err(USAGE.to_string()),
    }
}

fn run() -> Result<ExitCode, String> {
    let args = parse_args()?;
    let read = |p: &PathBuf| std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()));
    let planted = parse_planted(&String::from_utf8_lossy(&read(&args.planted)?))
        .map_err(|e| format!("{}: {e}", args.planted.display()))?;
    let scanner = Scanner::new(planted);
    let n = scanner.planted().len();

    // Which planted values the fixtures hold: the list must describe the suite's inputs.
    // The list itself and the scanner's own tests hold every value: they are not fixtures.
    let not_fixtures = [
        args.planted.clone(),
        PathBuf::from(env!("CARGO_MANIFEST_DIR")),
    ];
    let files =
        input_files(&args.inputs, &not_fixtures).map_err(|e| format!("reading inputs: {e}"))?;
    let mut in_inputs = vec![0usize; n];
    for file in &files {
        for i in scanner.values_in(&read(file)?) {
            in_inputs[i] += 1;
        }
    }

    let (mut hits, mut lines, mut log_lines, mut bytes): (Vec<Hit>, usize, usize, usize) =
        (vec![], 0, 0, 0);
    for output in &args.outputs {
        let text = read(output)?;
        bytes += text.len();
        for line in text.split(|&b| b == b'\n') {
            lines += 1;
            log_lines += usize::from(is_log_line(line));
        }
        hits.extend(scanner.scan(output, &text));
    }
    let mut in_output = vec![0usize; n];
    for hit in &hits {
        if let Some(i) = scanner.planted().iter().position(|p| p.label == hit.label) {
            in_output[i] += 1;
        }
    }

    println!("pii-scan: planted value                       fixture files  output hits");
    for (i, p) in scanner.planted().iter().enumerate() {
        println!(
            "  {:<44} {:>13}  {:>11}",
            p.label, in_inputs[i], in_output[i]
        );
    }
    let used = in_inputs.iter().filter(|&&c| c > 0).count();
    println!(
        "pii-scan: {n} planted values, {used} found in {} fixture files; output: {lines} lines \
         ({log_lines} product log lines, {:.1} MB) scanned, {} hits",
        files.len(),
        bytes as f64 / 1e6,
        hits.len()
    );

    for hit in &hits {
        eprintln!("LEAK {hit}");
    }
    let unused: Vec<&str> = scanner
        .planted()
        .iter()
        .zip(&in_inputs)
        .filter(|(_, &c)| c == 0)
        .map(|(p, _)| p.label.as_str())
        .collect();
    if !hits.is_empty() {
        eprintln!(
            "pii-scan: FAILED: {} planted values in the test output",
            hits.len()
        );
        return Ok(ExitCode::from(1));
    }
    if !unused.is_empty() {
        eprintln!(
            "pii-scan: no fixture holds {}: the planted list must name values the suite uses",
            unused.join(", ")
        );
        return Ok(ExitCode::from(2));
    }
    if log_lines == 0 {
        eprintln!(
            "pii-scan: no product log line in the output: run the suite with KYC_TEST_LOG=debug \
             and --nocapture, or the scan proves nothing"
        );
        return Ok(ExitCode::from(2));
    }
    Ok(ExitCode::SUCCESS)
}

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("pii-scan: {e}");
            ExitCode::from(2)
        }
    }
}
