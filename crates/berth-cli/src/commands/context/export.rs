//! `docker context export`: a context (the default one too) as a tar archive,
//! to a new file (`<name>.dockercontext` unless named) or to stdout (`-`).

use std::io::{IsTerminal, Write};
use std::path::Path;

use anyhow::{anyhow, bail, Result};

use super::{default_tls, lookup, validate_name};
use crate::cli::ClientConfig;
use crate::context::store::{go_io_error, TlsTree, DOCKER_ENDPOINT};
use crate::context::{archive, DEFAULT};

/// Export a context to a tar archive FILE or a tar stream on STDOUT.
#[derive(Debug, clap::Args)]
#[command(override_usage = "[OPTIONS] CONTEXT [FILE|-]")]
pub struct Args {
    #[arg(value_name = "CONTEXT")]
    pub name: String,
    #[arg(value_name = "FILE|-")]
    pub dest: Option<String>,
}

pub fn run(config: &ClientConfig, args: Args) -> Result<()> {
    let name = &args.name;
    if name != DEFAULT {
        validate_name(name)?;
    }
    let dest = args.dest.unwrap_or_else(|| format!("{name}.dockercontext"));
    // As in docker, the file is made before the context is looked up, so an
    // unknown context leaves it empty; an existing file is never overwritten.
    let mut out: Box<dyn Write> = if dest == "-" {
        if std::io::stdout().is_terminal() {
            bail!("cowardly refusing to export to a terminal, specify a file path");
        }
        Box::new(std::io::stdout().lock())
    } else {
        Box::new(create_new(Path::new(&dest))?)
    };
    out.write_all(&archive_of(config, name)?)?;
    out.flush()?;
    if dest != "-" {
        eprintln!("Written file {dest:?}");
    }
    Ok(())
}

/// Opens a file that must not exist yet, mode 0600 (the archive may hold a key).
fn create_new(path: &Path) -> Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| anyhow!(go_io_error("open", path, &e)))
}

/// The archive of context `name`; the default one is what the flags and
/// environment make of it, without the description `ls` shows (docker's too).
fn archive_of(config: &ClientConfig, name: &str) -> Result<Vec<u8>> {
    let mut meta = lookup(config, name)?;
    let tls = if name == DEFAULT {
        meta.metadata.description.clear();
        let mut tree = TlsTree::new();
        let files = default_tls(config)?;
        let files: std::collections::BTreeMap<_, _> = files
            .files()
            .map(|(f, d)| (f.to_string(), d.clone()))
            .collect();
        if !files.is_empty() {
            tree.insert(DOCKER_ENDPOINT.to_string(), files);
        }
        tree
    } else {
        config.store().tls_tree(name)?
    };
    archive::encode(&meta, &tls)
}
