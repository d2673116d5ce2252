//! The `keyward` binary: `serve`, `init`, `migrate-db`, `root-key create` (operator recovery), and the client
//! commands (`keys`, `verify`, `audit`, `scan`).

use clap::{Args, Parser, Subcommand};
use keyward::logging;
use keyward::recovery::RootKeyCommand;
use keyward::{InitConfig, Listen, ServeConfig};
use keyward_app::anchors::DEFAULT_INTERVAL;
use keyward_cli::{AuditArgs, ClientArgs, KeysCommand, VerifyArgs};
use keyward_server::ServeLimits;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// mimalloc instead of the system allocator: every verification allocates on a runtime
/// worker and frees on the journal writer or the ingester, a cross-thread pattern on which
/// glibc's malloc took a large share of the verify path's CPU (`PROFILE=1 scripts/bench`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "keyward",
    version,
    about = "Issue, verify, restrict, rotate, revoke and audit API keys"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (creates a workspace and prints its root key on an empty database)
    Serve(ServeArgs),
    /// Create the schema if needed and a new workspace with its first root key
    Init(InitArgs),
    /// Copy a whole database (keys, root keys, settings, the audit trail with its chain)
    /// into an empty one, e.g. from SQLite to PostgreSQL
    MigrateDb(MigrateDbArgs),
    /// Operator recovery: create a root key straight in the database
    RootKey {
        #[command(subcommand)]
        command: RootKeyCommand,
    },
    /// Manage keys on a running server (KEYWARD_URL, KEYWARD_ROOT_KEY)
    Keys {
        #[command(flatten)]
        client: ClientArgs,
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Verify a key against a running server
    Verify {
        #[command(flatten)]
        client: ClientArgs,
        #[command(flatten)]
        args: VerifyArgs,
    },
    /// Query, export (NDJSON) and check the audit trail of a running server
    Audit {
        #[command(flatten)]
        client: ClientArgs,
        #[command(flatten)]
        args: AuditArgs,
    },
    /// Find keys in files, folders, documents and git history; --report revokes them
    ///
    /// Exit status: 1 keys found; 0 none found and everything read; 2 something not read or
    /// not wholly (a binary, an unreadable file, a corrupt archive, a limit reached;
    /// --allow-skipped accepts what was passed over on purpose), history that cannot be
    /// walked, or keys the server did not accept.
    Scan(keyward_cli::ScanArgs),
}

#[derive(Args)]
struct DatabaseArgs {
    /// Database URL
    #[arg(
        long,
        env = "KEYWARD_DATABASE_URL",
        default_value = "sqlite://keyward.db"
    )]
    database_url: String,
}

#[derive(Args)]
struct ServeArgs {
    /// Address to listen on
    #[arg(long, env = "KEYWARD_LISTEN", default_value = "127.0.0.1:8080")]
    listen: String,
    #[command(flatten)]
    database: DatabaseArgs,
    /// Redis URL for rate-limit counters shared by every node (default: in memory)
    #[arg(long, env = "KEYWARD_REDIS_URL", hide_env_values = true)]
    redis_url: Option<String>,
    /// Most client connections open at once
    #[arg(long, env = "KEYWARD_MAX_CONNECTIONS", default_value_t = ServeLimits::default().max_connections)]
    max_connections: usize,
    /// Most connections one client address (an IPv6 /64) holds at once; behind a proxy,
    /// raise it to --max-connections [default: a quarter of --max-connections]
    #[arg(long, env = "KEYWARD_MAX_CONNECTIONS_PER_ADDRESS")]
    max_connections_per_address: Option<usize>,
    /// Seconds a client has to send a whole request head before it is disconnected
    #[arg(long, env = "KEYWARD_HEADER_TIMEOUT_SECS", default_value_t = ServeLimits::default().header_read_timeout.as_secs())]
    header_timeout_secs: u64,
    /// Seconds a connection may stay open with no request in progress
    #[arg(long, env = "KEYWARD_IDLE_TIMEOUT_SECS", default_value_t = ServeLimits::default().idle_timeout.as_secs())]
    idle_timeout_secs: u64,
    /// Seconds a request body has to arrive whole after its head (else 408)
    #[arg(long, env = "KEYWARD_BODY_TIMEOUT_SECS", default_value_t = ServeLimits::default().body_read_timeout.as_secs())]
    body_timeout_secs: u64,
    /// Seconds after which a connection is closed, once its request in flight is answered
    #[arg(long, env = "KEYWARD_MAX_CONNECTION_AGE_SECS", default_value_t = ServeLimits::default().max_connection_age.as_secs())]
    max_connection_age_secs: u64,
    /// Directory of the audit journal, where verification events are made durable before the
    /// database takes them in [default: beside the database file, <file>.audit-journal]
    #[arg(long, env = "KEYWARD_AUDIT_JOURNAL")]
    audit_journal: Option<PathBuf>,
    /// New file (created readable by this user only) for the root key a first start on an
    /// empty database creates [default: beside the database file, <file>.root-key]
    #[arg(long, env = "KEYWARD_ROOT_KEY_FILE")]
    root_key_file: Option<PathBuf>,
    /// File of the Ed25519 key that signs audit chain heads, created with mode 0600 if missing
    /// [default: beside the database file, <file>.anchor-key]
    #[arg(long, env = "KEYWARD_ANCHOR_KEY")]
    anchor_key: Option<PathBuf>,
    /// File every signed chain head is appended to, one JSON object a line
    /// [default: beside the database file, <file>.audit-anchors]
    #[arg(long, env = "KEYWARD_ANCHOR_LOG")]
    anchor_log: Option<PathBuf>,
    /// Seconds between signing the audit chain heads that moved
    #[arg(long, env = "KEYWARD_ANCHOR_INTERVAL_SECS", default_value_t = DEFAULT_INTERVAL.as_secs())]
    anchor_interval_secs: u64,
}

#[derive(Args)]
struct MigrateDbArgs {
    /// The database to copy (stop its servers first), e.g. sqlite://keyward.db
    #[arg(long)]
    from: String,
    /// The empty database to copy into, e.g. postgres://user@host/keyward
    #[arg(long)]
    to: String,
}

#[derive(Args)]
struct InitArgs {
    #[command(flatten)]
    database: DatabaseArgs,
    /// Name of the new workspace
    #[arg(long, default_value = "Default workspace")]
    workspace: String,
    /// Issuer prefix of the workspace's keys, e.g. bos or bos_live
    #[arg(long, default_value = "kw")]
    prefix: String,
    /// Print {"workspace_id": …, "root_key": …} on standard output, for a script that
    /// captures it (never point it at a log)
    #[arg(long, conflicts_with = "output")]
    json: bool,
    /// New file (created readable by you only) for the root key; without it (and without
    /// --json) the key is shown only on an interactive terminal
    #[arg(long)]
    output: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    runtime.block_on(async move {
        match cli.command {
            Command::Serve(args) => report(run_serve(args).await),
            Command::Init(args) => report(keyward::init(args.into()).await),
            Command::MigrateDb(args) => report(
                keyward::migrate_db::migrate_db(&args.from, &args.to)
                    .await
                    .map(|_| ()),
            ),
            Command::RootKey { command } => report(run_root_key(command).await),
            Command::Keys { client, command } => keyward_cli::run_keys(&client, command).await,
            Command::Verify { client, args } => keyward_cli::run_verify(&client, args).await,
            Command::Audit { client, args } => keyward_cli::run_audit(&client, args).await,
            Command::Scan(args) => keyward_cli::run_scan(args).await,
        }
    })
}

fn report(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn run_root_key(command: RootKeyCommand) -> anyhow::Result<()> {
    let said = keyward::commands::root_key(command).await?;
    eprintln!("{said}");
    Ok(())
}

impl From<InitArgs> for InitConfig {
    fn from(args: InitArgs) -> Self {
        Self {
            database_url: args.database.database_url,
            workspace: args.workspace,
            prefix: args.prefix,
            json: args.json,
            output: args.output,
        }
    }
}

async fn run_serve(args: ServeArgs) -> anyhow::Result<()> {
    logging::init(logging::LogFormat::from_env()?);
    let config = ServeConfig {
        database_url: args.database.database_url,
        redis_url: args.redis_url,
        limits: ServeLimits {
            max_connections: args.max_connections,
            max_connections_per_address: args
                .max_connections_per_address
                .unwrap_or_else(|| ServeLimits::per_address_default(args.max_connections)),
            header_read_timeout: Duration::from_secs(args.header_timeout_secs.max(1)),
            idle_timeout: Duration::from_secs(args.idle_timeout_secs.max(1)),
            body_read_timeout: Duration::from_secs(args.body_timeout_secs.max(1)),
            max_connection_age: Duration::from_secs(args.max_connection_age_secs.max(1)),
            ..ServeLimits::default()
        },
        audit_journal: args.audit_journal,
        root_key_file: args.root_key_file,
        anchor_key: args.anchor_key,
        anchor_log: args.anchor_log,
        anchor_interval: Duration::from_secs(args.anchor_interval_secs),
    };
    keyward::serve(config, Listen::Address(args.listen), shutdown_signal()).await
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
