//! `docker context use`: records the context in config.json's `currentContext`
//! (`default` removes the key), keeping the file's other settings.

use anyhow::Result;

use super::{docker_host_warning, validate_name};
use crate::cli::ClientConfig;
use crate::config::ConfigFile;
use crate::context::DEFAULT;

/// Set the current docker context
#[derive(Debug, clap::Args)]
#[command(override_usage = "CONTEXT")]
pub struct Args {
    #[arg(value_name = "CONTEXT")]
    pub name: String,
}

pub fn run(config: &ClientConfig, args: Args) -> Result<()> {
    let name = args.name;
    let value = if name == DEFAULT {
        None
    } else {
        validate_name(&name)?;
        config.store().get(&name)?;
        Some(name.as_str())
    };
    // Unchanged: no write, so `use default` creates no config dir.
    let mut file = ConfigFile::load(&config.dir)?;
    if file.set_current_context(value) {
        file.save()?;
    }
    println!("{name}");
    eprintln!("Current context is now {name:?}");
    if name != DEFAULT && config.docker_host_env {
        eprintln!("{}", docker_host_warning(&format!("{name:?}")));
    }
    Ok(())
}
