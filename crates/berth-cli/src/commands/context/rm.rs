//! `docker context rm`

use anyhow::{anyhow, Result};

use crate::cli::ClientConfig;
use crate::config::ConfigFile;
use crate::context::DEFAULT;
use crate::errors::StatusError;

/// Remove one or more contexts
#[derive(Debug, clap::Args)]
#[command(override_usage = "CONTEXT [CONTEXT...]")]
pub struct Args {
    /// Force the removal of a context in use
    #[arg(short = 'f', long = "force")]
    pub force: bool,
    #[arg(value_name = "CONTEXT", required = true)]
    pub names: Vec<String>,
}

pub fn run(config: &ClientConfig, args: Args) -> Result<()> {
    let mut errors = Vec::new();
    for name in &args.names {
        match remove(config, name, args.force) {
            Ok(()) => println!("{name}"),
            Err(e) => errors.push(format!("{e:#}")),
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(StatusError::new(1, errors.join("\n")).into())
    }
}

fn remove(config: &ClientConfig, name: &str, force: bool) -> Result<()> {
    if name == DEFAULT {
        return Err(anyhow!("context {DEFAULT:?} cannot be removed"));
    }
    if name == config.context {
        if !force {
            return Err(anyhow!(
                "context {name:?} is in use, set -f flag to force remove"
            ));
        }
        // Forced: fall back to the default context, as docker does.
        let mut file = ConfigFile::load(&config.dir)?;
        if file.set_current_context(None) {
            file.save()?;
        }
    }
    let store = config.store();
    if !force && !store.exists(name) {
        return Err(anyhow!("context {name:?} does not exist"));
    }
    store.remove(name)
}
