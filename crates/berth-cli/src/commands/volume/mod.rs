//! `docker volume ...`: one file per command.

pub mod create;
pub mod inspect;
pub mod ls;
pub mod prune;
pub mod rm;

use anyhow::Result;
use clap::Subcommand;

use crate::cli::Ctx;

#[derive(Debug, Subcommand)]
pub enum VolumeCommand {
    /// Create a volume
    Create(create::Args),
    /// Display detailed information on one or more volumes
    Inspect(inspect::Args),
    /// List volumes
    #[command(alias = "list")]
    Ls(ls::Args),
    /// Remove all unused local volumes
    Prune(prune::Args),
    /// Remove one or more volumes
    #[command(alias = "remove")]
    Rm(rm::Args),
}

impl VolumeCommand {
    pub async fn run(self, ctx: &mut Ctx) -> Result<()> {
        match self {
            VolumeCommand::Create(a) => create::run(ctx, a).await,
            VolumeCommand::Inspect(a) => inspect::run(ctx, a).await,
            VolumeCommand::Ls(a) => ls::run(ctx, a).await,
            VolumeCommand::Prune(a) => prune::run(ctx, a).await,
            VolumeCommand::Rm(a) => rm::run(ctx, a).await,
        }
    }
}

/// `KEY=VALUE` flags (`--label`, `--opt`) as a map; a bare key maps to "".
pub fn key_values(list: &[String]) -> std::collections::BTreeMap<String, String> {
    list.iter()
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (kv.clone(), String::new()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn key_values_split_on_first_equals() {
        let m = super::key_values(&["a=b=c".into(), "flag".into()]);
        assert_eq!(m["a"], "b=c");
        assert_eq!(m["flag"], "");
    }
}
