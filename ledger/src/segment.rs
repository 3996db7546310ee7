//! Segment files: the 24-byte header and the framed records that follow it
//! (`docs/ledger-format.md` §2). Pure byte-level encoding and decoding, no I/O.

use thiserror::Error;

/// The magic bytes every segment starts with.
pub const MAGIC: &[u8; 8] = b"AGLEDGER";
/// The format version this crate writes and reads.
pub const VERSION: u32 = 1;
/// Length of the segment header.
pub const HEADER_LEN: usize = 24;
/// Length of a record frame before its payload (len, crc, type).
pub const FRAME_OVERHEAD: usize = 9;
/// The largest payload the format allows (16 MiB).
pub const MAX_PAYLOAD: usize = 16 * 1024 * 1024;

/// The kind of a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordType {
    /// A canonical JSON entry.
    Entry,
    /// A signed checkpoint note.
    Checkpoint,
    /// The end of a segment: the count of entries so far.
    Seal,
}

impl RecordType {
    /// The type byte on disk.
    pub fn byte(self) -> u8 {
        match self {
            RecordType::Entry => 0x01,
            RecordType::Checkpoint => 0x02,
            RecordType::Seal => 0x03,
        }
    }

    fn from_byte(b: u8) -> Option<Self> {
        match b {
            0x01 => Some(RecordType::Entry),
            0x02 => Some(RecordType::Checkpoint),
            0x03 => Some(RecordType::Seal),
            _ => None,
        }
    }
}

/// A failure to decode a header or a frame.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FrameError {
    /// The file is shorter than a header.
    #[error("segment is shorter than its {HEADER_LEN}-byte header ({len} bytes)")]
    ShortHeader {
        /// Bytes present.
        len: usize,
    },
    /// Magic, version, flags or number in the header are wrong.
    #[error("bad segment header: {0}")]
    BadHeader(&'static str),
    /// The frame runs past the end of the file.
    #[error("record truncated: needs {needed} bytes, {available} available")]
    Truncated {
        /// Bytes the frame claims.
        needed: usize,
        /// Bytes left in the file.
        available: usize,
    },
    /// The length field is 0 or above the format's limit.
    #[error("record length {0} out of range 1..={MAX_PAYLOAD}")]
    BadLength(u32),
    /// CRC-32C mismatch.
    #[error("record checksum mismatch (stored {stored:08x}, computed {computed:08x})")]
    BadChecksum {
        /// CRC in the frame.
        stored: u32,
        /// CRC of the bytes.
        computed: u32,
    },
    /// Unknown record type byte.
    #[error("unknown record type 0x{0:02x}")]
    UnknownType(u8),
}

/// Encodes a segment header.
pub fn encode_header(number: u64) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[0..8].copy_from_slice(MAGIC);
    h[8..12].copy_from_slice(&VERSION.to_le_bytes());
    h[12..16].copy_from_slice(&0u32.to_le_bytes());
    h[16..24].copy_from_slice(&number.to_le_bytes());
    h
}

/// Decodes and checks a segment header against the number in the file name.
pub fn decode_header(bytes: &[u8], expected_number: u64) -> Result<(), FrameError> {
    let h = bytes
        .get(..HEADER_LEN)
        .ok_or(FrameError::ShortHeader { len: bytes.len() })?;
    if &h[0..8] != MAGIC {
        return Err(FrameError::BadHeader("magic is not AGLEDGER"));
    }
    if le_u32(&h[8..12]) != VERSION {
        return Err(FrameError::BadHeader("unsupported version"));
    }
    if le_u32(&h[12..16]) != 0 {
        return Err(FrameError::BadHeader("reserved flags are not zero"));
    }
    if le_u64(&h[16..24]) != expected_number {
        return Err(FrameError::BadHeader(
            "segment number differs from the file name",
        ));
    }
    Ok(())
}

/// Appends one framed record to `out`.
///
/// Panics never; a payload above [`MAX_PAYLOAD`] is the caller's bug and is checked there
/// (entries are bounded far below it), so here it is only debug-asserted.
pub fn encode_record(out: &mut Vec<u8>, ty: RecordType, payload: &[u8]) {
    debug_assert!(!payload.is_empty() && payload.len() <= MAX_PAYLOAD);
    let len = (payload.len() as u32).to_le_bytes();
    let mut crc = crc32c::crc32c(&len);
    crc = crc32c::crc32c_append(crc, &[ty.byte()]);
    crc = crc32c::crc32c_append(crc, payload);
    out.extend_from_slice(&len);
    out.extend_from_slice(&crc.to_le_bytes());
    out.push(ty.byte());
    out.extend_from_slice(payload);
}

/// The encoded size of a record with a payload of `payload_len` bytes.
pub fn record_len(payload_len: usize) -> usize {
    FRAME_OVERHEAD + payload_len
}

/// One decoded record, borrowing its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    /// Byte offset of the frame in the segment file.
    pub offset: usize,
    /// Record type.
    pub ty: RecordType,
    /// Payload bytes.
    pub payload: &'a [u8],
}

impl Record<'_> {
    /// Offset just past this record.
    pub fn end(&self) -> usize {
        self.offset + record_len(self.payload.len())
    }
}

/// A frame whose length is in range and which fits in the bytes, its checksum and type not yet
/// checked: the part of decoding that must run in order (each frame's length says where the
/// next one starts), apart from the part that need not ([`Frame::check`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    /// Byte offset of the frame in the bytes it was found in.
    pub offset: usize,
    /// The whole frame: length, checksum, type, payload.
    bytes: &'a [u8],
}

impl<'a> Frame<'a> {
    /// Offset just past this frame.
    pub fn end(&self) -> usize {
        self.offset + self.bytes.len()
    }

    /// Checks the checksum and the type: the rest of [`decode_record`].
    pub fn check(&self) -> Result<Record<'a>, FrameError> {
        let frame = self.bytes;
        let stored = le_u32(&frame[4..8]);
        let mut computed = crc32c::crc32c(&frame[0..4]);
        computed = crc32c::crc32c_append(computed, &frame[8..]);
        if stored != computed {
            return Err(FrameError::BadChecksum { stored, computed });
        }
        let ty = RecordType::from_byte(frame[8]).ok_or(FrameError::UnknownType(frame[8]))?;
        Ok(Record {
            offset: self.offset,
            ty,
            payload: &frame[FRAME_OVERHEAD..],
        })
    }
}

/// Finds the frame at `offset` of a segment's bytes (length checks only; see [`Frame`]).
pub fn frame_at(bytes: &[u8], offset: usize) -> Result<Frame<'_>, FrameError> {
    let available = bytes.len().saturating_sub(offset);
    if available < FRAME_OVERHEAD {
        return Err(FrameError::Truncated {
            needed: FRAME_OVERHEAD,
            available,
        });
    }
    let frame = &bytes[offset..];
    let len = le_u32(&frame[0..4]);
    if len == 0 || len as usize > MAX_PAYLOAD {
        return Err(FrameError::BadLength(len));
    }
    let needed = record_len(len as usize);
    if available < needed {
        return Err(FrameError::Truncated { needed, available });
    }
    Ok(Frame {
        offset,
        bytes: &frame[..needed],
    })
}

/// Decodes the record at `offset` of a segment's bytes.
pub fn decode_record(bytes: &[u8], offset: usize) -> Result<Record<'_>, FrameError> {
    frame_at(bytes, offset)?.check()
}

/// Encodes a seal payload: the number of entries in the ledger so far.
pub fn encode_seal(entries: u64) -> [u8; 8] {
    entries.to_le_bytes()
}

/// Decodes a seal payload.
pub fn decode_seal(payload: &[u8]) -> Option<u64> {
    <[u8; 8]>::try_from(payload).ok().map(u64::from_le_bytes)
}

/// The file name of segment `number`.
pub fn file_name(number: u64) -> String {
    format!("{number:016x}.seg")
}

/// The segment number a file name denotes, if it is a segment file name.
pub fn parse_file_name(name: &str) -> Option<u64> {
    let hex = name.strip_suffix(".seg")?;
    if hex.len() != 16
        || !hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return None;
    }
    u64::from_str_radix(hex, 16).ok()
}

fn le_u32(b: &[u8]) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[..4]);
    u32::from_le_bytes(a)
}

fn le_u64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_le_bytes(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_round_trip() {
        let mut buf = encode_header(7).to_vec();
        encode_record(&mut buf, RecordType::Entry, b"{\"a\":1}");
        encode_record(&mut buf, RecordType::Seal, &encode_seal(3));
        decode_header(&buf, 7).unwrap();
        let r1 = decode_record(&buf, HEADER_LEN).unwrap();
        assert_eq!((r1.ty, r1.payload), (RecordType::Entry, &b"{\"a\":1}"[..]));
        let r2 = decode_record(&buf, r1.end()).unwrap();
        assert_eq!(decode_seal(r2.payload), Some(3));
        assert_eq!(r2.end(), buf.len());
    }

    #[test]
    fn every_single_byte_flip_in_a_record_is_caught() {
        let mut buf = Vec::new();
        encode_record(&mut buf, RecordType::Entry, b"{\"kind\":\"x\"}");
        for i in 0..buf.len() {
            for bit in 0..8 {
                let mut b = buf.clone();
                b[i] ^= 1 << bit;
                assert!(decode_record(&b, 0).is_err(), "flip at byte {i} bit {bit}");
            }
        }
    }

    #[test]
    fn header_checks_each_field() {
        let h = encode_header(1);
        assert!(decode_header(&h, 1).is_ok());
        assert!(decode_header(&h, 2).is_err());
        assert_eq!(
            decode_header(&h[..10], 1),
            Err(FrameError::ShortHeader { len: 10 })
        );
        for i in 0..HEADER_LEN {
            let mut b = h;
            b[i] ^= 0x10;
            assert!(decode_header(&b, 1).is_err(), "byte {i}");
        }
    }

    #[test]
    fn file_names() {
        assert_eq!(file_name(10), "000000000000000a.seg");
        assert_eq!(parse_file_name("000000000000000a.seg"), Some(10));
        assert_eq!(parse_file_name("000000000000000A.seg"), None);
        assert_eq!(parse_file_name("0a.seg"), None);
    }
}
