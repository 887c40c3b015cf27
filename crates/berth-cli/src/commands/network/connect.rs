//! `docker network connect`

use anyhow::Result;
use serde_json::json;

use crate::cli::Ctx;
use crate::commands::seg;
use crate::errors::StatusError;

/// Connect a container to a network
#[derive(Debug, clap::Args)]
#[command(override_usage = "[OPTIONS] NETWORK CONTAINER")]
pub struct Args {
    /// Add network-scoped alias for the container
    #[arg(long = "alias", value_name = "strings", value_delimiter = ',')]
    pub alias: Vec<String>,
    /// driver options for the network
    #[arg(long = "driver-opt", value_name = "strings", value_delimiter = ',')]
    pub driver_opt: Vec<String>,
    /// IPv4 address (e.g., "172.30.100.104")
    #[arg(long = "ip", value_name = "string")]
    pub ip: Option<String>,
    /// IPv6 address (e.g., "2001:db8::33")
    #[arg(long = "ip6", value_name = "string")]
    pub ip6: Option<String>,
    /// Add link to another container
    #[arg(long = "link", value_name = "list")]
    pub link: Vec<String>,
    /// Add a link-local address for the container
    #[arg(long = "link-local-ip", value_name = "strings", value_delimiter = ',')]
    pub link_local_ip: Vec<String>,
    #[arg(value_name = "NETWORK")]
    pub network: String,
    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

pub async fn run(ctx: &mut Ctx, args: Args) -> Result<()> {
    let body = request_body(&args).map_err(|e| StatusError::new(1, e))?;
    super::post_ignore(
        ctx,
        &format!("/networks/{}/connect", seg(&args.network)),
        &body,
    )
    .await
}

/// The `NetworkConnectRequest` docker sends.
pub fn request_body(args: &Args) -> Result<serde_json::Value, String> {
    let mut ipam = serde_json::Map::new();
    if let Some(ip) = &args.ip {
        ipam.insert("IPv4Address".into(), json!(ip));
    }
    if let Some(ip) = &args.ip6 {
        ipam.insert("IPv6Address".into(), json!(ip));
    }
    if !args.link_local_ip.is_empty() {
        ipam.insert("LinkLocalIPs".into(), json!(args.link_local_ip));
    }
    let mut driver_opts = serde_json::Map::new();
    for o in &args.driver_opt {
        match o.split_once('=') {
            Some((k, v)) => {
                driver_opts.insert(k.to_string(), json!(v));
            }
            None => {
                return Err(format!(
                    "invalid key value pair format in driver options: {o}"
                ))
            }
        }
    }
    let mut endpoint = json!({});
    if !ipam.is_empty() {
        endpoint["IPAMConfig"] = ipam.into();
    }
    if !args.alias.is_empty() {
        endpoint["Aliases"] = json!(args.alias);
    }
    if !args.link.is_empty() {
        endpoint["Links"] = json!(args.link);
    }
    if !driver_opts.is_empty() {
        endpoint["DriverOpts"] = driver_opts.into();
    }
    Ok(json!({ "Container": args.container, "EndpointConfig": endpoint }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct T {
        #[command(flatten)]
        a: Args,
    }

    #[test]
    fn flags_make_endpoint_config() {
        let a = T::try_parse_from([
            "connect",
            "--alias",
            "web,www",
            "--alias",
            "w3",
            "--ip",
            "10.99.0.50",
            "n1",
            "c1",
        ])
        .unwrap()
        .a;
        assert_eq!(
            request_body(&a).unwrap(),
            json!({"Container": "c1", "EndpointConfig": {
                "IPAMConfig": {"IPv4Address": "10.99.0.50"},
                "Aliases": ["web", "www", "w3"],
            }})
        );
        let a = T::try_parse_from(["connect", "n1", "c1"]).unwrap().a;
        assert_eq!(request_body(&a).unwrap()["EndpointConfig"], json!({}));
        assert!(T::try_parse_from(["connect", "n1"]).is_err());
    }
}
