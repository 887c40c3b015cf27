//! `.dockerignore`: Docker's pattern rules. Patterns are cleaned paths
//! relative to the context root with `*`, `?`, `[...]` and `**`; a path is
//! excluded when the last pattern matching it or one of its parent
//! directories is not a `!` exception.

#[derive(Clone, Debug, PartialEq)]
struct Pattern {
    parts: Vec<String>,
    exclude: bool,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Ignore {
    patterns: Vec<Pattern>,
}

fn clean(p: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            c => out.push(c.to_string()),
        }
    }
    out
}

impl Ignore {
    /// Parses the contents of a `.dockerignore` file.
    pub fn parse(text: &str) -> Ignore {
        let mut patterns = Vec::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (exclude, body) = match line.strip_prefix('!') {
                Some(b) => (false, b.trim()),
                None => (true, line),
            };
            let parts = clean(body);
            if parts.is_empty() {
                continue;
            }
            patterns.push(Pattern { parts, exclude });
        }
        Ignore { patterns }
    }

    /// Whether `path` (relative to the context root) is left out.
    pub fn excluded(&self, path: &str) -> bool {
        let comps = clean(path);
        if comps.is_empty() {
            return false;
        }
        let mut excluded = false;
        for p in &self.patterns {
            // The path itself or any of its parents.
            let hit = (1..=comps.len()).any(|n| match_parts(&p.parts, &comps[..n]));
            if hit {
                excluded = p.exclude;
            }
        }
        excluded
    }

    /// Whether any `!` exception exists: then a walker must still descend
    /// into excluded directories, as something below may be re-included.
    pub fn has_exceptions(&self) -> bool {
        self.patterns.iter().any(|p| !p.exclude)
    }
}

fn match_parts(pat: &[String], path: &[String]) -> bool {
    match pat.first() {
        None => path.is_empty(),
        Some(p) if p == "**" => (0..=path.len()).any(|skip| match_parts(&pat[1..], &path[skip..])),
        Some(p) => {
            !path.is_empty()
                && glob(p.as_bytes(), path[0].as_bytes())
                && match_parts(&pat[1..], &path[1..])
        }
    }
}

/// `filepath.Match` for one path component.
pub fn glob(p: &[u8], s: &[u8]) -> bool {
    match p.first() {
        None => s.is_empty(),
        Some(b'*') => (0..=s.len()).any(|i| glob(&p[1..], &s[i..])),
        Some(b'?') => !s.is_empty() && glob(&p[1..], &s[1..]),
        Some(b'[') => {
            let Some(close) = p.iter().skip(1).position(|&c| c == b']').map(|i| i + 1) else {
                return false;
            };
            let Some(&c) = s.first() else { return false };
            let mut class = &p[1..close];
            let negate = matches!(class.first(), Some(b'^' | b'!'));
            if negate {
                class = &class[1..];
            }
            let mut hit = false;
            let mut i = 0;
            while i < class.len() {
                if i + 2 < class.len() && class[i + 1] == b'-' {
                    hit |= class[i] <= c && c <= class[i + 2];
                    i += 3;
                } else {
                    hit |= class[i] == c;
                    i += 1;
                }
            }
            hit != negate && glob(&p[close + 1..], &s[1..])
        }
        Some(b'\\') if p.len() > 1 => s.first() == Some(&p[1]) && glob(&p[2..], &s[1..]),
        Some(&c) => s.first() == Some(&c) && glob(&p[1..], &s[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_patterns() {
        let i = Ignore::parse("secret.key\nlogs\n*.log\n!keep.log\n# c\n**/tmp\n");
        assert!(i.excluded("secret.key"));
        assert!(i.excluded("logs"));
        assert!(i.excluded("logs/a.txt"));
        assert!(i.excluded("x.log"));
        assert!(!i.excluded("keep.log"));
        assert!(!i.excluded("sub/x.log"), "* does not cross directories");
        assert!(i.excluded("a/b/tmp/f"));
        assert!(!i.excluded("keep.txt"));
        assert!(!i.excluded("Dockerfile"));
    }

    #[test]
    fn glob_classes() {
        assert!(glob(b"f[a-c]?", b"fbz"));
        assert!(!glob(b"f[^a-c]", b"fb"));
    }
}
