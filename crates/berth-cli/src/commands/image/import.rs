//! `docker import`: a tarball (file or stdin) becomes an image.

use anyhow::{anyhow, Result};
use berth_api::{reader_body, Query};
use hyper::Method;

use super::split_tag;
use crate::cli::Ctx;

/// Import the contents from a tarball to create a filesystem image
#[derive(Debug, clap::Args)]
#[command(override_usage = "[OPTIONS] file|URL|- [REPOSITORY[:TAG]]")]
pub struct Args {
    /// Apply Dockerfile instruction to the created image
    #[arg(short = 'c', long = "change", value_name = "list")]
    pub change: Vec<String>,
    /// Set commit message for imported image
    #[arg(short = 'm', long = "message", value_name = "string")]
    pub message: Option<String>,
    /// Set platform if server is multi-platform capable
    #[arg(long = "platform", value_name = "string")]
    pub platform: Option<String>,
    #[arg(value_name = "file|URL|-")]
    pub source: String,
    #[arg(value_name = "REPOSITORY[:TAG]")]
    pub reference: Option<String>,
    // docker requires one argument and ignores any past the second.
    #[arg(hide = true)]
    pub ignored: Vec<String>,
}

pub async fn run(ctx: &mut Ctx, args: Args) -> Result<()> {
    let is_url = args.source.starts_with("http://") || args.source.starts_with("https://");
    let (repo, tag) = match args.reference.as_deref() {
        Some(r) => split_tag(r),
        None => ("", None),
    };
    let mut q = Query::new()
        .add("fromSrc", if is_url { args.source.as_str() } else { "-" })
        .opt("repo", (!repo.is_empty()).then_some(repo))
        .opt("tag", tag)
        .opt("message", args.message.as_deref())
        .opt("platform", args.platform.as_deref());
    for c in &args.change {
        q = q.add("changes", c);
    }
    let path = format!("/images/create{}", q.build());
    let body = if is_url {
        None
    } else if args.source == "-" {
        Some(reader_body(tokio::io::stdin()))
    } else {
        let f = tokio::fs::File::open(&args.source)
            .await
            .map_err(|e| anyhow!("open {}: {}", args.source, io_reason(&e)))?;
        Some(reader_body(f))
    };
    let stream = ctx
        .client
        .stream(Method::POST, &path, body, Some("application/x-tar"))
        .await?;
    berth_api::jsonmessage::display_stream(stream, &mut std::io::stdout(), false, |_| {})
        .await
        .map_err(|e| anyhow!("{e}"))?;
    Ok(())
}

/// Go-style lower-case reason of an I/O error ("no such file or directory").
pub fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}
