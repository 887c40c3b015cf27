//! `docker commit`

use anyhow::Result;
use berth_api::types::IdResponse;
use berth_api::Query;
use clap::ArgAction;

use crate::cli::Ctx;
use crate::commands::image::split_tag;

/// Create a new image from a container's changes
#[derive(Debug, clap::Args)]
#[command(override_usage = "[OPTIONS] CONTAINER [REPOSITORY[:TAG]]")]
pub struct Args {
    /// Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")
    #[arg(short = 'a', long = "author", value_name = "string")]
    pub author: Option<String>,
    /// Apply Dockerfile instruction to the created image
    #[arg(short = 'c', long = "change", value_name = "list")]
    pub change: Vec<String>,
    /// Commit message
    #[arg(short = 'm', long = "message", value_name = "string")]
    pub message: Option<String>,
    /// Pause container during commit
    #[arg(
        short = 'p',
        long = "pause",
        default_value_t = true,
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        action = ArgAction::Set
    )]
    pub pause: bool,
    #[arg(value_name = "CONTAINER")]
    pub container: String,
    #[arg(value_name = "REPOSITORY[:TAG]")]
    pub reference: Option<String>,
}

pub async fn run(ctx: &mut Ctx, args: Args) -> Result<()> {
    let (repo, tag) = match args.reference.as_deref() {
        Some(r) => split_tag(r),
        None => ("", None),
    };
    let mut q = Query::new()
        .add("container", &args.container)
        .opt("repo", (!repo.is_empty()).then_some(repo))
        .opt("tag", tag)
        .opt("comment", args.message.as_deref())
        .opt("author", args.author.as_deref())
        .add("pause", if args.pause { "1" } else { "0" });
    for c in &args.change {
        q = q.add("changes", c);
    }
    let resp: IdResponse = ctx
        .client
        .post_json::<(), _>(&format!("/commit{}", q.build()), None)
        .await?;
    println!("{}", resp.id);
    Ok(())
}
