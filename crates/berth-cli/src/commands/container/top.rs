//! `docker top`

use anyhow::Result;
use berth_api::types::ContainerTopResponse;
use berth_api::Query;

use crate::cli::Ctx;
use crate::commands::seg;
use crate::formatter::write_table;

/// Display the running processes of a container
#[derive(Debug, clap::Args)]
#[command(override_usage = "CONTAINER [ps OPTIONS]")]
pub struct Args {
    #[arg(value_name = "CONTAINER")]
    pub container: String,
    /// ps options
    #[arg(
        value_name = "ps OPTIONS",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub ps_args: Vec<String>,
}

pub async fn run(ctx: &mut Ctx, args: Args) -> Result<()> {
    let q = if args.ps_args.is_empty() {
        String::new()
    } else {
        Query::new().add("ps_args", args.ps_args.join(" ")).build()
    };
    let top: ContainerTopResponse = ctx
        .client
        .get_json(&format!("/containers/{}/top{q}", seg(&args.container)))
        .await?;
    let mut rows = vec![top.titles];
    rows.extend(top.processes);
    write_table(&mut std::io::stdout(), &rows)
}
