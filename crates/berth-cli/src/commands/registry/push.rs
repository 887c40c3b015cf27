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
    let tag = match tag {
        Some(t) => t.to_string(),
        None => {
            if !args.quiet {
                println!("Using default tag: latest");
            }
            "latest".to_string()
        }
    };
    let client = ctx
        .client
        .with_registry_auth(credentials::registry_auth_header(
            &credentials::registry_of(repo),
        ));
    let q = Query::new().add("tag", &tag).build();
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
        println!("{repo}:{tag}");
    }
    Ok(())
}
