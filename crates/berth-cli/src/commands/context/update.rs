//! `docker context update`: a new description and/or a new docker endpoint
//! (whose TLS files then replace the old ones).

use anyhow::{Context, Result};

use super::docker_opts::{self, KeyValues};
use super::validate_name;
use crate::cli::ClientConfig;

/// Update a context
#[derive(Debug, clap::Args)]
#[command(override_usage = "[OPTIONS] CONTEXT")]
pub struct Args {
    /// Description of the context
    #[arg(long = "description", value_name = "string")]
    pub description: Option<String>,
    /// set the docker endpoint
    #[arg(long = "docker", value_name = "stringToString", value_parser = docker_opts::parse)]
    pub docker: Vec<KeyValues>,
    #[arg(value_name = "CONTEXT")]
    pub name: String,
}

pub fn run(config: &ClientConfig, args: Args) -> Result<()> {
    let name = &args.name;
    validate_name(name)?;
    let store = config.store();
    let mut meta = store.get(name)?;
    // As docker: an empty description leaves the old one.
    if let Some(d) = args.description.filter(|d| !d.is_empty()) {
        meta.metadata.description = d;
    }
    let mut tls = None;
    if let Some(opts) = docker_opts::merged(&args.docker) {
        let (ep, data) = docker_opts::endpoint(config, &opts)
            .context("unable to create docker endpoint config")?;
        meta.endpoints.docker = Some(ep);
        tls = Some(data);
    }
    store.write(&meta)?;
    if let Some(tls) = tls {
        store.reset_tls(name, &tls)?;
    }
    println!("{name}");
    eprintln!("Successfully updated context {name:?}");
    Ok(())
}
