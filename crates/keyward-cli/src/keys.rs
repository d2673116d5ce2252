//! `keyward keys …`: create, list, show, update, revoke and rotate keys through the
//! management API.

use std::collections::HashSet;
use std::process::ExitCode;

use anyhow::{bail, Result};
use chrono::{DateTime, Utc};
use keyward_api::{
    CreateKeyRequest, CreatedKey, CreditsSpec, Key, KeyList, KeyListQuery, KeyStatus,
    RateLimitSpec, RefillSpec, RevokeKeyRequest, RotateKeyRequest, UpdateKeyRequest,
};
use keyward_client::{Client, Reply};
use serde_json::{Map, Value};

use crate::args::ClientArgs;
use crate::connect::{self, Explained};
use crate::exit::fail;
use crate::output::{self, created_key, emit, key_fields, key_table, one_line};
use crate::parse;

/// Manage keys.
#[derive(clap::Subcommand, Debug)]
pub enum KeysCommand {
    /// Create a key and print it: the only time its plaintext is ever shown
    Create {
        /// What the key is for, e.g. "Stripe invoice sending" (generic names are refused)
        #[arg(long)]
        name: String,
        /// A longer note about the key
        #[arg(long)]
        description: Option<String>,
        /// Who the key belongs to: your customer's or user's id
        #[arg(long = "owner", value_name = "OWNER_ID")]
        owner: Option<String>,
        /// A permission to grant, e.g. invoices:read (repeat it, or separate with commas)
        #[arg(long = "permission", value_name = "PERMISSION")]
        permissions: Vec<String>,
        /// When the key stops working (RFC 3339, e.g. 2026-01-31T00:00:00Z)
        #[arg(long, value_name = "RFC3339", value_parser = parse::timestamp)]
        expires_at: Option<DateTime<Utc>>,
        /// Create the key disabled (enable it later with `keys update --enable`)
        #[arg(long)]
        disabled: bool,
        /// A JSON object stored with the key, e.g. '{"team":"billing"}'
        #[arg(long, value_name = "JSON", value_parser = parse::metadata)]
        metadata: Option<Map<String, Value>>,
        #[command(flatten)]
        limits: LimitFlags,
    },
    /// List keys, newest first
    List {
        /// Only keys of this owner
        #[arg(long = "owner", value_name = "OWNER_ID")]
        owner: Option<String>,
        /// Only keys with this status
        #[arg(long, value_parser = parse::key_status())]
        status: Option<KeyStatus>,
        /// Keys per page
        #[arg(long, value_name = "N")]
        limit: Option<u32>,
        /// Start from this page (the `next_cursor` of the previous one)
        #[arg(long, value_name = "CURSOR")]
        cursor: Option<String>,
        /// Follow every page to the end
        #[arg(long)]
        all: bool,
    },
    /// Show one key
    Show {
        /// The key's id
        #[arg(value_parser = parse::id)]
        id: String,
    },
    /// Change a key's name, description, owner, permissions, expiry, state or metadata
    Update {
        /// The key's id
        #[arg(value_parser = parse::id)]
        id: String,
        /// New name
        #[arg(long)]
        name: Option<String>,
        /// New description ("" clears it)
        #[arg(long)]
        description: Option<String>,
        /// New owner ("" clears it)
        #[arg(long = "owner", value_name = "OWNER_ID")]
        owner: Option<String>,
        /// Replaces all permissions (repeat it, or separate with commas; "" removes them all)
        #[arg(long = "permission", value_name = "PERMISSION")]
        permissions: Option<Vec<String>>,
        /// New expiry (RFC 3339)
        #[arg(long, value_name = "RFC3339", value_parser = parse::timestamp, conflicts_with = "no_expiry")]
        expires_at: Option<DateTime<Utc>>,
        /// Remove the expiry: the key never expires
        #[arg(long)]
        no_expiry: bool,
        /// Enable the key
        #[arg(long, conflicts_with = "disable")]
        enable: bool,
        /// Disable the key (it can be enabled again; to end it for good, revoke it)
        #[arg(long)]
        disable: bool,
        /// Replaces the metadata with this JSON object
        #[arg(long, value_name = "JSON", value_parser = parse::metadata)]
        metadata: Option<Map<String, Value>>,
        #[command(flatten)]
        limits: LimitFlags,
        /// Remove the credit limit
        #[arg(long, conflicts_with = "credits")]
        no_credits: bool,
        /// Remove the rate limit
        #[arg(long, conflicts_with = "rate_limit")]
        no_rate_limit: bool,
    },
    /// Revoke a key: it stops working at once, for good
    Revoke {
        /// The key's id
        #[arg(value_parser = parse::id)]
        id: String,
        /// Why, for the audit trail (e.g. "found in a shared document")
        #[arg(long)]
        reason: Option<String>,
    },
    /// Replace a key with a new one carrying the same settings, and print the new key
    Rotate {
        /// The key's id
        #[arg(value_parser = parse::id)]
        id: String,
        /// How long the old key keeps working; 0 refuses it at once
        #[arg(long, value_name = "SECONDS", default_value_t = 0)]
        grace_period: u64,
    },
}

/// Restriction and limit flags shared by `keys create` and `keys update`.
#[derive(clap::Args, Debug, Default)]
pub struct LimitFlags {
    /// Seconds until the key expires (instead of --expires-at)
    #[arg(long, value_name = "SECONDS", conflicts_with = "expires_at")]
    expires_in: Option<u64>,
    /// A CIDR range the key may be used from, e.g. 203.0.113.0/24 (repeat it, or separate
    /// with commas; on update it replaces the list, "" removes the restriction)
    #[arg(long = "ip", value_name = "CIDR")]
    ip: Option<Vec<String>>,
    /// An HTTP origin the key may be used from, e.g. https://app.example.com (repeat it, or
    /// separate with commas; on update it replaces the list, "" removes the restriction)
    #[arg(long = "origin", value_name = "ORIGIN")]
    origin: Option<Vec<String>>,
    /// Usage credits: each verification spends its cost (default 1)
    #[arg(long, value_name = "N")]
    credits: Option<u64>,
    /// Reset the credits to this amount every --refill-interval
    #[arg(long, value_name = "N", requires_all = ["credits", "refill_interval"])]
    refill_amount: Option<u64>,
    /// Seconds between refills
    #[arg(long, value_name = "SECONDS", requires = "refill_amount")]
    refill_interval: Option<u64>,
    /// At most N verifications per S seconds, written N/S (e.g. 100/60)
    #[arg(long, value_name = "N/S", value_parser = parse::rate_limit)]
    rate_limit: Option<RateLimitSpec>,
}

impl LimitFlags {
    fn credits(&self) -> Option<CreditsSpec> {
        self.credits.map(|remaining| CreditsSpec {
            remaining,
            refill: self.refill_amount.zip(self.refill_interval).map(
                |(amount, interval_seconds)| RefillSpec {
                    amount,
                    interval_seconds,
                },
            ),
        })
    }
}

/// Runs one `keys` subcommand. Exit status 0 when done, 2 on any error (see the crate
/// documentation).
pub async fn run_keys(client: &ClientArgs, cmd: KeysCommand) -> ExitCode {
    match keys(client, cmd).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => fail(&err),
    }
}

async fn keys(args: &ClientArgs, cmd: KeysCommand) -> Result<()> {
    let client = connect::client(args)?;
    let json = args.json;
    match cmd {
        KeysCommand::Create {
            name,
            description,
            owner,
            permissions,
            expires_at,
            disabled,
            metadata,
            limits,
        } => {
            let request = CreateKeyRequest {
                name,
                description,
                owner_id: owner,
                permissions: parse::list(&permissions),
                expires_at,
                enabled: disabled.then_some(false),
                metadata,
                expires_in: limits.expires_in,
                ip_allowlist: limits.ip.as_deref().map(parse::list),
                origin_allowlist: limits.origin.as_deref().map(parse::list),
                credits: limits.credits(),
                rate_limit: limits.rate_limit,
            };
            let reply = client.create_key(&request).await.explained()?;
            let created = &reply.value.record;
            show_created(
                &reply,
                json,
                &format!(
                    "Created key \"{}\" ({}).",
                    one_line(&created.name),
                    one_line(&created.id)
                ),
            )
        }
        KeysCommand::List {
            owner,
            status,
            limit,
            cursor,
            all,
        } => {
            let filter = ListFilter {
                owner,
                status,
                limit,
            };
            if all {
                list_all(&client, json, &filter, cursor).await
            } else {
                list_page(&client, json, &filter, cursor).await
            }
        }
        KeysCommand::Show { id } => {
            let reply = client.key(&id).await.explained()?;
            show_key(&reply, json, None)
        }
        KeysCommand::Update {
            id,
            name,
            description,
            owner,
            permissions,
            expires_at,
            no_expiry,
            enable,
            disable,
            metadata,
            limits,
            no_credits,
            no_rate_limit,
        } => {
            let request = UpdateKeyRequest {
                name,
                description: parse::clearable(description),
                owner_id: parse::clearable(owner),
                permissions: permissions.as_deref().map(parse::list),
                enabled: if enable {
                    Some(true)
                } else {
                    disable.then_some(false)
                },
                expires_at: if no_expiry {
                    Some(None)
                } else {
                    expires_at.map(Some)
                },
                metadata,
                expires_in: limits.expires_in,
                ip_allowlist: limits.ip.as_deref().map(parse::list),
                origin_allowlist: limits.origin.as_deref().map(parse::list),
                credits: if no_credits {
                    Some(None)
                } else {
                    limits.credits().map(Some)
                },
                rate_limit: if no_rate_limit {
                    Some(None)
                } else {
                    limits.rate_limit.map(Some)
                },
            };
            check_update(&request)?;
            let reply = client.update_key(&id, &request).await.explained()?;
            show_key(&reply, json, Some("Updated key"))
        }
        KeysCommand::Revoke { id, reason } => {
            let request = RevokeKeyRequest { reason };
            let reply = client.revoke_key(&id, &request).await.explained()?;
            show_key(&reply, json, Some("Revoked key"))
        }
        KeysCommand::Rotate { id, grace_period } => {
            let request = RotateKeyRequest {
                grace_period_seconds: grace_period,
            };
            let reply = client.rotate_key(&id, &request).await.explained()?;
            show_created(
                &reply,
                json,
                &rotated_intro(&id, &reply.value, grace_period),
            )
        }
    }
}

/// Refuses an update that would change nothing, before bothering the server.
fn check_update(request: &UpdateKeyRequest) -> Result<()> {
    let UpdateKeyRequest {
        name,
        description,
        owner_id,
        permissions,
        enabled,
        expires_at,
        metadata,
        expires_in,
        ip_allowlist,
        origin_allowlist,
        credits,
        rate_limit,
    } = request;
    if name.is_none()
        && description.is_none()
        && owner_id.is_none()
        && permissions.is_none()
        && enabled.is_none()
        && expires_at.is_none()
        && metadata.is_none()
        && expires_in.is_none()
        && ip_allowlist.is_none()
        && origin_allowlist.is_none()
        && credits.is_none()
        && rate_limit.is_none()
    {
        bail!("nothing to update: pass at least one of --name, --description, --owner, --permission, --expires-at, --expires-in, --no-expiry, --enable, --disable, --metadata, --ip, --origin, --credits, --no-credits, --rate-limit, --no-rate-limit");
    }
    Ok(())
}

fn rotated_intro(old_id: &str, new: &CreatedKey, grace_period: u64) -> String {
    let old_key = match grace_period {
        0 => "The old key stopped working now.".to_owned(),
        1 => "The old key keeps working for 1 more second.".to_owned(),
        seconds => format!("The old key keeps working for {seconds} more seconds."),
    };
    format!(
        "Rotated key {}: its replacement is {} (\"{}\"). {old_key}",
        one_line(old_id),
        one_line(&new.record.id),
        one_line(&new.record.name)
    )
}

fn show_created(reply: &Reply<CreatedKey>, json: bool, intro: &str) -> Result<()> {
    output::print(reply, json, |created| created_key(created, intro))
}

/// The key's fields, after a line saying what was `done` to it, if anything.
fn show_key(reply: &Reply<Key>, json: bool, done: Option<&str>) -> Result<()> {
    output::print(reply, json, |key| match done {
        Some(done) => format!(
            "{done} {} (\"{}\").\n\n{}",
            one_line(&key.id),
            one_line(&key.name),
            key_fields(key)
        ),
        None => key_fields(key),
    })
}

/// The filters of `keys list` that stay the same from page to page.
struct ListFilter {
    owner: Option<String>,
    status: Option<KeyStatus>,
    limit: Option<u32>,
}

impl ListFilter {
    fn query(&self, cursor: Option<&str>) -> KeyListQuery {
        KeyListQuery {
            owner_id: self.owner.clone(),
            status: self.status.clone(),
            limit: self.limit,
            cursor: cursor.map(str::to_owned),
        }
    }
}

async fn list_page(
    client: &Client,
    json: bool,
    filter: &ListFilter,
    cursor: Option<String>,
) -> Result<()> {
    let reply: Reply<KeyList> = client
        .list_keys(&filter.query(cursor.as_deref()))
        .await
        .explained()?;
    output::print_page(
        &reply,
        json,
        |page| key_table(&page.keys),
        reply.value.next_cursor.as_deref(),
        |next| {
            format!(
                "More keys follow: add --cursor {next} for the next page, or --all for every page."
            )
        },
    )
}

/// Follows `next_cursor` to the last page. With `--json` prints one `KeyList` holding every
/// key, with `next_cursor: null`.
async fn list_all(
    client: &Client,
    json: bool,
    filter: &ListFilter,
    mut cursor: Option<String>,
) -> Result<()> {
    let mut keys = Vec::new();
    let mut seen = HashSet::new();
    loop {
        let page: KeyList = client
            .list_keys(&filter.query(cursor.as_deref()))
            .await
            .explained()?
            .value;
        keys.extend(page.keys);
        match page.next_cursor {
            None => break,
            Some(next) => {
                if !seen.insert(next.clone()) {
                    bail!("the server returned the same page cursor twice; stopped listing to avoid looping forever");
                }
                cursor = Some(next);
            }
        }
    }
    if json {
        let all = KeyList {
            keys,
            next_cursor: None,
        };
        emit(&serde_json::to_string_pretty(&all)?)
    } else {
        emit(&key_table(&keys))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Parser};

    #[derive(Parser, Debug)]
    struct Cli {
        #[command(flatten)]
        client: ClientArgs,
        #[command(subcommand)]
        keys: KeysCommand,
    }

    fn parse(args: &[&str]) -> Result<KeysCommand, clap::Error> {
        Cli::try_parse_from(std::iter::once("keys").chain(args.iter().copied())).map(|cli| cli.keys)
    }

    #[test]
    fn command_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn create_takes_every_flag() {
        let cmd = parse(&[
            "create",
            "--name",
            "Stripe invoice sending",
            "--permission",
            "invoices:read,invoices:write",
            "--permission",
            "payroll:read",
            "--expires-at",
            "2026-01-31T00:00:00Z",
            "--disabled",
            "--metadata",
            r#"{"team":"billing"}"#,
            "--owner",
            "cus_1",
        ])
        .unwrap();
        let KeysCommand::Create {
            name,
            permissions,
            expires_at,
            disabled,
            metadata,
            owner,
            ..
        } = cmd
        else {
            unreachable!("parsed {cmd:?}")
        };
        assert_eq!(name, "Stripe invoice sending");
        assert_eq!(
            parse::list(&permissions),
            ["invoices:read", "invoices:write", "payroll:read"]
        );
        assert!(expires_at.is_some());
        assert!(disabled);
        assert_eq!(metadata.unwrap()["team"], "billing");
        assert_eq!(owner.as_deref(), Some("cus_1"));
    }

    #[test]
    fn bad_flag_values_are_refused_by_the_parser() {
        assert!(parse(&["create"]).is_err(), "--name is required");
        assert!(parse(&["create", "--name", "x", "--metadata", "[1]"]).is_err());
        assert!(parse(&["create", "--name", "x", "--expires-at", "soon"]).is_err());
        assert!(parse(&["list", "--status", "deleted"]).is_err());
        assert!(parse(&["update", "key_1", "--enable", "--disable"]).is_err());
        assert!(parse(&["show", ""]).is_err());
        assert!(parse(&["rotate", "key_1", "--grace-period", "-5"]).is_err());
    }

    #[test]
    fn restriction_flags_build_the_request_fields() {
        let cmd = parse(&[
            "create",
            "--name",
            "Stripe invoice sending",
            "--expires-in",
            "3600",
            "--ip",
            "10.0.0.0/8,2001:db8::/32",
            "--origin",
            "https://app.example.com",
            "--credits",
            "100",
            "--refill-amount",
            "100",
            "--refill-interval",
            "86400",
            "--rate-limit",
            "10/60",
        ])
        .unwrap();
        let KeysCommand::Create { limits, .. } = cmd else {
            unreachable!("parsed {cmd:?}")
        };
        assert_eq!(limits.expires_in, Some(3600));
        assert_eq!(
            limits.ip.as_deref().map(parse::list),
            Some(vec!["10.0.0.0/8".to_owned(), "2001:db8::/32".to_owned()])
        );
        let credits = limits.credits().unwrap();
        assert_eq!(credits.remaining, 100);
        assert_eq!(credits.refill.map(|r| r.interval_seconds), Some(86400));
        assert_eq!(
            limits.rate_limit.map(|r| (r.limit, r.window_seconds)),
            Some((10, 60))
        );
        assert!(parse(&["create", "--name", "x", "--refill-amount", "5"]).is_err());
        assert!(parse(&["create", "--name", "x", "--rate-limit", "10"]).is_err());
        assert!(parse(&[
            "create",
            "--name",
            "x",
            "--expires-in",
            "5",
            "--expires-at",
            "2026-01-31T00:00:00Z"
        ])
        .is_err());
        assert!(parse(&["update", "key_1", "--no-credits", "--credits", "5"]).is_err());
        let KeysCommand::Update { no_rate_limit, .. } =
            parse(&["update", "key_1", "--no-rate-limit"]).unwrap()
        else {
            unreachable!()
        };
        assert!(no_rate_limit);
    }

    #[test]
    fn list_query_carries_only_given_filters() {
        let filter = ListFilter {
            owner: Some("cus_1".into()),
            status: Some(KeyStatus::Revoked),
            limit: Some(50),
        };
        assert_eq!(
            filter.query(Some("c2")).pairs(),
            [
                ("owner_id", "cus_1".to_owned()),
                ("status", "revoked".to_owned()),
                ("limit", "50".to_owned()),
                ("cursor", "c2".to_owned()),
            ]
        );
        let none = ListFilter {
            owner: None,
            status: None,
            limit: None,
        };
        assert!(none.query(None).pairs().is_empty());
    }

    #[test]
    fn update_without_changes_is_refused() {
        assert!(check_update(&UpdateKeyRequest::default()).is_err());
        let rename = UpdateKeyRequest {
            name: Some("Payroll export".into()),
            ..UpdateKeyRequest::default()
        };
        assert!(check_update(&rename).is_ok());
        let clear_permissions = UpdateKeyRequest {
            permissions: Some(Vec::new()),
            ..UpdateKeyRequest::default()
        };
        assert!(check_update(&clear_permissions).is_ok());
    }

    #[test]
    fn update_permission_flag_replaces_or_clears() {
        let KeysCommand::Update { permissions, .. } =
            parse(&["update", "key_1", "--permission", ""]).unwrap()
        else {
            unreachable!()
        };
        assert_eq!(permissions.as_deref().map(parse::list), Some(vec![]));
        let KeysCommand::Update { permissions, .. } =
            parse(&["update", "key_1", "--name", "x"]).unwrap()
        else {
            unreachable!()
        };
        assert_eq!(permissions, None);
    }
}
