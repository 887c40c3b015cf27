//! `docker history` / `docker image history`

use anyhow::Result;
use berth_api::types::HistoryResponseItem;
use clap::ArgAction;
use serde_json::{json, Value};

use crate::cli::Ctx;
use crate::commands::container::ps::{ellipsis, short_id};
use crate::commands::seg;
use crate::formatter::{write_list, Format};
use crate::humanize::{human_duration, human_size};

/// Show the history of an image
#[derive(Debug, clap::Args)]
#[command(override_usage = "[OPTIONS] IMAGE")]
pub struct Args {
    /// Format output using a custom template
    #[arg(long = "format", value_name = "string")]
    pub format: Option<String>,
    /// Print sizes and dates in human readable format
    #[arg(
        short = 'H',
        long = "human",
        default_value_t = true,
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        action = ArgAction::Set
    )]
    pub human: bool,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Only show image IDs
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    #[arg(value_name = "IMAGE")]
    pub image: String,
}

const DEFAULT_TABLE: &str = "{{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}";

pub async fn run(ctx: &mut Ctx, args: Args) -> Result<()> {
    let items: Vec<HistoryResponseItem> = ctx
        .client
        .get_json(&format!("/images/{}/history", seg(&args.image)))
        .await?;
    let now = chrono::Utc::now().timestamp();
    let rows: Vec<Value> = items
        .iter()
        .map(|h| row(h, !args.no_trunc, args.human, now))
        .collect();
    let format = if args.quiet {
        Format::Raw("{{.ID}}".into())
    } else {
        Format::parse(args.format.as_deref().unwrap_or(""), DEFAULT_TABLE)
    };
    let headers = json!({
        "ID": "IMAGE", "CreatedSince": "CREATED", "CreatedAt": "CREATED AT",
        "CreatedBy": "CREATED BY", "Size": "SIZE", "Comment": "COMMENT",
    });
    write_list(&mut std::io::stdout(), &format, &headers, &rows)
}

fn row(h: &HistoryResponseItem, trunc: bool, human: bool, now: i64) -> Value {
    let id = if h.id.is_empty() || h.id == "<missing>" {
        "<missing>".to_string()
    } else if trunc {
        short_id(&h.id)
    } else {
        h.id.clone()
    };
    let created_by = h.created_by.replace('\t', " ");
    let created_by = if trunc {
        ellipsis(&created_by, 45)
    } else {
        created_by
    };
    let created_at = chrono::DateTime::from_timestamp(h.created, 0)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default();
    let since = if human {
        format!(
            "{} ago",
            human_duration(std::time::Duration::from_secs(
                (now - h.created).max(0) as u64
            ))
        )
    } else {
        created_at.clone()
    };
    let size = if human {
        human_size(h.size)
    } else {
        h.size.to_string()
    };
    json!({
        "ID": id,
        "CreatedSince": since,
        "CreatedAt": created_at,
        "CreatedBy": created_by,
        "Size": size,
        "Comment": h.comment,
        "Tags": h.tags.join(", "),
    })
}
