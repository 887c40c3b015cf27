//! `docker events`: the daemon's event stream, printed as Docker prints it.

use anyhow::Result;
use berth_api::Query;
use serde_json::{json, Value};
use std::io::Write;
use tokio::io::AsyncBufReadExt;

use crate::cli::Ctx;
use crate::commands::filters_json;
use crate::formatter::GoTemplate;

/// Get real time events from the server
#[derive(Debug, clap::Args)]
#[command(override_usage = "[OPTIONS]")]
pub struct Args {
    /// Filter output based on conditions provided
    #[arg(short = 'f', long = "filter", value_name = "filter")]
    pub filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long = "format", value_name = "string")]
    pub format: Option<String>,
    /// Show all events created since timestamp
    #[arg(long = "since", value_name = "string")]
    pub since: Option<String>,
    /// Stream events until this timestamp
    #[arg(long = "until", value_name = "string")]
    pub until: Option<String>,
}

/// The docker CLI's GetTimestamp: a Go duration ("10m") is relative to now
/// (whole seconds, as Docker sends it); a date is converted; anything else
/// (unix seconds) is passed through.
pub fn timestamp(value: &str, now: chrono::DateTime<chrono::Utc>) -> Result<String> {
    if value != "0" {
        if let Some(ns) = go_duration_nanos(value) {
            let t = now - chrono::Duration::nanoseconds(ns);
            return Ok(t.timestamp().to_string());
        }
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(value) {
        return Ok(format!(
            "{}.{:09}",
            t.timestamp(),
            t.timestamp_subsec_nanos()
        ));
    }
    for f in ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d"] {
        let parsed = chrono::NaiveDateTime::parse_from_str(value, f).or_else(|_| {
            chrono::NaiveDate::parse_from_str(value, f)
                .map(|d| d.and_hms_opt(0, 0, 0).unwrap_or_default())
        });
        if let Ok(t) = parsed {
            let t = t
                .and_local_timezone(chrono::Local)
                .single()
                .map(|t| t.timestamp())
                .unwrap_or(0);
            return Ok(format!("{t}.000000000"));
        }
    }
    let (secs, frac) = value.split_once('.').unwrap_or((value, ""));
    if secs.parse::<i64>().is_ok() && (frac.is_empty() || frac.parse::<u64>().is_ok()) {
        return Ok(value.to_string());
    }
    anyhow::bail!("failed to parse value {value} as a timestamp")
}

fn go_duration_nanos(s: &str) -> Option<i64> {
    let mut total = 0f64;
    let mut num = String::new();
    let mut chars = s.chars().peekable();
    let mut any = false;
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            num.push(c);
            continue;
        }
        let mut unit = c.to_string();
        if (c == 'm' || c == 'u' || c == 'n') && chars.peek() == Some(&'s') {
            unit.push(chars.next()?);
        }
        let mult = match unit.as_str() {
            "h" => 3.6e12,
            "m" => 6e10,
            "s" => 1e9,
            "ms" => 1e6,
            "us" => 1e3,
            "ns" => 1.0,
            _ => return None,
        };
        total += num.parse::<f64>().ok()? * mult;
        num.clear();
        any = true;
    }
    (any && num.is_empty()).then_some(total as i64)
}

/// Docker's default line: local time with fixed nanoseconds, type, action,
/// actor id and the sorted attributes.
pub fn default_line(ev: &Value) -> String {
    let nanos = ev["timeNano"].as_i64().unwrap_or(0);
    let t = chrono::DateTime::from_timestamp(nanos / 1_000_000_000, (nanos % 1_000_000_000) as u32)
        .unwrap_or_default()
        .with_timezone(&chrono::Local);
    let mut line = format!(
        "{} {} {} {}",
        t.format("%Y-%m-%dT%H:%M:%S%.9f%:z")
            .to_string()
            .replace("+00:00", "Z"),
        ev["Type"].as_str().unwrap_or(""),
        ev["Action"].as_str().unwrap_or(""),
        ev["Actor"]["ID"].as_str().unwrap_or(""),
    );
    if let Some(attrs) = ev["Actor"]["Attributes"].as_object() {
        if !attrs.is_empty() {
            let mut kv: Vec<String> = attrs
                .iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect();
            kv.sort();
            line.push_str(&format!(" ({})", kv.join(", ")));
        }
    }
    line
}

/// The Go struct fields templates see (events.Message).
fn template_data(ev: &Value) -> Value {
    json!({
        "Status": ev["status"], "ID": ev["id"], "From": ev["from"], "Type": ev["Type"],
        "Action": ev["Action"], "Actor": ev["Actor"], "Scope": ev["scope"],
        "Time": ev["time"], "TimeNano": ev["timeNano"],
    })
}

pub async fn run(ctx: &mut Ctx, args: Args) -> Result<()> {
    let now = chrono::Utc::now();
    let since = args
        .since
        .as_deref()
        .map(|s| timestamp(s, now))
        .transpose()?;
    let until = args
        .until
        .as_deref()
        .map(|s| timestamp(s, now))
        .transpose()?;
    let q = Query::new()
        .opt("since", since)
        .opt("until", until)
        .opt("filters", filters_json(&args.filter)?)
        .build();
    let raw_json = matches!(
        args.format.as_deref().map(str::trim),
        Some("json") | Some("{{json .}}")
    );
    let tmpl = match args
        .format
        .as_deref()
        .filter(|f| !f.trim().is_empty() && !raw_json)
    {
        Some(f) => Some(GoTemplate::parse(f)?),
        None => None,
    };
    let body = ctx
        .client
        .stream(hyper::Method::GET, &format!("/events{q}"), None, None)
        .await?;
    let mut lines = tokio::io::BufReader::new(body).lines();
    let mut out = std::io::stdout();
    while let Some(l) = lines.next_line().await? {
        let Ok(ev) = serde_json::from_str::<Value>(&l) else {
            continue;
        };
        let text = match &tmpl {
            _ if raw_json => l.clone(),
            Some(t) => t.render(&template_data(&ev))?,
            None => default_line(&ev),
        };
        writeln!(out, "{text}")?;
        out.flush()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_like_the_docker_cli() {
        let now = chrono::DateTime::from_timestamp(1000, 500).unwrap();
        assert_eq!(timestamp("10s", now).unwrap(), "990");
        assert_eq!(timestamp("0", now).unwrap(), "0");
        assert_eq!(timestamp("1234.5", now).unwrap(), "1234.5");
        assert_eq!(
            timestamp("1970-01-01T00:00:05Z", now).unwrap(),
            "5.000000000"
        );
        assert!(timestamp("yesterday", now).is_err());
    }

    #[test]
    fn default_line_lists_attributes() {
        let ev = json!({"Type": "container", "Action": "die", "Actor": {"ID": "abc", "Attributes": {"name": "x", "exitCode": "0"}}, "timeNano": 0});
        let l = default_line(&ev);
        assert!(
            l.ends_with(" container die abc (exitCode=0, name=x)"),
            "{l}"
        );
    }
}
