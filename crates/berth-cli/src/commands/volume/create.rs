//! `docker volume create`

use anyhow::Result;
use serde_json::{json, Value};

use crate::cli::Ctx;
use crate::errors::StatusError;

/// Create a volume
#[derive(Debug, clap::Args)]
#[command(override_usage = "[OPTIONS] [VOLUME]")]
pub struct Args {
    /// Specify volume driver name
    #[arg(
        short = 'd',
        long = "driver",
        value_name = "string",
        default_value = "local"
    )]
    pub driver: String,
    /// Set metadata for a volume
    #[arg(long = "label", value_name = "list")]
    pub label: Vec<String>,
    /// Specify volume name
    #[arg(long = "name", value_name = "string", hide = true)]
    pub name_flag: Option<String>,
    /// Set driver specific options
    #[arg(short = 'o', long = "opt", value_name = "map")]
    pub opt: Vec<String>,
    #[arg(value_name = "VOLUME")]
    pub name: Option<String>,
}

pub async fn run(ctx: &mut Ctx, args: Args) -> Result<()> {
    let name =
        match (args.name, args.name_flag) {
            (Some(a), Some(b)) if a != b => return Err(StatusError::new(
                1,
                "Conflicting options: either specify --name or provide positional arg, not both",
            )
            .into()),
            (a, b) => a.or(b).unwrap_or_default(),
        };
    let body = json!({
        "Name": name,
        "Driver": args.driver,
        "DriverOpts": super::key_values(&args.opt),
        "Labels": super::key_values(&args.label),
    });
    let vol: Value = ctx.client.post_json("/volumes/create", Some(&body)).await?;
    println!("{}", vol["Name"].as_str().unwrap_or_default());
    Ok(())
}
