//! `docker container ...` commands.

pub mod attach;
pub mod commit;
pub mod cp;
pub mod create;
pub mod diff;
pub mod exec;
pub mod export;
pub mod inspect;
pub mod kill;
pub mod logs;
pub mod opts;
pub mod pause;
pub mod port;
pub mod prune;
pub mod ps;
pub mod rename;
pub mod restart;
pub mod rm;
pub mod run;
pub mod start;
pub mod stats;
pub mod stop;
pub mod top;
pub mod unpause;
pub mod update;
pub mod wait;

use std::future::Future;

use anyhow::Result;

use crate::errors::{api_error_text, StatusError};

/// Runs `op` for each container, printing the name on success and the error
/// on failure, like docker's stop/kill/rm/pause...; any failure makes exit 1.
pub async fn for_each<F, Fut>(names: &[String], mut op: F) -> Result<()>
where
    F: FnMut(String) -> Fut,
    Fut: Future<Output = Result<(), berth_api::Error>>,
{
    let mut errors = Vec::new();
    for name in names {
        match op(name.clone()).await {
            Ok(()) => println!("{name}"),
            Err(e) => errors.push(api_error_text(&e)),
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(StatusError::new(1, errors.join("\n")).into())
    }
}
