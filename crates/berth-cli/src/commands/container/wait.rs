//! `docker wait`

use anyhow::Result;
use berth_api::types::ContainerWaitResponse;

use crate::cli::Ctx;
use crate::commands::seg;
use crate::errors::{api_error_text, StatusError};

/// Block until one or more containers stop, then print their exit codes
#[derive(Debug, clap::Args)]
#[command(override_usage = "CONTAINER [CONTAINER...]")]
pub struct Args {
    #[arg(value_name = "CONTAINER", required = true)]
    pub containers: Vec<String>,
}

pub async fn run(ctx: &mut Ctx, args: Args) -> Result<()> {
    let mut errors = Vec::new();
    for c in &args.containers {
        let path = format!("/containers/{}/wait", seg(c));
        match ctx
            .client
            .post_json::<(), ContainerWaitResponse>(&path, None)
            .await
        {
            Ok(w) => println!("{}", w.status_code),
            Err(e) => errors.push(api_error_text(&e)),
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(StatusError::new(1, errors.join("\n")).into())
    }
}
