//! Dockerfile text -> steps: comments and blank lines dropped, `\` line
//! continuations joined, each logical line split into its keyword, its
//! `--flag=value` options and the rest. Instruction-specific parsing happens
//! later ([`crate::instruction`]), once the variables a step sees are known.

use crate::error::BuildError;

/// Instructions the classic builder knows.
const KNOWN: &[&str] = &[
    "FROM",
    "RUN",
    "CMD",
    "ENTRYPOINT",
    "COPY",
    "ADD",
    "ENV",
    "ARG",
    "WORKDIR",
    "USER",
    "EXPOSE",
    "LABEL",
    "VOLUME",
    "STOPSIGNAL",
    "HEALTHCHECK",
    "SHELL",
    "ONBUILD",
    "MAINTAINER",
];

/// Instructions whose leading `--name=value` words are options.
const WITH_FLAGS: &[&str] = &["FROM", "COPY", "ADD", "HEALTHCHECK", "RUN"];

#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    /// 1-based line of the instruction's first line.
    pub line: usize,
    /// Upper-case keyword.
    pub keyword: String,
    /// `--name=value` options in order.
    pub flags: Vec<(String, String)>,
    /// Everything after the keyword and options, untouched.
    pub rest: String,
    /// The logical line as written (continuations joined), for messages.
    pub original: String,
}

impl Step {
    pub fn flag(&self, name: &str) -> Option<&str> {
        self.flags
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Parses a whole Dockerfile.
pub fn parse(text: &str) -> Result<Vec<Step>, BuildError> {
    let mut steps = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim_end_matches('\r');
        let trimmed = line.trim_start();
        // Comments are dropped even in the middle of a continuation.
        if trimmed.starts_with('#') {
            continue;
        }
        if pending.is_none() && trimmed.is_empty() {
            continue;
        }
        let (start, mut acc) = pending.take().unwrap_or((i + 1, String::new()));
        let body = trimmed.trim_end();
        if let Some(cont) = body.strip_suffix('\\') {
            acc.push_str(cont);
            pending = Some((start, acc));
            continue;
        }
        acc.push_str(body);
        steps.push(parse_line(start, &acc)?);
    }
    if let Some((start, acc)) = pending {
        if !acc.trim().is_empty() {
            steps.push(parse_line(start, &acc)?);
        }
    }
    Ok(steps)
}

fn parse_line(line: usize, text: &str) -> Result<Step, BuildError> {
    let text = text.trim();
    let (word, rest) = match text.find(char::is_whitespace) {
        Some(p) => (&text[..p], text[p..].trim_start()),
        None => (text, ""),
    };
    let keyword = word.to_ascii_uppercase();
    if !KNOWN.contains(&keyword.as_str()) {
        return Err(BuildError::Parse {
            line,
            msg: format!("unknown instruction: {keyword}"),
        });
    }
    let mut rest = rest.to_string();
    let mut flags = Vec::new();
    if WITH_FLAGS.contains(&keyword.as_str()) {
        while let Some(after) = rest.strip_prefix("--") {
            let end = after.find(char::is_whitespace).unwrap_or(after.len());
            let (name, value) = match after[..end].split_once('=') {
                Some((n, v)) => (n.to_string(), v.to_string()),
                None => (after[..end].to_string(), "true".to_string()),
            };
            flags.push((name, value));
            rest = after[end..].trim_start().to_string();
        }
    }
    if rest.is_empty() && !matches!(keyword.as_str(), "RUN" | "CMD" | "ENTRYPOINT" | "SHELL") {
        return Err(BuildError::Parse {
            line,
            msg: format!("{keyword} requires at least one argument"),
        });
    }
    Ok(Step {
        line,
        keyword,
        flags,
        rest,
        original: format!("{word} {}", text[word.len()..].trim_start())
            .trim_end()
            .to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_continuations_and_skips_comments() {
        let s = parse("# c\nFROM busybox AS b\n\nRUN echo a \\\n# inner\n  && echo b\n").unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].keyword, "FROM");
        assert_eq!(s[0].rest, "busybox AS b");
        assert_eq!(s[1].rest, "echo a && echo b");
        assert_eq!(s[1].line, 4);
    }

    #[test]
    fn flags_are_split_off() {
        let s = parse("copy --from=builder --chown=1:2 /a /b/").unwrap();
        assert_eq!(s[0].keyword, "COPY");
        assert_eq!(s[0].flag("from"), Some("builder"));
        assert_eq!(s[0].flag("chown"), Some("1:2"));
        assert_eq!(s[0].rest, "/a /b/");
        assert_eq!(s[0].original, "copy --from=builder --chown=1:2 /a /b/");
    }

    #[test]
    fn unknown_instruction_is_a_parse_error() {
        let e = parse("FROM busybox\nBOGUS instruction\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "dockerfile parse error line 2: unknown instruction: BOGUS"
        );
    }
}
