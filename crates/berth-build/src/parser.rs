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

/// The options each instruction takes (Docker rejects any other with
/// `Unknown flag: x`).
fn allowed_flags(keyword: &str) -> &'static [&'static str] {
    match keyword {
        "FROM" => &["platform"],
        "COPY" => &["from", "chown", "chmod", "link", "parents", "exclude"],
        "ADD" => &[
            "chown",
            "chmod",
            "link",
            "checksum",
            "keep-git-dir",
            "exclude",
        ],
        "HEALTHCHECK" => &[
            "interval",
            "timeout",
            "start-period",
            "start-interval",
            "retries",
        ],
        "RUN" => &["network", "mount", "security"],
        _ => &[],
    }
}

/// A here-document attached to a RUN, COPY or ADD (`<<EOF` ... `EOF`).
#[derive(Clone, Debug, PartialEq)]
pub struct Heredoc {
    /// The delimiter word, without quotes or `-`.
    pub name: String,
    /// The lines between the marker and the delimiter, each ending in `\n`,
    /// as written (tabs kept even for `<<-`).
    pub body: String,
    /// `<<-`: leading tabs are stripped from the lines.
    pub strip_tabs: bool,
    /// An unquoted delimiter: variables in the body are expanded.
    pub expand: bool,
}

impl Heredoc {
    /// The content a COPY writes: tabs stripped for `<<-`.
    pub fn content(&self) -> String {
        if !self.strip_tabs {
            return self.body.clone();
        }
        self.body
            .split_inclusive('\n')
            .map(|l| l.trim_start_matches('\t'))
            .collect()
    }

    /// The marker as written in the instruction (`<<-"EOF"`).
    pub fn marker(&self) -> String {
        let dash = if self.strip_tabs { "-" } else { "" };
        if self.expand {
            format!("<<{dash}{}", self.name)
        } else {
            format!("<<{dash}'{}'", self.name)
        }
    }
}

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
    /// Here-documents named in `rest`, in order.
    pub heredocs: Vec<Heredoc>,
    /// The escape character (`# escape=` directive): `\\` or `` ` ``.
    pub escape: char,
}

impl Step {
    pub fn flag(&self, name: &str) -> Option<&str> {
        self.flags
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// `rest` rewritten for Docker's word processing, which treats `\\` as
    /// the escape: with `# escape=``, backslashes become literal and
    /// backticks escape.
    pub fn rest_for_words(&self) -> String {
        if self.escape == '\\' {
            return self.rest.clone();
        }
        let mut out = String::with_capacity(self.rest.len());
        let mut chars = self.rest.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => out.push_str("\\\\"),
                c if c == self.escape => {
                    out.push('\\');
                    if let Some(n) = chars.next() {
                        out.push(n);
                    }
                }
                c => out.push(c),
            }
        }
        out
    }
}

/// Parser directives at the top of the file (`# escape=`, `# syntax=`):
/// the escape character, and how many lines they take.
fn directives(lines: &[&str]) -> Result<(char, usize), BuildError> {
    let mut escape = '\\';
    let mut n = 0;
    for (i, raw) in lines.iter().enumerate() {
        let Some(body) = raw.trim().strip_prefix('#') else {
            break;
        };
        let Some((key, value)) = body.split_once('=') else {
            break;
        };
        let key = key.trim().to_ascii_lowercase();
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric()) {
            break;
        }
        if key == "escape" {
            escape = match value.trim() {
                "\\" => '\\',
                "`" => '`',
                _ => {
                    return Err(BuildError::Parse {
                        line: i + 1,
                        msg: format!("invalid ESCAPE '{}'. Must be ` or \\", value.trim()),
                    })
                }
            };
        }
        n = i + 1;
    }
    Ok((escape, n))
}

/// Parses a whole Dockerfile.
pub fn parse(text: &str) -> Result<Vec<Step>, BuildError> {
    let lines: Vec<&str> = text.lines().map(|l| l.trim_end_matches('\r')).collect();
    let (escape, mut i) = directives(&lines)?;
    let mut steps = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    while i < lines.len() {
        let line = lines[i];
        i += 1;
        let trimmed = line.trim_start();
        // Comments are dropped even in the middle of a continuation.
        if trimmed.starts_with('#') {
            continue;
        }
        if trimmed.is_empty() {
            continue;
        }
        let (start, mut acc) = pending.take().unwrap_or((i, String::new()));
        let body = trimmed.trim_end();
        if let Some(cont) = body.strip_suffix(escape) {
            acc.push_str(cont);
            pending = Some((start, acc));
            continue;
        }
        acc.push_str(body);
        let mut step = parse_line(start, &acc, escape)?;
        step.heredocs = read_heredocs(&step, &lines, &mut i)?;
        steps.push(step);
    }
    if let Some((start, acc)) = pending {
        if !acc.trim().is_empty() {
            steps.push(parse_line(start, &acc, escape)?);
        }
    }
    Ok(steps)
}

/// The `<<[-]["']NAME["']` markers in a RUN/COPY/ADD line, in order.
fn heredoc_markers(rest: &str) -> Vec<(String, bool, bool)> {
    let mut out = Vec::new();
    let mut s = rest;
    while let Some(p) = s.find("<<") {
        let mut t = &s[p + 2..];
        let strip_tabs = t.starts_with('-');
        if strip_tabs {
            t = &t[1..];
        }
        let quote = t.chars().next().filter(|c| *c == '"' || *c == '\'');
        if let Some(q) = quote {
            t = &t[1..];
            let Some(end) = t.find(q) else { break };
            let name = &t[..end];
            if !name.is_empty() {
                out.push((name.to_string(), strip_tabs, false));
            }
            s = &t[end + 1..];
            continue;
        }
        let end = t
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-'))
            .unwrap_or(t.len());
        // A name starts with a letter or `_`, so `$((1<<2))` is no heredoc.
        if t.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
            out.push((t[..end].to_string(), strip_tabs, true));
        }
        s = &t[end..];
    }
    out
}

/// Consumes the bodies of the step's here-documents from `lines[*i..]`.
fn read_heredocs(step: &Step, lines: &[&str], i: &mut usize) -> Result<Vec<Heredoc>, BuildError> {
    if !matches!(step.keyword.as_str(), "RUN" | "COPY" | "ADD") {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for (name, strip_tabs, expand) in heredoc_markers(&step.rest) {
        let mut body = String::new();
        loop {
            let Some(line) = lines.get(*i) else {
                return Err(BuildError::Parse {
                    line: step.line,
                    msg: format!("unterminated heredoc {name}"),
                });
            };
            *i += 1;
            let cmp = if strip_tabs {
                line.trim_start_matches('\t')
            } else {
                line
            };
            if cmp == name {
                break;
            }
            body.push_str(line);
            body.push('\n');
        }
        out.push(Heredoc {
            name,
            body,
            strip_tabs,
            expand,
        });
    }
    Ok(out)
}

fn parse_line(line: usize, text: &str, escape: char) -> Result<Step, BuildError> {
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
    let allowed = allowed_flags(&keyword);
    while let Some(after) = rest.strip_prefix("--").filter(|_| !allowed.is_empty()) {
        let end = after.find(char::is_whitespace).unwrap_or(after.len());
        let (name, value) = match after[..end].split_once('=') {
            Some((n, v)) => (n.to_string(), v.to_string()),
            None => (after[..end].to_string(), "true".to_string()),
        };
        if !allowed.contains(&name.as_str()) {
            return Err(BuildError::Parse {
                line,
                msg: format!("Unknown flag: {name}"),
            });
        }
        flags.push((name, value));
        rest = after[end..].trim_start().to_string();
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
        heredocs: Vec::new(),
        escape,
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
    fn heredocs_are_read_and_consumed() {
        let s = parse(
            "FROM busybox\nRUN <<EOF\necho a\necho b\nEOF\nCOPY <<-'one' <<two /dir/\n\t$X\none\n$Y\ntwo\nCMD x\n",
        )
        .unwrap();
        assert_eq!(s.len(), 4);
        assert_eq!(s[1].heredocs[0].name, "EOF");
        assert_eq!(s[1].heredocs[0].body, "echo a\necho b\n");
        let c = &s[2].heredocs;
        assert_eq!(c.len(), 2);
        assert!(c[0].strip_tabs && !c[0].expand);
        assert_eq!(c[0].content(), "$X\n");
        assert_eq!(c[1].name, "two");
        assert!(c[1].expand);
        assert_eq!(s[3].keyword, "CMD");
        let arith = parse("RUN echo $((1<<2))\nCMD x\n").unwrap();
        assert_eq!(arith.len(), 2);
        let e = parse("FROM b\nRUN <<EOF\necho\n").unwrap_err();
        assert!(e.to_string().contains("unterminated heredoc EOF"), "{e}");
    }

    #[test]
    fn escape_directive_changes_continuation_and_words() {
        let s = parse("# escape=`\nFROM busybox\nCOPY a\\b `\n  c:\\d\n").unwrap();
        assert_eq!(s[0].escape, '`');
        assert_eq!(s[1].rest, "a\\b c:\\d");
        assert_eq!(s[1].rest_for_words(), "a\\\\b c:\\\\d");
        let e = parse("# escape=x\nFROM b\n").unwrap_err();
        assert!(e.to_string().contains("invalid ESCAPE"), "{e}");
    }

    #[test]
    fn unknown_flags_are_rejected() {
        let e = parse("FROM b\nCOPY --bogus=1 a b\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "dockerfile parse error line 2: Unknown flag: bogus"
        );
        assert_eq!(
            parse("COPY --chmod=755 --link a b").unwrap()[0].flag("chmod"),
            Some("755")
        );
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
