//! `keyward verify`: ask the server whether a key is valid, the way a service would, with
//! an exit status scripts can branch on (0 valid, 1 not valid, 2 error).

use std::fmt;
use std::io::{BufRead, IsTerminal, Read};
use std::process::ExitCode;

use anyhow::{Context, Result};
use keyward_api::{VerifyRequest, VerifyResponse};

use crate::args::ClientArgs;
use crate::connect::{self, Explained};
use crate::exit::{fail, EXIT_NOT_VALID};
use crate::output::{self, one_line};
use crate::parse;

/// Check a key as a service would.
#[derive(clap::Args)]
pub struct VerifyArgs {
    /// The key to check, or "-" to read it from stdin (keeps it out of `ps` and shell history)
    pub key: String,
    /// The permission the caller needs: one (invoices:read) or an expression
    /// ("invoices:read AND (payroll:read OR payroll:admin)")
    #[arg(long)]
    pub permission: Option<String>,
    /// The IP address the key was presented from (checked against the key's IP ranges)
    #[arg(long)]
    pub ip: Option<String>,
    /// The HTTP origin the key was presented from (checked against the key's origins)
    #[arg(long)]
    pub origin: Option<String>,
    /// What the service is about to do, e.g. invoices.delete (recorded in the audit log)
    #[arg(long)]
    pub action: Option<String>,
    /// What it is about to do it to, e.g. INV-1042 (recorded in the audit log)
    #[arg(long)]
    pub resource: Option<String>,
    /// Credits this verification spends from a key with credits (default 1; 0 only checks)
    #[arg(long, value_name = "N")]
    pub cost: Option<u64>,
}

/// Written by hand so that `{:?}` never shows the key being checked.
impl fmt::Debug for VerifyArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let key = if self.key == "-" { "-" } else { "[redacted]" };
        f.debug_struct("VerifyArgs")
            .field("key", &key)
            .field("permission", &self.permission)
            .field("ip", &self.ip)
            .field("origin", &self.origin)
            .field("action", &self.action)
            .field("resource", &self.resource)
            .field("cost", &self.cost)
            .finish()
    }
}

/// Runs `verify`. Exit status 0 when the key is valid, 1 when the server says it is not,
/// 2 on any error.
pub async fn run_verify(client: &ClientArgs, args: VerifyArgs) -> ExitCode {
    match verify(client, args).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(EXIT_NOT_VALID),
        Err(err) => fail(&err),
    }
}

/// Returns whether the key is valid.
async fn verify(client_args: &ClientArgs, args: VerifyArgs) -> Result<bool> {
    // Check the URL and root key before waiting on stdin.
    let client = connect::client(client_args)?;
    let key = if args.key == "-" {
        read_key_from_stdin()?
    } else {
        parse::key_argument(&args.key)?
    };
    let request = VerifyRequest {
        key,
        permission: args.permission,
        ip: args.ip,
        origin: args.origin,
        action: args.action,
        resource: args.resource,
        user_agent: None,
        cost: args.cost,
    };
    let reply = client.verify(&request).await.explained()?;
    output::print(&reply, client_args.json, describe)?;
    Ok(reply.value.valid)
}

fn read_key_from_stdin() -> Result<String> {
    let stdin = std::io::stdin();
    let mut text = String::new();
    if stdin.is_terminal() {
        output::stderr_line("Paste the key and press Enter:");
        stdin.lock().read_line(&mut text)
    } else {
        stdin.lock().read_to_string(&mut text)
    }
    .context("cannot read the key from stdin")?;
    parse::key_from_stdin(&text)
}

/// `VALID` or the refusal code, then the key's name and id when the server knows them.
fn describe(response: &VerifyResponse) -> String {
    let code = one_line(response.code.as_str());
    let name = response.name.as_deref().map(one_line);
    let id = response.key_id.as_deref().map(one_line);
    let mut line = match (name, id) {
        (Some(name), Some(id)) => format!("{code}  {name} ({id})"),
        (Some(only), None) | (None, Some(only)) => format!("{code}  {only}"),
        (None, None) => code,
    };
    if let Some(credits) = response.credits {
        line.push_str(&format!("  credits left: {credits}"));
    }
    if let Some(rl) = &response.rate_limit {
        line.push_str(&format!(
            "  rate limit: {}/{} left, resets in {:.1}s",
            rl.remaining,
            rl.limit,
            rl.reset_after_ms as f64 / 1000.0
        ));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn response(valid: bool, code: &str, name: Option<&str>, id: Option<&str>) -> VerifyResponse {
        VerifyResponse {
            valid,
            code: code.into(),
            key_id: id.map(Into::into),
            name: name.map(Into::into),
            owner_id: None,
            permissions: None,
            expires_at: None,
            metadata: None,
            credits: None,
            rate_limit: None,
        }
    }

    #[test]
    fn describes_the_outcome_and_the_key() {
        let valid = response(true, "VALID", Some("Stripe invoice sending"), Some("key_1"));
        assert_eq!(describe(&valid), "VALID  Stripe invoice sending (key_1)");
        let revoked = response(false, "REVOKED", Some("Stripe"), Some("key_1"));
        assert_eq!(describe(&revoked), "REVOKED  Stripe (key_1)");
        assert_eq!(
            describe(&response(false, "NOT_FOUND", None, None)),
            "NOT_FOUND"
        );
        let mut limited = response(false, "RATE_LIMITED", Some("Stripe"), Some("key_1"));
        limited.credits = Some(4);
        limited.rate_limit = Some(keyward_api::RateLimitState {
            limit: 10,
            remaining: 0,
            reset: "2026-01-01T00:01:00Z".parse().unwrap(),
            reset_after_ms: 1500,
        });
        assert_eq!(
            describe(&limited),
            "RATE_LIMITED  Stripe (key_1)  credits left: 4  rate limit: 0/10 left, resets in 1.5s"
        );
    }

    #[derive(Parser, Debug)]
    struct Cli {
        #[command(flatten)]
        args: VerifyArgs,
    }

    #[test]
    fn parses_key_and_context() {
        let cli = Cli::try_parse_from([
            "verify",
            "bos_secretvalue",
            "--permission",
            "invoices:read AND payroll:read",
            "--ip",
            "203.0.113.7",
            "--action",
            "invoices.delete",
            "--resource",
            "INV-1042",
        ])
        .unwrap();
        assert_eq!(cli.args.key, "bos_secretvalue");
        assert_eq!(
            cli.args.permission.as_deref(),
            Some("invoices:read AND payroll:read")
        );
        let shown = format!("{:?}", cli.args);
        assert!(!shown.contains("secretvalue"), "{shown}");
        let stdin = Cli::try_parse_from(["verify", "-"]).unwrap();
        assert_eq!(stdin.args.key, "-");
    }
}
