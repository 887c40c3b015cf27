//! `docker context create`: a new context from `--docker` options, or a copy
//! of another context (`--from`, else the current one) with its TLS files.

use anyhow::{bail, Context, Result};

use super::docker_opts::{self, KeyValues};
use super::{check_new_name, default_tls, lookup};
use crate::cli::ClientConfig;
use crate::context::store::{ContextMetadata, Endpoints, Meta};
use crate::context::DEFAULT;

/// Create a context
#[derive(Debug, clap::Args)]
#[command(override_usage = "[OPTIONS] CONTEXT")]
pub struct Args {
    /// Description of the context
    #[arg(long = "description", value_name = "string")]
    pub description: Option<String>,
    /// set the docker endpoint
    #[arg(long = "docker", value_name = "stringToString", value_parser = docker_opts::parse)]
    pub docker: Vec<KeyValues>,
    /// create context from a named context
    #[arg(long = "from", value_name = "string")]
    pub from: Option<String>,
    #[arg(value_name = "CONTEXT")]
    pub name: String,
}

pub fn run(config: &ClientConfig, args: Args) -> Result<()> {
    let name = &args.name;
    check_new_name(config, name)?;
    let store = config.store();
    let description = args.description.unwrap_or_default();
    let docker = docker_opts::merged(&args.docker);
    match (args.from.filter(|f| !f.is_empty()), docker) {
        (None, None) => copy(config, &config.context, name, &description)?,
        (Some(from), docker) => {
            if docker.is_some_and(|d| !d.is_empty()) {
                bail!("cannot use --docker flag when --from is set");
            }
            copy(config, &from, name, &description)?
        }
        (None, Some(opts)) => {
            let (ep, tls) = docker_opts::endpoint(config, &opts)
                .context("unable to create docker endpoint config")?;
            let meta = Meta {
                name: name.clone(),
                metadata: ContextMetadata {
                    description,
                    ..Default::default()
                },
                endpoints: Endpoints {
                    docker: Some(ep),
                    ..Default::default()
                },
            };
            store.write(&meta)?;
            store.reset_tls(name, &tls)?;
        }
    }
    println!("{name}");
    eprintln!("Successfully created context {name:?}");
    Ok(())
}

/// Stores context `from` (the default one included) with its TLS files as
/// `name`; a non-empty `description` replaces its own.
fn copy(config: &ClientConfig, from: &str, name: &str, description: &str) -> Result<()> {
    let store = config.store();
    let mut meta = lookup(config, from)?;
    let tls = if from == DEFAULT {
        default_tls(config)?
    } else {
        store.tls_data(from)?
    };
    meta.name = name.to_string();
    if !description.is_empty() {
        meta.metadata.description = description.to_string();
    }
    store.write(&meta)?;
    store.reset_tls(name, &tls)
}
