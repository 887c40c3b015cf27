//! Go's `path.Match` (what Docker's `reference` filter uses): `*` and `?`
//! never match '/', `[...]` classes with ranges and `^`/`!` negation.

pub fn matches(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    match_from(&p, &n)
}

fn match_from(p: &[char], n: &[char]) -> bool {
    match p.first() {
        None => n.is_empty(),
        Some('*') => {
            // Try every split that does not swallow a '/'.
            let rest = &p[1..];
            for i in 0..=n.len() {
                if match_from(rest, &n[i..]) {
                    return true;
                }
                if i < n.len() && n[i] == '/' {
                    break;
                }
            }
            false
        }
        Some('?') => !n.is_empty() && n[0] != '/' && match_from(&p[1..], &n[1..]),
        Some('[') => match (n.first(), class(&p[1..])) {
            (Some(&c), Some((set, negate, used))) if c != '/' => {
                (set.iter().any(|&(lo, hi)| lo <= c && c <= hi) != negate)
                    && match_from(&p[1 + used..], &n[1..])
            }
            _ => false,
        },
        Some('\\') if p.len() > 1 => n.first() == Some(&p[1]) && match_from(&p[2..], &n[1..]),
        Some(&c) => n.first() == Some(&c) && match_from(&p[1..], &n[1..]),
    }
}

/// A parsed `[...]` class: inclusive ranges, negation, chars used
/// (including the closing ']').
type Class = (Vec<(char, char)>, bool, usize);

/// Parses a class body after '['.
fn class(p: &[char]) -> Option<Class> {
    let mut i = 0;
    let negate = matches!(p.first(), Some('^') | Some('!'));
    if negate {
        i += 1;
    }
    let mut ranges = Vec::new();
    let mut first = true;
    while i < p.len() {
        if p[i] == ']' && !first {
            return Some((ranges, negate, i + 1));
        }
        first = false;
        let mut lo = p[i];
        if lo == '\\' {
            i += 1;
            lo = *p.get(i)?;
        }
        i += 1;
        let mut hi = lo;
        if p.get(i) == Some(&'-') && p.get(i + 1).is_some_and(|&c| c != ']') {
            hi = p[i + 1];
            i += 2;
        }
        ranges.push((lo, hi));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn go_path_match_semantics() {
        assert!(matches("imp", "imp"));
        assert!(matches("imp:*", "imp:v1"));
        assert!(matches("busybox:lat*", "busybox:latest"));
        assert!(!matches("busybox:lat*", "busybox:1.36"));
        assert!(!matches("*", "user/app"));
        assert!(matches("*/app", "user/app"));
        assert!(matches("im?", "imp"));
        assert!(matches("im[a-p]", "imp"));
        assert!(!matches("im[^p]", "imp"));
        assert!(!matches("imp", "imp2"));
    }
}
