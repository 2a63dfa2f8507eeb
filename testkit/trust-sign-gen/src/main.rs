//! `gen-archive --kind NAME --out FILE [--size BYTES] [--zip64] [--numeric-ids]`: writes one generated Trust &
//! Sign archive (streamed, so `--size 1073741824` is fine). `gen-archive --list` lists kinds.

use std::io::{BufWriter, Write};
use std::process::ExitCode;
use trust_sign_gen::{write_archive, ArchiveOptions, Kind};

const USAGE: &str =
    "usage: gen-archive --kind NAME --out FILE [--size BYTES] [--zip64] [--numeric-ids] | --list";

fn run(args: &[String]) -> Result<(), String> {
    if args.iter().any(|a| a == "--list") {
        for k in Kind::ALL {
            println!(
                "{}{}",
                k.name(),
                if k.is_valid() { "" } else { "  (bad archive)" }
            );
        }
        return Ok(());
    }
    let (mut kind, mut out, mut opts) = (None, None, ArchiveOptions::default());
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = || {
            it.next()
                .ok_or_else(|| format!("{arg} needs a value\n{USAGE}"))
        };
        match arg.as_str() {
            "--kind" => {
                let v = value()?;
                kind = Some(
                    Kind::from_name(v).ok_or_else(|| format!("unknown kind {v:?} (see --list)"))?,
                );
            }
            "--out" => out = Some(value()?.clone()),
            "--size" => {
                let v = value()?;
                opts.target_size = Some(
                    v.parse()
                        .map_err(|_| format!("--size: {v:?} is not a byte count"))?,
                );
            }
            "--zip64" => opts.zip64 = true,
            "--numeric-ids" => opts.numeric_ids = true,
            other => return Err(format!("unexpected argument {other:?}\n{USAGE}")),
        }
    }
    let (kind, out) = (kind.ok_or(USAGE)?, out.ok_or(USAGE)?);
    let file = std::fs::File::create(&out).map_err(|e| format!("{out}: {e}"))?;
    let mut w = BufWriter::with_capacity(1 << 20, file);
    let size = write_archive(kind, &opts, &mut w).map_err(|e| format!("{out}: {e}"))?;
    w.flush().map_err(|e| format!("{out}: {e}"))?;
    eprintln!("wrote {out}: {} ({size} bytes)", kind.name());
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gen-archive: {e}");
            ExitCode::from(2)
        }
    }
}
