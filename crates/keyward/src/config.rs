//! `keyward serve`'s settings, in layers: a command-line flag over a `KEYWARD_*` environment
//! variable over the TOML file of `--config` over the default.
//!
//! One struct, [`Settings`], is both the flags (clap, which also reads each setting's
//! environment variable, so flag over environment comes from clap) and the file (serde, with
//! unknown settings refused and reported with their line by the `toml` crate). Every field is
//! optional in both, so the layers merge field by field ([`Settings::over`]) before the
//! defaults fill what none of them set ([`Settings::with_defaults`]).
//!
//! `keyward config check` prints the effective settings with the passwords of the database
//! and Redis URLs masked ([`Settings::masked`]); file settings (keys, certificates) are shown
//! as paths and never read here.

use crate::commands::{ServeConfig, TlsFiles};
use anyhow::Context;
use clap::{Args, Subcommand};
use ipnet::IpNet;
use keyward_app::anchors::DEFAULT_INTERVAL;
use keyward_server::{ServeLimits, UiConfig};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The default of `listen`.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// The default of `database_url`.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://keyward.db";

/// Every setting of `keyward serve`. As a TOML key it is spelled as the field
/// (`max_connections = 512`), as a flag in kebab case (`--max-connections`), and as an
/// environment variable in capitals with `KEYWARD_` before it (`KEYWARD_MAX_CONNECTIONS`).
/// A list setting (`trusted_proxies`) is a TOML array, repeated flags, or a comma-separated
/// variable.
#[derive(Args, Serialize, Deserialize, Default, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Address to listen on [default: 127.0.0.1:8080]
    #[arg(long, env = "KEYWARD_LISTEN")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
    /// Database URL: sqlite://FILE, or postgres://… [default: sqlite://keyward.db]
    #[arg(long, env = "KEYWARD_DATABASE_URL", hide_env_values = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
    /// Redis URL for rate-limit counters shared by every node [default: in memory]
    #[arg(long, env = "KEYWARD_REDIS_URL", hide_env_values = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redis_url: Option<String>,
    /// Most client connections open at once [default: 1024]
    #[arg(long, env = "KEYWARD_MAX_CONNECTIONS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_connections: Option<usize>,
    /// Most connections one client address (an IPv6 /64) holds at once; behind a proxy,
    /// raise it to max_connections [default: a quarter of max_connections]
    #[arg(long, env = "KEYWARD_MAX_CONNECTIONS_PER_ADDRESS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_connections_per_address: Option<usize>,
    /// Seconds a client has to send a whole request head before it is disconnected [default: 10]
    #[arg(long, env = "KEYWARD_HEADER_TIMEOUT_SECS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub header_timeout_secs: Option<u64>,
    /// Seconds a connection may stay open with no request in progress [default: 5]
    #[arg(long, env = "KEYWARD_IDLE_TIMEOUT_SECS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idle_timeout_secs: Option<u64>,
    /// Seconds a request body has to arrive whole after its head, else 408 [default: 10]
    #[arg(long, env = "KEYWARD_BODY_TIMEOUT_SECS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body_timeout_secs: Option<u64>,
    /// Seconds after which a connection is closed, once its request in flight is answered
    /// [default: 60]
    #[arg(long, env = "KEYWARD_MAX_CONNECTION_AGE_SECS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_connection_age_secs: Option<u64>,
    /// Directory of the audit journal, where verification events are made durable before the
    /// database takes them in [default: beside the database file, <file>.audit-journal]
    #[arg(long, env = "KEYWARD_AUDIT_JOURNAL")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audit_journal: Option<PathBuf>,
    /// New file (created readable by this user only) for the root key a first start on an
    /// empty database creates [default: beside the database file, <file>.root-key]
    #[arg(long, env = "KEYWARD_ROOT_KEY_FILE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub root_key_file: Option<PathBuf>,
    /// File of the Ed25519 key that signs audit chain heads, created with mode 0600 if missing
    /// [default: beside the database file, <file>.anchor-key]
    #[arg(long, env = "KEYWARD_ANCHOR_KEY")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub anchor_key: Option<PathBuf>,
    /// File every signed chain head is appended to, one JSON object a line
    /// [default: beside the database file, <file>.audit-anchors]
    #[arg(long, env = "KEYWARD_ANCHOR_LOG")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub anchor_log: Option<PathBuf>,
    /// Seconds between signing the audit chain heads that moved [default: 600]
    #[arg(long, env = "KEYWARD_ANCHOR_INTERVAL_SECS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub anchor_interval_secs: Option<u64>,
    /// PEM file of the TLS certificate chain; with tls_key, serve HTTPS (reloaded on SIGHUP)
    #[arg(long, env = "KEYWARD_TLS_CERT")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_cert: Option<PathBuf>,
    /// PEM file of the TLS private key (reloaded on SIGHUP)
    #[arg(long, env = "KEYWARD_TLS_KEY")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_key: Option<PathBuf>,
    /// Proxies (CIDRs) whose X-Forwarded-For is believed: the client is the rightmost address
    /// not in them. Repeat the flag, or separate with commas [default: none, the header is
    /// ignored]
    #[arg(long, env = "KEYWARD_TRUSTED_PROXIES", value_delimiter = ',')]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trusted_proxies: Option<Vec<IpNet>>,
    /// Mark the dashboard's session cookie Secure (on by itself with tls_cert; set it when a
    /// TLS proxy serves keyward, unless the proxy sends X-Forwarded-Proto: https) [default:
    /// false]
    #[arg(long, env = "KEYWARD_UI_SECURE_COOKIES", num_args = 0..=1, default_missing_value = "true")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ui_secure_cookies: Option<bool>,
}

/// Fills `$field` of `self` from `$lower` where `self` leaves it unset.
macro_rules! over {
    ($self:ident, $lower:ident, $($field:ident),* $(,)?) => {
        Settings { $($field: $self.$field.or($lower.$field)),* }
    };
}

impl Settings {
    /// Reads the TOML file at `path`; an unknown setting, a wrong type or bad syntax is an
    /// error naming the line.
    pub fn from_file(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the configuration file {}", path.display()))?;
        Self::from_toml(&text).with_context(|| format!("in {}", path.display()))
    }

    /// Parses TOML text (see [`Settings::from_file`]).
    pub fn from_toml(text: &str) -> anyhow::Result<Self> {
        toml::from_str(text).map_err(|e| anyhow::anyhow!("{}", e.to_string().trim_end()))
    }

    /// These settings, with those they leave unset taken from `lower`.
    pub fn over(self, lower: Settings) -> Settings {
        over!(
            self,
            lower,
            listen,
            database_url,
            redis_url,
            max_connections,
            max_connections_per_address,
            header_timeout_secs,
            idle_timeout_secs,
            body_timeout_secs,
            max_connection_age_secs,
            audit_journal,
            root_key_file,
            anchor_key,
            anchor_log,
            anchor_interval_secs,
            tls_cert,
            tls_key,
            trusted_proxies,
            ui_secure_cookies,
        )
    }

    /// The settings over the defaults of those that have a fixed one (the files beside the
    /// database and the Redis URL stay unset: their default depends on other settings).
    pub fn with_defaults(self) -> Settings {
        let limits = ServeLimits::default();
        let max_connections = self.max_connections.unwrap_or(limits.max_connections);
        let defaults = Settings {
            listen: Some(DEFAULT_LISTEN.to_owned()),
            database_url: Some(DEFAULT_DATABASE_URL.to_owned()),
            max_connections: Some(max_connections),
            max_connections_per_address: Some(ServeLimits::per_address_default(max_connections)),
            header_timeout_secs: Some(limits.header_read_timeout.as_secs()),
            idle_timeout_secs: Some(limits.idle_timeout.as_secs()),
            body_timeout_secs: Some(limits.body_read_timeout.as_secs()),
            max_connection_age_secs: Some(limits.max_connection_age.as_secs()),
            anchor_interval_secs: Some(DEFAULT_INTERVAL.as_secs()),
            trusted_proxies: Some(Vec::new()),
            ui_secure_cookies: Some(false),
            ..Settings::default()
        };
        self.over(defaults)
    }

    /// Refuses settings that cannot work together.
    pub fn check(&self) -> anyhow::Result<()> {
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            anyhow::bail!("tls_cert and tls_key go together: set both, or neither");
        }
        let positive = [
            ("max_connections", self.max_connections.map(|n| n as u64)),
            (
                "max_connections_per_address",
                self.max_connections_per_address.map(|n| n as u64),
            ),
            ("header_timeout_secs", self.header_timeout_secs),
            ("idle_timeout_secs", self.idle_timeout_secs),
            ("body_timeout_secs", self.body_timeout_secs),
            ("max_connection_age_secs", self.max_connection_age_secs),
            ("anchor_interval_secs", self.anchor_interval_secs),
        ];
        if let Some((name, _)) = positive.iter().find(|(_, value)| *value == Some(0)) {
            anyhow::bail!("{name} must be at least 1");
        }
        Ok(())
    }

    /// The same settings with the passwords in the database and Redis URLs replaced by
    /// `****`, for showing.
    pub fn masked(&self) -> Settings {
        Settings {
            database_url: self.database_url.as_deref().map(mask_url),
            redis_url: self.redis_url.as_deref().map(mask_url),
            ..self.clone()
        }
    }

    /// The settings as TOML, passwords masked.
    pub fn to_masked_toml(&self) -> anyhow::Result<String> {
        toml::to_string(&self.masked()).context("cannot write the settings as TOML")
    }

    /// What `keyward serve` runs with, and where it listens (after [`Settings::with_defaults`]).
    pub fn serve_config(self) -> anyhow::Result<(ServeConfig, String)> {
        self.check()?;
        let settings = self.with_defaults();
        let limits = ServeLimits::default();
        let secs = |value: Option<u64>, default: Duration| {
            value.map_or(default, |secs| Duration::from_secs(secs.max(1)))
        };
        let max_connections = settings.max_connections.unwrap_or(limits.max_connections);
        let tls = match (settings.tls_cert, settings.tls_key) {
            (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
            _ => None,
        };
        let config = ServeConfig {
            database_url: settings
                .database_url
                .unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned()),
            redis_url: settings.redis_url,
            limits: ServeLimits {
                max_connections,
                max_connections_per_address: settings
                    .max_connections_per_address
                    .unwrap_or_else(|| ServeLimits::per_address_default(max_connections)),
                header_read_timeout: secs(settings.header_timeout_secs, limits.header_read_timeout),
                idle_timeout: secs(settings.idle_timeout_secs, limits.idle_timeout),
                body_read_timeout: secs(settings.body_timeout_secs, limits.body_read_timeout),
                max_connection_age: secs(
                    settings.max_connection_age_secs,
                    limits.max_connection_age,
                ),
                ..limits
            },
            audit_journal: settings.audit_journal,
            root_key_file: settings.root_key_file,
            anchor_key: settings.anchor_key,
            anchor_log: settings.anchor_log,
            anchor_interval: secs(settings.anchor_interval_secs, DEFAULT_INTERVAL),
            // Served over TLS, the dashboard's cookie is Secure whatever the setting says.
            ui: UiConfig {
                secure_cookies: settings.ui_secure_cookies.unwrap_or(false) || tls.is_some(),
            },
            tls,
            trusted_proxies: settings.trusted_proxies.unwrap_or_default(),
        };
        let listen = settings.listen.unwrap_or_else(|| DEFAULT_LISTEN.to_owned());
        Ok((config, listen))
    }
}

/// `keyward config …`
#[derive(Subcommand)]
pub enum ConfigCommand {
    /// Validate a configuration file and print the effective settings (flags and KEYWARD_*
    /// variables over the file over the defaults), passwords masked
    Check {
        /// The TOML file, e.g. /etc/keyward/keyward.toml
        file: PathBuf,
        #[command(flatten)]
        settings: Settings,
    },
}

/// Runs `keyward config check`: the effective settings on standard output, or the error.
pub fn run(command: ConfigCommand) -> anyhow::Result<()> {
    let ConfigCommand::Check { file, settings } = command;
    let effective = layered(settings, Some(&file))?;
    effective.check()?;
    let shown = effective.with_defaults().to_masked_toml()?;
    println!(
        "# {} is valid; the effective settings:\n{shown}",
        file.display()
    );
    Ok(())
}

/// The settings from flags and environment over those of `file` (if any).
pub fn layered(flags_and_env: Settings, file: Option<&Path>) -> anyhow::Result<Settings> {
    let from_file = match file {
        Some(path) => Settings::from_file(path)?,
        None => Settings::default(),
    };
    Ok(flags_and_env.over(from_file))
}

/// `url` with its password (and any `password` query parameter) replaced by `****`. A URL
/// that does not parse is shown as `****` whole when it could hold a password.
pub fn mask_url(url: &str) -> String {
    const MASK: &str = "****";
    let Ok(mut parsed) = url::Url::parse(url) else {
        return if url.contains('@') || url.contains("password") {
            MASK.to_owned()
        } else {
            url.to_owned()
        };
    };
    if parsed.password().is_some() && parsed.set_password(Some(MASK)).is_err() {
        return MASK.to_owned();
    }
    let secret_query = parsed
        .query_pairs()
        .any(|(name, _)| name.to_ascii_lowercase().contains("password"));
    if secret_query {
        let pairs: Vec<(String, String)> = parsed
            .query_pairs()
            .map(|(name, value)| {
                let shown = if name.to_ascii_lowercase().contains("password") {
                    MASK.to_owned()
                } else {
                    value.into_owned()
                };
                (name.into_owned(), shown)
            })
            .collect();
        parsed.query_pairs_mut().clear().extend_pairs(pairs);
    }
    parsed.to_string()
}

/// Written by hand so that no password in a URL reaches a log.
impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.to_masked_toml() {
            Ok(text) => write!(f, "Settings {{ {} }}", text.trim().replace('\n', ", ")),
            Err(_) => f.write_str("Settings { .. }"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_in_a_database_or_redis_url_is_masked() {
        let settings = Settings {
            database_url: Some("postgres://keyward:hunter2@db.internal/keyward".into()),
            redis_url: Some("redis://:s3cret@cache:6379/0".into()),
            ..Settings::default()
        };
        let shown = settings.to_masked_toml().unwrap_or_default();
        assert!(
            !shown.contains("hunter2") && !shown.contains("s3cret"),
            "{shown}"
        );
        assert!(
            shown.contains("postgres://keyward:****@db.internal/keyward"),
            "{shown}"
        );
        assert!(shown.contains("redis://:****@cache:6379/0"), "{shown}");
        assert!(!format!("{settings:?}").contains("hunter2"));
    }

    #[test]
    fn a_password_in_the_query_is_masked_and_the_rest_kept() {
        let shown = mask_url("postgres://db/keyward?sslmode=require&password=hunter2");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("sslmode=require"), "{shown}");
    }

    #[test]
    fn a_url_without_a_password_is_shown_as_it_is() {
        assert_eq!(mask_url("sqlite://keyward.db"), "sqlite://keyward.db");
    }

    #[test]
    fn an_unknown_setting_is_refused_with_its_line() {
        let error = Settings::from_toml("listen = \"127.0.0.1:9000\"\nmax_conections = 5\n")
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(error.contains("line 2"), "{error}");
        assert!(error.contains("max_conections"), "{error}");
    }

    #[test]
    fn a_setting_of_the_wrong_type_is_refused() {
        assert!(Settings::from_toml("max_connections = \"many\"\n").is_err());
    }

    #[test]
    fn a_higher_layer_wins_and_a_lower_one_fills_the_gaps() {
        let flags = Settings {
            listen: Some("flag".into()),
            ..Settings::default()
        };
        let file = Settings {
            listen: Some("file".into()),
            idle_timeout_secs: Some(7),
            ..Settings::default()
        };
        let merged = flags.over(file).with_defaults();
        assert_eq!(merged.listen.as_deref(), Some("flag"));
        assert_eq!(merged.idle_timeout_secs, Some(7));
        assert_eq!(merged.database_url.as_deref(), Some(DEFAULT_DATABASE_URL));
    }

    #[test]
    fn a_certificate_without_its_key_is_refused() {
        let settings = Settings {
            tls_cert: Some("cert.pem".into()),
            ..Settings::default()
        };
        assert!(settings.check().is_err());
    }

    #[test]
    fn a_zero_timeout_is_refused() {
        let settings = Settings::from_toml("idle_timeout_secs = 0\n").unwrap_or_default();
        assert!(settings.check().is_err());
    }

    #[test]
    fn the_example_file_in_docs_parses_and_sets_every_setting() {
        let text = include_str!("../../../docs/keyward.toml");
        // Every setting is in the example, commented out: uncommented, each must parse.
        let uncommented: String = text
            .lines()
            .filter_map(|line| {
                let line = line.trim_start_matches('#').trim_start();
                let (key, _) = line.split_once(" = ")?;
                let is_key =
                    !key.is_empty() && key.chars().all(|c| c.is_ascii_lowercase() || c == '_');
                is_key.then(|| format!("{line}\n"))
            })
            .collect();
        let settings = Settings::from_toml(&uncommented);
        assert!(settings.is_ok(), "{settings:?}\n{uncommented}");
        let settings = settings.unwrap_or_default();
        let shown = toml::to_string(&settings).unwrap_or_default();
        let set = shown.lines().filter(|l| l.contains(" = ")).count();
        let fields = toml::to_string(&every_setting())
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains(" = "))
            .count();
        assert_eq!(set, fields, "the example leaves a setting out:\n{shown}");
        // And as shipped (everything commented) it is a valid, empty configuration.
        assert!(Settings::from_toml(text).is_ok());
    }

    fn every_setting() -> Settings {
        Settings {
            listen: Some(String::new()),
            database_url: Some(String::new()),
            redis_url: Some(String::new()),
            max_connections: Some(1),
            max_connections_per_address: Some(1),
            header_timeout_secs: Some(1),
            idle_timeout_secs: Some(1),
            body_timeout_secs: Some(1),
            max_connection_age_secs: Some(1),
            audit_journal: Some(PathBuf::new()),
            root_key_file: Some(PathBuf::new()),
            anchor_key: Some(PathBuf::new()),
            anchor_log: Some(PathBuf::new()),
            anchor_interval_secs: Some(1),
            tls_cert: Some(PathBuf::new()),
            tls_key: Some(PathBuf::new()),
            trusted_proxies: Some(Vec::new()),
            ui_secure_cookies: Some(false),
        }
    }
}
