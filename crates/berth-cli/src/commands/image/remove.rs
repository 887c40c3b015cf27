//! `docker rmi` / `docker image rm`

use anyhow::Result;
use berth_api::types::ImageDeleteResponseItem;
use berth_api::Query;

use crate::cli::Ctx;
use crate::commands::seg;
use crate::errors::{api_error_text, StatusError};

/// Remove one or more images
#[derive(Debug, clap::Args)]
#[command(override_usage = "[OPTIONS] IMAGE [IMAGE...]")]
pub struct Args {
    /// Force removal of the image
    #[arg(short = 'f', long = "force")]
    pub force: bool,
    /// Do not delete untagged parents
    #[arg(long = "no-prune")]
    pub no_prune: bool,
    #[arg(value_name = "IMAGE", required = true)]
    pub images: Vec<String>,
}

pub async fn run(ctx: &mut Ctx, args: Args) -> Result<()> {
    let q = Query::new()
        .flag("force", args.force)
        .flag("noprune", args.no_prune)
        .build();
    let mut errors = Vec::new();
    for image in &args.images {
        let path = format!("/images/{}{q}", seg(image));
        match ctx
            .client
            .delete_json::<Vec<ImageDeleteResponseItem>>(&path)
            .await
        {
            Ok(items) => {
                for item in items {
                    if let Some(u) = item.untagged {
                        println!("Untagged: {u}");
                    }
                    if let Some(d) = item.deleted {
                        println!("Deleted: {d}");
                    }
                }
            }
            Err(e) => errors.push(api_error_text(&e)),
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(StatusError::new(1, errors.join("\n")).into())
    }
}
