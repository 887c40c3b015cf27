//! Detach key sequences (`--detach-keys`, default ctrl-p,ctrl-q): scanning an
//! attached client's input so the sequence ends the attach instead of reaching
//! the container. Bytes that only start a sequence are held until it is clear.

pub const DEFAULT: &str = "ctrl-p,ctrl-q";

/// Parses Docker's key list: `ctrl-<x>` for a-z, @, [, \\, ], ^, _ and single characters.
pub fn parse(spec: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    for key in spec.split(',') {
        let k = key.trim();
        if let Some(c) = k.strip_prefix("ctrl-") {
            let b = match c.as_bytes() {
                [b] if b.is_ascii_lowercase() => b - b'a' + 1,
                [b'@'] => 0,
                [b'['] => 27,
                [b'\\'] => 28,
                [b']'] => 29,
                [b'^'] => 30,
                [b'_'] => 31,
                _ => return Err(format!("Invalid detach keys ({spec}) provided")),
            };
            out.push(b);
        } else if k.len() == 1 {
            out.push(k.as_bytes()[0]);
        } else {
            return Err(format!("Invalid detach keys ({spec}) provided"));
        }
    }
    Ok(out)
}

pub struct Matcher {
    keys: Vec<u8>,
    held: usize,
}

pub enum Scan {
    /// Pass these bytes on.
    Forward(Vec<u8>),
    /// The sequence was typed: forward the bytes before it, then detach.
    Detach(Vec<u8>),
}

impl Matcher {
    pub fn new(keys: Vec<u8>) -> Matcher {
        Matcher { keys, held: 0 }
    }

    pub fn scan(&mut self, input: &[u8]) -> Scan {
        let mut out = Vec::with_capacity(input.len());
        for &b in input {
            if self.keys.is_empty() {
                out.push(b);
                continue;
            }
            if b == self.keys[self.held] {
                self.held += 1;
                if self.held == self.keys.len() {
                    self.held = 0;
                    return Scan::Detach(out);
                }
                continue;
            }
            // A broken prefix: what was held was ordinary input after all.
            out.extend_from_slice(&self.keys[..self.held]);
            self.held = 0;
            if b == self.keys[0] {
                self.held = 1;
            } else {
                out.push(b);
            }
        }
        Scan::Forward(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_keys() {
        assert_eq!(parse(DEFAULT).unwrap(), vec![16, 17]);
        assert_eq!(parse("ctrl-a,x").unwrap(), vec![1, b'x']);
        assert!(parse("ctrl-foo").is_err());
    }

    #[test]
    fn detects_across_chunks_and_releases_broken_prefixes() {
        let mut m = Matcher::new(vec![16, 17]);
        assert!(matches!(m.scan(b"ab\x10"), Scan::Forward(v) if v == b"ab"));
        assert!(matches!(m.scan(b"c"), Scan::Forward(v) if v == b"\x10c"));
        assert!(matches!(m.scan(b"z\x10"), Scan::Forward(v) if v == b"z"));
        assert!(matches!(m.scan(b"\x11rest"), Scan::Detach(v) if v.is_empty()));
    }
}
