//! Network binding: the IP ranges (CIDR, IPv4 and IPv6) and HTTP origins a key may be used
//! from. Parsed once, at creation or update, into canonical values, so a stored allowlist is
//! always valid; matching is a pure function of the stored list and what the calling service
//! reported. An empty list does not restrict; a non-empty one refuses a request that reports
//! nothing (fail closed).

use ipnet::IpNet;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// Most entries one allowlist may hold.
pub const MAX_ALLOWLIST_ENTRIES: usize = 100;
/// Longest origin accepted (scheme, host and port).
const MAX_ORIGIN_LEN: usize = 300;

/// Errors never repeat text that failed to parse (it may be a key pasted into the wrong
/// field): they say what was expected, and [`parse_list`] says which entry. A range that
/// did parse is only addresses and is shown.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RestrictionError {
    #[error("not an IP address or CIDR range (e.g. 203.0.113.0/24 or 2001:db8::/32)")]
    InvalidCidr,
    #[error("{given:?} has bits set after its prefix length; did you mean {network}?")]
    HostBitsSet { given: String, network: String },
    #[error(
        "not an origin: expected scheme://host[:port], e.g. https://app.example.com, with no path"
    )]
    InvalidOrigin,
    #[error("at most {MAX_ALLOWLIST_ENTRIES} entries per allowlist")]
    TooMany,
    /// Entry `index` (from 0) of a list did not parse.
    #[error("entry {index}: {error}")]
    Entry {
        index: usize,
        error: Box<RestrictionError>,
    },
}

/// One allowed network, e.g. `203.0.113.0/24` or `2001:db8::/32`; a bare address means just
/// that address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IpRange(IpNet);

impl IpRange {
    pub fn parse(text: &str) -> Result<Self, RestrictionError> {
        let text = text.trim();
        if let Ok(addr) = IpAddr::from_str(text) {
            return Ok(Self(IpNet::from(addr)));
        }
        let net = IpNet::from_str(text).map_err(|_| RestrictionError::InvalidCidr)?;
        if net.trunc() != net {
            return Err(RestrictionError::HostBitsSet {
                given: text.to_owned(),
                network: net.trunc().to_string(),
            });
        }
        Ok(Self(net))
    }

    pub fn contains(&self, addr: &IpAddr) -> bool {
        self.0.contains(&canonical(*addr))
    }
}

impl fmt::Display for IpRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// An IPv4-mapped IPv6 address (`::ffff:203.0.113.7`, what a dual-stack socket reports) is
/// matched as the IPv4 address it carries.
fn canonical(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

/// An HTTP origin as browsers send it: `scheme://host[:port]`, lowercase, without the
/// scheme's default port. `https://*.example.com` allows every subdomain of `example.com`
/// (not `example.com` itself).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Origin {
    scheme: String,
    /// Lowercase; starts with `*.` for a subdomain wildcard.
    host: String,
    port: Option<u16>,
}

impl Origin {
    pub fn parse(text: &str) -> Result<Self, RestrictionError> {
        let invalid = || RestrictionError::InvalidOrigin;
        let trimmed = text.trim();
        if trimmed.len() > MAX_ORIGIN_LEN {
            return Err(invalid());
        }
        let lower = trimmed.to_ascii_lowercase();
        let (scheme, rest) = lower.split_once("://").ok_or_else(invalid)?;
        if scheme != "http" && scheme != "https" {
            return Err(invalid());
        }
        // One trailing slash is tolerated (people paste URLs); any other path is not.
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.is_empty() || rest.contains(['/', '?', '#', '@', ' ']) {
            return Err(invalid());
        }
        let (host, port) = split_port(rest).ok_or_else(invalid)?;
        if !valid_host(host) {
            return Err(invalid());
        }
        let default_port = if scheme == "https" { 443 } else { 80 };
        Ok(Self {
            scheme: scheme.to_owned(),
            host: host.to_owned(),
            port: port.filter(|p| *p != default_port),
        })
    }

    /// Whether the origin a request reported is allowed by this entry.
    pub fn allows(&self, presented: &Origin) -> bool {
        if self.scheme != presented.scheme || self.port != presented.port {
            return false;
        }
        match self.host.strip_prefix("*.") {
            Some(domain) => presented
                .host
                .strip_suffix(domain)
                .is_some_and(|sub| sub.len() > 1 && sub.ends_with('.')),
            None => self.host == presented.host,
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.scheme, self.host)?;
        if let Some(port) = self.port {
            write!(f, ":{port}")?;
        }
        Ok(())
    }
}

/// `host[:port]`, where host may be a bracketed IPv6 literal.
fn split_port(rest: &str) -> Option<(&str, Option<u16>)> {
    let (host, port) = if rest.starts_with('[') {
        let end = rest.find(']')?;
        let (host, after) = rest.split_at(end + 1);
        match after {
            "" => (host, None),
            _ => (host, Some(after.strip_prefix(':')?)),
        }
    } else {
        match rest.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (rest, None),
        }
    };
    let port = match port {
        None => None,
        Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
            Some(p.parse::<u16>().ok().filter(|p| *p != 0)?)
        }
        Some(_) => return None,
    };
    Some((host, port))
}

fn valid_host(host: &str) -> bool {
    if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return inner.parse::<std::net::Ipv6Addr>().is_ok();
    }
    let name = host.strip_prefix("*.").unwrap_or(host);
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
}

/// Parses a whole allowlist, dropping repeats, refusing more than [`MAX_ALLOWLIST_ENTRIES`].
pub fn parse_list<T: PartialEq>(
    raw: &[String],
    parse: impl Fn(&str) -> Result<T, RestrictionError>,
) -> Result<Vec<T>, RestrictionError> {
    if raw.len() > MAX_ALLOWLIST_ENTRIES {
        return Err(RestrictionError::TooMany);
    }
    let mut out = Vec::with_capacity(raw.len());
    for (index, text) in raw.iter().enumerate() {
        let value = parse(text).map_err(|error| RestrictionError::Entry {
            index,
            error: Box::new(error),
        })?;
        if !out.contains(&value) {
            out.push(value);
        }
    }
    Ok(out)
}

/// Whether a request from `ip` (as the calling service reported it) passes `allowlist`.
pub fn ip_allowed(allowlist: &[IpRange], ip: Option<&str>) -> bool {
    if allowlist.is_empty() {
        return true;
    }
    let Some(addr) = ip.and_then(|ip| IpAddr::from_str(ip.trim()).ok()) else {
        return false;
    };
    allowlist.iter().any(|range| range.contains(&addr))
}

/// Whether a request from `origin` (the `Origin` header the calling service saw) passes
/// `allowlist`.
pub fn origin_allowed(allowlist: &[Origin], origin: Option<&str>) -> bool {
    if allowlist.is_empty() {
        return true;
    }
    let Some(presented) = origin.and_then(|o| Origin::parse(o).ok()) else {
        return false;
    };
    // A wildcard in what was presented is not a wildcard: it must match literally.
    if presented.host.starts_with("*.") {
        return false;
    }
    allowlist.iter().any(|entry| entry.allows(&presented))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ranges(list: &[&str]) -> Vec<IpRange> {
        list.iter().map(|s| IpRange::parse(s).unwrap()).collect()
    }

    fn origins(list: &[&str]) -> Vec<Origin> {
        list.iter().map(|s| Origin::parse(s).unwrap()).collect()
    }

    #[test]
    fn cidrs_parse_canonically_and_refuse_nonsense() {
        assert_eq!(
            IpRange::parse("10.0.0.0/8").unwrap().to_string(),
            "10.0.0.0/8"
        );
        assert_eq!(
            IpRange::parse(" 203.0.113.7 ").unwrap().to_string(),
            "203.0.113.7/32"
        );
        assert_eq!(
            IpRange::parse("2001:db8::/32").unwrap().to_string(),
            "2001:db8::/32"
        );
        assert_eq!(IpRange::parse("::1").unwrap().to_string(), "::1/128");
        for bad in [
            "",
            "10.0.0.0/33",
            "10.0.0/8",
            "300.1.1.1",
            "example.com",
            "2001:db8::/129",
        ] {
            assert!(
                matches!(IpRange::parse(bad), Err(RestrictionError::InvalidCidr)),
                "{bad}"
            );
        }
        let err = IpRange::parse("10.1.2.3/8").unwrap_err();
        assert!(err.to_string().contains("did you mean 10.0.0.0/8"), "{err}");
    }

    #[test]
    fn ip_matching_covers_v4_v6_and_mapped_addresses() {
        let list = ranges(&["203.0.113.0/24", "2001:db8::/32"]);
        assert!(ip_allowed(&list, Some("203.0.113.200")));
        assert!(ip_allowed(&list, Some("::ffff:203.0.113.9")));
        assert!(ip_allowed(&list, Some("2001:db8:1::5")));
        assert!(!ip_allowed(&list, Some("203.0.114.1")));
        assert!(!ip_allowed(&list, Some("2001:db9::1")));
        assert!(!ip_allowed(&list, None), "a bound key needs an ip");
        assert!(!ip_allowed(&list, Some("not an ip")));
        assert!(ip_allowed(&[], None), "an empty list does not restrict");
    }

    #[test]
    fn origins_parse_canonically() {
        let o = Origin::parse("HTTPS://App.Example.com:443/").unwrap();
        assert_eq!(o.to_string(), "https://app.example.com");
        assert_eq!(
            Origin::parse("http://localhost:3000").unwrap().to_string(),
            "http://localhost:3000"
        );
        assert_eq!(
            Origin::parse("https://[::1]:8443").unwrap().to_string(),
            "https://[::1]:8443"
        );
        for bad in [
            "app.example.com",
            "ftp://example.com",
            "https://example.com/path",
            "https://",
            "https://exa mple.com",
            "https://user@example.com",
            "https://example.com:0",
            "https://example.com:99999",
            "https://example.com:",
            "https://-bad.example.com",
            "https://ex_ample.com",
            "null",
        ] {
            assert!(Origin::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn origin_matching_is_exact_except_for_wildcards() {
        let list = origins(&["https://app.example.com", "https://*.example.org"]);
        assert!(origin_allowed(&list, Some("https://app.example.com")));
        assert!(origin_allowed(&list, Some("https://APP.example.com:443")));
        assert!(!origin_allowed(&list, Some("http://app.example.com")));
        assert!(!origin_allowed(&list, Some("https://app.example.com:8443")));
        assert!(!origin_allowed(
            &list,
            Some("https://app.example.com.evil.net")
        ));
        assert!(!origin_allowed(&list, Some("https://evilapp.example.com")));
        assert!(origin_allowed(&list, Some("https://a.b.example.org")));
        assert!(!origin_allowed(&list, Some("https://example.org")));
        assert!(!origin_allowed(&list, Some("https://badexample.org")));
        assert!(!origin_allowed(&list, Some("https://*.example.org")));
        assert!(!origin_allowed(&list, None));
        assert!(origin_allowed(&[], Some("https://anything.example")));
    }

    #[test]
    fn lists_drop_repeats_and_are_bounded() {
        let raw: Vec<String> = vec!["10.0.0.1".into(), "10.0.0.1/32".into()];
        assert_eq!(parse_list(&raw, IpRange::parse).unwrap().len(), 1);
        let many: Vec<String> = (0..=MAX_ALLOWLIST_ENTRIES)
            .map(|i| format!("10.0.{}.{}", i / 256, i % 256))
            .collect();
        assert_eq!(
            parse_list(&many, IpRange::parse),
            Err(RestrictionError::TooMany)
        );
    }

    #[test]
    fn list_errors_name_the_entry_and_never_repeat_it() {
        let pasted = "bos_5Qm2R7pLwTq8xZcA9dEfGhJkLmNpQrStUv1234";
        let raw: Vec<String> = vec!["10.0.0.0/8".into(), pasted.into()];
        for error in [
            parse_list(&raw, IpRange::parse).unwrap_err(),
            parse_list(&raw[1..], Origin::parse).unwrap_err(),
        ] {
            let shown = error.to_string();
            assert!(!shown.contains("5Qm2R7"), "{shown}");
            assert!(shown.starts_with("entry "), "{shown}");
        }
        assert!(matches!(
            parse_list(&raw, IpRange::parse),
            Err(RestrictionError::Entry { index: 1, .. })
        ));
    }

    proptest! {
        #[test]
        fn a_v4_range_contains_exactly_the_addresses_sharing_its_prefix(
            a in any::<u32>(), b in any::<u32>(), len in 0u8..=32
        ) {
            let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
            let net = std::net::Ipv4Addr::from(a & mask);
            let range = IpRange::parse(&format!("{net}/{len}")).unwrap();
            let inside = (a & mask) == (b & mask);
            prop_assert_eq!(range.contains(&IpAddr::V4(b.into())), inside);
        }

        #[test]
        fn parsing_a_displayed_range_gives_it_back(a in any::<u128>(), len in 0u8..=128) {
            let mask = if len == 0 { 0 } else { u128::MAX << (128 - len) };
            let net = std::net::Ipv6Addr::from(a & mask);
            let range = IpRange::parse(&format!("{net}/{len}")).unwrap();
            prop_assert_eq!(IpRange::parse(&range.to_string()).unwrap(), range);
        }

        #[test]
        fn origin_parsing_never_panics(s in ".{0,80}") {
            let _ = Origin::parse(&s);
            let _ = origin_allowed(&[], Some(&s));
        }
    }
}
