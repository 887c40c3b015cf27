//! `docker network prune`

use anyhow::Result;
use berth_api::Query;
use serde_json::Value;
use std::io::{BufRead, Write};

use crate::cli::Ctx;
use crate::commands::filters_json;
use crate::errors::StatusError;

/// Remove all unused networks
#[derive(Debug, clap::Args)]
#[command(override_usage = "[OPTIONS]")]
pub struct Args {
    /// Provide filter values (e.g. "until=<timestamp>")
    #[arg(long = "filter", value_name = "filter")]
    pub filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long = "force")]
    pub force: bool,
}

pub async fn run(ctx: &mut Ctx, args: Args) -> Result<()> {
    if !args.force && !confirm()? {
        return Ok(());
    }
    let q = Query::new()
        .opt("filters", filters_json(&args.filter)?)
        .build();
    let resp: Value = ctx
        .client
        .post_json(&format!("/networks/prune{q}"), None::<&Value>)
        .await?;
    print!("{}", report(&resp));
    Ok(())
}

/// docker's output: the deleted names under a heading, then a blank line.
fn report(resp: &Value) -> String {
    let deleted: Vec<&str> = resp["NetworksDeleted"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if deleted.is_empty() {
        return String::new();
    }
    let mut out = String::from("Deleted Networks:\n");
    for d in deleted {
        out.push_str(d);
        out.push('\n');
    }
    out.push('\n');
    out
}

fn confirm() -> Result<bool> {
    print!(
        "WARNING! This will remove all custom networks not used by at least one container.\nAre you sure you want to continue? [y/N] "
    );
    std::io::stdout().flush()?;
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| StatusError::new(1, e.to_string()))?;
    Ok(matches!(line.trim(), "y" | "Y" | "yes" | "Yes"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn report_lists_deleted_networks() {
        let r = super::report(&serde_json::json!({"NetworksDeleted": ["n1", "n3"]}));
        assert_eq!(r, "Deleted Networks:\nn1\nn3\n\n");
        assert_eq!(
            super::report(&serde_json::json!({"NetworksDeleted": null})),
            ""
        );
    }
}
