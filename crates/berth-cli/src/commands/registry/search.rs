//! `docker search`: GET /images/search, printed as docker's table.

use std::io::Write;

use anyhow::Result;
use berth_api::Query;
use serde_json::Value;

use super::credentials;
use crate::cli::Ctx;

/// Search Docker Hub for images
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Max number of search results
    #[arg(long = "limit", value_name = "int")]
    pub limit: Option<u32>,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    #[arg(value_name = "TERM")]
    pub term: String,
}

/// Docker cuts descriptions at 45 characters with an ellipsis.
fn truncate(s: &str, no_trunc: bool) -> String {
    let s = s.replace('\n', " ");
    if no_trunc || s.chars().count() <= 45 {
        return s;
    }
    let cut: String = s.chars().take(44).collect();
    format!("{cut}…")
}

pub async fn run(ctx: &mut Ctx, args: Args) -> Result<()> {
    let client = ctx
        .client
        .with_registry_auth(credentials::registry_auth_header(
            &credentials::registry_of(&args.term),
        ));
    let q = Query::new()
        .add("term", &args.term)
        .opt("limit", args.limit.map(|n| n.to_string()))
        .build();
    let results: Vec<Value> = client.get_json(&format!("/images/search{q}")).await?;
    let mut tw = tabwriter::TabWriter::new(std::io::stdout())
        .minwidth(0)
        .padding(3);
    writeln!(tw, "NAME\tDESCRIPTION\tSTARS\tOFFICIAL")?;
    for r in results {
        let official = if r["is_official"].as_bool().unwrap_or(false) {
            "[OK]"
        } else {
            ""
        };
        writeln!(
            tw,
            "{}\t{}\t{}\t{official}",
            r["name"].as_str().unwrap_or(""),
            truncate(r["description"].as_str().unwrap_or(""), args.no_trunc),
            r["star_count"].as_i64().unwrap_or(0),
        )?;
    }
    tw.flush()?;
    Ok(())
}
