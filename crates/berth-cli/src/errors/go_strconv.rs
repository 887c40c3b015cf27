//! The errors Go's `strconv` gives for flag values pflag parses itself
//! (`--cpu-shares int`, `--blkio-weight uint16`, `--rm` as a bool): docker
//! prints them verbatim, so berth words a value clap refused the same way.

/// How pflag parses a flag's value. Docker's help names it as the flag's
/// value (`--cpu-shares int`), and berth's flags carry the same value names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GoType {
    /// `strconv.ParseInt(s, 0, bits)`
    Int(u32),
    /// `strconv.ParseUint(s, 0, bits)`
    Uint(u32),
    /// `strconv.ParseBool(s)`
    Bool,
}

/// Why strconv refused a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    Syntax,
    Range,
}

impl GoType {
    /// The type pflag names `name` in help, if it is one strconv parses.
    pub fn from_type_name(name: &str) -> Option<GoType> {
        Some(match name {
            "int" | "int64" => GoType::Int(64),
            "int32" => GoType::Int(32),
            "int16" => GoType::Int(16),
            "int8" => GoType::Int(8),
            "uint" | "uint64" => GoType::Uint(64),
            "uint32" => GoType::Uint(32),
            "uint16" => GoType::Uint(16),
            "uint8" => GoType::Uint(8),
            "bool" => GoType::Bool,
            _ => return None,
        })
    }

    /// strconv's error for `value` (`strconv.ParseInt: parsing "x": invalid
    /// syntax`), or None when Go would take the value.
    pub fn parse_error(self, value: &str) -> Option<String> {
        let (func, outcome) = match self {
            GoType::Int(bits) => ("ParseInt", check_int(value, bits, true)),
            GoType::Uint(bits) => ("ParseUint", check_int(value, bits, false)),
            GoType::Bool => ("ParseBool", check_bool(value)),
        };
        let reason = match outcome.err()? {
            Refusal::Syntax => "invalid syntax",
            Refusal::Range => "value out of range",
        };
        Some(format!(
            "strconv.{func}: parsing {}: {reason}",
            go_quote(value)
        ))
    }
}

/// Go's `strconv.ParseBool`: the value, or strconv's error for it.
pub fn parse_bool(value: &str) -> Result<bool, String> {
    go_bool(value).ok_or_else(|| GoType::Bool.parse_error(value).unwrap_or_default())
}

/// The spellings `strconv.ParseBool` takes.
fn go_bool(value: &str) -> Option<bool> {
    match value {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

fn check_bool(value: &str) -> Result<(), Refusal> {
    go_bool(value).map(drop).ok_or(Refusal::Syntax)
}

/// strconv's base-0 integer rules: an optional sign (signed types only),
/// `0x`/`0o`/`0b` or a leading `0` for octal, `_` between digits. Like
/// strconv, an overflow is reported as soon as it happens, before any later
/// bad digit.
fn check_int(value: &str, bits: u32, signed: bool) -> Result<(), Refusal> {
    let (negative, unsigned) = match value.as_bytes().first() {
        Some(b'+') if signed => (false, &value[1..]),
        Some(b'-') if signed => (true, &value[1..]),
        _ => (false, value),
    };
    if unsigned.is_empty() {
        return Err(Refusal::Syntax);
    }
    let (radix, digits, prefixed) = split_radix(unsigned);
    // An unsigned parse of `bits` bits first, as strconv.ParseInt does.
    let max = u128::MAX >> (128 - bits);
    let mut n: u128 = 0;
    for c in digits.chars() {
        if c == '_' {
            continue;
        }
        let d = c.to_digit(radix).ok_or(Refusal::Syntax)?;
        n = n * u128::from(radix) + u128::from(d);
        if n > max {
            return Err(Refusal::Range);
        }
    }
    if !underscores_ok(digits, prefixed) {
        return Err(Refusal::Syntax);
    }
    if signed {
        let limit = 1u128 << (bits - 1);
        if (negative && n > limit) || (!negative && n >= limit) {
            return Err(Refusal::Range);
        }
    }
    Ok(())
}

/// The radix base 0 picks and the digits after its prefix.
fn split_radix(s: &str) -> (u32, &str, bool) {
    let lower = s.get(..2).map(str::to_ascii_lowercase);
    match lower.as_deref() {
        Some("0x") if s.len() >= 3 => (16, &s[2..], true),
        Some("0o") if s.len() >= 3 => (8, &s[2..], true),
        Some("0b") if s.len() >= 3 => (2, &s[2..], true),
        _ if s.starts_with('0') => (8, &s[1..], true),
        _ => (10, s, false),
    }
}

/// Every `_` sits between two digits (a base prefix counts as one).
fn underscores_ok(digits: &str, prefixed: bool) -> bool {
    let mut after_digit = prefixed;
    for c in digits.chars() {
        if c == '_' {
            if !after_digit {
                return false;
            }
            after_digit = false;
        } else {
            after_digit = true;
        }
    }
    after_digit
}

/// Go's `%q` of a string: double quotes, backslash escapes for quotes and
/// control characters.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x0b' => out.push_str("\\v"),
            c if c.is_ascii_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if c.is_control() || (c.is_whitespace() && c != ' ') => {
                out.push_str(&format!("\\u{:04x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(t: GoType, v: &str) -> Option<String> {
        t.parse_error(v)
    }

    #[test]
    fn ints_as_parse_int_words_them() {
        let int = GoType::Int(64);
        assert_eq!(
            err(int, "abc").unwrap(),
            r#"strconv.ParseInt: parsing "abc": invalid syntax"#
        );
        assert_eq!(
            err(int, "99999999999999999999").unwrap(),
            r#"strconv.ParseInt: parsing "99999999999999999999": value out of range"#
        );
        assert_eq!(
            err(int, "9223372036854775808").unwrap(),
            r#"strconv.ParseInt: parsing "9223372036854775808": value out of range"#
        );
        for ok in [
            "-9223372036854775808",
            "+5",
            "0x1f",
            "0o17",
            "017",
            "1_000",
            "0",
        ] {
            assert_eq!(err(int, ok), None, "{ok}");
        }
        for bad in ["", "-", "1_", "_1", "1__0", "0x", "08", "1.5", " 1"] {
            assert!(err(int, bad).unwrap().ends_with("invalid syntax"), "{bad}");
        }
        // An overflow is reported before a later bad digit, as strconv does.
        assert!(err(int, "99999999999999999999x")
            .unwrap()
            .ends_with("value out of range"));
    }

    #[test]
    fn uints_as_parse_uint_words_them() {
        let u16 = GoType::Uint(16);
        assert_eq!(
            err(u16, "99999").unwrap(),
            r#"strconv.ParseUint: parsing "99999": value out of range"#
        );
        assert_eq!(
            err(u16, "-1").unwrap(),
            r#"strconv.ParseUint: parsing "-1": invalid syntax"#
        );
        assert_eq!(err(u16, "65535"), None);
        assert_eq!(GoType::from_type_name("uint16"), Some(u16));
        assert_eq!(GoType::from_type_name("string"), None);
    }

    #[test]
    fn bools_as_parse_bool_words_them() {
        assert_eq!(
            err(GoType::Bool, "maybe").unwrap(),
            r#"strconv.ParseBool: parsing "maybe": invalid syntax"#
        );
        for ok in ["1", "t", "TRUE", "False", "0"] {
            assert_eq!(err(GoType::Bool, ok), None);
        }
        for (text, value) in [("1", true), ("T", true), ("True", true), ("f", false)] {
            assert_eq!(parse_bool(text), Ok(value));
        }
        for bad in ["", "yes", "tRUE", " true"] {
            assert_eq!(parse_bool(bad), Err(err(GoType::Bool, bad).unwrap()));
        }
    }

    #[test]
    fn quotes_as_go_does() {
        assert_eq!(go_quote("a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(go_quote("\t\x1b\u{a0}é"), r#""\t\x1b\u00a0é""#);
    }
}
