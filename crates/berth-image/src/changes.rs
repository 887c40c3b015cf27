//! Dockerfile-style `--change` instructions (`docker import -c`, `docker commit -c`)
//! applied to an [`ImageConfig`]. Only the instructions Docker accepts there.

use std::collections::BTreeMap;

use crate::config::{HealthConfig, ImageConfig};
use crate::error::ImageError;

/// Applies each change in order; the first invalid one aborts with Docker's message.
pub fn apply_changes(config: &mut ImageConfig, changes: &[String]) -> Result<(), ImageError> {
    for change in changes {
        apply_change(config, change)?;
    }
    Ok(())
}

fn apply_change(config: &mut ImageConfig, change: &str) -> Result<(), ImageError> {
    let line = change.trim();
    if line.is_empty() {
        return Ok(());
    }
    let (instr, rest) = match line.split_once(char::is_whitespace) {
        Some((i, r)) => (i, r.trim()),
        None => (line, ""),
    };
    let upper = instr.to_uppercase();
    let need_args = |rest: &str| {
        if rest.is_empty() {
            Err(ImageError::invalid(format!(
                "{upper} requires at least one argument"
            )))
        } else {
            Ok(())
        }
    };
    match upper.as_str() {
        "CMD" => {
            need_args(rest)?;
            config.cmd = Some(command_form(rest));
        }
        "ENTRYPOINT" => {
            need_args(rest)?;
            config.entrypoint = Some(command_form(rest));
        }
        "ENV" => {
            need_args(rest)?;
            for (k, v) in key_values(rest, "ENV")? {
                set_env(config, &k, &v);
            }
        }
        "LABEL" => {
            need_args(rest)?;
            let labels = config.labels.get_or_insert_with(BTreeMap::new);
            for (k, v) in key_values(rest, "LABEL")? {
                labels.insert(k, v);
            }
        }
        "WORKDIR" => {
            need_args(rest)?;
            let base = config.working_dir.clone().unwrap_or_else(|| "/".into());
            config.working_dir = Some(join_workdir(&base, &unquote(rest)));
        }
        "USER" => {
            need_args(rest)?;
            config.user = Some(unquote(rest));
        }
        "EXPOSE" => {
            need_args(rest)?;
            let ports = config.exposed_ports.get_or_insert_with(BTreeMap::new);
            for p in rest.split_whitespace() {
                for port in expand_port(p)? {
                    ports.insert(port, serde_json::json!({}));
                }
            }
        }
        "VOLUME" => {
            need_args(rest)?;
            let vols = config.volumes.get_or_insert_with(BTreeMap::new);
            let list =
                json_array(rest).unwrap_or_else(|| rest.split_whitespace().map(unquote).collect());
            for v in list {
                if v.is_empty() {
                    return Err(ImageError::invalid(
                        "VOLUME specified can not be an empty string",
                    ));
                }
                vols.insert(v, serde_json::json!({}));
            }
        }
        "STOPSIGNAL" => {
            need_args(rest)?;
            config.stop_signal = Some(unquote(rest));
        }
        "ONBUILD" => {
            need_args(rest)?;
            let trigger = rest
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_uppercase();
            if matches!(trigger.as_str(), "ONBUILD" | "FROM" | "MAINTAINER") {
                return Err(ImageError::invalid(format!(
                    "{trigger} isn't allowed as an ONBUILD trigger"
                )));
            }
            config
                .on_build
                .get_or_insert_with(Vec::new)
                .push(rest.to_string());
        }
        "HEALTHCHECK" => {
            need_args(rest)?;
            config.healthcheck = Some(parse_healthcheck(rest)?);
        }
        "SHELL" => {
            let shell = json_array(rest).ok_or_else(|| {
                ImageError::invalid("SHELL requires the arguments to be in JSON form")
            })?;
            config.shell = Some(shell);
        }
        _ => {
            return Err(ImageError::invalid(format!(
                "{} is not a valid change command",
                instr.to_lowercase()
            )))
        }
    }
    Ok(())
}

/// JSON ("exec") form when the text is a JSON string array, else shell form.
fn command_form(rest: &str) -> Vec<String> {
    json_array(rest).unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into(), rest.to_string()])
}

fn json_array(rest: &str) -> Option<Vec<String>> {
    if !rest.starts_with('[') {
        return None;
    }
    serde_json::from_str::<Vec<String>>(rest).ok()
}

fn set_env(config: &mut ImageConfig, key: &str, value: &str) {
    let env = config.env.get_or_insert_with(Vec::new);
    let entry = format!("{key}={value}");
    match env.iter_mut().find(|e| e.split('=').next() == Some(key)) {
        Some(e) => *e = entry,
        None => env.push(entry),
    }
}

/// `k=v k2="v 2"` or the legacy single pair `k value with spaces`.
fn key_values(rest: &str, instr: &str) -> Result<Vec<(String, String)>, ImageError> {
    let words = split_words(rest);
    let first = words.first().map(String::as_str).unwrap_or_default();
    if !first.contains('=') {
        // Legacy form: the first word is the key, everything after it the value.
        let value = rest[rest.find(char::is_whitespace).unwrap_or(rest.len())..].trim();
        if value.is_empty() && instr == "ENV" {
            return Err(ImageError::invalid(format!(
                "{instr} must have two arguments"
            )));
        }
        return Ok(vec![(unquote(first), unquote(value))]);
    }
    words
        .iter()
        .map(|w| match w.split_once('=') {
            Some(("", _)) => Err(ImageError::invalid(format!(
                "{instr} names can not be blank"
            ))),
            Some((k, v)) => Ok((unquote(k), unquote(v))),
            None => Err(ImageError::invalid(format!(
                "Syntax error - can't find = in \"{w}\". Must be of the form: name=value"
            ))),
        })
        .collect()
}

/// Splits on whitespace outside quotes, keeping the quotes (removed later).
fn split_words(s: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for c in s.chars() {
        if escaped {
            cur.push(c);
            escaped = false;
            continue;
        }
        match (c, quote) {
            ('\\', _) => {
                cur.push(c);
                escaped = true;
            }
            ('"' | '\'', None) => {
                quote = Some(c);
                cur.push(c);
            }
            (c2, Some(q)) if c2 == q => {
                quote = None;
                cur.push(c);
            }
            (c2, None) if c2.is_whitespace() => {
                if !cur.is_empty() {
                    words.push(std::mem::take(&mut cur));
                }
            }
            _ => cur.push(c),
        }
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    words
}

/// Removes quotes and backslash escapes as the Dockerfile word parser does.
fn unquote(s: &str) -> String {
    let mut out = String::new();
    let mut quote: Option<char> = None;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match (c, quote) {
            ('\\', Some('\'')) => out.push(c),
            ('\\', _) => {
                if let Some(n) = chars.next() {
                    out.push(n);
                }
            }
            ('"' | '\'', None) => quote = Some(c),
            (c2, Some(q)) if c2 == q => quote = None,
            _ => out.push(c),
        }
    }
    out
}

fn join_workdir(base: &str, dir: &str) -> String {
    let joined = if dir.starts_with('/') {
        dir.to_string()
    } else {
        format!("{base}/{dir}")
    };
    let mut parts: Vec<&str> = Vec::new();
    for p in joined.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            _ => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

/// `80`, `80/udp`, `8000-8002/tcp` -> `["80/tcp"]`, ...
fn expand_port(spec: &str) -> Result<Vec<String>, ImageError> {
    let (range, proto) = spec.split_once('/').unwrap_or((spec, "tcp"));
    let proto = proto.to_lowercase();
    let bad = || ImageError::invalid(format!("invalid containerPort: {range}"));
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(ImageError::invalid(format!("invalid proto: {proto}")));
    }
    let (lo, hi) = match range.split_once('-') {
        Some((a, b)) => (
            a.parse::<u16>().map_err(|_| bad())?,
            b.parse::<u16>().map_err(|_| bad())?,
        ),
        None => {
            let p = range.parse::<u16>().map_err(|_| bad())?;
            (p, p)
        }
    };
    if hi < lo {
        return Err(bad());
    }
    Ok((lo..=hi).map(|p| format!("{p}/{proto}")).collect())
}

fn parse_healthcheck(rest: &str) -> Result<HealthConfig, ImageError> {
    let mut hc = HealthConfig::default();
    let mut rest = rest.trim();
    while let Some(opt) = rest.strip_prefix("--") {
        let (flag, tail) = opt.split_once(char::is_whitespace).unwrap_or((opt, ""));
        let (name, value) = flag
            .split_once('=')
            .ok_or_else(|| ImageError::invalid(format!("flag needs an argument: --{flag}")))?;
        match name {
            "interval" => hc.interval = Some(parse_duration(value)?),
            "timeout" => hc.timeout = Some(parse_duration(value)?),
            "start-period" => hc.start_period = Some(parse_duration(value)?),
            "start-interval" => hc.start_interval = Some(parse_duration(value)?),
            "retries" => {
                hc.retries = Some(value.parse().map_err(|_| {
                    ImageError::invalid(format!("invalid value for --retries: {value}"))
                })?)
            }
            _ => return Err(ImageError::invalid(format!("Unknown flag: {name}"))),
        }
        rest = tail.trim_start();
    }
    let (kind, cmd) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    match kind.to_uppercase().as_str() {
        "NONE" if cmd.trim().is_empty() => hc.test = Some(vec!["NONE".into()]),
        "NONE" => return Err(ImageError::invalid("HEALTHCHECK NONE takes no arguments")),
        "CMD" if !cmd.trim().is_empty() => {
            let cmd = cmd.trim();
            hc.test = Some(match json_array(cmd) {
                Some(args) => std::iter::once("CMD".to_string()).chain(args).collect(),
                None => vec!["CMD-SHELL".into(), cmd.to_string()],
            });
        }
        other => {
            return Err(ImageError::invalid(format!(
                "Unknown type \"{other}\" in HEALTHCHECK (try CMD)"
            )))
        }
    }
    Ok(hc)
}

/// Go `time.ParseDuration` subset (`1h2m3.5s`, `500ms`) -> nanoseconds.
fn parse_duration(s: &str) -> Result<i64, ImageError> {
    let bad = || ImageError::invalid(format!("time: invalid duration \"{s}\""));
    let mut total = 0f64;
    let mut rest = s;
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let n: f64 = rest[..num_end].parse().map_err(|_| bad())?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let mult = match &rest[..unit_end] {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(bad()),
        };
        total += n * mult;
        rest = &rest[unit_end..];
    }
    Ok(total as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(changes: &[&str]) -> Result<ImageConfig, ImageError> {
        let mut c = ImageConfig::default();
        let changes: Vec<String> = changes.iter().map(|s| s.to_string()).collect();
        apply_changes(&mut c, &changes).map(|_| c)
    }

    #[test]
    fn cmd_json_and_shell_forms() {
        let c = apply(&[r#"CMD ["echo","imported"]"#]).unwrap();
        assert_eq!(c.cmd, Some(vec!["echo".into(), "imported".into()]));
        let c = apply(&["ENTRYPOINT echo hi there"]).unwrap();
        assert_eq!(
            c.entrypoint,
            Some(vec!["/bin/sh".into(), "-c".into(), "echo hi there".into()])
        );
    }

    #[test]
    fn env_forms_and_override() {
        let c = apply(&[
            "ENV GREETING=hi",
            r#"env A="x y" B=z"#,
            "ENV GREETING hello world",
        ])
        .unwrap();
        assert_eq!(
            c.env,
            Some(vec![
                "GREETING=hello world".into(),
                "A=x y".into(),
                "B=z".into()
            ])
        );
    }

    #[test]
    fn other_instructions() {
        let c = apply(&[
            "WORKDIR /app",
            "WORKDIR sub/../x",
            "USER app",
            "EXPOSE 80 53/udp 8000-8001",
            r#"VOLUME ["/data"]"#,
            "VOLUME /a /b",
            "LABEL a=b \"c d\"=e",
            "STOPSIGNAL SIGTERM",
            "ONBUILD RUN echo hi",
            "HEALTHCHECK --interval=1m30s --retries=3 CMD curl -f http://x/",
        ])
        .unwrap();
        assert_eq!(c.working_dir.as_deref(), Some("/app/x"));
        assert_eq!(c.user.as_deref(), Some("app"));
        let ports: Vec<_> = c.exposed_ports.unwrap().into_keys().collect();
        assert_eq!(ports, ["53/udp", "80/tcp", "8000/tcp", "8001/tcp"]);
        let vols: Vec<_> = c.volumes.unwrap().into_keys().collect();
        assert_eq!(vols, ["/a", "/b", "/data"]);
        let labels = c.labels.unwrap();
        assert_eq!(labels["a"], "b");
        assert_eq!(labels["c d"], "e");
        assert_eq!(c.stop_signal.as_deref(), Some("SIGTERM"));
        assert_eq!(c.on_build, Some(vec!["RUN echo hi".into()]));
        let hc = c.healthcheck.unwrap();
        assert_eq!(hc.interval, Some(90_000_000_000));
        assert_eq!(hc.retries, Some(3));
        assert_eq!(
            hc.test,
            Some(vec!["CMD-SHELL".into(), "curl -f http://x/".into()])
        );
    }

    #[test]
    fn invalid_changes_use_docker_wording() {
        let e = apply(&["RUN echo hi"]).unwrap_err();
        assert_eq!(e.to_string(), "run is not a valid change command");
        assert_eq!(e.kind(), crate::ErrorKind::InvalidParameter);
        assert_eq!(
            apply(&["CMD"]).unwrap_err().to_string(),
            "CMD requires at least one argument"
        );
        assert!(apply(&["EXPOSE abc"]).is_err());
        assert!(apply(&["HEALTHCHECK --interval=x CMD true"]).is_err());
        assert!(apply(&["ONBUILD FROM x"]).is_err());
    }
}
