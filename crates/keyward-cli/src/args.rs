//! The options every client command shares (server URL, root key, `--json`), flattened into
//! the binary's clap command.

use std::fmt;

/// Global client options, flattened into the binary's clap command.
#[derive(clap::Args, Clone)]
pub struct ClientArgs {
    /// Server URL
    #[arg(
        long,
        env = "KEYWARD_URL",
        default_value = "http://127.0.0.1:8080",
        global = true
    )]
    pub url: String,
    /// Root key (prefer the environment variable, so it stays out of shell history)
    #[arg(long, env = "KEYWARD_ROOT_KEY", hide_env_values = true, global = true)]
    pub root_key: Option<String>,
    /// Machine-readable JSON output
    #[arg(long, global = true)]
    pub json: bool,
}

/// Written by hand so that `{:?}` never shows the root key.
impl fmt::Debug for ClientArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientArgs")
            .field("url", &self.url)
            .field("root_key", &self.root_key.as_ref().map(|_| "[redacted]"))
            .field("json", &self.json)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_root_key() {
        let args = ClientArgs {
            url: "http://127.0.0.1:8080".into(),
            root_key: Some("kwroot_supersecret".into()),
            json: false,
        };
        let shown = format!("{args:?} {args:#?}");
        assert!(!shown.contains("supersecret"), "{shown}");
        assert!(shown.contains("[redacted]"));
    }
}
