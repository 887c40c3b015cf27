//! `docker context ls`

use std::cmp::Ordering;

use anyhow::Result;
use serde_json::{json, Value};

use super::{default_meta, docker_host_warning, DEFAULT_DESCRIPTION};
use crate::cli::ClientConfig;
use crate::context::store::Meta;
use crate::context::DEFAULT;
use crate::formatter::{write_list, Format};

/// List contexts
#[derive(Debug, clap::Args)]
#[command(override_usage = "[OPTIONS]")]
pub struct Args {
    /// Format output using a custom template
    #[arg(long = "format", value_name = "string")]
    pub format: Option<String>,
    /// Only show context names
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
}

const DEFAULT_TABLE: &str =
    "{{.Name}}{{if .Current}} *{{end}}\t{{.Description}}\t{{.DockerEndpoint}}\t{{.Error}}";

/// Docker cuts the ERROR column (in every format) to this many characters.
const MAX_ERROR_LEN: usize = 45;

pub fn run(config: &ClientConfig, args: Args) -> Result<()> {
    let store = config.store();
    let mut metas = store.list()?;
    metas.push(default_meta(config));
    let mut rows: Vec<Value> = metas.iter().map(|m| row(m, &config.context)).collect();
    // A current context that does not exist still gets its row, with the reason.
    if !metas.iter().any(|m| m.name == config.context) {
        let error = match store.get(&config.context) {
            Ok(_) => String::new(),
            Err(e) => format!("{e:#}"),
        };
        rows.push(json!({
            "Name": config.context, "Current": true, "Description": "",
            "DockerEndpoint": "", "Error": ellipsis(&error, MAX_ERROR_LEN),
        }));
    }
    rows.sort_by(|a, b| natural_cmp(a["Name"].as_str().unwrap(), b["Name"].as_str().unwrap()));
    let format = if args.quiet {
        Format::Raw("{{.Name}}".into())
    } else {
        Format::parse(args.format.as_deref().unwrap_or(""), DEFAULT_TABLE)
    };
    write_list(&mut std::io::stdout(), &format, &headers(), &rows)?;
    if config.docker_host_env {
        eprintln!("{}", docker_host_warning("a context"));
    }
    Ok(())
}

fn headers() -> Value {
    json!({
        "Name": "NAME", "Description": "DESCRIPTION", "DockerEndpoint": "DOCKER ENDPOINT",
        "Error": "ERROR",
    })
}

/// The fields docker's context formatter offers.
fn row(meta: &Meta, current: &str) -> Value {
    let (endpoint, error) = match &meta.endpoints.docker {
        Some(ep) => (ep.host.as_str(), ""),
        None => ("", "cannot find docker endpoint in context"),
    };
    let description = if meta.name == DEFAULT {
        DEFAULT_DESCRIPTION
    } else {
        &meta.metadata.description
    };
    json!({
        "Name": meta.name, "Current": meta.name == current, "Description": description,
        "DockerEndpoint": endpoint, "Error": error,
    })
}

/// `s` cut to `max` characters, the last one an ellipsis (docker's formatter.Ellipsis).
fn ellipsis(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max - 1).collect();
    out.push('…');
    out
}

/// Natural order, as docker sorts contexts: runs of digits compare by value,
/// so `ctx2` comes before `ctx10`.
fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    loop {
        match (a.first(), b.first()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) if x.is_ascii_digit() && y.is_ascii_digit() => {
                let digits = |s: &[u8]| s.iter().take_while(|c| c.is_ascii_digit()).count();
                let (na, nb) = (digits(a), digits(b));
                let (da, db) = (&a[..na], &b[..nb]);
                // Compare the values without leading zeros: longer is larger.
                let trim = |d: &[u8]| {
                    let z = d.iter().take_while(|c| **c == b'0').count();
                    d[z..].to_vec()
                };
                let (ta, tb) = (trim(da), trim(db));
                let ord = ta.len().cmp(&tb.len()).then_with(|| ta.cmp(&tb));
                if ord != Ordering::Equal {
                    return ord;
                }
                a = &a[na..];
                b = &b[nb..];
            }
            (Some(x), Some(y)) => {
                if x != y {
                    return x.cmp(y);
                }
                a = &a[1..];
                b = &b[1..];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formatter::write_list;

    #[test]
    fn natural_order() {
        let mut v = vec!["ctx10", "default", "ctx2", "b", "ctx1", "a1b"];
        v.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(v, ["a1b", "b", "ctx1", "ctx2", "ctx10", "default"]);
    }

    #[test]
    fn errors_are_cut() {
        assert_eq!(ellipsis("short", 45), "short");
        let long = "context \"nosuch\": context not found: open /tmp/dc1/contexts/meta";
        assert_eq!(
            ellipsis(long, 45),
            "context \"nosuch\": context not found: open /t…"
        );
    }

    #[test]
    fn table_marks_the_current_context() {
        let m: Meta = serde_json::from_str(
            r#"{"Name":"remote","Metadata":{"Description":"d"},"Endpoints":{"docker":{"Host":"tcp://h:1","SkipTLSVerify":false}}}"#,
        )
        .unwrap();
        let rows = vec![row(&m, "remote")];
        let mut out = Vec::new();
        write_list(
            &mut out,
            &Format::parse("", DEFAULT_TABLE),
            &headers(),
            &rows,
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "NAME       DESCRIPTION   DOCKER ENDPOINT   ERROR\nremote *   d             tcp://h:1         \n"
        );
        let mut out = Vec::new();
        write_list(
            &mut out,
            &Format::parse("json", DEFAULT_TABLE),
            &headers(),
            &rows,
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"Current\":true,\"Description\":\"d\",\"DockerEndpoint\":\"tcp://h:1\",\"Error\":\"\",\"Name\":\"remote\"}\n"
        );
    }
}
