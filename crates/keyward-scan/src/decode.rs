//! Turning a file's bytes into text the key pattern can run over: UTF-8 and every
//! ASCII-compatible encoding are scanned as they are (key characters are ASCII), UTF-16 (with
//! or without a byte-order mark) is transcoded, and anything else with NUL bytes is binary.

use encoding_rs::{Encoding, UTF_16BE, UTF_16LE, UTF_8};
use std::borrow::Cow;

/// How much of the start of a file is sniffed for NUL bytes and UTF-16.
pub(crate) const SNIFF_BYTES: usize = 8 * 1024;

/// Text bytes ready for matching (UTF-8 or another ASCII-compatible encoding), or `None`
/// for binary content.
pub(crate) fn text_bytes(bytes: &[u8]) -> Option<Cow<'_, [u8]>> {
    if let Some((encoding, bom_len)) = Encoding::for_bom(bytes) {
        let rest = &bytes[bom_len..];
        if encoding == UTF_8 {
            return Some(Cow::Borrowed(rest));
        }
        return Some(transcode(encoding, rest));
    }
    let head = &bytes[..bytes.len().min(SNIFF_BYTES)];
    if let Some(encoding) = sniff_utf16(head) {
        return Some(transcode(encoding, bytes));
    }
    if memchr::memchr(0, head).is_some() {
        return None;
    }
    Some(Cow::Borrowed(bytes))
}

/// How to stream a file whose first bytes are `head`: the encoding to transcode from
/// (`None`: ASCII-compatible, scanned as it is) and the length of its byte-order mark, or
/// `None` for binary content.
pub(crate) fn stream_encoding(head: &[u8]) -> Option<(Option<&'static Encoding>, usize)> {
    if let Some((encoding, bom_len)) = Encoding::for_bom(head) {
        return Some(((encoding != UTF_8).then_some(encoding), bom_len));
    }
    let head = &head[..head.len().min(SNIFF_BYTES)];
    if let Some(encoding) = sniff_utf16(head) {
        return Some((Some(encoding), 0));
    }
    memchr::memchr(0, head).is_none().then_some((None, 0))
}

/// Appends `bytes`, transcoded to UTF-8, to `out`; `last` when no more bytes follow (a
/// trailing half character is then replaced, not kept for the next call).
pub(crate) fn transcode_into(
    decoder: &mut encoding_rs::Decoder,
    bytes: &[u8],
    last: bool,
    out: &mut Vec<u8>,
) {
    let start = out.len();
    let room = decoder
        .max_utf8_buffer_length(bytes.len())
        .unwrap_or(bytes.len().saturating_mul(3).saturating_add(16));
    out.resize(start + room, 0);
    let (_, _, written, _) = decoder.decode_to_utf8(bytes, &mut out[start..], last);
    out.truncate(start + written);
}

fn transcode(encoding: &'static Encoding, bytes: &[u8]) -> Cow<'static, [u8]> {
    let (text, _) = encoding.decode_without_bom_handling(bytes);
    Cow::Owned(text.into_owned().into_bytes())
}

/// UTF-16 without a byte-order mark: mostly-ASCII text has a zero in every other byte.
fn sniff_utf16(head: &[u8]) -> Option<&'static Encoding> {
    let pairs = head.len() / 2;
    if pairs < 4 {
        return None;
    }
    let (mut even_zero, mut odd_zero) = (0usize, 0usize);
    for pair in head.chunks_exact(2) {
        even_zero += usize::from(pair[0] == 0);
        odd_zero += usize::from(pair[1] == 0);
    }
    let mostly = |n: usize| n * 10 >= pairs * 7;
    let rarely = |n: usize| n * 10 <= pairs;
    if mostly(odd_zero) && rarely(even_zero) {
        Some(UTF_16LE)
    } else if mostly(even_zero) && rarely(odd_zero) {
        Some(UTF_16BE)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utf16le(text: &str, bom: bool) -> Vec<u8> {
        let mut out = if bom { vec![0xFF, 0xFE] } else { Vec::new() };
        out.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
        out
    }

    #[test]
    fn utf16_with_and_without_bom_is_transcoded() {
        for bom in [true, false] {
            let bytes = utf16le("token = abc_def\r\n", bom);
            let text = text_bytes(&bytes).unwrap();
            assert_eq!(&*text, b"token = abc_def\r\n", "bom: {bom}");
        }
        let mut be = vec![0xFE, 0xFF];
        be.extend("hello".encode_utf16().flat_map(u16::to_be_bytes));
        assert_eq!(&*text_bytes(&be).unwrap(), b"hello");
    }

    #[test]
    fn binary_is_refused_and_latin1_kept() {
        assert!(text_bytes(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\x01\x02\x03").is_none());
        assert_eq!(&*text_bytes(b"caf\xe9 ok").unwrap(), b"caf\xe9 ok");
        assert_eq!(&*text_bytes(b"\xEF\xBB\xBFbom").unwrap(), b"bom");
    }
}
