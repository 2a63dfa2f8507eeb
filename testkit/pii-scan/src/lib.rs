//! The personal-data scan: every value planted in the fixtures (names, birth dates, IBANs,
//! tokens, activation codes, web-view URLs, credentials, S3 keys naming people) is searched
//! for in everything the test suite printed — the product's logs, error messages, CLI output —
//! as written and in the encodings a leak would take (JSON-escaped, URL-encoded, base64).
//!
//! Honesty checks: a planted value no fixture contains is an error (the list must describe
//! what the suite feeds the code), and an output holding no product log line is an error
//! (the logs were not captured, so the scan would prove nothing).

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use base64::Engine;
use std::fmt;
use std::path::{Path, PathBuf};

/// One planted value and what it is (`label` is what reports show; never the value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planted {
    pub label: String,
    pub value: String,
}

/// Shortest value accepted: shorter ones would match innocent text.
pub const MIN_VALUE_LEN: usize = 6;
/// Shortest base64 fragment searched: shorter ones would match random base64 (sealed bodies).
const MIN_BASE64_FRAGMENT: usize = 8;

/// Reads the planted list: `label<TAB>value` lines; `#` comments and blank lines ignored.
pub fn parse_planted(text: &str) -> Result<Vec<Planted>, String> {
    let mut planted: Vec<Planted> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let n = n + 1;
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let (label, value) = line
            .split_once('\t')
            .ok_or_else(|| format!("line {n}: expected LABEL<TAB>VALUE"))?;
        let (label, value) = (label.trim(), value.trim());
        if label.is_empty() {
            return Err(format!("line {n}: empty label"));
        }
        if value.chars().count() < MIN_VALUE_LEN {
            return Err(format!(
                "line {n} ({label}): values shorter than {MIN_VALUE_LEN} characters match innocent text"
            ));
        }
        if planted.iter().any(|p| p.label == label) {
            return Err(format!("line {n}: label {label} is listed twice"));
        }
        planted.push(Planted {
            label: label.to_string(),
            value: value.to_string(),
        });
    }
    Ok(planted)
}

/// How a value was written where it was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Encoding {
    AsIs,
    JsonEscaped,
    UrlEncoded,
    Base64,
}

impl fmt::Display for Encoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Encoding::AsIs => "as is",
            Encoding::JsonEscaped => "JSON-escaped",
            Encoding::UrlEncoded => "URL-encoded",
            Encoding::Base64 => "base64",
        })
    }
}

/// The forms of one value searched for.
fn text_variants(value: &str) -> Vec<(String, Encoding)> {
    let mut out = vec![
        (value.to_string(), Encoding::AsIs),
        // ASCII case is folded by the matcher; these fold the rest (Dvořáková / DVOŘÁKOVÁ).
        (value.to_uppercase(), Encoding::AsIs),
        (value.to_lowercase(), Encoding::AsIs),
    ];
    let json = serde_json::to_string(value).expect("a string serialises");
    let json = &json[1..json.len() - 1];
    out.push((json.to_string(), Encoding::JsonEscaped));
    // `\/` (PHP, some loggers).
    out.push((json.replace('/', "\\/"), Encoding::JsonEscaped));
    // \u escapes of non-ASCII (Python's json.dumps, JavaScript's JSON.stringify of some tools).
    let ascii_json: String = value
        .chars()
        .flat_map(|c| match c {
            c if c.is_ascii() => vec![c.to_string()],
            c => {
                let mut units = [0u16; 2];
                c.encode_utf16(&mut units)
                    .iter()
                    .map(|u| format!("\\u{u:04x}"))
                    .collect()
            }
        })
        .collect();
    out.push((ascii_json, Encoding::JsonEscaped));
    out.push((value.escape_debug().to_string(), Encoding::JsonEscaped));
    let form: String = form_urlencoded::byte_serialize(value.as_bytes()).collect();
    out.push((form.replace('+', "%20"), Encoding::UrlEncoded));
    out.push((form, Encoding::UrlEncoded));
    out.sort();
    out.dedup_by(|a, b| a.0 == b.0);
    out
}

/// Base64 fragments that appear whenever the value is base64-encoded inside a longer text,
/// whatever its alignment: for each of the three alignments, the characters that depend on
/// the value's bytes only.
fn base64_variants(value: &str) -> Vec<String> {
    let engines = [
        base64::engine::general_purpose::STANDARD_NO_PAD,
        base64::engine::general_purpose::URL_SAFE_NO_PAD,
    ];
    let mut out = Vec::new();
    for engine in engines {
        for lead in 0..3usize {
            let mut bytes = vec![0u8; lead];
            bytes.extend_from_slice(value.as_bytes());
            let encoded = engine.encode(&bytes);
            let first = [0, 2, 3][lead];
            let full_groups_end = bytes.len() / 3 * 4;
            if full_groups_end >= first + MIN_BASE64_FRAGMENT {
                out.push(encoded[first..full_groups_end].to_string());
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// A found value, redacted: the report names the label and the place, never the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    pub label: String,
    pub encoding: Encoding,
    pub file: PathBuf,
    pub line: usize,
    /// The line with every planted value replaced by `[planted:LABEL]`, clipped.
    pub redacted: String,
}

impl fmt::Display for Hit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: planted value {} ({}): {}",
            self.file.display(),
            self.line,
            self.label,
            self.encoding,
            self.redacted
        )
    }
}

/// Every planted value in every searched form.
pub struct Scanner {
    planted: Vec<Planted>,
    /// Case-insensitive (ASCII) text forms.
    text: AhoCorasick,
    text_owner: Vec<(usize, Encoding)>,
    /// Base64 is case-sensitive.
    base64: AhoCorasick,
    base64_owner: Vec<usize>,
}

/// The longest excerpt of a line a report shows.
const EXCERPT: usize = 240;

impl Scanner {
    pub fn new(planted: Vec<Planted>) -> Self {
        let (mut text, mut text_owner, mut b64, mut base64_owner) =
            (vec![], vec![], vec![], vec![]);
        for (i, p) in planted.iter().enumerate() {
            for (form, encoding) in text_variants(&p.value) {
                text.push(form);
                text_owner.push((i, encoding));
            }
            for form in base64_variants(&p.value) {
                b64.push(form);
                base64_owner.push(i);
            }
        }
        let build = |patterns: &[String], fold: bool| {
            AhoCorasickBuilder::new()
                .ascii_case_insensitive(fold)
                .match_kind(MatchKind::LeftmostLongest)
                .build(patterns)
                .expect("planted patterns build")
        };
        Self {
            text: build(&text, true),
            base64: build(&b64, false),
            planted,
            text_owner,
            base64_owner,
        }
    }

    pub fn planted(&self) -> &[Planted] {
        &self.planted
    }

    /// Planted values (index, form) found in `bytes`, with their byte ranges.
    fn matches(&self, bytes: &[u8]) -> Vec<(usize, Encoding, std::ops::Range<usize>)> {
        let mut found: Vec<_> = self
            .text
            .find_iter(bytes)
            .map(|m| {
                let (i, e) = self.text_owner[m.pattern().as_usize()];
                (i, e, m.range())
            })
            .chain(self.base64.find_iter(bytes).map(|m| {
                (
                    self.base64_owner[m.pattern().as_usize()],
                    Encoding::Base64,
                    m.range(),
                )
            }))
            .collect();
        found.sort_by_key(|(_, _, r)| (r.start, r.end));
        found
    }

    /// Which planted values `bytes` holds (for the fixture check).
    pub fn values_in(&self, bytes: &[u8]) -> Vec<usize> {
        let mut seen: Vec<usize> = self.matches(bytes).into_iter().map(|m| m.0).collect();
        seen.sort_unstable();
        seen.dedup();
        seen
    }

    /// Every planted value in `output`, one hit per value and line.
    pub fn scan(&self, file: &Path, output: &[u8]) -> Vec<Hit> {
        let mut hits = Vec::new();
        for (n, line) in output.split(|&b| b == b'\n').enumerate() {
            let found = self.matches(line);
            if found.is_empty() {
                continue;
            }
            let mut redacted = String::new();
            let mut at = 0;
            for (i, _, range) in &found {
                if range.start < at {
                    continue; // overlaps a replaced value
                }
                redacted.push_str(&String::from_utf8_lossy(&line[at..range.start]));
                redacted.push_str(&format!("[planted:{}]", self.planted[*i].label));
                at = range.end;
            }
            redacted.push_str(&String::from_utf8_lossy(&line[at..]));
            let redacted = clip(&redacted);
            let mut labels_done = Vec::new();
            for (i, encoding, _) in found {
                if labels_done.contains(&i) {
                    continue;
                }
                labels_done.push(i);
                hits.push(Hit {
                    label: self.planted[i].label.clone(),
                    encoding,
                    file: file.to_path_buf(),
                    line: n + 1,
                    redacted: redacted.clone(),
                });
            }
        }
        hits
    }
}

fn clip(line: &str) -> String {
    if line.chars().count() <= EXCERPT {
        return line.to_string();
    }
    let head: String = line.chars().take(EXCERPT).collect();
    format!("{head}…")
}

/// A product log line as the test subscriber writes it (JSON, see `kyc-test-log`).
pub fn is_log_line(line: &[u8]) -> bool {
    line.starts_with(b"{\"timestamp\":")
}

/// Files under `roots` (recursively), skipping build output and anything under `skip`.
pub fn input_files(roots: &[PathBuf], skip: &[PathBuf]) -> std::io::Result<Vec<PathBuf>> {
    let skip: Vec<PathBuf> = skip.iter().filter_map(|p| p.canonicalize().ok()).collect();
    let mut files = Vec::new();
    let mut stack: Vec<PathBuf> = roots.to_vec();
    while let Some(path) = stack.pop() {
        let meta = std::fs::metadata(&path)?;
        if meta.is_dir() {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if matches!(name, "target" | ".git" | ".venv" | "node_modules") {
                continue;
            }
            for entry in std::fs::read_dir(&path)? {
                stack.push(entry?.path());
            }
        } else if meta.len() <= 8 * 1024 * 1024
            && !path
                .canonicalize()
                .is_ok_and(|p| skip.iter().any(|s| p.starts_with(s)))
        {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests;
