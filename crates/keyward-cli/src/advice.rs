//! `keyward advice`: the workspace's safety advice, worst first, and `keyward advice
//! dismiss <key> <code>`.

use std::process::ExitCode;

use anyhow::Result;
use keyward_api::advice::AdviceList;

use crate::args::ClientArgs;
use crate::connect::{self, Explained};
use crate::exit::fail;
use crate::output::{self, advice_line, one_line};

/// List the workspace's safety advice, worst first, or dismiss an item.
#[derive(Debug, clap::Args)]
pub struct AdviceArgs {
    #[command(subcommand)]
    pub command: Option<AdviceCommand>,
    /// Items per page, 1-1000
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub limit: Option<u32>,
    /// The next page: the cursor the previous page printed
    #[arg(long)]
    pub cursor: Option<String>,
}

#[derive(Debug, clap::Subcommand)]
pub enum AdviceCommand {
    /// Hide a key's advice item until its evidence changes (recorded in the audit trail)
    Dismiss {
        /// The key's id
        key_id: String,
        /// The item's code, e.g. stale
        code: String,
    },
}

pub async fn run_advice(client: &ClientArgs, args: AdviceArgs) -> ExitCode {
    match advice(client, args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => fail(&err),
    }
}

async fn advice(args: &ClientArgs, cmd: AdviceArgs) -> Result<()> {
    let client = connect::client(args)?;
    match cmd.command {
        Some(AdviceCommand::Dismiss { key_id, code }) => {
            let reply = client.dismiss_advice(&key_id, &code).await.explained()?;
            output::print(&reply, args.json, |d| {
                format!(
                    "Dismissed {} on {} until its evidence changes.",
                    one_line(d.code.as_str()),
                    one_line(&d.key_id)
                )
            })
        }
        None => {
            let reply = client
                .advice(cmd.limit, cmd.cursor.as_deref())
                .await
                .explained()?;
            let next = reply.value.next_cursor.clone();
            output::print_page(&reply, args.json, table, next.as_deref(), |next| {
                format!("More advice: keyward advice --cursor {next}")
            })
        }
    }
}

fn table(list: &AdviceList) -> String {
    if list.items.is_empty() {
        return "No advice: every key is used as advised.".to_owned();
    }
    list.items
        .iter()
        .map(|a| {
            format!(
                "{} ({})  {}",
                one_line(&a.key_id),
                one_line(&a.key_name),
                advice_line(
                    a.item.severity.as_str(),
                    a.item.code.as_str(),
                    &a.item.message
                )
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use keyward_api::advice::{AdviceItem, KeyAdviceItem};

    #[test]
    fn the_table_prints_one_line_per_item_with_the_key_and_severity() {
        let list = AdviceList {
            items: vec![KeyAdviceItem {
                key_id: "key_1".into(),
                key_name: "Billing".into(),
                item: AdviceItem {
                    code: "stale".into(),
                    severity: "warning".into(),
                    message: "never used\nsince".into(),
                    since: Utc::now(),
                    evidence: Default::default(),
                },
            }],
            next_cursor: None,
        };
        let text = table(&list);
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(
            text.starts_with("key_1 (Billing)  warning  stale: never used"),
            "{text}"
        );
        let empty = AdviceList {
            items: vec![],
            next_cursor: None,
        };
        assert!(table(&empty).starts_with("No advice"));
    }
}
