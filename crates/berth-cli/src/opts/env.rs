//! `-e` / `--env-file` / `-l` / `--label-file` handling as the docker CLI does it.

use anyhow::{anyhow, Context, Result};

/// `-e VAR=value` is kept; `-e VAR` takes the client's value, or is dropped if unset.
pub fn resolve_env(entry: &str, lookup: impl Fn(&str) -> Option<String>) -> Option<String> {
    if entry.contains('=') {
        return Some(entry.to_string());
    }
    lookup(entry).map(|v| format!("{entry}={v}"))
}

/// Parses an env file's content: comments and blank lines skipped, `VAR` without
/// `=` resolved from the client environment (dropped if unset).
pub fn parse_env_file_content(
    content: &str,
    path: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for (n, line) in content.lines().enumerate() {
        // Leading whitespace is not part of the variable name.
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let name = line.split('=').next().unwrap_or("");
        if name.is_empty() {
            return Err(anyhow!("no variable name on line '{line}'"));
        }
        if name.contains(char::is_whitespace) {
            return Err(anyhow!(
                "variable '{}' contains whitespaces (in {path} line {})",
                name.trim_end(),
                n + 1
            ));
        }
        if let Some(v) = resolve_env(line, &lookup) {
            out.push(v);
        }
    }
    Ok(out)
}

/// Reads and parses an env file.
pub fn read_env_file(path: &str) -> Result<Vec<String>> {
    let content = std::fs::read_to_string(path)
        .with_context(|| format!("open {path}: no such file or directory"))?;
    parse_env_file_content(&content, path, |k| std::env::var(k).ok())
}

/// Splits `key=value` labels (value optional).
pub fn parse_labels(entries: &[String]) -> std::collections::BTreeMap<String, String> {
    entries
        .iter()
        .map(|l| match l.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (l.to_string(), String::new()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(k: &str) -> Option<String> {
        (k == "HOME_X").then(|| "/root".to_string())
    }

    #[test]
    fn env_without_value_uses_client_env_or_drops() {
        assert_eq!(resolve_env("A=1", lookup).as_deref(), Some("A=1"));
        assert_eq!(resolve_env("A=", lookup).as_deref(), Some("A="));
        assert_eq!(
            resolve_env("HOME_X", lookup).as_deref(),
            Some("HOME_X=/root")
        );
        assert_eq!(resolve_env("UNSET_X", lookup), None);
    }

    #[test]
    fn env_file_skips_comments_and_blanks() {
        let content = "# comment\n\nA=1\n  B=two words\nHOME_X\nUNSET_X\nC=x=y\n";
        let env = parse_env_file_content(content, "f", lookup).unwrap();
        assert_eq!(env, vec!["A=1", "B=two words", "HOME_X=/root", "C=x=y"]);
    }

    #[test]
    fn env_file_rejects_bad_names() {
        assert!(parse_env_file_content("=x\n", "f", lookup).is_err());
        assert!(parse_env_file_content("A B=x\n", "f", lookup).is_err());
    }

    #[test]
    fn labels() {
        let l = parse_labels(&["a=b".into(), "c".into()]);
        assert_eq!(l["a"], "b");
        assert_eq!(l["c"], "");
    }
}
