//! `docker images` / `docker image ls`

use anyhow::Result;
use berth_api::types::ImageSummary;
use berth_api::Query;
use serde_json::{json, Value};

use crate::cli::Ctx;
use crate::commands::container::ps::short_id;
use crate::commands::filters_json;
use crate::formatter::{write_list, Format};
use crate::humanize::{go_human_size, human_duration, human_size};

/// List images
#[derive(Debug, clap::Args)]
#[command(override_usage = "[OPTIONS] [REPOSITORY[:TAG]]")]
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
    // As the docker CLI: digests show with --digests or when the format asks.
    let show_digests = args.digests
        || args
            .format
            .as_deref()
            .is_some_and(|f| f.contains("{{.Digest}}"));
    let mut rows: Vec<Value> = Vec::new();
    for img in &images {
        for r in image_rows(img, trunc, now, show_digests) {
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

/// The rows the docker CLI shows for one image: per repository, one row per
/// tag (times each digest of that repository when digests are shown), then
/// rows for repositories known only by digest; `<none>` everywhere when the
/// image has neither tags nor digests.
pub fn image_rows(img: &ImageSummary, trunc: bool, now: i64, show_digests: bool) -> Vec<Value> {
    let id = if trunc {
        short_id(&img.id)
    } else {
        img.id.clone()
    };
    let created_at = crate::humanize::go_local_time(img.created);
    let since = format!(
        "{} ago",
        human_duration(std::time::Duration::from_secs(
            (now - img.created).max(0) as u64
        ))
    );
    // Repositories in the order they first appear, tags and digests of each.
    let mut repo_tags: Vec<(String, Vec<String>)> = Vec::new();
    for t in img
        .repo_tags
        .iter()
        .filter(|t| t.as_str() != "<none>:<none>")
    {
        let (repo, tag) = super::split_tag(t);
        let Some(tag) = tag else { continue };
        match repo_tags.iter_mut().find(|(r, _)| r == repo) {
            Some((_, tags)) => tags.push(tag.to_string()),
            None => repo_tags.push((repo.to_string(), vec![tag.to_string()])),
        }
    }
    let mut repo_digests: Vec<(String, Vec<String>)> = Vec::new();
    for d in img
        .repo_digests
        .iter()
        .filter(|d| d.as_str() != "<none>@<none>")
    {
        let Some((repo, digest)) = d.split_once('@') else {
            continue;
        };
        match repo_digests.iter_mut().find(|(r, _)| r == repo) {
            Some((_, ds)) => ds.push(digest.to_string()),
            None => repo_digests.push((repo.to_string(), vec![digest.to_string()])),
        }
    }
    let mut tags: Vec<(String, String, String)> = Vec::new();
    let none = || "<none>".to_string();
    for (repo, ts) in repo_tags {
        let digests = match repo_digests.iter().position(|(r, _)| *r == repo) {
            Some(i) => repo_digests.remove(i).1,
            None => Vec::new(),
        };
        for tag in ts {
            if digests.is_empty() || !show_digests {
                tags.push((repo.clone(), tag, none()));
            } else {
                for d in &digests {
                    tags.push((repo.clone(), tag.clone(), d.clone()));
                }
            }
        }
    }
    for (repo, ds) in repo_digests {
        if show_digests {
            tags.extend(ds.into_iter().map(|d| (repo.clone(), none(), d)));
        } else {
            tags.push((repo, none(), none()));
        }
    }
    if tags.is_empty() {
        tags.push((none(), none(), none()));
    }
    tags.into_iter()
        .map(|(repo, tag, digest)| {
            json!({
                "ID": id,
                "Repository": repo,
                "Tag": tag,
                "Digest": digest,
                "CreatedSince": since,
                "CreatedAt": created_at,
                "Size": human_size(img.size),
                "Containers": if img.containers < 0 { "N/A".to_string() } else { img.containers.to_string() },
                "SharedSize": if img.shared_size < 0 { "N/A".to_string() } else { go_human_size(img.shared_size) },
                "UniqueSize": if img.size < 0 || img.shared_size < 0 { "N/A".to_string() } else { go_human_size(img.size - img.shared_size) },
                "VirtualSize": go_human_size(img.size),
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
        let rows = image_rows(&img, true, 160, false);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0]["Repository"], "imp");
        assert_eq!(rows[1]["Repository"], "localhost:5000/imp");
        assert_eq!(rows[1]["Tag"], "v2");
        assert_eq!(rows[0]["ID"], "0123456789ab");
        assert_eq!(rows[0]["Size"], "4.26MB");
        // docker's HumanSize (4 digits) for these; unknown sharing is N/A.
        assert_eq!(rows[0]["VirtualSize"], "4.261MB");
        assert_eq!(rows[0]["SharedSize"], "0B");
        assert_eq!(rows[0]["UniqueSize"], "4.261MB");
        let listed = ImageSummary {
            shared_size: -1,
            ..img.clone()
        };
        let row = &image_rows(&listed, true, 160, false)[0];
        assert_eq!(
            (&row["SharedSize"], &row["UniqueSize"]),
            (&json!("N/A"), &json!("N/A"))
        );
        assert_eq!(rows[0]["CreatedSince"], "About a minute ago");
        let untagged = ImageSummary {
            id: "sha256:ab".into(),
            ..Default::default()
        };
        let rows = image_rows(&untagged, false, 0, true);
        assert_eq!(
            (rows[0]["Repository"].as_str(), rows[0]["Tag"].as_str()),
            (Some("<none>"), Some("<none>"))
        );
        assert_eq!(rows[0]["ID"], "sha256:ab");
        let pushed = ImageSummary {
            id: "sha256:cd".into(),
            repo_tags: vec!["r:5000/a:1".into(), "b:2".into()],
            repo_digests: vec!["r:5000/a@sha256:11".into(), "c@sha256:22".into()],
            ..Default::default()
        };
        let cells = |digests| -> Vec<String> {
            image_rows(&pushed, true, 0, digests)
                .iter()
                .map(|r| {
                    format!(
                        "{} {} {}",
                        r["Repository"].as_str().unwrap(),
                        r["Tag"].as_str().unwrap(),
                        r["Digest"].as_str().unwrap()
                    )
                })
                .collect()
        };
        assert_eq!(
            cells(true),
            ["r:5000/a 1 sha256:11", "b 2 <none>", "c <none> sha256:22"]
        );
        assert_eq!(
            cells(false),
            ["r:5000/a 1 <none>", "b 2 <none>", "c <none> <none>"]
        );
    }
}
