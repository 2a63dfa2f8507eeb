//! Inflating report.json chunk by chunk with a hard cap on the output.
//!
//! The cap applies to what really comes out, whatever the header declared: a lying header
//! (a zip bomb declaring 1 KiB) stops at the limit, not at the end of memory. The declared
//! size and CRC are checked once the stream ends. flate2's raw `Decompress` does the
//! inflating; this module only feeds it and counts.

use crate::error::{SizeKind, TrustSignError};
use flate2::{Decompress, FlushDecompress, Status};

/// How much inflated output one `decompress` call may produce before it is checked.
const SCRATCH: usize = 64 * 1024;

pub struct Inflater {
    /// None for stored entries (method 0): bytes pass through.
    deflate: Option<Decompress>,
    out: Vec<u8>,
    crc: crc32fast::Hasher,
    limit: u64,
    ended: bool,
    scratch: Vec<u8>,
}

impl Inflater {
    /// `declared` pre-sizes the output (bounded by `limit`) so honest entries never reallocate.
    pub fn new(deflated: bool, declared: u64, limit: u64) -> Self {
        let capacity = declared.min(limit) as usize;
        Self {
            deflate: deflated.then(|| Decompress::new(false)),
            out: Vec::with_capacity(capacity),
            crc: crc32fast::Hasher::new(),
            limit,
            ended: !deflated,
            scratch: if deflated {
                vec![0; SCRATCH]
            } else {
                Vec::new()
            },
        }
    }

    fn append(&mut self, bytes: &[u8]) -> Result<(), TrustSignError> {
        let total = self.out.len() as u64 + bytes.len() as u64;
        if total > self.limit {
            return Err(TrustSignError::SizeLimitExceeded {
                kind: SizeKind::Inflated,
                size: total,
                limit: self.limit,
            });
        }
        self.crc.update(bytes);
        self.out.extend_from_slice(bytes);
        Ok(())
    }

    /// Feeds the next chunk of compressed data.
    pub fn push(&mut self, mut input: &[u8]) -> Result<(), TrustSignError> {
        let Some(mut d) = self.deflate.take() else {
            return self.append(input);
        };
        let result = (|| {
            while !self.ended {
                let (in_before, out_before) = (d.total_in(), d.total_out());
                let status = d
                    .decompress(input, &mut self.scratch, FlushDecompress::None)
                    .map_err(|_| TrustSignError::Malformed {
                        reason: "report.json's deflate data is invalid".into(),
                    })?;
                let consumed = (d.total_in() - in_before) as usize;
                let produced = (d.total_out() - out_before) as usize;
                let scratch = std::mem::take(&mut self.scratch);
                let appended = self.append(&scratch[..produced]);
                self.scratch = scratch;
                appended?;
                input = &input[consumed..];
                if status == Status::StreamEnd {
                    self.ended = true;
                } else if produced < SCRATCH && (input.is_empty() || consumed == 0 && produced == 0)
                {
                    // Waiting for more input (or stuck, which the end-of-stream check reports).
                    break;
                }
            }
            Ok(())
        })();
        self.deflate = Some(d);
        result
    }

    /// Ends the entry: the stream must be complete, its size and CRC those declared.
    pub fn finish(self, declared_size: u64, declared_crc: u32) -> Result<Vec<u8>, TrustSignError> {
        if !self.ended {
            return Err(TrustSignError::Truncated {
                reason: "report.json's deflate stream ends before its end marker".into(),
            });
        }
        if self.out.len() as u64 != declared_size {
            return Err(TrustSignError::Malformed {
                reason: format!(
                    "report.json inflates to {} bytes, its header declares {declared_size}",
                    self.out.len()
                ),
            });
        }
        if self.crc.finalize() != declared_crc {
            return Err(TrustSignError::Malformed {
                reason: "report.json's CRC-32 does not match".into(),
            });
        }
        Ok(self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn deflate(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn crc(data: &[u8]) -> u32 {
        crc32fast::hash(data)
    }

    #[test]
    fn inflates_in_arbitrary_chunks() {
        let data: Vec<u8> = (0..300_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        let z = deflate(&data);
        for chunk in [1, 7, 4096, z.len()] {
            let mut inf = Inflater::new(true, data.len() as u64, 10 << 20);
            for c in z.chunks(chunk) {
                inf.push(c).unwrap();
            }
            assert_eq!(inf.finish(data.len() as u64, crc(&data)).unwrap(), data);
        }
    }

    #[test]
    fn real_size_is_capped_whatever_was_declared() {
        let data = vec![b' '; 3 << 20];
        let z = deflate(&data);
        let mut inf = Inflater::new(true, 10, 1 << 20);
        let err = z.chunks(1 << 16).try_for_each(|c| inf.push(c)).unwrap_err();
        match err {
            TrustSignError::SizeLimitExceeded {
                kind: SizeKind::Inflated,
                size,
                limit,
            } => {
                assert!(size > limit && size <= limit + SCRATCH as u64);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn stored_bytes_pass_through_under_the_same_cap() {
        let mut inf = Inflater::new(false, 5, 4);
        assert!(inf.push(b"hello").is_err());
        let mut inf = Inflater::new(false, 5, 5);
        inf.push(b"hel").unwrap();
        inf.push(b"lo").unwrap();
        assert_eq!(inf.finish(5, crc(b"hello")).unwrap(), b"hello");
    }

    #[test]
    fn truncated_stream_wrong_size_and_crc_are_errors() {
        let data = b"{\"date\":\"x\"}".repeat(1000);
        let z = deflate(&data);
        let mut inf = Inflater::new(true, data.len() as u64, 1 << 20);
        inf.push(&z[..z.len() / 2]).unwrap();
        assert!(matches!(
            inf.finish(data.len() as u64, crc(&data)),
            Err(TrustSignError::Truncated { .. })
        ));
        let mut inf = Inflater::new(true, 0, 1 << 20);
        inf.push(&z).unwrap();
        assert!(matches!(
            inf.finish(1, crc(&data)),
            Err(TrustSignError::Malformed { .. })
        ));
        let mut inf = Inflater::new(true, 0, 1 << 20);
        inf.push(&z).unwrap();
        assert!(matches!(
            inf.finish(data.len() as u64, 0),
            Err(TrustSignError::Malformed { .. })
        ));
        let mut inf = Inflater::new(true, 0, 1 << 20);
        assert!(inf.push(&[0xff; 64]).is_err());
    }
}
