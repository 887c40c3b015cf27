//! `docker inspect`, plus the output logic every `inspect` shares: the daemon's
//! JSON indented as a list (key order kept), or a Go template per object.

use anyhow::Result;

use crate::cli::Ctx;
use crate::commands::seg;
use crate::errors::{api_error_text, StatusError};
use crate::formatter::GoTemplate;

/// Return low-level information on Docker objects
#[derive(Debug, clap::Args)]
#[command(override_usage = "[OPTIONS] NAME|ID [NAME|ID...]")]
pub struct Args {
    /// Format output using a custom template
    #[arg(short = 'f', long = "format", value_name = "string")]
    pub format: Option<String>,
    /// Display total file sizes if the type is container
    #[arg(short = 's', long = "size")]
    pub size: bool,
    /// Only inspect objects of the given type
    #[arg(long = "type", value_name = "string")]
    pub kind: Option<String>,
    #[arg(value_name = "NAME|ID", required = true)]
    pub objects: Vec<String>,
}

/// Result of looking up one object.
pub enum InspectOutcome {
    Found(Vec<u8>),
    /// Not found; the text after `Error: `.
    Missing(String),
    Failed(berth_api::Error),
    /// Any other failure, its text printed as is.
    Other(String),
}

pub async fn run(ctx: &mut Ctx, args: Args) -> Result<()> {
    let kinds: Vec<&str> = match args.kind.as_deref() {
        None | Some("") => vec!["container", "image", "volume", "network"],
        Some(k @ ("container" | "image" | "volume" | "network")) => vec![k],
        Some(other) => {
            return Err(
                StatusError::new(1, format!("\"{other}\" is not a valid value for --type")).into(),
            )
        }
    };
    let size = if args.size { "?size=1" } else { "" };
    let mut outcomes = Vec::new();
    for name in &args.objects {
        let mut outcome = InspectOutcome::Missing(format!("No such object: {name}"));
        for kind in &kinds {
            let path = match *kind {
                "container" => format!("/containers/{}/json{size}", seg(name)),
                "image" => format!("/images/{}/json", seg(name)),
                "volume" => format!("/volumes/{}", seg(name)),
                _ => format!("/networks/{}", seg(name)),
            };
            match ctx.client.get_bytes(&path).await {
                Ok(raw) => {
                    outcome = InspectOutcome::Found(raw.to_vec());
                    break;
                }
                // Not this kind (a daemon without a route answers 404 too): try the next.
                Err(e) if e.is_not_found() => continue,
                Err(e) => {
                    outcome = InspectOutcome::Failed(e);
                    break;
                }
            }
        }
        outcomes.push(outcome);
    }
    print_inspect(outcomes, args.format.as_deref())
}

/// Prints found objects (JSON list or template) and then the errors, docker style.
pub fn print_inspect(outcomes: Vec<InspectOutcome>, format: Option<&str>) -> Result<()> {
    let mut found = Vec::new();
    let mut errors = Vec::new();
    for o in outcomes {
        match o {
            InspectOutcome::Found(raw) => found.push(raw),
            InspectOutcome::Missing(msg) => errors.push(format!("Error: {msg}")),
            InspectOutcome::Failed(e) => errors.push(api_error_text(&e)),
            InspectOutcome::Other(msg) => errors.push(msg),
        }
    }
    match format.filter(|f| !f.is_empty() && *f != "json") {
        None => {
            let mut joined = Vec::from(&b"["[..]);
            for (i, raw) in found.iter().enumerate() {
                if i > 0 {
                    joined.push(b',');
                }
                joined.extend_from_slice(raw.trim_ascii());
            }
            joined.push(b']');
            println!("{}", indent_json(&joined, "    "));
        }
        Some(f) => {
            let tmpl = GoTemplate::parse(f).map_err(|e| StatusError::new(1, e.to_string()))?;
            for raw in &found {
                let v: serde_json::Value = serde_json::from_slice(raw)?;
                println!("{}", tmpl.render(&v)?);
            }
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(StatusError::new(1, errors.join("\n")).into())
    }
}

/// Go's json.Indent: re-indents JSON text without reordering keys.
pub fn indent_json(src: &[u8], indent: &str) -> String {
    let text = String::from_utf8_lossy(src);
    let mut out = String::with_capacity(text.len() * 2);
    let mut depth = 0usize;
    let mut in_str = false;
    let mut escaped = false;
    // After an opening bracket we delay the newline to keep `[]`/`{}` compact.
    let mut pending_open = false;
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        for _ in 0..depth {
            out.push_str(indent);
        }
    };
    for c in text.chars() {
        if in_str {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_str = false;
            }
            continue;
        }
        if c.is_whitespace() {
            continue;
        }
        if pending_open {
            pending_open = false;
            if c == ']' || c == '}' {
                depth -= 1;
                out.push(c);
                continue;
            }
            newline(&mut out, depth);
        }
        match c {
            '"' => {
                in_str = true;
                out.push(c);
            }
            '[' | '{' => {
                out.push(c);
                depth += 1;
                pending_open = true;
            }
            ']' | '}' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(c);
            }
            ',' => {
                out.push(c);
                newline(&mut out, depth);
            }
            ':' => out.push_str(": "),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indents_like_go() {
        let src = br#"[{"Id":"x","Args":[],"Config":{"Env":["A=1","B=2"],"Labels":{}},"N":1}]"#;
        let expected = "[\n    {\n        \"Id\": \"x\",\n        \"Args\": [],\n        \"Config\": {\n            \"Env\": [\n                \"A=1\",\n                \"B=2\"\n            ],\n            \"Labels\": {}\n        },\n        \"N\": 1\n    }\n]";
        assert_eq!(indent_json(src, "    "), expected);
        assert_eq!(indent_json(b"[]", "    "), "[]");
        assert_eq!(indent_json(br#"["a,b:{"]"#, "  "), "[\n  \"a,b:{\"\n]");
    }
}
