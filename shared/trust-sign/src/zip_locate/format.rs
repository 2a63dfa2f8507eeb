//! The few ZIP structures needed to find one entry by ranged reads (APPNOTE 6.3.x, sections
//! 4.3.6 to 4.3.16): end-of-central-directory record, ZIP64 locator and record, central
//! directory headers with their ZIP64 extra field, and the local header.
//!
//! Hand-written on purpose: the well-kept ZIP crates (zip, rawzip...) read through a
//! synchronous `Read + Seek` and decide themselves what to read, which fits neither an async
//! ranged source nor a byte budget. These are fixed-layout little-endian records: parsing
//! them is bounds-checked slicing. Inflating, the hard part, is left to flate2.

use crate::error::TrustSignError;
use kyc_core::redact::Personal;

pub const EOCD_SIG: u32 = 0x0605_4b50;
pub const EOCD_LEN: usize = 22;
pub const ZIP64_LOCATOR_SIG: u32 = 0x0706_4b50;
pub const ZIP64_LOCATOR_LEN: usize = 20;
pub const ZIP64_EOCD_SIG: u32 = 0x0606_4b50;
pub const ZIP64_EOCD_LEN: usize = 56;
pub const CDH_SIG: u32 = 0x0201_4b50;
pub const CDH_LEN: usize = 46;
pub const LFH_SIG: u32 = 0x0403_4b50;
pub const LFH_LEN: usize = 30;
/// The longest possible EOCD search window: the record plus a maximal comment.
pub const MAX_EOCD_SEARCH: usize = EOCD_LEN + u16::MAX as usize;

/// Flag bit 0: the entry is encrypted (traditional PKWARE or, with method 99, AES).
const FLAG_ENCRYPTED: u16 = 1;
/// Flag bit 6: strong encryption.
const FLAG_STRONG_ENCRYPTION: u16 = 1 << 6;
/// Flag bit 11: the name is UTF-8; otherwise it is CP437.
const FLAG_UTF8: u16 = 1 << 11;
/// Method 99 marks WinZip AES encryption.
const METHOD_AES: u16 = 99;

fn malformed(reason: impl Into<String>) -> TrustSignError {
    TrustSignError::Malformed {
        reason: reason.into(),
    }
}

/// Little-endian field reader over a slice; running out is a malformed record.
struct Fields<'a> {
    buf: &'a [u8],
    pos: usize,
    what: &'static str,
}

impl<'a> Fields<'a> {
    fn new(buf: &'a [u8], what: &'static str) -> Self {
        Self { buf, pos: 0, what }
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8], TrustSignError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len());
        let end = end.ok_or_else(|| malformed(format!("{} is cut short", self.what)))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn u16(&mut self) -> Result<u16, TrustSignError> {
        Ok(u16::from_le_bytes(
            self.take(2)?.try_into().expect("2 bytes"),
        ))
    }
    fn u32(&mut self) -> Result<u32, TrustSignError> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }
    fn u64(&mut self) -> Result<u64, TrustSignError> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }
}

fn sig_at(buf: &[u8], pos: usize) -> Option<u32> {
    buf.get(pos..pos + 4)
        .map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")))
}

/// Where the central directory is, from the end records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directory {
    pub entries: u64,
    pub cd_size: u64,
    pub cd_offset: u64,
    /// Offset of the first end record (ZIP64 record if any, else the EOCD): the central
    /// directory must end at or before it.
    pub end_records_offset: u64,
}

/// The EOCD record as found in the tail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Eocd {
    /// Offset of the record in the archive.
    pub offset: u64,
    pub disk: u16,
    pub cd_disk: u16,
    pub entries: u16,
    pub cd_size: u32,
    pub cd_offset: u32,
    /// The ZIP64 end record's offset, when a ZIP64 locator precedes the EOCD.
    pub zip64_record_offset: Option<u64>,
}

impl Eocd {
    fn needs_zip64(&self) -> bool {
        self.entries == u16::MAX || self.cd_size == u32::MAX || self.cd_offset == u32::MAX
    }
}

/// Finds the EOCD in `tail` (the last bytes of the archive, starting at `tail_start`).
/// Searching backwards, a candidate counts only if its comment ends exactly at the end of the
/// archive, so a stray signature inside the comment or the data cannot be taken for it.
pub fn find_eocd(tail: &[u8], tail_start: u64) -> Result<Option<Eocd>, TrustSignError> {
    if tail.len() < EOCD_LEN {
        return Ok(None);
    }
    for pos in (0..=tail.len() - EOCD_LEN).rev() {
        if sig_at(tail, pos) != Some(EOCD_SIG) {
            continue;
        }
        let comment_len = u16::from_le_bytes([tail[pos + 20], tail[pos + 21]]) as usize;
        if pos + EOCD_LEN + comment_len != tail.len() {
            continue;
        }
        let mut f = Fields::new(&tail[pos + 4..], "end of central directory");
        let disk = f.u16()?;
        let cd_disk = f.u16()?;
        let _entries_this_disk = f.u16()?;
        let entries = f.u16()?;
        let cd_size = f.u32()?;
        let cd_offset = f.u32()?;
        let zip64_record_offset = if pos >= ZIP64_LOCATOR_LEN
            && sig_at(tail, pos - ZIP64_LOCATOR_LEN) == Some(ZIP64_LOCATOR_SIG)
        {
            let mut l = Fields::new(&tail[pos - ZIP64_LOCATOR_LEN + 4..pos], "ZIP64 locator");
            let zip64_disk = l.u32()?;
            let offset = l.u64()?;
            let total_disks = l.u32()?;
            if zip64_disk != 0 || total_disks > 1 {
                return Err(malformed("multi-disk archives are not supported"));
            }
            Some(offset)
        } else {
            None
        };
        return Ok(Some(Eocd {
            offset: tail_start + pos as u64,
            disk,
            cd_disk,
            entries,
            cd_size,
            cd_offset,
            zip64_record_offset,
        }));
    }
    Ok(None)
}

impl Eocd {
    /// The directory location when no ZIP64 record is involved.
    pub fn directory(&self) -> Result<Option<Directory>, TrustSignError> {
        if self.disk != 0 || self.cd_disk != 0 {
            return Err(malformed("multi-disk archives are not supported"));
        }
        if self.zip64_record_offset.is_some() {
            return Ok(None);
        }
        if self.needs_zip64() {
            return Err(malformed(
                "the end record points to ZIP64 fields but there is no ZIP64 locator",
            ));
        }
        Ok(Some(Directory {
            entries: self.entries.into(),
            cd_size: self.cd_size.into(),
            cd_offset: self.cd_offset.into(),
            end_records_offset: self.offset,
        }))
    }
}

/// Parses the ZIP64 end-of-central-directory record (`buf` starts at its signature).
pub fn parse_zip64_eocd(buf: &[u8], offset: u64) -> Result<Directory, TrustSignError> {
    if sig_at(buf, 0) != Some(ZIP64_EOCD_SIG) {
        return Err(malformed(
            "the ZIP64 locator does not point at a ZIP64 end record",
        ));
    }
    let mut f = Fields::new(&buf[4..], "ZIP64 end record");
    let _record_size = f.u64()?;
    let _made_by = f.u16()?;
    let _needed = f.u16()?;
    let disk = f.u32()?;
    let cd_disk = f.u32()?;
    let _entries_this_disk = f.u64()?;
    let entries = f.u64()?;
    let cd_size = f.u64()?;
    let cd_offset = f.u64()?;
    if disk != 0 || cd_disk != 0 {
        return Err(malformed("multi-disk archives are not supported"));
    }
    Ok(Directory {
        entries,
        cd_size,
        cd_offset,
        end_records_offset: offset,
    })
}

/// One central directory header: what is needed to judge and read an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CentralEntry {
    pub name: Personal<String>,
    /// The name as stored, to compare with the local header.
    pub raw_name: Vec<u8>,
    pub flags: u16,
    pub method: u16,
    pub crc32: u32,
    pub compressed_size: u64,
    pub uncompressed_size: u64,
    pub local_header_offset: u64,
}

impl CentralEntry {
    pub fn is_encrypted(&self) -> bool {
        self.flags & (FLAG_ENCRYPTED | FLAG_STRONG_ENCRYPTION) != 0 || self.method == METHOD_AES
    }
    pub fn is_dir(&self) -> bool {
        self.name.expose().ends_with('/')
    }
}

/// Parses the whole central directory. `expected` is the entry count the end record gives.
pub fn parse_central_directory(
    cd: &[u8],
    expected: u64,
) -> Result<Vec<CentralEntry>, TrustSignError> {
    // Each header is at least 46 bytes: a count beyond that is a lie, not a reason to allocate.
    if expected > (cd.len() / CDH_LEN) as u64 {
        return Err(malformed(format!(
            "the end record announces {expected} entries, more than the central directory can hold"
        )));
    }
    let mut entries = Vec::with_capacity(expected as usize);
    let mut f = Fields::new(cd, "central directory");
    while f.pos < cd.len() {
        if sig_at(cd, f.pos) != Some(CDH_SIG) {
            return Err(malformed(format!(
                "central directory header #{} has a bad signature",
                entries.len()
            )));
        }
        f.take(4)?;
        let _made_by = f.u16()?;
        let _needed = f.u16()?;
        let flags = f.u16()?;
        let method = f.u16()?;
        let _time = f.u16()?;
        let _date = f.u16()?;
        let crc32 = f.u32()?;
        let compressed32 = f.u32()?;
        let uncompressed32 = f.u32()?;
        let name_len = f.u16()? as usize;
        let extra_len = f.u16()? as usize;
        let comment_len = f.u16()? as usize;
        let _disk_start = f.u16()?;
        let _internal = f.u16()?;
        let _external = f.u32()?;
        let offset32 = f.u32()?;
        let raw_name = f.take(name_len)?.to_vec();
        let extra = f.take(extra_len)?;
        f.take(comment_len)?;

        let mut compressed_size = u64::from(compressed32);
        let mut uncompressed_size = u64::from(uncompressed32);
        let mut local_header_offset = u64::from(offset32);
        apply_zip64_extra(
            extra,
            &mut uncompressed_size,
            &mut compressed_size,
            &mut local_header_offset,
        )?;
        let name = decode_name(&raw_name, flags);
        entries.push(CentralEntry {
            name: Personal::new(name),
            raw_name,
            flags,
            method,
            crc32,
            compressed_size,
            uncompressed_size,
            local_header_offset,
        });
    }
    if entries.len() as u64 != expected {
        return Err(malformed(format!(
            "the end record announces {expected} entries, the central directory holds {}",
            entries.len()
        )));
    }
    Ok(entries)
}

/// Replaces the 32-bit fields saturated at 0xFFFFFFFF by the values of the ZIP64 extra field
/// (tag 0x0001), which holds only the saturated ones, in this order.
fn apply_zip64_extra(
    extra: &[u8],
    uncompressed: &mut u64,
    compressed: &mut u64,
    offset: &mut u64,
) -> Result<(), TrustSignError> {
    const SATURATED: u64 = u32::MAX as u64;
    let wanted = [*uncompressed, *compressed, *offset]
        .iter()
        .filter(|&&v| v == SATURATED)
        .count();
    if wanted == 0 {
        return Ok(());
    }
    let mut f = Fields::new(extra, "extra field");
    while f.pos + 4 <= extra.len() {
        let tag = f.u16()?;
        let len = f.u16()? as usize;
        let body = f.take(len)?;
        if tag != 0x0001 {
            continue;
        }
        let mut z = Fields::new(body, "ZIP64 extra field");
        for field in [uncompressed, compressed, offset] {
            if *field == SATURATED {
                *field = z.u64()?;
            }
        }
        return Ok(());
    }
    Err(malformed(
        "sizes or offset point to a ZIP64 extra field that is absent",
    ))
}

/// Entry names are UTF-8 when flag 11 says so (Java always sets it), else CP437 by the
/// specification; plain ASCII reads the same either way.
pub fn decode_name(raw: &[u8], flags: u16) -> String {
    if flags & FLAG_UTF8 != 0 || raw.is_ascii() {
        return String::from_utf8_lossy(raw).into_owned();
    }
    raw.iter()
        .map(|&b| {
            if b < 0x80 {
                b as char
            } else {
                CP437_HIGH[(b - 0x80) as usize]
            }
        })
        .collect()
}

/// CP437, bytes 0x80 to 0xFF.
const CP437_HIGH: [char; 128] = [
    'Ç', 'ü', 'é', 'â', 'ä', 'à', 'å', 'ç', 'ê', 'ë', 'è', 'ï', 'î', 'ì', 'Ä', 'Å', //
    'É', 'æ', 'Æ', 'ô', 'ö', 'ò', 'û', 'ù', 'ÿ', 'Ö', 'Ü', '¢', '£', '¥', '₧', 'ƒ', //
    'á', 'í', 'ó', 'ú', 'ñ', 'Ñ', 'ª', 'º', '¿', '⌐', '¬', '½', '¼', '¡', '«', '»', //
    '░', '▒', '▓', '│', '┤', '╡', '╢', '╖', '╕', '╣', '║', '╗', '╝', '╜', '╛', '┐', //
    '└', '┴', '┬', '├', '─', '┼', '╞', '╟', '╚', '╔', '╩', '╦', '╠', '═', '╬', '╧', //
    '╨', '╤', '╥', '╙', '╘', '╒', '╓', '╫', '╪', '┘', '┌', '█', '▄', '▌', '▐', '▀', //
    'α', 'ß', 'Γ', 'π', 'Σ', 'σ', 'µ', 'τ', 'Φ', 'Θ', 'Ω', 'δ', '∞', 'φ', 'ε', '∩', //
    '≡', '±', '≥', '≤', '⌠', '⌡', '÷', '≈', '°', '∙', '·', '√', 'ⁿ', '²', '■', '\u{a0}',
];

/// Why a name would escape the extraction directory, if it would: `..` components and
/// absolute paths (Unix, Windows root, drive letter, UNC).
pub fn unsafe_name_reason(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        return Some("empty name");
    }
    if name.contains('\0') {
        return Some("NUL byte in the name");
    }
    if name.starts_with('/') || name.starts_with('\\') {
        return Some("absolute path");
    }
    let b = name.as_bytes();
    if b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':' {
        return Some("absolute path (drive letter)");
    }
    if name.split(['/', '\\']).any(|c| c == "..") {
        return Some("`..` path component");
    }
    None
}

/// The local header's fixed part: where the data starts, and the name to compare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalHeader {
    pub flags: u16,
    pub method: u16,
    pub name_len: u16,
    pub extra_len: u16,
}

impl LocalHeader {
    pub fn parse(buf: &[u8]) -> Result<Self, TrustSignError> {
        if sig_at(buf, 0) != Some(LFH_SIG) {
            return Err(malformed("report.json's local header has a bad signature"));
        }
        let mut f = Fields::new(&buf[4..], "local header");
        let _needed = f.u16()?;
        let flags = f.u16()?;
        let method = f.u16()?;
        f.take(4 + 4 + 4 + 4)?; // time and date, CRC, sizes: the central directory has them
        let name_len = f.u16()?;
        let extra_len = f.u16()?;
        Ok(Self {
            flags,
            method,
            name_len,
            extra_len,
        })
    }

    pub fn is_encrypted(&self) -> bool {
        self.flags & (FLAG_ENCRYPTED | FLAG_STRONG_ENCRYPTION) != 0 || self.method == METHOD_AES
    }

    /// Bytes from the header's start to the entry's data.
    pub fn data_offset(&self) -> u64 {
        LFH_LEN as u64 + u64::from(self.name_len) + u64::from(self.extra_len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eocd(entries: u16, cd_size: u32, cd_offset: u32, comment: &[u8]) -> Vec<u8> {
        let mut v = EOCD_SIG.to_le_bytes().to_vec();
        v.extend([0, 0, 0, 0]);
        v.extend(entries.to_le_bytes());
        v.extend(entries.to_le_bytes());
        v.extend(cd_size.to_le_bytes());
        v.extend(cd_offset.to_le_bytes());
        v.extend((comment.len() as u16).to_le_bytes());
        v.extend(comment);
        v
    }

    #[test]
    fn finds_the_eocd_behind_a_comment_that_contains_a_signature() {
        // A signature in the comment is skipped when its own comment length does not end
        // exactly at the archive's end.
        let mut comment = b"xx".to_vec();
        comment.extend(EOCD_SIG.to_le_bytes());
        comment.extend([0u8; 10]);
        let mut tail = vec![7u8; 100];
        tail.extend(eocd(3, 138, 1000, &comment));
        let e = find_eocd(&tail, 5000).unwrap().unwrap();
        assert_eq!(
            (e.offset, e.entries, e.cd_size, e.cd_offset),
            (5100, 3, 138, 1000)
        );
        assert_eq!(e.directory().unwrap().unwrap().end_records_offset, 5100);
    }

    #[test]
    fn no_eocd_in_random_bytes() {
        assert_eq!(find_eocd(&[0u8; 300], 0).unwrap(), None);
        assert_eq!(find_eocd(&[0u8; 3], 0).unwrap(), None);
    }

    #[test]
    fn zip64_markers_without_a_locator_are_malformed() {
        let tail = eocd(u16::MAX, 10, 10, b"");
        let e = find_eocd(&tail, 0).unwrap().unwrap();
        assert!(matches!(
            e.directory(),
            Err(TrustSignError::Malformed { .. })
        ));
    }

    #[test]
    fn zip64_extra_fills_saturated_fields_in_order() {
        let mut extra = 0x0001u16.to_le_bytes().to_vec();
        extra.extend(16u16.to_le_bytes());
        extra.extend(5_000_000_000u64.to_le_bytes());
        extra.extend(6_000_000_000u64.to_le_bytes());
        let (mut u, mut c, mut o) = (u64::from(u32::MAX), 12, u64::from(u32::MAX));
        apply_zip64_extra(&extra, &mut u, &mut c, &mut o).unwrap();
        assert_eq!((u, c, o), (5_000_000_000, 12, 6_000_000_000));
        let (mut u, mut c, mut o) = (u64::from(u32::MAX), 1, 1);
        assert!(apply_zip64_extra(&[], &mut u, &mut c, &mut o).is_err());
    }

    #[test]
    fn names_decode_as_utf8_or_cp437() {
        assert_eq!(decode_name("reçu.pdf".as_bytes(), FLAG_UTF8), "reçu.pdf");
        assert_eq!(decode_name(b"re\x87u.pdf", 0), "reçu.pdf");
        assert_eq!(decode_name(b"report.json", 0), "report.json");
    }

    #[test]
    fn unsafe_names() {
        for (name, bad) in [
            ("../etc/passwd", true),
            ("a/../../b", true),
            ("a\\..\\b", true),
            ("/etc/cron.d/x", true),
            ("\\windows", true),
            ("C:/x", true),
            ("", true),
            ("a..b/c..", false),
            ("dir/report.json", false),
            ("signed_contract.pdf", false),
        ] {
            assert_eq!(unsafe_name_reason(name).is_some(), bad, "{name}");
        }
    }

    #[test]
    fn central_directory_count_mismatch_is_malformed() {
        assert!(matches!(
            parse_central_directory(&[], 1),
            Err(TrustSignError::Malformed { .. })
        ));
        assert_eq!(parse_central_directory(&[], 0).unwrap(), vec![]);
        assert!(parse_central_directory(&[0u8; 46], 1).is_err());
    }
}
