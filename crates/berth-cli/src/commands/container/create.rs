//! `docker create`, and the create-with-implicit-pull step `run` shares.

use std::io::Write;

use anyhow::{bail, Result};
use berth_api::types::{ContainerCreateRequest, ContainerCreateResponse};
use berth_api::Query;

use super::opts::{to_create_request, ContainerOpts};
use crate::cli::Ctx;
use crate::commands::image::pull;
use crate::errors::{error_text, FlagError, StatusError};

/// Create a new container
#[derive(Debug, clap::Args)]
#[command(
    disable_help_flag = true,
    override_usage = "[OPTIONS] IMAGE [COMMAND] [ARG...]"
)]
pub struct Args {
    #[command(flatten)]
    pub opts: ContainerOpts,
}

pub async fn run(ctx: &mut Ctx, args: Args) -> Result<()> {
    let result = async {
        let req = to_create_request(&args.opts, false, &|k| std::env::var(k).ok())?;
        create_container(ctx, &args.opts, &req).await
    }
    .await;
    match result {
        Ok(id) => {
            println!("{id}");
            Ok(())
        }
        Err(e) => Err(with_help(&e, "create", 125)),
    }
}

/// docker's `withHelp`: `berth: <error>` and a pointer to --help, as a status error.
/// A refused flag value prints as cobra's flag errors do, with the usage line.
pub fn with_help(err: &anyhow::Error, cmd: &str, code: i32) -> anyhow::Error {
    if let Some(flag) = err.downcast_ref::<FlagError>() {
        return flag
            .with_usage(
                &format!("berth {cmd} [OPTIONS] IMAGE [COMMAND] [ARG...]"),
                &format!("berth {cmd}"),
            )
            .into();
    }
    if err.downcast_ref::<StatusError>().is_some() {
        // Already final (e.g. an exit code to pass on).
        return anyhow::anyhow!(StatusError::new(
            err.downcast_ref::<StatusError>()
                .map(|s| s.code)
                .unwrap_or(code),
            err.to_string()
        ));
    }
    StatusError::new(
        code,
        format!(
            "berth: {}\n\nRun 'berth {cmd} --help' for more information",
            error_text(err)
        ),
    )
    .into()
}

/// POST /containers/create, pulling the image first when it is missing (or
/// always, with `--pull always`), like the docker CLI's createContainer.
/// `-q` silences the pull (its errors still fail the create). Content trust
/// (`--disable-content-trust=false`) needs a Notary server berth does not
/// talk to; the flag is accepted and the image used as named.
pub async fn create_container(
    ctx: &Ctx,
    opts: &ContainerOpts,
    req: &ContainerCreateRequest,
) -> Result<String> {
    let cidfile = CidFile::create(opts.cidfile.as_deref())?;
    let reference = pull::normalize(opts.image());
    if opts.pull == "always" {
        pull::pull_image(ctx, &reference, &mut std::io::stderr(), opts.quiet).await?;
    } else if opts.pull != "missing" && opts.pull != "never" {
        bail!(
            "invalid pull option: '{}': must be one of \"always\", \"missing\" or \"never\"",
            opts.pull
        );
    }
    let q = Query::new()
        .opt("name", opts.name.as_deref())
        .opt("platform", opts.platform.as_deref())
        .build();
    let path = format!("/containers/create{q}");
    let resp: ContainerCreateResponse = match ctx.client.post_json(&path, Some(req)).await {
        Ok(r) => r,
        Err(e)
            if e.is_not_found()
                && opts.pull == "missing"
                && e.to_string().contains("No such image") =>
        {
            if !opts.quiet {
                eprintln!("Unable to find image '{reference}' locally");
            }
            pull::pull_image(ctx, &reference, &mut std::io::stderr(), opts.quiet).await?;
            ctx.client.post_json(&path, Some(req)).await?
        }
        Err(e) => return Err(e.into()),
    };
    for w in &resp.warnings {
        eprintln!("WARNING: {w}");
    }
    if let Some(mut f) = cidfile {
        f.write(&resp.id)?;
    }
    Ok(resp.id)
}

/// `--cidfile`: must not exist before create; receives the id after.
struct CidFile {
    path: String,
    file: std::fs::File,
}

impl CidFile {
    fn create(path: Option<&str>) -> Result<Option<CidFile>> {
        let Some(path) = path else { return Ok(None) };
        if std::path::Path::new(path).exists() {
            bail!("container ID file found, make sure the other container isn't running or delete {path}");
        }
        let file = std::fs::File::create(path)
            .map_err(|e| anyhow::anyhow!("failed to create the container ID file: {e}"))?;
        Ok(Some(CidFile {
            path: path.to_string(),
            file,
        }))
    }

    fn write(&mut self, id: &str) -> Result<()> {
        self.file.write_all(id.as_bytes()).map_err(|e| {
            anyhow::anyhow!(
                "failed to write the container ID ({id}) to file {}: {e}",
                self.path
            )
        })
    }
}
