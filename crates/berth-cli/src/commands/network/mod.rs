//! `docker network ...`: one file per command.

pub mod connect;
pub mod create;
pub mod disconnect;
pub mod inspect;
pub mod ls;
pub mod prune;
pub mod rm;

use anyhow::Result;
use clap::Subcommand;

use crate::cli::Ctx;

#[derive(Debug, Subcommand)]
pub enum NetworkCommand {
    /// Connect a container to a network
    Connect(connect::Args),
    /// Create a network
    Create(create::Args),
    /// Disconnect a container from a network
    Disconnect(disconnect::Args),
    /// Display detailed information on one or more networks
    Inspect(inspect::Args),
    /// List networks
    #[command(alias = "list")]
    Ls(ls::Args),
    /// Remove all unused networks
    Prune(prune::Args),
    /// Remove one or more networks
    #[command(alias = "remove")]
    Rm(rm::Args),
}

impl NetworkCommand {
    pub async fn run(self, ctx: &mut Ctx) -> Result<()> {
        match self {
            NetworkCommand::Connect(a) => connect::run(ctx, a).await,
            NetworkCommand::Create(a) => create::run(ctx, a).await,
            NetworkCommand::Disconnect(a) => disconnect::run(ctx, a).await,
            NetworkCommand::Inspect(a) => inspect::run(ctx, a).await,
            NetworkCommand::Ls(a) => ls::run(ctx, a).await,
            NetworkCommand::Prune(a) => prune::run(ctx, a).await,
            NetworkCommand::Rm(a) => rm::run(ctx, a).await,
        }
    }
}

/// POSTs a JSON body and ignores the (empty) answer: connect and disconnect.
pub async fn post_ignore(ctx: &Ctx, path: &str, body: &serde_json::Value) -> Result<()> {
    use http_body_util::BodyExt;
    let resp = ctx
        .client
        .request(
            hyper::Method::POST,
            path,
            Some(berth_api::json_body(body)?),
            None,
        )
        .await?;
    resp.into_body()
        .collect()
        .await
        .map_err(berth_api::Error::from)?;
    Ok(())
}

/// Go's `sortorder.NaturalLess` as an ordering, which docker sorts network names and port
/// mappings with: runs of digits compare as numbers, the rest byte-wise.
pub fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        let (ca, cb) = (a[i], b[j]);
        if ca.is_ascii_digit() && cb.is_ascii_digit() {
            let si = i;
            while i < a.len() && a[i].is_ascii_digit() {
                i += 1;
            }
            let sj = j;
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            // Compare numerically without overflowing: strip leading zeros,
            // then the longer run is larger, then lexically.
            let na = trim_zeros(&a[si..i]);
            let nb = trim_zeros(&b[sj..j]);
            let ord = na.len().cmp(&nb.len()).then_with(|| na.cmp(nb));
            if ord != Ordering::Equal {
                return ord;
            }
            // Equal values: fewer leading zeros first, as sortorder does.
            let ord = (i - si).cmp(&(j - sj));
            if ord != Ordering::Equal {
                return ord;
            }
        } else {
            if ca != cb {
                return ca.cmp(&cb);
            }
            i += 1;
            j += 1;
        }
    }
    (a.len() - i).cmp(&(b.len() - j))
}

fn trim_zeros(d: &[u8]) -> &[u8] {
    let n = d.iter().take_while(|&&c| c == b'0').count();
    &d[n..]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn natural_less(a: &str, b: &str) -> bool {
        natural_cmp(a, b) == std::cmp::Ordering::Less
    }

    #[test]
    fn natural_order_compares_numbers() {
        assert!(natural_less("n2", "n10"));
        assert!(natural_less("bridge", "host"));
        assert!(natural_less(
            "80/tcp -> 0.0.0.0:8080",
            "443/tcp -> 0.0.0.0:8443"
        ));
        assert!(natural_less("0.0.0.0:8080", "127.0.0.1:56412"));
        assert!(!natural_less("a", "a"));
        assert!(natural_less("a", "ab"));
    }
}
