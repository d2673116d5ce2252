//! Who the client is: the connection's peer, or, behind proxies the operator named, the
//! address those proxies say they received the request from (`X-Forwarded-For`).
//!
//! Off by default: with no trusted proxy the header is never read, since any client can send
//! one. With trusted proxies, the header is walked from the right (the entry the nearest
//! proxy appended) while the address in hand is a trusted proxy; the first address that is
//! not one is the client. Entries left of it were written by the client or by proxies nobody
//! vouches for, so a spoofed entry there changes nothing.

use axum::extract::connect_info::ConnectInfo;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::HeaderMap;
use ipnet::IpNet;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// The proxies whose `X-Forwarded-For` is believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Arc<[IpNet]>);

impl TrustedProxies {
    pub fn new(networks: Vec<IpNet>) -> Self {
        Self(networks.into())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client of a request that arrived from `peer` with `headers`.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let mut client = peer.to_canonical();
        if self.is_empty() {
            return client;
        }
        let hops: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .map(str::trim)
            .collect();
        for hop in hops.iter().rev() {
            if !self.trusts(client) {
                break;
            }
            // An entry that is not an address ends the walk: the proxy that passed it on is
            // the client as far as anyone can vouch.
            match hop.parse::<IpAddr>() {
                Ok(ip) => client = ip.to_canonical(),
                Err(_) => break,
            }
        }
        client
    }
}

/// The client's address as the serve loop worked it out (set on every request it serves).
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub IpAddr);

/// The client's address: [`ClientAddr`] when the serve loop set it, else the peer
/// (`ConnectInfo`); `None` when a test drives the router directly.
pub struct ClientIp(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let resolved = parts
            .extensions
            .get::<ClientAddr>()
            .map(|ClientAddr(ip)| *ip);
        Ok(Self(resolved.or_else(|| {
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(addr)| addr.ip())
        })))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use axum::http::HeaderValue;

    fn proxies(nets: &[&str]) -> TrustedProxies {
        TrustedProxies::new(nets.iter().map(|n| n.parse().unwrap()).collect())
    }

    fn forwarded(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append("x-forwarded-for", HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn without_trusted_proxies_the_header_is_ignored() {
        let client = TrustedProxies::default().client(ip("10.0.0.1"), &forwarded(&["1.2.3.4"]));
        assert_eq!(client, ip("10.0.0.1"));
    }

    #[test]
    fn a_peer_that_is_not_trusted_is_the_client_whatever_it_says() {
        let client = proxies(&["10.0.0.0/8"]).client(ip("203.0.113.9"), &forwarded(&["1.2.3.4"]));
        assert_eq!(client, ip("203.0.113.9"));
    }

    #[test]
    fn behind_a_trusted_proxy_the_rightmost_untrusted_hop_is_the_client() {
        let trusted = proxies(&["10.0.0.0/8"]);
        // The client claimed 6.6.6.6; the edge proxy appended what it saw, then an inner one.
        let headers = forwarded(&["6.6.6.6, 198.51.100.7", "10.1.1.1"]);
        assert_eq!(trusted.client(ip("10.0.0.2"), &headers), ip("198.51.100.7"));
    }

    #[test]
    fn an_entry_that_is_not_an_address_stops_the_walk() {
        let trusted = proxies(&["10.0.0.0/8"]);
        let headers = forwarded(&["198.51.100.7, unknown"]);
        assert_eq!(trusted.client(ip("10.0.0.2"), &headers), ip("10.0.0.2"));
    }

    #[test]
    fn an_ipv4_mapped_peer_matches_an_ipv4_network() {
        let trusted = proxies(&["127.0.0.1/32"]);
        let headers = forwarded(&["198.51.100.7"]);
        assert_eq!(
            trusted.client(ip("::ffff:127.0.0.1"), &headers),
            ip("198.51.100.7")
        );
    }

    #[test]
    fn when_every_hop_is_trusted_the_leftmost_is_the_client() {
        let trusted = proxies(&["10.0.0.0/8"]);
        let headers = forwarded(&["10.9.9.9, 10.1.1.1"]);
        assert_eq!(trusted.client(ip("10.0.0.2"), &headers), ip("10.9.9.9"));
    }
}
