//! `docker push`: POST /images/{name}/push with the stored credentials.

use anyhow::Result;
use berth_api::Query;
use hyper::Method;

use super::credentials;
use crate::cli::Ctx;
use crate::commands::image::split_tag;
use crate::commands::seg;

/// Upload an image to a registry
#[derive(Debug, clap::Args)]
#[command(override_usage = "[OPTIONS] NAME[:TAG]")]
pub struct Args {
    /// Push all tags of an image to the repository
    #[arg(short = 'a', long = "all-tags")]
    pub all_tags: bool,
    /// Suppress verbose output
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    #[arg(value_name = "NAME[:TAG]")]
    pub name: String,
}

pub async fn run(ctx: &mut Ctx, args: Args) -> Result<()> {
    let (repo, tag) = split_tag(&args.name);
    if args.name.contains('@') {
        anyhow::bail!("cannot push a digest reference");
    }
    // With --all-tags no tag is sent: the daemon pushes every local tag.
    let tag = match (tag, args.all_tags) {
        (Some(_), true) => anyhow::bail!("tag can't be used with --all-tags/-a"),
        (Some(t), false) => Some(t.to_string()),
        (None, true) => None,
        (None, false) => {
            if !args.quiet {
                println!("Using default tag: latest");
            }
            Some("latest".to_string())
        }
    };
    let client = ctx
        .client
        .with_registry_auth(credentials::registry_auth_header(
            &ctx.config.dir,
            &credentials::registry_of(repo),
        ));
    let q = Query::new().opt("tag", tag.as_deref()).build();
    let body = client
        .stream(
            Method::POST,
            &format!("/images/{}/push{q}", seg(repo)),
            None,
            None,
        )
        .await?;
    let mut out = std::io::stdout();
    berth_api::jsonmessage::display_stream(body, &mut out, args.quiet, |_| {})
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    if args.quiet {
        // The docker CLI prints the normalized reference it pushed.
        let shown = match &tag {
            Some(t) => format!("{repo}:{t}"),
            None => repo.to_string(),
        };
        println!("{}", crate::commands::image::pull::full_name(&shown));
    }
    Ok(())
}
