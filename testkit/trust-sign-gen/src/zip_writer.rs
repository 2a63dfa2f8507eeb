//! A small streaming ZIP writer that can also write the broken archives the tests need.
//!
//! Hand-written rather than the `zip` crate because tests need archives no honest writer
//! produces (lying sizes, an encryption flag on plain data, `..` names, unknown methods), and
//! because large entries must stream into any `Write` without `Seek`. Deflated entries use a
//! data descriptor, as Java's `ZipOutputStream` (and so, presumably, Namirial) does. The
//! tests of this crate read every archive back with the `zip` crate to prove it is valid.

use std::io::{self, Write};

const LFH_SIG: u32 = 0x0403_4b50;
const CDH_SIG: u32 = 0x0201_4b50;
const DD_SIG: u32 = 0x0807_4b50;
const EOCD_SIG: u32 = 0x0605_4b50;
const ZIP64_EOCD_SIG: u32 = 0x0606_4b50;
const ZIP64_LOCATOR_SIG: u32 = 0x0706_4b50;
const FLAG_DATA_DESCRIPTOR: u16 = 1 << 3;
const FLAG_UTF8: u16 = 1 << 11;
const STREAM_CHUNK: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Stored,
    Deflated,
}

/// How one entry is written, including the lies a test may want.
#[derive(Debug, Clone, Default)]
pub struct EntryOptions {
    pub method: Option<Method>,
    /// Extra general-purpose flag bits (bit 0: "encrypted").
    pub extra_flags: u16,
    /// Writes this method number instead of the real one (the data is left as is).
    pub method_override: Option<u16>,
    /// Declares this uncompressed size instead of the real one.
    pub declared_uncompressed: Option<u64>,
}

struct Record {
    name: Vec<u8>,
    flags: u16,
    method: u16,
    crc: u32,
    compressed: u64,
    uncompressed: u64,
    offset: u64,
}

/// Counts what goes through, so offsets are known without `Seek`.
struct Counting<W> {
    inner: W,
    written: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

pub struct ZipWriter<W: Write> {
    out: Counting<W>,
    records: Vec<Record>,
    zip64: bool,
}

fn u16le(v: u16) -> [u8; 2] {
    v.to_le_bytes()
}
fn u32le(v: u32) -> [u8; 4] {
    v.to_le_bytes()
}
fn sat32(v: u64) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

impl<W: Write> ZipWriter<W> {
    /// `zip64` writes ZIP64 extra fields and end records even when sizes do not need them
    /// (as some writers always do), so readers' ZIP64 paths are exercised.
    pub fn new(out: W, zip64: bool) -> Self {
        Self {
            out: Counting {
                inner: out,
                written: 0,
            },
            records: Vec::new(),
            zip64,
        }
    }

    /// Bytes written so far.
    pub fn position(&self) -> u64 {
        self.out.written
    }

    fn version_needed(&self) -> u16 {
        if self.zip64 {
            45
        } else {
            20
        }
    }

    fn local_header(
        &mut self,
        name: &[u8],
        flags: u16,
        method: u16,
        crc: u32,
        c: u64,
        u: u64,
    ) -> io::Result<()> {
        let mut h = Vec::with_capacity(30 + name.len() + 20);
        h.extend(u32le(LFH_SIG));
        h.extend(u16le(self.version_needed()));
        h.extend(u16le(flags));
        h.extend(u16le(method));
        h.extend([0x00, 0x60, 0x21, 0x58]); // 2024-01-01 12:00
        h.extend(u32le(crc));
        if self.zip64 {
            h.extend(u32le(u32::MAX));
            h.extend(u32le(u32::MAX));
        } else {
            h.extend(u32le(sat32(c)));
            h.extend(u32le(sat32(u)));
        }
        h.extend(u16le(name.len() as u16));
        h.extend(u16le(if self.zip64 { 20 } else { 0 }));
        h.extend(name);
        if self.zip64 {
            h.extend(u16le(1));
            h.extend(u16le(16));
            h.extend(u.to_le_bytes());
            h.extend(c.to_le_bytes());
        }
        self.out.write_all(&h)
    }

    fn data_descriptor(&mut self, crc: u32, c: u64, u: u64) -> io::Result<()> {
        let mut d = u32le(DD_SIG).to_vec();
        d.extend(u32le(crc));
        if self.zip64 {
            d.extend(c.to_le_bytes());
            d.extend(u.to_le_bytes());
        } else {
            d.extend(u32le(sat32(c)));
            d.extend(u32le(sat32(u)));
        }
        self.out.write_all(&d)
    }

    /// Adds an entry from bytes in memory (small files: report.json, images, PDFs).
    pub fn add(&mut self, name: &str, data: &[u8], opts: &EntryOptions) -> io::Result<()> {
        let method = opts.method.unwrap_or(Method::Deflated);
        let payload = match method {
            Method::Stored => data.to_vec(),
            Method::Deflated => {
                let mut e =
                    flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
                e.write_all(data)?;
                e.finish()?
            }
        };
        self.add_raw(
            name,
            &payload,
            data.len() as u64,
            crc32fast::hash(data),
            method,
            opts,
        )
    }

    /// Adds an entry whose (already compressed) bytes, size and CRC the caller gives.
    pub fn add_raw(
        &mut self,
        name: &str,
        payload: &[u8],
        uncompressed: u64,
        crc: u32,
        method: Method,
        opts: &EntryOptions,
    ) -> io::Result<()> {
        let method_code = opts.method_override.unwrap_or(match method {
            Method::Stored => 0,
            Method::Deflated => 8,
        });
        let declared = opts.declared_uncompressed.unwrap_or(uncompressed);
        let descriptor = method == Method::Deflated;
        let flags =
            FLAG_UTF8 | opts.extra_flags | if descriptor { FLAG_DATA_DESCRIPTOR } else { 0 };
        let offset = self.position();
        let c = payload.len() as u64;
        if descriptor {
            self.local_header(name.as_bytes(), flags, method_code, 0, 0, 0)?;
        } else {
            self.local_header(name.as_bytes(), flags, method_code, crc, c, declared)?;
        }
        self.out.write_all(payload)?;
        if descriptor {
            self.data_descriptor(crc, c, declared)?;
        }
        self.records.push(Record {
            name: name.as_bytes().to_vec(),
            flags,
            method: method_code,
            crc,
            compressed: c,
            uncompressed: declared,
            offset,
        });
        Ok(())
    }

    /// Adds a stored entry of `len` bytes produced by `fill`, chunk by chunk: never in memory
    /// whole. The CRC is computed on the way and written in a data descriptor.
    pub fn add_stream(
        &mut self,
        name: &str,
        len: u64,
        mut fill: impl FnMut(&mut [u8]),
    ) -> io::Result<()> {
        let flags = FLAG_UTF8 | FLAG_DATA_DESCRIPTOR;
        let offset = self.position();
        self.local_header(name.as_bytes(), flags, 0, 0, 0, 0)?;
        let mut crc = crc32fast::Hasher::new();
        let mut buf = vec![0u8; STREAM_CHUNK];
        let mut left = len;
        while left > 0 {
            let n = left.min(STREAM_CHUNK as u64) as usize;
            fill(&mut buf[..n]);
            crc.update(&buf[..n]);
            self.out.write_all(&buf[..n])?;
            left -= n as u64;
        }
        let crc = crc.finalize();
        self.data_descriptor(crc, len, len)?;
        self.records.push(Record {
            name: name.as_bytes().to_vec(),
            flags,
            method: 0,
            crc,
            compressed: len,
            uncompressed: len,
            offset,
        });
        Ok(())
    }

    /// What a streamed entry named `name` costs besides its data (header and descriptor).
    pub fn stream_overhead(&self, name: &str) -> u64 {
        let zip64_extra = if self.zip64 { 20 } else { 0 };
        let descriptor = if self.zip64 { 24 } else { 16 };
        30 + name.len() as u64 + zip64_extra + descriptor
    }

    /// The central directory and end records' size once `more` names are added.
    pub fn trailer_len(&self, more: &[&str]) -> u64 {
        let per_entry = 46 + if self.zip64 { 28 } else { 0 };
        let names: u64 = self
            .records
            .iter()
            .map(|r| r.name.len() as u64)
            .sum::<u64>()
            + more.iter().map(|n| n.len() as u64).sum::<u64>();
        let count = (self.records.len() + more.len()) as u64;
        count * per_entry + names + 22 + if self.zip64 { 56 + 20 } else { 0 }
    }

    /// Writes the central directory and end records; returns the writer and the archive size.
    pub fn finish(mut self) -> io::Result<(W, u64)> {
        let cd_offset = self.position();
        let records = std::mem::take(&mut self.records);
        for r in &records {
            let mut h = u32le(CDH_SIG).to_vec();
            h.extend(u16le(0x0314)); // made by: Unix, 2.0
            h.extend(u16le(self.version_needed()));
            h.extend(u16le(r.flags));
            h.extend(u16le(r.method));
            h.extend([0x00, 0x60, 0x21, 0x58]);
            h.extend(u32le(r.crc));
            if self.zip64 {
                h.extend(u32le(u32::MAX));
                h.extend(u32le(u32::MAX));
            } else {
                h.extend(u32le(sat32(r.compressed)));
                h.extend(u32le(sat32(r.uncompressed)));
            }
            h.extend(u16le(r.name.len() as u16));
            h.extend(u16le(if self.zip64 { 28 } else { 0 }));
            h.extend(u16le(0)); // comment
            h.extend(u16le(0)); // disk
            h.extend(u16le(0)); // internal attributes
            h.extend(u32le(0o100644 << 16)); // external: regular file, rw-r--r--
            h.extend(u32le(if self.zip64 {
                u32::MAX
            } else {
                sat32(r.offset)
            }));
            h.extend(&r.name);
            if self.zip64 {
                h.extend(u16le(1));
                h.extend(u16le(24));
                h.extend(r.uncompressed.to_le_bytes());
                h.extend(r.compressed.to_le_bytes());
                h.extend(r.offset.to_le_bytes());
            }
            self.out.write_all(&h)?;
        }
        let cd_size = self.position() - cd_offset;
        let count = records.len() as u64;
        if self.zip64 {
            let record_offset = self.position();
            let mut z = u32le(ZIP64_EOCD_SIG).to_vec();
            z.extend(44u64.to_le_bytes());
            z.extend(u16le(0x0314));
            z.extend(u16le(45));
            z.extend(u32le(0));
            z.extend(u32le(0));
            z.extend(count.to_le_bytes());
            z.extend(count.to_le_bytes());
            z.extend(cd_size.to_le_bytes());
            z.extend(cd_offset.to_le_bytes());
            z.extend(u32le(ZIP64_LOCATOR_SIG));
            z.extend(u32le(0));
            z.extend(record_offset.to_le_bytes());
            z.extend(u32le(1));
            self.out.write_all(&z)?;
        }
        let mut e = u32le(EOCD_SIG).to_vec();
        e.extend(u16le(0));
        e.extend(u16le(0));
        let (n, size, off) = if self.zip64 {
            (u16::MAX, u32::MAX, u32::MAX)
        } else {
            let n = u16::try_from(count)
                .map_err(|_| io::Error::other("too many entries without zip64"))?;
            (n, sat32(cd_size), sat32(cd_offset))
        };
        e.extend(u16le(n));
        e.extend(u16le(n));
        e.extend(u32le(size));
        e.extend(u32le(off));
        e.extend(u16le(0));
        self.out.write_all(&e)?;
        self.out.flush()?;
        let total = self.position();
        Ok((self.out.inner, total))
    }
}

/// Fills buffers with incompressible bytes (xorshift64*), like video or JPEG data.
pub struct NoiseSource(u64);

impl NoiseSource {
    pub fn new(seed: u64) -> Self {
        Self(seed | 1)
    }
    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let mut x = self.0;
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            self.0 = x;
            let v = x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}
