//! `docker context import`: a context from an archive `context export` made
//! (by docker or berth), read from a file or stdin (`-`).

use std::io::Read;

use anyhow::{anyhow, bail, Result};

use super::check_new_name;
use crate::cli::ClientConfig;
use crate::context::archive::{self, MAX_IMPORT_SIZE};
use crate::context::store::go_io_error;

/// Import a context from a tar or zip file
#[derive(Debug, clap::Args)]
#[command(override_usage = "CONTEXT FILE|-")]
pub struct Args {
    #[arg(value_name = "CONTEXT")]
    pub name: String,
    #[arg(value_name = "FILE|-")]
    pub source: String,
}

pub fn run(config: &ClientConfig, args: Args) -> Result<()> {
    let name = &args.name;
    check_new_name(config, name)?;
    let bytes = if args.source == "-" {
        read_limited(std::io::stdin().lock())?
    } else {
        let path = std::path::Path::new(&args.source);
        let file = std::fs::File::open(path).map_err(|e| anyhow!(go_io_error("open", path, &e)))?;
        read_limited(file)?
    };
    // Docker also takes zip archives holding a kubeconfig, which berth has no use for.
    if bytes.starts_with(b"PK\x03\x04") {
        bail!("importing zip archives is not supported");
    }
    let (meta, tls) = archive::decode(&bytes, name)?;
    config.store().import(&meta, &tls)?;
    println!("{name}");
    eprintln!("Successfully imported context {name:?}");
    Ok(())
}

/// The whole input, which must not be larger than docker accepts.
fn read_limited(r: impl Read) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    r.take(MAX_IMPORT_SIZE + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_IMPORT_SIZE {
        bail!("read exceeds the defined limit");
    }
    Ok(bytes)
}
