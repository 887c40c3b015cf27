//! One record of Go's `encoding/csv`, the way the docker CLI reads `--gpus`
//! and pflag reads `strings` flags (`build --cache-from a,b`): fields split on
//! commas, `"quoted, fields"` with `""` for a quote, and Go's errors (line and
//! 1-based byte column) for a stray quote.

use anyhow::{bail, Result};

const BARE_QUOTE: &str = "bare \" in non-quoted-field";
const QUOTE: &str = "extraneous or missing \" in quoted-field";

/// Go's `csv.ParseError` text.
fn parse_error(record_line: usize, line: usize, column: usize, what: &str) -> anyhow::Error {
    if record_line == line {
        anyhow::anyhow!("parse error on line {line}, column {column}: {what}")
    } else {
        anyhow::anyhow!(
            "record on line {record_line}; parse error on line {line}, column {column}: {what}"
        )
    }
}

/// The input as Go's reader sees its lines: each keeps its `\n` ("\r\n"
/// becomes "\n"), and a last line without one drops a trailing `\r`.
fn lines(s: &str) -> Vec<String> {
    s.split_inclusive('\n')
        .map(|l| match l.strip_suffix("\r\n") {
            Some(body) => format!("{body}\n"),
            None if !l.ends_with('\n') => l.strip_suffix('\r').unwrap_or(l).to_string(),
            None => l.to_string(),
        })
        .collect()
}

/// The first record of `s` (blank lines before it are skipped); "EOF" when
/// there is none, as Go's `Reader.Read`.
pub fn read_record(s: &str) -> Result<Vec<String>> {
    let lines = lines(s);
    let Some(first) = lines.iter().position(|l| l != "\n") else {
        bail!("EOF");
    };
    let record_line = first + 1;
    let mut line_no = record_line;
    let mut rest: &str = &lines[first];
    let mut col = 1;
    let mut fields = Vec::new();
    'fields: loop {
        let Some(quoted) = rest.strip_prefix('"') else {
            let comma = rest.find(',');
            let field = match comma {
                Some(i) => &rest[..i],
                None => rest.strip_suffix('\n').unwrap_or(rest),
            };
            if let Some(j) = field.find('"') {
                return Err(parse_error(record_line, line_no, col + j, BARE_QUOTE));
            }
            fields.push(field.to_string());
            match comma {
                Some(i) => {
                    rest = &rest[i + 1..];
                    col += i + 1;
                    continue;
                }
                None => break,
            }
        };
        rest = quoted;
        col += 1;
        let mut field = String::new();
        loop {
            if let Some(i) = rest.find('"') {
                field.push_str(&rest[..i]);
                rest = &rest[i + 1..];
                col += i + 1;
                if let Some(r) = rest.strip_prefix('"') {
                    field.push('"');
                    rest = r;
                    col += 1;
                } else if let Some(r) = rest.strip_prefix(',') {
                    fields.push(field);
                    rest = r;
                    col += 1;
                    continue 'fields;
                } else if rest.is_empty() || rest == "\n" {
                    fields.push(field);
                    break 'fields;
                } else {
                    return Err(parse_error(record_line, line_no, col - 1, QUOTE));
                }
            } else if !rest.is_empty() {
                // A quoted field goes on over the next line.
                field.push_str(rest);
                col += rest.len();
                rest = match lines.get(line_no) {
                    Some(next) => {
                        line_no += 1;
                        col = 1;
                        next
                    }
                    None => "",
                };
            } else {
                return Err(parse_error(record_line, line_no, col, QUOTE));
            }
        }
    }
    Ok(fields)
}

/// pflag's `strings` flag value: an empty value is no values at all.
pub fn string_slice(s: &str) -> Result<Vec<String>> {
    if s.is_empty() {
        return Ok(Vec::new());
    }
    read_record(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> Vec<String> {
        read_record(s).unwrap()
    }
    fn err(s: &str) -> String {
        read_record(s).unwrap_err().to_string()
    }

    #[test]
    fn fields_and_quotes() {
        assert_eq!(ok("a,,b"), ["a", "", "b"]);
        assert_eq!(ok(","), ["", ""]);
        assert_eq!(ok("\"a\","), ["a", ""]);
        assert_eq!(ok("\"a\"\"b\""), ["a\"b"]);
        assert_eq!(ok("x,\"a\nb\""), ["x", "a\nb"]);
        assert_eq!(ok("\"device=0,1\",count=2"), ["device=0,1", "count=2"]);
        // One record: a newline outside quotes ends it; blank lines before
        // it and a trailing \r are not part of it.
        assert_eq!(ok("a\nb"), ["a"]);
        assert_eq!(ok("\na"), ["a"]);
        assert_eq!(ok("a\r"), ["a"]);
        assert_eq!(ok("\"a\"\r"), ["a"]);
        assert_eq!(ok("a\r\nb"), ["a"]);
    }

    #[test]
    fn go_error_texts() {
        // What docker 28.2.2 prints for `build --cache-from <value>`.
        assert_eq!(err(""), "EOF");
        assert_eq!(err("\n"), "EOF");
        assert_eq!(
            err("ab\""),
            "parse error on line 1, column 3: bare \" in non-quoted-field"
        );
        assert_eq!(
            err("x,y\""),
            "parse error on line 1, column 4: bare \" in non-quoted-field"
        );
        assert_eq!(
            err(" \"a\""),
            "parse error on line 1, column 2: bare \" in non-quoted-field"
        );
        assert_eq!(
            err("\"ab"),
            "parse error on line 1, column 4: extraneous or missing \" in quoted-field"
        );
        assert_eq!(
            err("\"a\"b"),
            "parse error on line 1, column 3: extraneous or missing \" in quoted-field"
        );
        assert_eq!(
            err("x,\"a\"b"),
            "parse error on line 1, column 5: extraneous or missing \" in quoted-field"
        );
        assert_eq!(
            err("\"a\nb"),
            "record on line 1; parse error on line 2, column 2: extraneous or missing \" in quoted-field"
        );
    }

    #[test]
    fn empty_string_slice_is_empty() {
        assert!(string_slice("").unwrap().is_empty());
        assert_eq!(string_slice("a,b").unwrap(), ["a", "b"]);
    }
}
