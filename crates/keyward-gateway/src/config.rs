//! The gateway's configuration file (TOML), parsed once at start: a value of
//! [`GatewayConfig`] exists only if every field is valid, so the request path never checks
//! configuration. The format is documented in README.md ("Gateway").

use crate::routes::{RouteError, RouteTable};
use http::header::{HeaderName, AUTHORIZATION};
use http::Uri;
use ipnet::IpNet;
use keyward_core::PermissionQuery;
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

/// Where the gateway listens, unless configured.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8000";

/// How long the upstream has to send its response head, unless configured.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a configuration file was refused; the message names the field.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("the gateway configuration is not valid TOML: {0}")]
    Toml(#[from] toml::de::Error),
    #[error("upstream {0:?} must be an http:// URL with a host and no path, query or fragment")]
    Upstream(String),
    #[error("timeout_secs must be between 1 and 3600")]
    Timeout,
    #[error("key_header {0:?} is not a valid header name")]
    KeyHeader(String),
    #[error("trusted_proxies[{0}] is not an IP address or CIDR range")]
    TrustedProxy(usize),
    #[error("route {index} ({path}): {reason}")]
    Route {
        index: usize,
        path: String,
        reason: String,
    },
    #[error(transparent)]
    Routes(#[from] RouteError),
}

/// The file as written (`deny_unknown_fields`: a misspelt option is an error, not a
/// silently open route).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    listen: Option<String>,
    api_listen: Option<String>,
    upstream: String,
    timeout_secs: Option<u64>,
    key_header: Option<String>,
    #[serde(default)]
    trusted_proxies: Vec<String>,
    root_key_file: Option<PathBuf>,
    #[serde(default, rename = "route")]
    routes: Vec<RawRoute>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRoute {
    method: Option<String>,
    path: String,
    permission: Option<String>,
    #[serde(default)]
    public: bool,
}

/// What a route asks of a request.
#[derive(Debug, Clone)]
pub enum Access {
    /// No key: forwarded as is (the key header and identity headers still removed).
    Public,
    /// A valid key of the gateway's workspace, holding what the query asks (`None`: any).
    Key(Option<PermissionQuery>),
}

/// Where the key is read from.
#[derive(Debug, Clone)]
pub enum KeyHeader {
    /// `Authorization: Bearer <key>`.
    Bearer,
    /// The whole value of another header (e.g. `X-Api-Key`).
    Named(HeaderName),
}

impl KeyHeader {
    pub fn name(&self) -> &HeaderName {
        match self {
            Self::Bearer => &AUTHORIZATION,
            Self::Named(name) => name,
        }
    }
}

/// The gateway's configuration, every field parsed.
#[derive(Debug)]
pub struct GatewayConfig {
    /// Where the gateway listens.
    pub listen: String,
    /// Where the same process also serves keyward's HTTP API, if anywhere (a SQLite file has
    /// one process, so managing its keys while the gateway runs needs this).
    pub api_listen: Option<String>,
    /// Scheme and authority of the upstream (`http://127.0.0.1:9000`).
    pub upstream: Uri,
    /// How long the upstream has to send its response head (`504` after).
    pub timeout: Duration,
    pub key_header: KeyHeader,
    /// Peers whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpNet>,
    /// The file holding the root key the gateway verifies with (the environment variable
    /// `KEYWARD_GATEWAY_ROOT_KEY` takes precedence).
    pub root_key_file: Option<PathBuf>,
    pub routes: RouteTable,
}

impl GatewayConfig {
    /// Parses the TOML text of a configuration file.
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        let raw: RawConfig = toml::from_str(text)?;
        let upstream = parse_upstream(&raw.upstream)?;
        let timeout = match raw.timeout_secs {
            None => DEFAULT_TIMEOUT,
            Some(secs @ 1..=3600) => Duration::from_secs(secs),
            Some(_) => return Err(ConfigError::Timeout),
        };
        let key_header = match raw.key_header {
            None => KeyHeader::Bearer,
            Some(name) => match HeaderName::try_from(name.as_str()) {
                Ok(header) if header == AUTHORIZATION => KeyHeader::Bearer,
                Ok(header) => KeyHeader::Named(header),
                Err(_) => return Err(ConfigError::KeyHeader(name)),
            },
        };
        let trusted_proxies = raw
            .trusted_proxies
            .iter()
            .enumerate()
            .map(|(i, text)| parse_net(text).ok_or(ConfigError::TrustedProxy(i)))
            .collect::<Result<Vec<_>, _>>()?;
        let mut routes = RouteTable::default();
        for (index, route) in raw.routes.into_iter().enumerate() {
            let refuse = |reason: String| ConfigError::Route {
                index,
                path: route.path.clone(),
                reason,
            };
            let access = match (route.public, &route.permission) {
                (true, Some(_)) => {
                    return Err(refuse("a public route cannot require a permission".into()))
                }
                (true, None) => Access::Public,
                (false, None) => Access::Key(None),
                (false, Some(text)) => Access::Key(Some(
                    PermissionQuery::parse(text).map_err(|e| refuse(e.to_string()))?,
                )),
            };
            routes.add(route.method.as_deref(), &route.path, access)?;
        }
        Ok(Self {
            listen: raw.listen.unwrap_or_else(|| DEFAULT_LISTEN.to_owned()),
            api_listen: raw.api_listen,
            upstream,
            timeout,
            key_header,
            trusted_proxies,
            root_key_file: raw.root_key_file,
            routes,
        })
    }
}

fn parse_upstream(text: &str) -> Result<Uri, ConfigError> {
    let bad = || ConfigError::Upstream(text.to_owned());
    let uri: Uri = text.parse().map_err(|_| bad())?;
    let plain_path = matches!(uri.path(), "" | "/");
    if uri.scheme_str() != Some("http") || uri.authority().is_none() || !plain_path {
        return Err(bad());
    }
    if uri.query().is_some() || text.contains('#') {
        return Err(bad());
    }
    Ok(uri)
}

/// An address (one host) or a CIDR range.
fn parse_net(text: &str) -> Option<IpNet> {
    text.parse::<IpNet>()
        .ok()
        .or_else(|| text.parse::<std::net::IpAddr>().ok().map(IpNet::from))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: &str = r#"
        upstream = "http://127.0.0.1:9000"
        timeout_secs = 5
        key_header = "X-Api-Key"
        trusted_proxies = ["10.0.0.0/8", "127.0.0.1"]

        [[route]]
        method = "GET"
        path = "/invoices"
        permission = "invoices:read"

        [[route]]
        method = "DELETE"
        path = "/invoices/{id}"
        permission = "invoices:delete"

        [[route]]
        path = "/health"
        public = true
    "#;

    #[test]
    fn a_full_file_parses_into_typed_fields() {
        let config = GatewayConfig::parse(FULL).unwrap();
        assert_eq!(config.upstream.authority().unwrap(), "127.0.0.1:9000");
        assert_eq!(config.timeout, Duration::from_secs(5));
        assert_eq!(config.key_header.name(), "x-api-key");
        assert_eq!(config.trusted_proxies.len(), 2);
        assert!(config
            .routes
            .find(&http::Method::DELETE, "/invoices/7")
            .is_some());
        assert!(config
            .routes
            .find(&http::Method::GET, "/invoices/7")
            .is_none());
    }

    #[test]
    fn defaults_are_bearer_and_thirty_seconds() {
        let config = GatewayConfig::parse("upstream = \"http://up:80\"").unwrap();
        assert!(matches!(config.key_header, KeyHeader::Bearer));
        assert_eq!(config.timeout, DEFAULT_TIMEOUT);
    }

    #[test]
    fn mistakes_are_refused_with_the_field_named() {
        let cases = [
            ("upstream = \"https://up\"", "upstream"),
            ("upstream = \"http://up/base\"", "upstream"),
            ("upstream = \"http://up\"\ntimeout_secs = 0", "timeout_secs"),
            ("upstream = \"http://up\"\nkey_header = \"bad header\"", "key_header"),
            ("upstream = \"http://up\"\ntrusted_proxies = [\"nope\"]", "trusted_proxies[0]"),
            ("upstream = \"http://up\"\nverify = false", "unknown field"),
            (
                "upstream = \"http://up\"\n[[route]]\npath = \"/a\"\npermission = \"a:b\"\npublic = true",
                "public route",
            ),
            (
                "upstream = \"http://up\"\n[[route]]\npath = \"/a\"\npermission = \"a:b AND\"",
                "route 0 (/a)",
            ),
        ];
        for (text, expected) in cases {
            match GatewayConfig::parse(text) {
                Ok(_) => panic!("accepted: {text}"),
                Err(e) => assert!(
                    e.to_string().contains(expected),
                    "{text}: {e} lacks {expected}"
                ),
            }
        }
    }
}
