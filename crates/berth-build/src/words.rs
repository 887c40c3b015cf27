//! Docker's shell-word processing for Dockerfile arguments: quotes removed,
//! backslash escapes, and `$VAR`, `${VAR}`, `${VAR:-default}`,
//! `${VAR:+alt}` substituted from the variables a step sees. Used for the
//! instructions Docker substitutes in (FROM, COPY, ADD, ENV, ARG, LABEL,
//! WORKDIR, USER, EXPOSE, VOLUME, STOPSIGNAL), never for RUN/CMD/ENTRYPOINT.

use crate::error::BuildError;

/// Variable lookup: `None` when unset.
pub type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Splits `s` into words (whitespace-separated outside quotes), substituting.
pub fn words(s: &str, vars: Lookup<'_>) -> Result<Vec<String>, BuildError> {
    process(s, vars, true)
}

/// Processes `s` as one word: quotes removed, variables substituted,
/// whitespace kept.
pub fn word(s: &str, vars: Lookup<'_>) -> Result<String, BuildError> {
    Ok(process(s, vars, false)?.concat())
}

fn process(s: &str, vars: Lookup<'_>, split: bool) -> Result<Vec<String>, BuildError> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if split && c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
                i += 1;
            }
            '\'' => {
                in_word = true;
                i += 1;
                while i < chars.len() && chars[i] != '\'' {
                    cur.push(chars[i]);
                    i += 1;
                }
                if i >= chars.len() {
                    return Err(BuildError::invalid(
                        "unexpected end of statement while looking for matching single-quote",
                    ));
                }
                i += 1;
            }
            '"' => {
                in_word = true;
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err(BuildError::invalid(
                            "unexpected end of statement while looking for matching double-quote",
                        )),
                        Some('"') => break,
                        Some('\\') if matches!(chars.get(i + 1), Some('"' | '\\' | '$')) => {
                            cur.push(chars[i + 1]);
                            i += 2;
                        }
                        Some('$') => i = dollar(&chars, i, vars, &mut cur)?,
                        Some(&ch) => {
                            cur.push(ch);
                            i += 1;
                        }
                    }
                }
                i += 1;
            }
            '\\' => {
                in_word = true;
                if let Some(&n) = chars.get(i + 1) {
                    cur.push(n);
                }
                i += 2;
            }
            '$' => {
                in_word = true;
                i = dollar(&chars, i, vars, &mut cur)?;
            }
            c => {
                in_word = true;
                cur.push(c);
                i += 1;
            }
        }
    }
    if in_word || !split {
        out.push(cur);
    }
    Ok(out)
}

/// Substitutes the variable at `chars[i] == '$'`; returns the next index.
fn dollar(
    chars: &[char],
    i: usize,
    vars: Lookup<'_>,
    out: &mut String,
) -> Result<usize, BuildError> {
    let name_char = |c: char| c.is_ascii_alphanumeric() || c == '_';
    match chars.get(i + 1) {
        Some('{') => {
            let close = chars[i + 2..]
                .iter()
                .position(|&c| c == '}')
                .ok_or_else(|| BuildError::invalid("missing '}' in variable substitution"))?;
            let inner: String = chars[i + 2..i + 2 + close].iter().collect();
            let end = i + 3 + close;
            let (name, op, arg) = match inner.find(':') {
                Some(p) if inner[p + 1..].starts_with(['-', '+']) => {
                    (&inner[..p], &inner[p + 1..p + 2], &inner[p + 2..])
                }
                _ => (inner.as_str(), "", ""),
            };
            if name.is_empty() || !name.chars().all(name_char) {
                return Err(BuildError::invalid(format!(
                    "failed to process \"${{{inner}}}\": bad substitution"
                )));
            }
            let value = vars(name).filter(|v| !v.is_empty());
            let text = match (op, value) {
                ("-", None) => word(arg, vars)?,
                ("-", Some(v)) => v,
                ("+", Some(_)) => word(arg, vars)?,
                ("+", None) => String::new(),
                (_, v) => v.unwrap_or_default(),
            };
            out.push_str(&text);
            Ok(end)
        }
        Some(&c) if name_char(c) => {
            let mut j = i + 1;
            while j < chars.len() && name_char(chars[j]) {
                j += 1;
            }
            let name: String = chars[i + 1..j].iter().collect();
            out.push_str(&vars(&name).unwrap_or_default());
            Ok(j)
        }
        _ => {
            out.push('$');
            Ok(i + 1)
        }
    }
}

/// Substitutes variables in free text (a here-document's body): only `$`
/// forms are processed, quotes stay as written, `\\$` is a literal `$`.
pub fn expand_vars(s: &str, vars: Lookup<'_>) -> Result<String, BuildError> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '\\' if chars.get(i + 1) == Some(&'$') => {
                out.push('$');
                i += 2;
            }
            '$' => i = dollar(&chars, i, vars, &mut out)?,
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Ok(out)
}

/// `KEY=value` pairs (ENV, LABEL, ARG), or the legacy `KEY value` form.
pub fn key_values(
    s: &str,
    vars: Lookup<'_>,
    legacy: bool,
) -> Result<Vec<(String, Option<String>)>, BuildError> {
    let raw = s.trim();
    let first_end = raw.find(char::is_whitespace).unwrap_or(raw.len());
    if legacy && !raw[..first_end].contains('=') && first_end < raw.len() {
        let key = word(&raw[..first_end], vars)?;
        let value = word(raw[first_end..].trim_start(), vars)?;
        return Ok(vec![(key, Some(value))]);
    }
    let mut out = Vec::new();
    for w in words(raw, vars)? {
        match w.split_once('=') {
            Some((k, v)) => out.push((k.to_string(), Some(v.to_string()))),
            None => out.push((w, None)),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "HOME" => Some("/app".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn substitutes_forms() {
        assert_eq!(word("$HOME/x", &env).unwrap(), "/app/x");
        assert_eq!(word("${HOME}x", &env).unwrap(), "/appx");
        assert_eq!(word("${NOPE:-def}", &env).unwrap(), "def");
        assert_eq!(word("${EMPTY:-def}", &env).unwrap(), "def");
        assert_eq!(word("${HOME:+set}", &env).unwrap(), "set");
        assert_eq!(word("'$HOME' \\$HOME", &env).unwrap(), "$HOME $HOME");
        assert_eq!(word("a$", &env).unwrap(), "a$");
    }

    #[test]
    fn splits_words_with_quotes() {
        assert_eq!(
            words(r#"a "b c" 'd e'f $HOME"#, &env).unwrap(),
            vec!["a", "b c", "d ef", "/app"]
        );
    }

    #[test]
    fn key_value_forms() {
        let kv = key_values(r#"A=/x GREETING="hello build""#, &env, true).unwrap();
        assert_eq!(
            kv,
            vec![
                ("A".into(), Some("/x".into())),
                ("GREETING".into(), Some("hello build".into()))
            ]
        );
        let legacy = key_values("KEY some value", &env, true).unwrap();
        assert_eq!(legacy, vec![("KEY".into(), Some("some value".into()))]);
        let arg = key_values("WHO", &env, false).unwrap();
        assert_eq!(arg, vec![("WHO".into(), None)]);
    }
}
