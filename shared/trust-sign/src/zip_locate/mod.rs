//! Finds and reads report.json in a ZIP archive through ranged reads only.
//!
//! Archives with video identification weigh hundreds of MB; report.json is a few hundred KB.
//! So the archive is never downloaded: one read of the tail (end records), one of the
//! central directory (reused from the tail when it fits there), then report.json's local
//! header and compressed data, in bounded chunks. Every entry name is checked on the way
//! (unsafe paths, encryption), because the archive's files are copied elsewhere later.
//!
//! Bytes read = tail (≤ 8 KiB, or up to 64 KiB more when a long archive comment hides the
//! end record) + central directory + report.json's local header and compressed data.

mod format;
mod inflate;

use super::error::{SizeKind, SourceError, TrustSignError};
use async_trait::async_trait;
use format::{
    CentralEntry, Directory, LocalHeader, EOCD_LEN, LFH_LEN, MAX_EOCD_SEARCH, ZIP64_EOCD_LEN,
    ZIP64_LOCATOR_LEN,
};
use kyc_core::redact::Personal;
use std::sync::Mutex;

/// The name of the report at the archive's root.
pub const REPORT_NAME: &str = "report.json";

/// Random access to an archive's bytes (an S3 object through ranged GETs, a file, memory).
// An empty archive is just an error case for the reader; an `is_empty` would add nothing.
#[allow(clippy::len_without_is_empty)]
#[async_trait]
pub trait RangeSource: Send + Sync {
    /// The archive's size in bytes (the S3 event carries it; a HEAD otherwise).
    async fn len(&self) -> Result<u64, SourceError>;
    /// Exactly `len` bytes from `start` (an HTTP `Range: bytes=start-(start+len-1)`).
    /// Returning fewer bytes means the object ended early: reported as truncated.
    async fn read_range(&self, start: u64, len: u64) -> Result<Vec<u8>, SourceError>;
}

/// An archive held in memory (tests, small archives).
#[derive(Debug, Clone)]
pub struct MemorySource<T>(pub T);

#[async_trait]
impl<T: AsRef<[u8]> + Send + Sync> RangeSource for MemorySource<T> {
    async fn len(&self) -> Result<u64, SourceError> {
        Ok(self.0.as_ref().len() as u64)
    }
    async fn read_range(&self, start: u64, len: u64) -> Result<Vec<u8>, SourceError> {
        let bytes = self.0.as_ref();
        let start = usize::try_from(start)?.min(bytes.len());
        let end = start.saturating_add(usize::try_from(len)?).min(bytes.len());
        Ok(bytes[start..end].to_vec())
    }
}

/// An archive in a local file (`kyc inspect archive FILE.zip`, tests, benchmarks). Reads are
/// blocking, which is fine for a CLI; the Lambda reads S3 instead.
#[derive(Debug)]
pub struct FileSource {
    file: Mutex<std::fs::File>,
    len: u64,
}

impl FileSource {
    /// Opens the file at `path`.
    pub fn open(path: impl AsRef<std::path::Path>) -> std::io::Result<Self> {
        let file = std::fs::File::open(path)?;
        let len = file.metadata()?.len();
        Ok(Self {
            file: Mutex::new(file),
            len,
        })
    }
}

#[async_trait]
impl RangeSource for FileSource {
    async fn len(&self) -> Result<u64, SourceError> {
        Ok(self.len)
    }
    async fn read_range(&self, start: u64, len: u64) -> Result<Vec<u8>, SourceError> {
        use std::io::{Read, Seek, SeekFrom};
        let mut file = self.file.lock().map_err(|_| "file source lock poisoned")?;
        file.seek(SeekFrom::Start(start))?;
        let mut buf = Vec::with_capacity(usize::try_from(len)?);
        file.by_ref().take(len).read_to_end(&mut buf)?;
        Ok(buf)
    }
}

/// Bounds on what one archive may cost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// The most report.json may inflate to, declared or real (zip-bomb guard).
    pub max_report_size: u64,
    /// The most the central directory may weigh (it is read whole).
    pub max_central_directory: u64,
    /// Compressed data is read and inflated in ranges of this size, bounding memory.
    pub read_chunk: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_report_size: 64 * 1024 * 1024,
            max_central_directory: 4 * 1024 * 1024,
            read_chunk: 1024 * 1024,
        }
    }
}

/// One entry of the archive, as the central directory lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveEntry {
    /// Often contains the customer's name (`1_corinne_berthier_attachment_1_1.jpg`).
    pub name: Personal<String>,
    /// Its compressed size.
    pub compressed_size: u64,
    /// Its size once inflated.
    pub uncompressed_size: u64,
    /// True for a directory.
    pub is_dir: bool,
}

/// What the reads cost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct ReadStats {
    /// The archive's size.
    pub archive_size: u64,
    /// Bytes read.
    pub bytes_read: u64,
    /// Ranged reads made.
    pub range_reads: u32,
    /// report.json's compressed size, for comparing with `bytes_read`.
    pub report_compressed_size: u64,
}

/// report.json's bytes and the archive's entry list.
#[derive(Debug, Clone)]
pub struct LocatedReport {
    /// report.json, inflated.
    pub report_json: Vec<u8>,
    /// The archive's entries.
    pub entries: Vec<ArchiveEntry>,
    /// What the reads cost.
    pub stats: ReadStats,
}

/// Counts and checks every read.
struct Reader<'a, S: ?Sized> {
    source: &'a S,
    stats: ReadStats,
}

impl<S: RangeSource + ?Sized> Reader<'_, S> {
    async fn read(&mut self, start: u64, len: u64) -> Result<Vec<u8>, TrustSignError> {
        if len == 0 {
            return Ok(Vec::new());
        }
        let end = start
            .checked_add(len)
            .filter(|&e| e <= self.stats.archive_size);
        if end.is_none() {
            return Err(TrustSignError::Truncated {
                reason: format!(
                    "a record points to bytes {start}..{} beyond the archive's end ({})",
                    start.saturating_add(len),
                    self.stats.archive_size
                ),
            });
        }
        let bytes = self
            .source
            .read_range(start, len)
            .await
            .map_err(TrustSignError::Source)?;
        self.stats.range_reads += 1;
        self.stats.bytes_read += bytes.len() as u64;
        if bytes.len() as u64 != len {
            return Err(TrustSignError::Truncated {
                reason: format!("asked for {len} bytes at {start}, got {}", bytes.len()),
            });
        }
        Ok(bytes)
    }
}

/// The archive's last bytes, kept to serve later reads that fall inside them.
struct Tail {
    start: u64,
    bytes: Vec<u8>,
}

impl Tail {
    fn slice(&self, start: u64, len: u64) -> Option<&[u8]> {
        let from = usize::try_from(start.checked_sub(self.start)?).ok()?;
        let to = from.checked_add(usize::try_from(len).ok()?)?;
        self.bytes.get(from..to)
    }
}

/// First tail read: enough for the end record with a short comment and the ZIP64 records.
const FIRST_TAIL: u64 = 8 * 1024;

/// Finds report.json in the archive and returns its bytes and the archive's entry list.
pub async fn locate_report<S: RangeSource + ?Sized>(
    source: &S,
    limits: &Limits,
) -> Result<LocatedReport, TrustSignError> {
    let archive_size = source.len().await.map_err(TrustSignError::Source)?;
    let mut reader = Reader {
        source,
        stats: ReadStats {
            archive_size,
            ..ReadStats::default()
        },
    };
    if archive_size == 0 {
        return Err(TrustSignError::NotZip {
            reason: "the object is empty",
        });
    }

    let (tail, eocd) = read_end_record(&mut reader).await?;
    let directory = match eocd.directory()? {
        Some(d) => d,
        None => {
            let offset = eocd
                .zip64_record_offset
                .expect("directory() is None only for ZIP64");
            let record = fetch(&mut reader, &tail, offset, ZIP64_EOCD_LEN as u64).await?;
            format::parse_zip64_eocd(&record, offset)?
        }
    };
    let entries = read_central_directory(&mut reader, &tail, &directory, limits).await?;
    let report_index = find_report(&entries)?;
    let report = &entries[report_index];
    reader.stats.report_compressed_size = report.compressed_size;
    let report_json =
        read_entry(&mut reader, &tail, report_index, report, &directory, limits).await?;

    Ok(LocatedReport {
        report_json,
        entries: entries
            .into_iter()
            .map(|e| ArchiveEntry {
                is_dir: e.is_dir(),
                compressed_size: e.compressed_size,
                uncompressed_size: e.uncompressed_size,
                name: e.name,
            })
            .collect(),
        stats: reader.stats,
    })
}

/// Reads the tail and finds the end record, widening the window once when a long archive
/// comment pushes the record further back. No record: a ZIP that lost its end (it starts
/// with a local header) is truncated, anything else is not a ZIP.
async fn read_end_record<S: RangeSource + ?Sized>(
    reader: &mut Reader<'_, S>,
) -> Result<(Tail, format::Eocd), TrustSignError> {
    let size = reader.stats.archive_size;
    let first = size.min(FIRST_TAIL);
    let mut tail = Tail {
        start: size - first,
        bytes: reader.read(size - first, first).await?,
    };
    let widest = size.min((MAX_EOCD_SEARCH + ZIP64_LOCATOR_LEN) as u64);
    loop {
        if let Some(eocd) = format::find_eocd(&tail.bytes, tail.start)? {
            return Ok((tail, eocd));
        }
        if tail.bytes.len() as u64 >= widest {
            break;
        }
        let start = size - widest;
        let mut wider = reader.read(start, tail.start - start).await?;
        wider.extend_from_slice(&tail.bytes);
        tail = Tail {
            start,
            bytes: wider,
        };
    }
    let head = match tail.slice(0, 4) {
        Some(h) => h.to_vec(),
        None => reader.read(0, size.min(4)).await?,
    };
    if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        Err(TrustSignError::Truncated {
            reason:
                "the archive starts like a ZIP but its end-of-central-directory record is missing"
                    .into(),
        })
    } else if size < EOCD_LEN as u64 {
        Err(TrustSignError::NotZip {
            reason: "too small to be a ZIP archive",
        })
    } else {
        Err(TrustSignError::NotZip {
            reason: "no ZIP signature at the start and no end-of-central-directory record",
        })
    }
}

/// Bytes `start..start+len`, from the tail when it holds them (a small archive is then read
/// in one request).
async fn fetch<S: RangeSource + ?Sized>(
    reader: &mut Reader<'_, S>,
    tail: &Tail,
    start: u64,
    len: u64,
) -> Result<Vec<u8>, TrustSignError> {
    match tail.slice(start, len) {
        Some(bytes) => Ok(bytes.to_vec()),
        None => reader.read(start, len).await,
    }
}

async fn read_central_directory<S: RangeSource + ?Sized>(
    reader: &mut Reader<'_, S>,
    tail: &Tail,
    dir: &Directory,
    limits: &Limits,
) -> Result<Vec<CentralEntry>, TrustSignError> {
    if dir.cd_size > limits.max_central_directory {
        return Err(TrustSignError::SizeLimitExceeded {
            kind: SizeKind::CentralDirectory,
            size: dir.cd_size,
            limit: limits.max_central_directory,
        });
    }
    let cd_end = dir.cd_offset.checked_add(dir.cd_size);
    if cd_end.is_none_or(|end| end > dir.end_records_offset) {
        return Err(TrustSignError::Malformed {
            reason: "the central directory overlaps the end records or lies beyond them".into(),
        });
    }
    let cd = fetch(reader, tail, dir.cd_offset, dir.cd_size).await?;
    let entries = format::parse_central_directory(&cd, dir.entries)?;
    for (index, e) in entries.iter().enumerate() {
        if let Some(reason) = format::unsafe_name_reason(e.name.expose()) {
            return Err(TrustSignError::UnsafeEntryName {
                index,
                name: e.name.clone(),
                reason,
            });
        }
        if e.is_encrypted() {
            return Err(TrustSignError::EncryptedEntry {
                index,
                name: e.name.clone(),
            });
        }
    }
    Ok(entries)
}

fn find_report(entries: &[CentralEntry]) -> Result<usize, TrustSignError> {
    let mut found = entries
        .iter()
        .enumerate()
        .filter(|(_, e)| e.name.expose() == REPORT_NAME)
        .map(|(i, _)| i);
    match (found.next(), found.count()) {
        (None, _) => Err(TrustSignError::NoReport),
        (Some(i), 0) => Ok(i),
        (Some(_), more) => Err(TrustSignError::DuplicateReport { count: more + 1 }),
    }
}

/// Reads and inflates one entry: the local header (checked against the central directory),
/// then the compressed data in `read_chunk` ranges.
async fn read_entry<S: RangeSource + ?Sized>(
    reader: &mut Reader<'_, S>,
    tail: &Tail,
    index: usize,
    entry: &CentralEntry,
    dir: &Directory,
    limits: &Limits,
) -> Result<Vec<u8>, TrustSignError> {
    let deflated = match entry.method {
        0 => false,
        8 => true,
        method => return Err(TrustSignError::UnsupportedCompression { method }),
    };
    if entry.uncompressed_size > limits.max_report_size {
        return Err(TrustSignError::SizeLimitExceeded {
            kind: SizeKind::DeclaredUncompressed,
            size: entry.uncompressed_size,
            limit: limits.max_report_size,
        });
    }
    // Deflate expands incompressible data by at most ~0.1% plus a few bytes per block.
    let max_compressed = limits.max_report_size + limits.max_report_size / 1000 + 1024;
    if entry.compressed_size > max_compressed {
        return Err(TrustSignError::SizeLimitExceeded {
            kind: SizeKind::DeclaredCompressed,
            size: entry.compressed_size,
            limit: max_compressed,
        });
    }

    let name_len = entry.raw_name.len() as u64;
    let header = fetch(
        reader,
        tail,
        entry.local_header_offset,
        LFH_LEN as u64 + name_len,
    )
    .await?;
    let local = LocalHeader::parse(&header)?;
    if local.is_encrypted() {
        return Err(TrustSignError::EncryptedEntry {
            index,
            name: entry.name.clone(),
        });
    }
    if header[LFH_LEN..] != entry.raw_name[..] || u64::from(local.name_len) != name_len {
        return Err(TrustSignError::Malformed {
            reason:
                "report.json's local header names another file than its central directory entry"
                    .into(),
        });
    }
    if local.method != entry.method {
        return Err(TrustSignError::Malformed {
            reason: "report.json's local and central headers disagree on the compression method"
                .into(),
        });
    }
    let data_start = entry.local_header_offset + local.data_offset();
    let data_end = data_start.checked_add(entry.compressed_size);
    if data_end.is_none_or(|end| end > dir.cd_offset) {
        return Err(TrustSignError::Malformed {
            reason: "report.json's data runs into the central directory".into(),
        });
    }

    let mut inflater =
        inflate::Inflater::new(deflated, entry.uncompressed_size, limits.max_report_size);
    let chunk = limits.read_chunk.max(1);
    let mut at = data_start;
    let end = data_start + entry.compressed_size;
    while at < end {
        let len = chunk.min(end - at);
        let bytes = fetch(reader, tail, at, len).await?;
        inflater.push(&bytes)?;
        at += len;
    }
    inflater.finish(entry.uncompressed_size, entry.crc32)
}

#[cfg(test)]
mod tests;
