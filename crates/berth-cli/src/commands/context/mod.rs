//! `docker context ...`: one file per command. These commands only read and
//! write the config dir (the store and config.json's `currentContext`), so
//! they run without a daemon and whatever the current context is.
//! `export` and `import` move a context between config dirs as docker's tar archive.

pub mod create;
pub mod docker_opts;
pub mod export;
pub mod import;
pub mod inspect;
pub mod ls;
pub mod rm;
pub mod show;
pub mod update;
pub mod use_context;

use anyhow::{bail, Context, Result};
use clap::Subcommand;

use crate::cli::ClientConfig;
use crate::context::store::{DockerEndpoint, Meta, TlsData};
use crate::context::DEFAULT;

#[derive(Debug, Subcommand)]
pub enum ContextCommand {
    /// Create a context
    Create(create::Args),
    /// Export a context to a tar archive FILE or a tar stream on STDOUT.
    Export(export::Args),
    /// Import a context from a tar or zip file
    Import(import::Args),
    /// Display detailed information on one or more contexts
    Inspect(inspect::Args),
    /// List contexts
    #[command(alias = "list")]
    Ls(ls::Args),
    /// Remove one or more contexts
    #[command(alias = "remove")]
    Rm(rm::Args),
    /// Print the name of the current context
    Show(show::Args),
    /// Update a context
    Update(update::Args),
    /// Set the current docker context
    Use(use_context::Args),
}

impl ContextCommand {
    pub fn run(self, config: &ClientConfig) -> Result<()> {
        match self {
            ContextCommand::Create(a) => create::run(config, a),
            ContextCommand::Export(a) => export::run(config, a),
            ContextCommand::Import(a) => import::run(config, a),
            ContextCommand::Inspect(a) => inspect::run(config, a),
            ContextCommand::Ls(a) => ls::run(config, a),
            ContextCommand::Rm(a) => rm::run(config, a),
            ContextCommand::Show(a) => show::run(config, a),
            ContextCommand::Update(a) => update::run(config, a),
            ContextCommand::Use(a) => use_context::run(config, a),
        }
    }
}

/// What `context ls` shows as the default context's description.
pub const DEFAULT_DESCRIPTION: &str = "Current DOCKER_HOST based configuration";

/// The docker CLI's rule for names of stored contexts.
const NAME_PATTERN: &str = "^[a-zA-Z0-9][a-zA-Z0-9_.+-]+$";

/// Checks a name for a context to create, update or switch to, with docker's messages.
pub fn validate_name(name: &str) -> Result<()> {
    if name.is_empty() {
        bail!("context name cannot be empty");
    }
    if name == DEFAULT {
        bail!("{DEFAULT:?} is a reserved context name");
    }
    let mut bytes = name.bytes();
    let first_ok = bytes.next().is_some_and(|b| b.is_ascii_alphanumeric());
    let rest_ok = name.len() >= 2
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'+' | b'-'));
    if !(first_ok && rest_ok) {
        bail!(
            "context name {name:?} is invalid, names are validated against regexp {NAME_PATTERN:?}"
        );
    }
    Ok(())
}

/// Checks a name for a context to create or import: valid and not taken.
pub fn check_new_name(config: &ClientConfig, name: &str) -> Result<()> {
    validate_name(name)?;
    if config
        .store()
        .find(name)
        .context("error while getting existing contexts")?
        .is_some()
    {
        bail!("context {name:?} already exists");
    }
    Ok(())
}

/// The default context as the store would hold it: its endpoint is what
/// `-H`/`DOCKER_HOST` and the `--tls*` flags make of it.
pub fn default_meta(config: &ClientConfig) -> Meta {
    let ep = &config.default_endpoint;
    let mut meta = Meta {
        name: DEFAULT.into(),
        metadata: Default::default(),
        endpoints: Default::default(),
    };
    meta.metadata.description = DEFAULT_DESCRIPTION.into();
    meta.endpoints.docker = Some(DockerEndpoint {
        host: ep.host.clone(),
        skip_tls_verify: ep.tls.as_ref().is_some_and(|t| !t.verify),
        ..Default::default()
    });
    meta
}

/// The default context's TLS files: those the `--tls*` settings name that exist.
pub fn default_tls(config: &ClientConfig) -> Result<TlsData> {
    let Some(tls) = &config.default_endpoint.tls else {
        return Ok(TlsData::default());
    };
    let read = |p: &Option<std::path::PathBuf>| -> Result<Option<Vec<u8>>> {
        match p.as_deref().filter(|p| p.is_file()) {
            Some(p) => Ok(Some(std::fs::read(p)?)),
            None => Ok(None),
        }
    };
    Ok(TlsData {
        ca: read(&tls.ca)?,
        cert: read(&tls.cert)?,
        key: read(&tls.key)?,
    })
}

/// A context by name, the default one included.
pub fn lookup(config: &ClientConfig, name: &str) -> Result<Meta> {
    if name == DEFAULT {
        return Ok(default_meta(config));
    }
    config.store().get(name)
}

/// The warning docker prints when `DOCKER_HOST` hides the current context;
/// `what` is "a context" or the quoted name being switched to.
pub fn docker_host_warning(what: &str) -> String {
    format!(
        "Warning: DOCKER_HOST environment variable overrides the active context. \
         To use {what}, either set the global --context flag, or unset DOCKER_HOST environment variable."
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_dockers_pattern() {
        for ok in ["ab", "x1", "my-ctx_2.prod+eu", "0a", "Ab"] {
            assert!(validate_name(ok).is_ok(), "{ok}");
        }
        let msg = |n: &str| validate_name(n).unwrap_err().to_string();
        assert_eq!(
            msg("x"),
            r#"context name "x" is invalid, names are validated against regexp "^[a-zA-Z0-9][a-zA-Z0-9_.+-]+$""#
        );
        for bad in ["-ab", "a/b", "a b", "_ab", "ab$", "é1"] {
            assert!(msg(bad).contains("is invalid"), "{bad}");
        }
        assert_eq!(msg(""), "context name cannot be empty");
        assert_eq!(msg("default"), r#""default" is a reserved context name"#);
    }
}
