//! `docker logs`

use anyhow::{anyhow, Result};
use berth_api::Query;
use hyper::Method;

use crate::cli::Ctx;
use crate::commands::seg;
use crate::opts::units::parse_go_duration;

/// Fetch the logs of a container
#[derive(Debug, clap::Args)]
#[command(override_usage = "[OPTIONS] CONTAINER")]
pub struct Args {
    /// Show extra details provided to logs
    #[arg(long = "details")]
    pub details: bool,
    /// Follow log output
    #[arg(short = 'f', long = "follow")]
    pub follow: bool,
    /// Show logs since timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)
    #[arg(long = "since", value_name = "string")]
    pub since: Option<String>,
    /// Number of lines to show from the end of the logs
    #[arg(
        short = 'n',
        long = "tail",
        value_name = "string",
        default_value = "all"
    )]
    pub tail: String,
    /// Show timestamps
    #[arg(short = 't', long = "timestamps")]
    pub timestamps: bool,
    /// Show logs before a timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)
    #[arg(long = "until", value_name = "string")]
    pub until: Option<String>,
    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

pub async fn run(ctx: &mut Ctx, args: Args) -> Result<()> {
    let info: serde_json::Value = ctx
        .client
        .get_json(&format!("/containers/{}/json", seg(&args.container)))
        .await?;
    let tty = info["Config"]["Tty"].as_bool().unwrap_or(false);
    let now = chrono::Utc::now();
    let q = Query::new()
        .add("stdout", "1")
        .add("stderr", "1")
        .opt(
            "since",
            args.since
                .as_deref()
                .map(|s| timestamp(s, now))
                .transpose()?,
        )
        .opt(
            "until",
            args.until
                .as_deref()
                .map(|s| timestamp(s, now))
                .transpose()?,
        )
        .flag("timestamps", args.timestamps)
        .flag("follow", args.follow)
        .add("tail", &args.tail)
        .flag("details", args.details)
        .build();
    let body = ctx
        .client
        .stream(
            Method::GET,
            &format!("/containers/{}/logs{q}", seg(&args.container)),
            None,
            None,
        )
        .await?;
    let mut out = std::io::stdout();
    if tty {
        berth_api::stdcopy::raw_copy(body, &mut out).await?;
    } else {
        berth_api::stdcopy::demux(body, &mut out, &mut std::io::stderr()).await?;
    }
    Ok(())
}

/// docker's timetypes.GetTimestamp: a Go duration is relative to now, a number
/// is a unix timestamp, otherwise an RFC 3339 date (or date prefix).
pub fn timestamp(value: &str, now: chrono::DateTime<chrono::Utc>) -> Result<String> {
    if let Ok(ns) = parse_go_duration(value) {
        let t = now - chrono::Duration::nanoseconds(ns);
        return Ok(format!(
            "{}.{:09}",
            t.timestamp(),
            t.timestamp_subsec_nanos()
        ));
    }
    if !value.is_empty() && value.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return Ok(value.to_string());
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(value) {
        return Ok(format!(
            "{}.{:09}",
            t.timestamp(),
            t.timestamp_subsec_nanos()
        ));
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(value, fmt) {
            return Ok(t.and_utc().timestamp().to_string());
        }
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d") {
        if let Some(t) = d.and_hms_opt(0, 0, 0) {
            return Ok(t.and_utc().timestamp().to_string());
        }
    }
    Err(anyhow!(
        "invalid value for \"since\": failed to parse value as time or duration: \"{value}\""
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn timestamps() {
        let now = chrono::Utc.timestamp_opt(1_000_000, 0).unwrap();
        assert_eq!(timestamp("10s", now).unwrap(), "999990.000000000");
        assert_eq!(timestamp("1700000000", now).unwrap(), "1700000000");
        assert_eq!(
            timestamp("2013-01-02T13:23:37Z", now).unwrap(),
            "1357133017.000000000"
        );
        assert_eq!(timestamp("2013-01-02", now).unwrap(), "1357084800");
        assert!(timestamp("yesterday", now).is_err());
    }
}
