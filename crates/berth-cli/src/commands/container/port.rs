//! `docker port` / `docker container port`

use anyhow::Result;
use serde_json::Value;

use crate::cli::Ctx;
use crate::commands::network::natural_cmp;
use crate::commands::seg;
use crate::errors::StatusError;

/// List port mappings or a specific mapping for the container
#[derive(Debug, clap::Args)]
#[command(override_usage = "CONTAINER [PRIVATE_PORT[/PROTO]]")]
pub struct Args {
    #[arg(value_name = "CONTAINER")]
    pub container: String,
    #[arg(value_name = "PRIVATE_PORT[/PROTO]")]
    pub port: Option<String>,
}

pub async fn run(ctx: &mut Ctx, args: Args) -> Result<()> {
    let c: Value = ctx
        .client
        .get_json(&format!("/containers/{}/json", seg(&args.container)))
        .await?;
    let lines = mappings(
        &c["NetworkSettings"]["Ports"],
        &args.container,
        args.port.as_deref(),
    )
    .map_err(|e| StatusError::new(1, e))?;
    if !lines.is_empty() {
        println!("{}", lines.join("\n"));
    }
    Ok(())
}

/// Go's `net.JoinHostPort`.
fn join_host_port(host: &str, port: &str) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

fn frontends(bindings: &Value) -> Vec<String> {
    bindings
        .as_array()
        .map(|a| {
            a.iter()
                .map(|b| {
                    join_host_port(
                        b["HostIp"].as_str().unwrap_or_default(),
                        b["HostPort"].as_str().unwrap_or_default(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// docker's output lines for `NetworkSettings.Ports`, naturally sorted: every
/// mapping as `80/tcp -> 0.0.0.0:8080`, or one port's host addresses.
pub fn mappings(ports: &Value, container: &str, port: Option<&str>) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    match port {
        Some(p) => {
            let (num, proto) = match p.split_once('/') {
                Some((n, pr)) => (n, if pr.is_empty() { "tcp" } else { pr }),
                None => (p, "tcp"),
            };
            if let Err(e) = num.parse::<u16>() {
                return Err(format!(
                    "Error: invalid port ({num}): strconv.ParseUint: parsing \"{num}\": {}",
                    parse_uint_reason(num, &e)
                ));
            }
            match ports.get(format!("{num}/{proto}")) {
                Some(b) if !b.is_null() => out = frontends(b),
                _ => {
                    return Err(format!(
                        "Error: No public port '{p}' published for {container}"
                    ))
                }
            }
        }
        None => {
            if let Some(map) = ports.as_object() {
                for (from, b) in map {
                    for f in frontends(b) {
                        out.push(format!("{from} -> {f}"));
                    }
                }
            }
        }
    }
    out.sort_by(|a, b| natural_cmp(a, b));
    Ok(out)
}

/// Go's reason for a failed `strconv.ParseUint(s, 10, 16)`.
fn parse_uint_reason(s: &str, e: &std::num::ParseIntError) -> &'static str {
    use std::num::IntErrorKind;
    match e.kind() {
        IntErrorKind::PosOverflow if s.bytes().all(|b| b.is_ascii_digit()) => "value out of range",
        _ => "invalid syntax",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ports() -> Value {
        json!({
            "80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}, {"HostIp": "127.0.0.1", "HostPort": "56412"}],
            "53/udp": [{"HostIp": "0.0.0.0", "HostPort": "53"}],
            "443/tcp": [{"HostIp": "::", "HostPort": "8443"}],
            "9000/tcp": null,
        })
    }

    #[test]
    fn all_mappings_sorted_naturally() {
        assert_eq!(
            mappings(&ports(), "web", None).unwrap(),
            vec![
                "53/udp -> 0.0.0.0:53",
                "80/tcp -> 0.0.0.0:8080",
                "80/tcp -> 127.0.0.1:56412",
                "443/tcp -> [::]:8443",
            ]
        );
    }

    #[test]
    fn one_port() {
        assert_eq!(
            mappings(&ports(), "web", Some("80")).unwrap(),
            vec!["0.0.0.0:8080", "127.0.0.1:56412"]
        );
        assert_eq!(
            mappings(&ports(), "web", Some("53/udp")).unwrap(),
            vec!["0.0.0.0:53"]
        );
        assert_eq!(
            mappings(&ports(), "c", Some("81/tcp")).unwrap_err(),
            "Error: No public port '81/tcp' published for c"
        );
        assert_eq!(
            mappings(&ports(), "web", Some("9000")).unwrap_err(),
            "Error: No public port '9000' published for web"
        );
        assert_eq!(
            mappings(&ports(), "web", Some("abc")).unwrap_err(),
            "Error: invalid port (abc): strconv.ParseUint: parsing \"abc\": invalid syntax"
        );
        assert_eq!(
            mappings(&ports(), "web", Some("70000")).unwrap_err(),
            "Error: invalid port (70000): strconv.ParseUint: parsing \"70000\": value out of range"
        );
    }
}
