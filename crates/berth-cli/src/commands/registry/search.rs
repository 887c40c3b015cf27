//! `docker search`: GET /images/search, printed as docker's search formatter
//! does (table or `--format`, descriptions cut at 45 columns).

use anyhow::Result;
use berth_api::Query;
use serde_json::{json, Value};

use super::credentials;
use crate::cli::Ctx;
use crate::commands::filters_json;
use crate::formatter::{write_list, Format};

/// Search Docker Hub for images
#[derive(Debug, clap::Args)]
#[command(override_usage = "[OPTIONS] TERM")]
pub struct Args {
    /// Filter output based on conditions provided
    #[arg(short = 'f', long = "filter", value_name = "filter")]
    pub filter: Vec<String>,
    /// Pretty-print search using a Go template
    #[arg(long = "format", value_name = "string")]
    pub format: Option<String>,
    /// Max number of search results
    #[arg(long = "limit", value_name = "int")]
    pub limit: Option<u32>,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    #[arg(value_name = "TERM")]
    pub term: String,
}

const DEFAULT_TABLE: &str = "{{.Name}}\t{{.Description}}\t{{.StarCount}}\t{{.IsOfficial}}";

/// Docker cuts descriptions at 45 characters with an ellipsis.
fn truncate(s: &str, no_trunc: bool) -> String {
    let s = s.replace(['\n', '\r'], " ");
    if no_trunc || s.chars().count() <= 45 {
        return s;
    }
    let cut: String = s.chars().take(44).collect();
    format!("{cut}…")
}

/// The fields docker's search formatter offers; booleans print as `[OK]`.
fn row(r: &Value, no_trunc: bool) -> Value {
    let ok = |k: &str| {
        if r[k].as_bool().unwrap_or(false) {
            "[OK]"
        } else {
            ""
        }
    };
    json!({
        "Name": r["name"].as_str().unwrap_or(""),
        "Description": truncate(r["description"].as_str().unwrap_or(""), no_trunc),
        "StarCount": r["star_count"].as_i64().unwrap_or(0).to_string(),
        "IsOfficial": ok("is_official"),
        "IsAutomated": ok("is_automated"),
    })
}

pub async fn run(ctx: &mut Ctx, args: Args) -> Result<()> {
    let client = ctx
        .client
        .with_registry_auth(credentials::registry_auth_header(
            &ctx.config.dir,
            &credentials::registry_of(&args.term),
        ));
    // As the docker CLI: no limit sent for 0, the daemon's default applies.
    let q = Query::new()
        .add("term", &args.term)
        .opt(
            "limit",
            args.limit.filter(|n| *n > 0).map(|n| n.to_string()),
        )
        .opt("filters", filters_json(&args.filter)?)
        .build();
    let results: Vec<Value> = client.get_json(&format!("/images/search{q}")).await?;
    let rows: Vec<Value> = results.iter().map(|r| row(r, args.no_trunc)).collect();
    let headers = json!({
        "Name": "NAME", "Description": "DESCRIPTION", "StarCount": "STARS",
        "IsOfficial": "OFFICIAL", "IsAutomated": "AUTOMATED",
    });
    let format = Format::parse(args.format.as_deref().unwrap_or(""), DEFAULT_TABLE);
    write_list(&mut std::io::stdout(), &format, &headers, &rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_as_docker_formats_them() {
        let long = "x".repeat(50);
        let r = row(
            &json!({"name": "a", "description": long, "star_count": 3, "is_official": true}),
            false,
        );
        assert_eq!(r["Description"].as_str().unwrap().chars().count(), 45);
        assert!(r["Description"].as_str().unwrap().ends_with('…'));
        assert_eq!(r["StarCount"], "3");
        assert_eq!(r["IsOfficial"], "[OK]");
        assert_eq!(r["IsAutomated"], "");
        let r = row(&json!({"description": long}), true);
        assert_eq!(r["Description"], long.as_str());
    }
}
