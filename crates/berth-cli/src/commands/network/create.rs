//! `docker network create`

use std::collections::BTreeMap;
use std::net::IpAddr;

use anyhow::Result;
use serde_json::{json, Value};

use crate::cli::Ctx;
use crate::commands::volume::key_values;
use crate::errors::StatusError;

/// Create a network
#[derive(Debug, clap::Args)]
#[command(override_usage = "[OPTIONS] NETWORK")]
pub struct Args {
    /// Enable manual container attachment
    #[arg(long = "attachable")]
    pub attachable: bool,
    /// Driver to manage the Network
    #[arg(
        short = 'd',
        long = "driver",
        value_name = "string",
        default_value = "bridge"
    )]
    pub driver: String,
    /// IPv4 or IPv6 Gateway for the master subnet
    #[arg(long = "gateway", value_name = "strings", value_delimiter = ',')]
    pub gateway: Vec<String>,
    /// Restrict external access to the network
    #[arg(long = "internal")]
    pub internal: bool,
    /// Allocate container ip from a sub-range
    #[arg(long = "ip-range", value_name = "strings", value_delimiter = ',')]
    pub ip_range: Vec<String>,
    /// IP Address Management Driver
    #[arg(long = "ipam-driver", value_name = "string", default_value = "default")]
    pub ipam_driver: String,
    /// Set IPAM driver specific options
    #[arg(long = "ipam-opt", value_name = "map")]
    pub ipam_opt: Vec<String>,
    /// Enable or disable IPv6 address assignment
    #[arg(long = "ipv6")]
    pub ipv6: bool,
    /// Set metadata on a network
    #[arg(long = "label", value_name = "list")]
    pub label: Vec<String>,
    /// Set driver specific options
    #[arg(short = 'o', long = "opt", value_name = "map")]
    pub opt: Vec<String>,
    /// Subnet in CIDR format that represents a network segment
    #[arg(long = "subnet", value_name = "strings", value_delimiter = ',')]
    pub subnet: Vec<String>,
    #[arg(value_name = "NETWORK")]
    pub name: String,
}

pub async fn run(ctx: &mut Ctx, args: Args) -> Result<()> {
    let body = request_body(&args).map_err(|e| StatusError::new(1, e))?;
    let resp: Value = ctx
        .client
        .post_json("/networks/create", Some(&body))
        .await?;
    println!("{}", resp["Id"].as_str().unwrap_or_default());
    Ok(())
}

/// The `NetworkCreateRequest` docker sends for these flags.
pub fn request_body(args: &Args) -> Result<Value, String> {
    let config = ipam_config(&args.subnet, &args.ip_range, &args.gateway)?;
    let mut body = json!({
        "Name": args.name,
        "Driver": args.driver,
        "Options": key_values(&args.opt),
        "IPAM": {
            "Driver": args.ipam_driver,
            "Config": config,
            "Options": key_values(&args.ipam_opt),
        },
        "Internal": args.internal,
        "Attachable": args.attachable,
        "Labels": key_values(&args.label),
    });
    if args.ipv6 {
        body["EnableIPv6"] = json!(true);
    }
    Ok(body)
}

/// Docker's `createIPAMConfig`: each `--ip-range` and `--gateway` goes to the
/// `--subnet` that contains it, with docker's error texts.
pub fn ipam_config(
    subnets: &[String],
    ranges: &[String],
    gateways: &[String],
) -> Result<Vec<Value>, String> {
    if subnets.len() < ranges.len() || subnets.len() < gateways.len() {
        return Err("every ip-range or gateway must have a corresponding subnet".into());
    }
    let mut data: BTreeMap<&str, (Option<&str>, Option<&str>)> = BTreeMap::new();
    for (n, s) in subnets.iter().enumerate() {
        for k in &subnets[..n] {
            if subnet_matches(s, k)? || subnet_matches(k, s)? {
                return Err("multiple overlapping subnet configuration is not supported".into());
            }
        }
        data.insert(s, (None, None));
    }
    for r in ranges {
        let mut matched = false;
        for s in subnets {
            if !subnet_matches(s, r)? {
                continue;
            }
            let d = data.entry(s).or_default();
            if let Some(prev) = d.0 {
                return Err(format!(
                    "cannot configure multiple ranges ({r}, {prev}) on the same subnet ({s})"
                ));
            }
            d.0 = Some(r);
            matched = true;
        }
        if !matched {
            return Err(format!("no matching subnet for range {r}"));
        }
    }
    for g in gateways {
        let mut matched = false;
        for s in subnets {
            if !subnet_matches(s, g)? {
                continue;
            }
            let d = data.entry(s).or_default();
            if let Some(prev) = d.1 {
                return Err(format!(
                    "cannot configure multiple gateways ({g}, {prev}) for the same subnet ({s})"
                ));
            }
            d.1 = Some(g);
            matched = true;
        }
        if !matched {
            return Err(format!("no matching subnet for gateway {g}"));
        }
    }
    Ok(subnets
        .iter()
        .map(|s| {
            let (range, gw) = data.get(s.as_str()).copied().unwrap_or_default();
            let mut c = json!({ "Subnet": s });
            if let Some(r) = range {
                c["IPRange"] = json!(r);
            }
            if let Some(g) = gw {
                c["Gateway"] = json!(g);
            }
            c
        })
        .collect())
}

/// Parses `ADDR/PREFIX` as Go's `net.ParseCIDR` does (enough of it).
fn parse_cidr(s: &str) -> Option<(IpAddr, u32)> {
    let (ip, len) = s.split_once('/')?;
    let ip: IpAddr = ip.parse().ok()?;
    if len.is_empty() || !len.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let len: u32 = len.parse().ok()?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    (len <= max).then_some((ip, len))
}

/// Whether `data` (an address or a CIDR) lies in `subnet`, as docker's `subnetMatches`.
fn subnet_matches(subnet: &str, data: &str) -> Result<bool, String> {
    let (net, len) = parse_cidr(subnet)
        .ok_or_else(|| format!("invalid subnet: invalid CIDR address: {subnet}"))?;
    let ip = if data.contains('/') {
        parse_cidr(data)
            .ok_or_else(|| format!("invalid CIDR address: {data}"))?
            .0
    } else {
        match data.parse::<IpAddr>() {
            Ok(ip) => ip,
            Err(_) => return Ok(false),
        }
    };
    Ok(contains(net, len, ip))
}

fn contains(net: IpAddr, len: u32, ip: IpAddr) -> bool {
    let bits = |ip: IpAddr| -> (u128, u32) {
        match ip {
            IpAddr::V4(v) => (u32::from(v) as u128, 32),
            IpAddr::V6(v) => match v.to_ipv4_mapped() {
                Some(v4) => (u32::from(v4) as u128, 32),
                None => (u128::from(v), 128),
            },
        }
    };
    let (n, nw) = bits(net);
    let (a, aw) = bits(ip);
    if nw != aw {
        return false;
    }
    let shift = nw - len.min(nw);
    if shift >= 128 {
        return true;
    }
    (n >> shift) == (a >> shift)
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

    fn parse(argv: &[&str]) -> Args {
        T::try_parse_from(std::iter::once("create").chain(argv.iter().copied()))
            .unwrap()
            .a
    }

    #[test]
    fn flags_make_docker_request() {
        let a = parse(&[
            "-d",
            "bridge",
            "--subnet",
            "10.1.0.0/16",
            "--ip-range",
            "10.1.2.0/24",
            "--gateway",
            "10.1.0.1",
            "--internal",
            "--attachable",
            "--label",
            "a=b",
            "-o",
            "com.docker.network.bridge.name=brx",
            "n1",
        ]);
        let b = request_body(&a).unwrap();
        assert_eq!(b["Name"], "n1");
        assert_eq!(b["Driver"], "bridge");
        assert_eq!(b["Internal"], true);
        assert_eq!(b["Attachable"], true);
        assert_eq!(b["Labels"]["a"], "b");
        assert_eq!(b["Options"]["com.docker.network.bridge.name"], "brx");
        assert_eq!(
            b["IPAM"],
            json!({"Driver": "default", "Options": {}, "Config": [
                {"Subnet": "10.1.0.0/16", "IPRange": "10.1.2.0/24", "Gateway": "10.1.0.1"}
            ]})
        );
        let b = request_body(&parse(&["n2"])).unwrap();
        assert_eq!(b["IPAM"]["Config"], json!([]));
        assert_eq!(b["Driver"], "bridge");
    }

    #[test]
    fn ipam_errors_use_docker_wording() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(
            ipam_config(&[], &[], &s(&["1.2.3.4"])).unwrap_err(),
            "every ip-range or gateway must have a corresponding subnet"
        );
        assert_eq!(
            ipam_config(&s(&["10.1.0.0/16"]), &[], &s(&["10.2.0.1"])).unwrap_err(),
            "no matching subnet for gateway 10.2.0.1"
        );
        assert_eq!(
            ipam_config(&s(&["10.1.0.0/16"]), &s(&["10.3.0.0/24"]), &[]).unwrap_err(),
            "no matching subnet for range 10.3.0.0/24"
        );
        assert_eq!(
            ipam_config(&s(&["10.1.0.0/16", "10.1.2.0/24"]), &[], &[]).unwrap_err(),
            "multiple overlapping subnet configuration is not supported"
        );
        assert_eq!(
            ipam_config(&s(&["foo"]), &[], &s(&["1.2.3.4"])).unwrap_err(),
            "invalid subnet: invalid CIDR address: foo"
        );
        // Comma-separated lists and two subnets, each with its gateway.
        let a = parse(&[
            "--subnet",
            "10.1.0.0/24,10.2.0.0/24",
            "--gateway",
            "10.2.0.9",
            "x",
        ]);
        let c = ipam_config(&a.subnet, &a.ip_range, &a.gateway).unwrap();
        assert_eq!(c[1]["Gateway"], "10.2.0.9");
        assert!(c[0].get("Gateway").is_none());
        // A lone bad subnet is left to the daemon, as docker does.
        assert!(ipam_config(&s(&["foo"]), &[], &[]).is_ok());
    }
}
