//! `docker images` / `docker image ls`

use anyhow::Result;
use berth_api::types::ImageSummary;
use berth_api::Query;
use serde_json::{json, Value};

use crate::cli::Ctx;
use crate::commands::container::ps::short_id;
use crate::commands::filters_json;
use crate::formatter::{write_list, Format};
use crate::humanize::{human_duration, human_size};

/// List images
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Show all images (default hides intermediate images)
    #[arg(short = 'a', long = "all")]
    pub all: bool,
    /// Show digests
    #[arg(long = "digests")]
    pub digests: bool,
    /// Filter output based on conditions provided
    #[arg(short = 'f', long = "filter", value_name = "filter")]
    pub filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long = "format", value_name = "string")]
    pub format: Option<String>,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Only show image IDs
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    #[arg(value_name = "REPOSITORY[:TAG]")]
    pub repository: Option<String>,
}

const DEFAULT_TABLE: &str = "{{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}";
const DIGEST_TABLE: &str =
    "{{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}";

pub async fn run(ctx: &mut Ctx, args: Args) -> Result<()> {
    let mut filters = args.filter.clone();
    if let Some(r) = &args.repository {
        filters.push(format!("reference={r}"));
    }
    let q = Query::new()
        .flag("all", args.all)
        .opt("filters", filters_json(&filters)?)
        .build();
    let images: Vec<ImageSummary> = ctx.client.get_json(&format!("/images/json{q}")).await?;
    let now = chrono::Utc::now().timestamp();
    let trunc = !args.no_trunc;
    let format = if args.quiet {
        Format::Raw("{{.ID}}".into())
    } else {
        let default = if args.digests {
            DIGEST_TABLE
        } else {
            DEFAULT_TABLE
        };
        Format::parse(args.format.as_deref().unwrap_or(""), default)
    };
    let mut rows: Vec<Value> = Vec::new();
    for img in &images {
        for r in image_rows(img, trunc, now) {
            rows.push(r);
        }
    }
    if args.quiet {
        // One id per image, not per tag.
        let mut seen = std::collections::HashSet::new();
        rows.retain(|r| seen.insert(r["ID"].as_str().unwrap_or_default().to_string()));
    }
    write_list(&mut std::io::stdout(), &format, &headers(), &rows)
}

fn headers() -> Value {
    json!({
        "Repository": "REPOSITORY", "Tag": "TAG", "ID": "IMAGE ID", "Digest": "DIGEST",
        "CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "Size": "SIZE",
        "Containers": "CONTAINERS", "SharedSize": "SHARED SIZE", "UniqueSize": "UNIQUE SIZE",
        "VirtualSize": "VIRTUAL SIZE",
    })
}

/// One row per repository:tag of an image (`<none>` when untagged).
pub fn image_rows(img: &ImageSummary, trunc: bool, now: i64) -> Vec<Value> {
    let id = if trunc {
        short_id(&img.id)
    } else {
        img.id.clone()
    };
    let digest = img
        .repo_digests
        .first()
        .and_then(|d| d.split_once('@'))
        .map(|(_, d)| d.to_string())
        .unwrap_or_else(|| "<none>".into());
    let created_at = crate::humanize::go_local_time(img.created);
    let since = format!(
        "{} ago",
        human_duration(std::time::Duration::from_secs(
            (now - img.created).max(0) as u64
        ))
    );
    let mut tags: Vec<(String, String)> = img
        .repo_tags
        .iter()
        .filter(|t| t.as_str() != "<none>:<none>")
        .map(|t| {
            let (repo, tag) = super::split_tag(t);
            (repo.to_string(), tag.unwrap_or("<none>").to_string())
        })
        .collect();
    if tags.is_empty() {
        // Untagged: show the repository of its digest if any.
        let repo = img
            .repo_digests
            .first()
            .and_then(|d| d.split_once('@'))
            .map(|(r, _)| r.to_string())
            .unwrap_or_else(|| "<none>".into());
        tags.push((repo, "<none>".into()));
    }
    tags.into_iter()
        .map(|(repo, tag)| {
            json!({
                "ID": id,
                "Repository": repo,
                "Tag": tag,
                "Digest": digest,
                "CreatedSince": since,
                "CreatedAt": created_at,
                "Size": human_size(img.size),
                "Containers": if img.containers < 0 { "N/A".to_string() } else { img.containers.to_string() },
                "SharedSize": if img.shared_size < 0 { "N/A".to_string() } else { human_size(img.shared_size) },
                "UniqueSize": human_size((img.size - img.shared_size.max(0)).max(0)),
                "VirtualSize": human_size(img.size),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_per_tag() {
        let img = ImageSummary {
            id: "sha256:0123456789abcdef".into(),
            repo_tags: vec!["imp:v1".into(), "localhost:5000/imp:v2".into()],
            created: 100,
            size: 4_261_234,
            ..Default::default()
        };
        let rows = image_rows(&img, true, 160);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0]["Repository"], "imp");
        assert_eq!(rows[1]["Repository"], "localhost:5000/imp");
        assert_eq!(rows[1]["Tag"], "v2");
        assert_eq!(rows[0]["ID"], "0123456789ab");
        assert_eq!(rows[0]["Size"], "4.26MB");
        assert_eq!(rows[0]["CreatedSince"], "About a minute ago");
        let untagged = ImageSummary {
            id: "sha256:ab".into(),
            ..Default::default()
        };
        let rows = image_rows(&untagged, false, 0);
        assert_eq!(
            (rows[0]["Repository"].as_str(), rows[0]["Tag"].as_str()),
            (Some("<none>"), Some("<none>"))
        );
        assert_eq!(rows[0]["ID"], "sha256:ab");
    }
}
