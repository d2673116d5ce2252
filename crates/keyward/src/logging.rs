//! The server's log on stderr: human-readable lines (coloured on a terminal), or JSON lines
//! with `KEYWARD_LOG_FORMAT=json` for a log collector; `KEYWARD_LOG` filters (`info` unless
//! set, e.g. `KEYWARD_LOG=info,keyward::request=warn` keeps request lines for failures only).

use tracing_subscriber::EnvFilter;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

impl LogFormat {
    /// `KEYWARD_LOG_FORMAT`: `json`, or `text` (the default); anything else is an error.
    pub fn from_env() -> anyhow::Result<Self> {
        match std::env::var("KEYWARD_LOG_FORMAT") {
            Err(_) => Ok(Self::Text),
            Ok(value) => match value.trim() {
                "" | "text" => Ok(Self::Text),
                "json" => Ok(Self::Json),
                other => anyhow::bail!("KEYWARD_LOG_FORMAT must be text or json, not {other:?}"),
            },
        }
    }
}

/// Installs the process's log subscriber.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_env("KEYWARD_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
        // One JSON object a line, the event's fields flattened beside `timestamp`, `level`,
        // `target` and `message`.
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .init(),
    }
}
