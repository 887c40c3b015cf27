//! `docker pull`, and the implicit pull of `run`/`create`.

use std::io::Write;

use anyhow::Result;
use berth_api::Query;
use hyper::Method;

use super::split_tag;
use crate::cli::Ctx;

/// Download an image from a registry
#[derive(Debug, clap::Args)]
#[command(override_usage = "[OPTIONS] NAME[:TAG|@DIGEST]")]
pub struct Args {
    /// Download all tagged images in the repository
    #[arg(short = 'a', long = "all-tags")]
    pub all_tags: bool,
    /// Set platform if server is multi-platform capable
    #[arg(long = "platform", value_name = "string")]
    pub platform: Option<String>,
    /// Suppress verbose output
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    #[arg(value_name = "NAME[:TAG|@DIGEST]")]
    pub name: String,
}

pub async fn run(ctx: &mut Ctx, args: Args) -> Result<()> {
    let mut reference = args.name.clone();
    if args.all_tags && (reference.contains('@') || split_tag(&reference).1.is_some()) {
        anyhow::bail!("tag can't be used with --all-tags/-a");
    }
    if !args.all_tags && !reference.contains('@') && split_tag(&reference).1.is_none() {
        reference.push_str(":latest");
        if !args.quiet {
            println!("Using default tag: latest");
        }
    }
    let mut out = std::io::stdout();
    pull_image(ctx, &reference, &mut out, args.quiet).await?;
    println!("{}", full_name(&reference));
    Ok(())
}

/// `busybox` -> `busybox:latest`; references with a tag or digest are kept.
pub fn normalize(image: &str) -> String {
    if image.contains('@') || split_tag(image).1.is_some() {
        image.to_string()
    } else {
        format!("{image}:latest")
    }
}

/// `busybox:latest` -> `docker.io/library/busybox:latest`, as docker prints after a pull.
pub fn full_name(reference: &str) -> String {
    let first = reference.split('/').next().unwrap_or("");
    let has_domain = reference.contains('/')
        && (first.contains('.') || first.contains(':') || first == "localhost");
    if has_domain {
        reference.to_string()
    } else if reference.contains('/') {
        format!("docker.io/{reference}")
    } else {
        format!("docker.io/library/{reference}")
    }
}

/// POST /images/create?fromImage=&tag= and shows the progress on `out`.
pub async fn pull_image<W: Write>(
    ctx: &Ctx,
    reference: &str,
    out: &mut W,
    quiet: bool,
) -> Result<()> {
    let (name, digest) = match reference.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (reference, None),
    };
    let (name, tag) = match digest {
        Some(d) => (name, Some(d)),
        None => split_tag(name),
    };
    let q = Query::new().add("fromImage", name).opt("tag", tag).build();
    let registry = crate::commands::registry::credentials::registry_of(name);
    let auth =
        crate::commands::registry::credentials::registry_auth_header(&ctx.config.dir, &registry);
    let body = ctx
        .client
        .with_registry_auth(auth)
        .stream(Method::POST, &format!("/images/create{q}"), None, None)
        .await?;
    berth_api::jsonmessage::display_stream(body, out, quiet, |_| {})
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(normalize("busybox"), "busybox:latest");
        assert_eq!(normalize("busybox:1"), "busybox:1");
        assert_eq!(
            full_name("busybox:latest"),
            "docker.io/library/busybox:latest"
        );
        assert_eq!(full_name("me/app:1"), "docker.io/me/app:1");
        assert_eq!(full_name("localhost:5000/x:v1"), "localhost:5000/x:v1");
    }
}
