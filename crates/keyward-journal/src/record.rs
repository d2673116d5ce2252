//! One record on disk: `[payload length: u32 LE][crc32: u32 LE][lsn: u64 LE][payload]`.
//!
//! The checksum covers the LSN and the payload. Segments are zero-filled when created, and a
//! zeroed header fails the checksum, so "the first record that does not decode" is the end of
//! what was written: a record torn by a crash, a stretch of zeros, or the middle of an older
//! record in a reused segment all stop a scan.

/// Bytes before the payload.
pub const HEADER_BYTES: usize = 16;
/// Larger payloads are refused: no audit event comes near it, and a bounded length keeps a
/// corrupt header from asking a scan for gigabytes.
pub const MAX_PAYLOAD_BYTES: usize = 1 << 20;

/// Appends one encoded record to `buf`.
pub(crate) fn encode(buf: &mut Vec<u8>, lsn: u64, payload: &[u8]) {
    let len = payload.len() as u32;
    buf.extend_from_slice(&len.to_le_bytes());
    buf.extend_from_slice(&checksum(lsn, payload).to_le_bytes());
    buf.extend_from_slice(&lsn.to_le_bytes());
    buf.extend_from_slice(payload);
}

/// The record at the start of `bytes`: its LSN, its payload and how many bytes it takes, or
/// `None` if no intact record starts there.
pub(crate) fn decode(bytes: &[u8]) -> Option<(u64, &[u8], usize)> {
    let header = bytes.get(..HEADER_BYTES)?;
    let len = u32::from_le_bytes(header[0..4].try_into().ok()?) as usize;
    let crc = u32::from_le_bytes(header[4..8].try_into().ok()?);
    let lsn = u64::from_le_bytes(header[8..16].try_into().ok()?);
    if len > MAX_PAYLOAD_BYTES {
        return None;
    }
    let payload = bytes.get(HEADER_BYTES..HEADER_BYTES + len)?;
    (checksum(lsn, payload) == crc).then_some((lsn, payload, HEADER_BYTES + len))
}

fn checksum(lsn: u64, payload: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&lsn.to_le_bytes());
    hasher.update(payload);
    hasher.finalize()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_round_trips() {
        let mut buf = Vec::new();
        encode(&mut buf, 7, b"hello");
        encode(&mut buf, 8, b"");
        let (lsn, payload, used) = decode(&buf).unwrap();
        assert_eq!((lsn, payload, used), (7, &b"hello"[..], HEADER_BYTES + 5));
        let (lsn, payload, used) = decode(&buf[used..]).unwrap();
        assert_eq!((lsn, payload, used), (8, &b""[..], HEADER_BYTES));
    }

    #[test]
    fn zeros_a_flipped_bit_and_a_short_read_do_not_decode() {
        assert!(
            decode(&[0u8; 64]).is_none(),
            "a zero-filled segment is empty"
        );
        let mut buf = Vec::new();
        encode(&mut buf, 1, b"payload");
        for bit in 0..buf.len() * 8 {
            let mut flipped = buf.clone();
            flipped[bit / 8] ^= 1 << (bit % 8);
            assert!(decode(&flipped).is_none(), "bit {bit}");
        }
        assert!(decode(&buf[..buf.len() - 1]).is_none());
    }

    #[test]
    fn an_absurd_length_is_refused_without_reading_it() {
        let mut buf = vec![0xff; HEADER_BYTES];
        buf[0..4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(decode(&buf).is_none());
    }
}
