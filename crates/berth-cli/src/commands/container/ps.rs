//! `docker ps` / `docker container ls`

use anyhow::Result;
use berth_api::types::{ContainerSummary, Port};
use berth_api::Query;
use serde_json::{json, Value};

use crate::cli::Ctx;
use crate::commands::filters_json;
use crate::errors::go_strconv::go_quote;
use crate::formatter::{write_list, Format};
use crate::humanize::{human_duration, human_size};

/// List containers
#[derive(Debug, clap::Args)]
#[command(override_usage = "[OPTIONS]")]
pub struct Args {
    /// Show all containers (default shows just running)
    #[arg(short = 'a', long = "all")]
    pub all: bool,
    /// Filter output based on conditions provided
    #[arg(short = 'f', long = "filter", value_name = "filter")]
    pub filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long = "format", value_name = "string")]
    pub format: Option<String>,
    /// Show n last created containers (includes all states)
    #[arg(short = 'n', long = "last", value_name = "int", default_value_t = -1, allow_hyphen_values = true)]
    pub last: i64,
    /// Show the latest created container (includes all states)
    #[arg(short = 'l', long = "latest")]
    pub latest: bool,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Only display container IDs
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    /// Display total file sizes
    #[arg(short = 's', long = "size")]
    pub size: bool,
}

const DEFAULT_TABLE: &str =
    "{{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}";

pub async fn run(ctx: &mut Ctx, args: Args) -> Result<()> {
    let limit = if args.latest { 1 } else { args.last };
    let format = match (&args.format, args.quiet) {
        (_, true) => Format::Raw("{{.ID}}".into()),
        (Some(f), false) => Format::parse(f, DEFAULT_TABLE),
        (None, false) if args.size => Format::Table(format!("{DEFAULT_TABLE}\t{{{{.Size}}}}")),
        (None, false) => Format::Table(DEFAULT_TABLE.into()),
    };
    // Sizes are costly; ask only when shown.
    let want_size =
        args.size || matches!(&format, Format::Table(t) | Format::Raw(t) if t.contains(".Size"));
    let q = Query::new()
        .flag("all", args.all)
        .opt("limit", (limit > 0).then(|| limit.to_string()))
        .flag("size", want_size)
        .opt("filters", filters_json(&args.filter)?)
        .build();
    let list: Vec<ContainerSummary> = ctx.client.get_json(&format!("/containers/json{q}")).await?;
    let now = chrono::Utc::now().timestamp();
    let rows: Vec<Value> = list.iter().map(|c| row(c, !args.no_trunc, now)).collect();
    write_list(&mut std::io::stdout(), &format, &headers(), &rows)
}

fn headers() -> Value {
    json!({
        "ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND", "CreatedAt": "CREATED AT",
        "RunningFor": "CREATED", "Ports": "PORTS", "State": "STATE", "Status": "STATUS",
        "Size": "SIZE", "Names": "NAMES", "Labels": "LABELS", "Mounts": "MOUNTS",
        "Networks": "NETWORKS", "LocalVolumes": "LOCAL VOLUMES", "Platform": "PLATFORM",
    })
}

/// The template context of one container, with docker's field names and rendering.
pub fn row(c: &ContainerSummary, trunc: bool, now: i64) -> Value {
    let id = if trunc { short_id(&c.id) } else { c.id.clone() };
    let mut image = c.image.clone();
    if trunc && image.starts_with("sha256:") {
        image = short_id(&image);
    }
    let command = if trunc {
        ellipsis(&c.command, 20)
    } else {
        c.command.clone()
    };
    let mut names: Vec<String> = c
        .names
        .iter()
        .map(|n| n.trim_start_matches('/').to_string())
        .collect();
    if trunc {
        // Only the container's own name, not the names it has through links.
        if let Some(own) = names.iter().find(|n| !n.contains('/')).cloned() {
            names = vec![own];
        }
    }
    let labels: Vec<String> = c.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let size = match (c.size_rw, c.size_root_fs) {
        (None, None) => "0B".to_string(),
        (rw, root) => {
            let rw = rw.unwrap_or(0);
            match root {
                Some(root) if root > 0 => {
                    format!("{} (virtual {})", human_size(rw), human_size(root))
                }
                _ => human_size(rw),
            }
        }
    };
    let networks: Vec<String> = c
        .network_settings
        .as_ref()
        .and_then(|n| n.get("Networks"))
        .and_then(Value::as_object)
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    let mounts: Vec<String> = c
        .mounts
        .iter()
        .map(|m| {
            let name = if m.name.is_empty() {
                &m.source
            } else {
                &m.name
            };
            if trunc {
                ellipsis(name, 15)
            } else {
                name.clone()
            }
        })
        .collect();
    let local_volumes = c.mounts.iter().filter(|m| m.kind == "volume").count();
    let created = crate::humanize::go_local_time(c.created);
    let ago = (now - c.created).max(0) as u64;
    json!({
        "ID": id,
        "Image": image,
        "Command": go_quote(&command),
        "CreatedAt": created,
        "RunningFor": format!("{} ago", human_duration(std::time::Duration::from_secs(ago))),
        "Ports": display_ports(&c.ports),
        "State": c.state,
        "Status": c.status,
        "Size": size,
        "Names": names.join(","),
        "Labels": labels.join(","),
        "Mounts": mounts.join(","),
        "Networks": networks.join(","),
        "LocalVolumes": local_volumes.to_string(),
    })
}

/// The first 12 hex digits of an id (without `sha256:`).
pub fn short_id(id: &str) -> String {
    let id = id.strip_prefix("sha256:").unwrap_or(id);
    id.chars().take(12).collect()
}

/// Truncates to `max` characters, the last one being `…` (docker's formatter.Ellipsis).
pub fn ellipsis(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// docker's DisplayablePorts: "0.0.0.0:8080->80/tcp, 443/tcp", sorted.
pub fn display_ports(ports: &[Port]) -> String {
    let mut items: Vec<(u16, String)> = ports
        .iter()
        .map(|p| {
            let text = match p.public_port {
                Some(public) if !p.ip.is_empty() || public != 0 => {
                    let ip = if p.ip.contains(':') {
                        format!("[{}]", p.ip)
                    } else {
                        p.ip.clone()
                    };
                    format!("{ip}:{public}->{}/{}", p.private_port, p.kind)
                }
                _ => format!("{}/{}", p.private_port, p.kind),
            };
            (p.private_port, text)
        })
        .collect();
    items.sort();
    items.dedup_by(|a, b| a.1 == b.1);
    items
        .into_iter()
        .map(|(_, t)| t)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_is_truncated_then_quoted() {
        assert_eq!(go_quote("sleep 100"), "\"sleep 100\"");
        assert_eq!(
            go_quote(&ellipsis("sh -c 'echo hello world; sleep 1000'", 20)),
            "\"sh -c 'echo hello w…\""
        );
    }

    #[test]
    fn container_row() {
        let c = ContainerSummary {
            id: "0123456789abcdef0123".into(),
            names: vec!["/web".into(), "/other/alias".into()],
            image: "busybox".into(),
            command: "sleep 100".into(),
            created: 1000,
            state: "running".into(),
            status: "Up 3 seconds".into(),
            ports: vec![
                Port {
                    ip: "0.0.0.0".into(),
                    private_port: 80,
                    public_port: Some(8080),
                    kind: "tcp".into(),
                },
                Port {
                    ip: "".into(),
                    private_port: 443,
                    public_port: None,
                    kind: "tcp".into(),
                },
            ],
            ..Default::default()
        };
        let r = row(&c, true, 1005);
        assert_eq!(r["ID"], "0123456789ab");
        assert_eq!(r["Names"], "web");
        assert_eq!(r["Command"], "\"sleep 100\"");
        assert_eq!(r["RunningFor"], "5 seconds ago");
        assert_eq!(r["Ports"], "0.0.0.0:8080->80/tcp, 443/tcp");
        let r = row(&c, false, 1005);
        assert_eq!(r["Names"], "web,other/alias");
    }
}
