//! What the upstream receives in the headers: hop-by-hop headers dropped (RFC 9110 §7.6.1),
//! the key's header removed, every `X-Keyward-*` header the client sent removed, and the
//! verified key named in `X-Keyward-Key-Id`, `-Key-Name` and `-Key-Owner`. The upstream can
//! therefore trust those three: only the gateway sets them.

use crate::client_ip::X_FORWARDED_FOR;
use http::header::{
    HeaderName, HeaderValue, CONNECTION, HOST, TE, TRAILER, TRANSFER_ENCODING, UPGRADE,
};
use http::HeaderMap;
use keyward_core::KeyRecord;
use std::net::IpAddr;

pub const KEY_ID: HeaderName = HeaderName::from_static("x-keyward-key-id");
pub const KEY_NAME: HeaderName = HeaderName::from_static("x-keyward-key-name");
pub const KEY_OWNER: HeaderName = HeaderName::from_static("x-keyward-key-owner");
const IDENTITY_PREFIX: &str = "x-keyward-";

/// Hop-by-hop headers every proxy drops, besides those `Connection` names.
const HOP_BY_HOP: [&str; 4] = [
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
];

/// Drops hop-by-hop headers (those `Connection` lists too) from a message in either direction.
pub fn drop_hop_by_hop(headers: &mut HeaderMap) {
    let listed: Vec<HeaderName> = headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|name| HeaderName::try_from(name.trim()).ok())
        .collect();
    for name in listed {
        headers.remove(name);
    }
    for name in [CONNECTION, TE, TRAILER, TRANSFER_ENCODING, UPGRADE] {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
}

/// Prepares a request's headers for the upstream: hop-by-hop headers, the key header, `Host`
/// (the client sets the upstream's) and every `X-Keyward-*` header removed; the peer's
/// address appended to `X-Forwarded-For` (the chain before it kept only from a trusted
/// proxy, else replaced); the verified key, if any, named.
pub fn for_upstream(
    headers: &mut HeaderMap,
    key_header: &HeaderName,
    peer: IpAddr,
    forwarded_chain_trusted: bool,
    key: Option<&KeyRecord>,
) {
    drop_hop_by_hop(headers);
    headers.remove(key_header);
    headers.remove(HOST);
    let forged: Vec<HeaderName> = headers
        .keys()
        .filter(|name| name.as_str().starts_with(IDENTITY_PREFIX))
        .cloned()
        .collect();
    for name in forged {
        headers.remove(name);
    }
    let chain = if forwarded_chain_trusted {
        let earlier: Vec<&str> = headers
            .get_all(X_FORWARDED_FOR)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .collect();
        earlier.join(", ")
    } else {
        String::new()
    };
    let forwarded = if chain.is_empty() {
        peer.to_string()
    } else {
        format!("{chain}, {peer}")
    };
    headers.remove(X_FORWARDED_FOR);
    if let Ok(value) = HeaderValue::from_str(&forwarded) {
        headers.insert(X_FORWARDED_FOR, value);
    }
    if let Some(key) = key {
        headers.insert(KEY_ID, encoded(&key.id));
        headers.insert(KEY_NAME, encoded(&key.name));
        if let Some(owner) = &key.owner_id {
            headers.insert(KEY_OWNER, encoded(owner));
        }
    }
}

/// A header value for text that may hold any Unicode: bytes outside visible ASCII, and `%`,
/// percent-encoded as UTF-8, so ASCII names arrive as they are and any name decodes exactly.
fn encoded(text: &str) -> HeaderValue {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if (0x21..0x7f).contains(&byte) && byte != b'%' || byte == b' ' {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    // Only visible ASCII and spaces remain, which every header value may hold.
    HeaderValue::from_str(&out).unwrap_or_else(|_| HeaderValue::from_static(""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_values_keep_ascii_and_percent_encode_the_rest() {
        assert_eq!(encoded("Stripe Invoice Sending"), "Stripe Invoice Sending");
        assert_eq!(encoded("Zahlungen für 100%"), "Zahlungen f%C3%BCr 100%25");
        assert_eq!(encoded("a\r\nb"), "a%0D%0Ab");
    }

    #[test]
    fn the_key_forged_identity_and_hop_by_hop_headers_never_reach_the_upstream() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "authorization",
            HeaderValue::from_static("Bearer bos_secret"),
        );
        headers.insert("x-keyward-key-id", HeaderValue::from_static("forged"));
        headers.insert("X-Keyward-Anything", HeaderValue::from_static("forged"));
        headers.insert("connection", HeaderValue::from_static("close, x-private"));
        headers.insert("x-private", HeaderValue::from_static("hop"));
        headers.insert("x-forwarded-for", HeaderValue::from_static("6.6.6.6"));
        headers.insert("accept", HeaderValue::from_static("application/json"));
        let client: IpAddr = "192.0.2.1".parse().unwrap();
        for_upstream(
            &mut headers,
            &http::header::AUTHORIZATION,
            client,
            false,
            None,
        );
        assert!(headers.get("authorization").is_none());
        assert!(headers.get("x-keyward-key-id").is_none());
        assert!(headers.get("x-keyward-anything").is_none());
        assert!(headers.get("connection").is_none());
        assert!(headers.get("x-private").is_none());
        assert_eq!(headers["x-forwarded-for"], "192.0.2.1");
        assert_eq!(headers["accept"], "application/json");
    }
}
