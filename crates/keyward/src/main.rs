//! The `keyward` binary: `serve`, `gateway`, `init`, `config check`, `backup`, `restore`,
//! `migrate-db`, `root-key create` (operator recovery), the client commands (`keys`,
//! `verify`, `audit`, `scan`, `import`), and `completions` and `man` for packages.

use clap::{Args, CommandFactory, Parser, Subcommand};
use keyward::config::{self, ConfigCommand, Settings};
use keyward::logging;
use keyward::recovery::RootKeyCommand;
use keyward::{InitConfig, Listen};
use keyward_cli::{AdviceArgs, AuditArgs, ClientArgs, KeysCommand, VerifyArgs};
use std::path::PathBuf;
use std::process::ExitCode;

/// mimalloc instead of the system allocator: every verification allocates on a runtime
/// worker and frees on the journal writer or the ingester, a cross-thread pattern on which
/// glibc's malloc took a large share of the verify path's CPU (`PROFILE=1 scripts/bench`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `keyward --version`: the package version and the git revision it was built from.
const VERSION: &str = keyward_app::metrics::VERSION_LINE;

#[derive(Parser)]
#[command(
    name = "keyward",
    version = VERSION,
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
    /// Run the gateway: verify each request's key for its route and forward it to an
    /// upstream, the key stripped (routes and upstream in a TOML file; README "Gateway")
    Gateway(GatewayArgs),
    /// Create the schema if needed and a new workspace with its first root key
    Init(InitArgs),
    /// Copy a whole database (keys, root keys, settings, the audit trail with its chain)
    /// into an empty one, e.g. from SQLite to PostgreSQL
    MigrateDb(MigrateDbArgs),
    /// Check a configuration file and show the effective settings
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Copy a SQLite database and its audit journal, consistently, into a new directory,
    /// while the server runs (PostgreSQL: use pg_dump or pg_basebackup)
    Backup(BackupArgs),
    /// Put a backup into a new or empty data directory
    Restore(RestoreArgs),
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
    /// Import keys another system issued (plaintext or SHA-256 digests, from JSON lines or
    /// CSV) into a running server; re-running skips what was imported (docs/import.md)
    ///
    /// Exit status: 0 every row imported or skipped; 1 some rows refused (listed with their
    /// line numbers); 2 an error.
    Import {
        #[command(flatten)]
        client: ClientArgs,
        #[command(flatten)]
        args: keyward_cli::ImportArgs,
    },
    /// Verify a key against a running server
    Verify {
        #[command(flatten)]
        client: ClientArgs,
        #[command(flatten)]
        args: VerifyArgs,
    },
    /// The workspace's safety advice, worst first; `advice dismiss <key> <code>` hides an item
    Advice {
        #[command(flatten)]
        client: ClientArgs,
        #[command(flatten)]
        args: AdviceArgs,
    },
    /// Query, export (NDJSON) and check the audit trail of a running server
    Audit {
        #[command(flatten)]
        client: ClientArgs,
        #[command(flatten)]
        args: AuditArgs,
    },
    /// Print a shell completion script: keyward completions bash > /etc/bash_completion.d/keyward
    Completions {
        /// bash, zsh, fish, elvish or powershell
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff): keyward man > /usr/share/man/man1/keyward.1
    Man,
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
    /// TOML file of settings (see docs/keyward.toml); flags and KEYWARD_* variables override it
    #[arg(long, env = "KEYWARD_CONFIG")]
    config: Option<PathBuf>,
    #[command(flatten)]
    settings: Settings,
}

#[derive(Args)]
struct BackupArgs {
    /// The new (or empty) directory to write the backup into
    #[arg(long)]
    to: PathBuf,
    /// The server's TOML settings file, for its database and audit journal
    #[arg(long, env = "KEYWARD_CONFIG")]
    config: Option<PathBuf>,
    /// Database URL [default: sqlite://keyward.db]
    #[arg(long, env = "KEYWARD_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// The server's audit journal directory [default: beside the database file]
    #[arg(long, env = "KEYWARD_AUDIT_JOURNAL")]
    audit_journal: Option<PathBuf>,
}

#[derive(Args)]
struct RestoreArgs {
    /// The backup's directory (written by keyward backup)
    #[arg(long)]
    from: PathBuf,
    /// The new (or empty) data directory to restore into
    #[arg(long)]
    to: PathBuf,
}

#[derive(Args)]
struct GatewayArgs {
    /// The gateway's configuration file (TOML: listen, upstream, routes, …)
    #[arg(long)]
    config: PathBuf,
    #[command(flatten)]
    database: DatabaseArgs,
    /// Redis URL for rate-limit counters shared by every node (default: in memory)
    #[arg(long, env = "KEYWARD_REDIS_URL", hide_env_values = true)]
    redis_url: Option<String>,
    /// Directory of the audit journal [default: beside the database file]
    #[arg(long, env = "KEYWARD_AUDIT_JOURNAL")]
    audit_journal: Option<PathBuf>,
    /// The root key (with keys:verify) the gateway verifies with; else the configuration's
    /// root_key_file
    #[arg(long = "root-key-from-env", env = keyward::gateway::ROOT_KEY_ENV, hide = true, hide_env_values = true)]
    root_key: Option<String>,
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
            Command::Gateway(args) => report(run_gateway(args).await),
            Command::Init(args) => report(keyward::init(args.into()).await),
            Command::MigrateDb(args) => report(
                keyward::migrate_db::migrate_db(&args.from, &args.to)
                    .await
                    .map(|_| ()),
            ),
            Command::Config { command } => report(keyward::config::run(command)),
            Command::Backup(args) => report(run_backup(args).await),
            Command::Restore(args) => report(run_restore(args).await),
            Command::RootKey { command } => report(run_root_key(command).await),
            Command::Keys { client, command } => keyward_cli::run_keys(&client, command).await,
            Command::Import { client, args } => keyward_cli::run_import(&client, args).await,
            Command::Verify { client, args } => keyward_cli::run_verify(&client, args).await,
            Command::Audit { client, args } => keyward_cli::run_audit(&client, args).await,
            Command::Advice { client, args } => keyward_cli::run_advice(&client, args).await,
            Command::Scan(args) => keyward_cli::run_scan(args).await,
            Command::Completions { shell } => report(print_completions(shell)),
            Command::Man => report(print_man_page()),
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

/// The completion script for `shell`, generated from the command line's definition. Written
/// into memory first: `clap_complete` panics when its writer fails (a closed pipe).
fn print_completions(shell: clap_complete::Shell) -> anyhow::Result<()> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "keyward", &mut script);
    print_bytes(&script)
}

/// The manual page (roff), generated from the command line's definition.
fn print_man_page() -> anyhow::Result<()> {
    let mut page = Vec::new();
    clap_mangen::Man::new(Cli::command()).render(&mut page)?;
    print_bytes(&page)
}

fn print_bytes(bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)?;
    out.flush()?;
    Ok(())
}

async fn run_backup(args: BackupArgs) -> anyhow::Result<()> {
    let given = Settings {
        database_url: args.database_url,
        audit_journal: args.audit_journal,
        ..Settings::default()
    };
    let settings = config::layered(given, args.config.as_deref())?;
    let source = keyward::backup::Source::from_settings(settings);
    let manifest = keyward::backup::backup(&source, &args.to).await?;
    eprintln!(
        "Backed up to {} (audit journal position {}, {} events taken in from the journal).",
        args.to.display(),
        manifest.journal_position,
        manifest.journal_events_taken_in
    );
    Ok(())
}

async fn run_restore(args: RestoreArgs) -> anyhow::Result<()> {
    let file = keyward::backup::restore(&args.from, &args.to).await?;
    eprintln!(
        "Restored to {}.\nStart it with: keyward serve --database-url sqlite://{}",
        file.display(),
        file.display()
    );
    Ok(())
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
    let settings = config::layered(args.settings, args.config.as_deref())?;
    let (config, listen) = settings.serve_config()?;
    keyward::serve(config, Listen::Address(listen), shutdown_signal()).await
}

async fn run_gateway(args: GatewayArgs) -> anyhow::Result<()> {
    logging::init(logging::LogFormat::from_env()?);
    let config = keyward::gateway::read_config(&args.config)?;
    let root_key = keyward::gateway::root_key(&config, args.root_key)?;
    let mut serve = keyward::ServeConfig::new(args.database.database_url);
    serve.redis_url = args.redis_url;
    serve.audit_journal = args.audit_journal;
    let listen = Listen::Address(config.listen.clone());
    let api = config.api_listen.clone().map(Listen::Address);
    let run = keyward::gateway::GatewayRun {
        serve,
        config,
        root_key,
    };
    keyward::gateway::gateway(run, listen, api, shutdown_signal()).await
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
