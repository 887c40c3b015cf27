//! The history text (`CreatedBy`) of a build step, in the classic builder's
//! format. It is what `docker history` shows, and what `--cache-from`
//! matches a step against, so it has to name everything the step's result
//! depends on: values after substitution, and for COPY/ADD a hash of the
//! sources' content (see [`files_created_by`]).

use sha2::{Digest, Sha256};

use crate::instruction::{CopyArgs, Health, Instruction};

/// The text of a step that only changes the image config, or `None` for
/// instructions that are not recorded this way (FROM, ARG, RUN, COPY, ADD,
/// WORKDIR). `shell` is the SHELL in effect after the step.
///
/// Docker joins `#(nop) ` and the text as two words, hence the two spaces.
pub fn config_created_by(inst: &Instruction, shell: &[String]) -> Option<String> {
    let text = match inst {
        Instruction::Env(kv) => format!("ENV {}", pairs(kv)),
        Instruction::Label(kv) => format!("LABEL {}", pairs(kv)),
        Instruction::Maintainer(m) => format!("MAINTAINER {m}"),
        Instruction::Expose(ports) => {
            let mut ports = ports.clone();
            ports.sort();
            ports.dedup();
            format!("EXPOSE {}", ports.join(" "))
        }
        Instruction::Volume(v) => format!("VOLUME [{}]", v.join(" ")),
        Instruction::User(u) => format!("USER {u}"),
        Instruction::StopSignal(s) => format!("STOPSIGNAL {s}"),
        Instruction::Cmd(c) => format!("CMD {}", go_quoted_list(&c.argv(shell))),
        Instruction::Entrypoint(c) => format!("ENTRYPOINT {}", go_quoted_list(&c.argv(shell))),
        Instruction::Healthcheck(h) => format!("HEALTHCHECK {}", health(h.as_ref())),
        Instruction::Shell(s) => format!("SHELL [{}]", s.join(" ")),
        Instruction::Onbuild(t) => format!("ONBUILD {t}"),
        Instruction::From { .. }
        | Instruction::Arg(_)
        | Instruction::Run(_)
        | Instruction::Copy(_)
        | Instruction::Add(_)
        | Instruction::Workdir(_) => return None,
    };
    Some(format!("{} #(nop)  {text}", shell.join(" ")))
}

/// WORKDIR's text (one space: Docker writes it as one word).
pub fn workdir_created_by(dir: &str, shell: &[String]) -> String {
    format!("{} #(nop) WORKDIR {dir}", shell.join(" "))
}

/// A RUN's text: the command, preceded by the build args it sees
/// (`|2 A=1 B=2 /bin/sh -c make`), so a different value is a different step.
pub fn run_created_by(argv: &[String], args: &[String]) -> String {
    let shown = argv.join(" ");
    if args.is_empty() {
        shown
    } else {
        format!("|{} {} {shown}", args.len(), args.join(" "))
    }
}

/// What a COPY/ADD's sources amount to, for its history text.
pub enum SourceKind {
    /// One regular file.
    File,
    /// One directory (its contents are copied).
    Dir,
    /// Several sources, or a glob.
    Multi,
}

/// COPY/ADD's text: `COPY [--chown=u:g]file:<sha256> in /dest `, Docker's
/// format, trailing space and all. `content` is the step's source hash
/// (the cache key's); hashing it with the whole instruction gives one
/// value that changes whenever the result would.
pub fn files_created_by(
    keyword: &str,
    a: &CopyArgs,
    kind: SourceKind,
    content: &str,
    shell: &[String],
) -> String {
    // Everything the instruction says (sources, options, here-documents)
    // and what its sources hold.
    let mut h = Sha256::new();
    h.update(format!("{a:?}\0").as_bytes());
    h.update(content.as_bytes());
    let kind = match kind {
        SourceKind::File => "file",
        SourceKind::Dir => "dir",
        SourceKind::Multi => "multi",
    };
    // Docker puts no space between `--chown=...` and the hash.
    let mut flags = String::new();
    if let Some(c) = &a.chown {
        flags.push_str(&format!("--chown={c}"));
    }
    if let Some(m) = a.chmod {
        flags.push_str(&format!("--chmod={m:o}"));
    }
    format!(
        "{} #(nop) {keyword} {flags}{kind}:{} in {} ",
        shell.join(" "),
        hex::encode(h.finalize()),
        a.dest
    )
}

fn pairs(kv: &[(String, String)]) -> String {
    kv.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A string list as Go's `%q` prints it: `["a" "b c"]`.
fn go_quoted_list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| go_quote(s)).collect();
    format!("[{}]", quoted.join(" "))
}

/// Go's `strconv.Quote` for the characters Dockerfiles hold: escapes for
/// quotes, backslashes and control characters; printable text as is.
fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// HEALTHCHECK as Go's `%q` prints Docker's HealthConfig struct:
/// `&{["CMD-SHELL" "true"] "5s" "0s" "0s" '\x00'}` (durations quoted, the
/// retry count as a quoted rune).
fn health(h: Option<&Health>) -> String {
    let none = Health {
        test: vec!["NONE".into()],
        interval: None,
        timeout: None,
        start_period: None,
        retries: None,
    };
    let h = h.unwrap_or(&none);
    let d = |v: Option<i64>| go_quote(&go_duration(v.unwrap_or(0)));
    format!(
        "&{{{} {} {} {} {}}}",
        go_quoted_list(&h.test),
        d(h.interval),
        d(h.timeout),
        d(h.start_period),
        go_rune(h.retries.unwrap_or(0))
    )
}

/// Go's `%q` of an integer: a quoted rune.
fn go_rune(n: i64) -> String {
    match u32::try_from(n).ok().and_then(char::from_u32) {
        Some('\'') => "'\\''".into(),
        Some(c) if (c as u32) >= 0x20 && c != '\u{7f}' && c != '\\' => format!("'{c}'"),
        Some('\\') => "'\\\\'".into(),
        Some(c) if (c as u32) < 0x80 => format!("'\\x{:02x}'", c as u32),
        _ => format!("'\\u{:04x}'", n.max(0)),
    }
}

/// Go's `time.Duration.String`: `0s`, `500ms`, `1.5s`, `1m30s`, `2h0m0s`.
fn go_duration(ns: i64) -> String {
    if ns == 0 {
        return "0s".into();
    }
    let neg = ns < 0;
    let u = ns.unsigned_abs();
    let sign = if neg { "-" } else { "" };
    if u < 1_000_000_000 {
        // Under a second: the largest unit that keeps an integer part.
        let (unit, div) = if u < 1_000 {
            ("ns", 1)
        } else if u < 1_000_000 {
            ("µs", 1_000)
        } else {
            ("ms", 1_000_000)
        };
        return format!("{sign}{}{unit}", fraction(u, div));
    }
    let secs = u / 1_000_000_000;
    let (h, m, s) = (secs / 3600, (secs / 60) % 60, secs % 60);
    let sec = fraction(s * 1_000_000_000 + u % 1_000_000_000, 1_000_000_000);
    if h > 0 {
        format!("{sign}{h}h{m}m{sec}s")
    } else if m > 0 {
        format!("{sign}{m}m{sec}s")
    } else {
        format!("{sign}{sec}s")
    }
}

/// `v / div` with its decimal fraction, trailing zeros dropped.
fn fraction(v: u64, div: u64) -> String {
    let (int, rest) = (v / div, v % div);
    if rest == 0 {
        return int.to_string();
    }
    let width = div.to_string().len() - 1;
    let frac = format!("{rest:0width$}");
    format!("{int}.{}", frac.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instruction::Command;

    fn sh() -> Vec<String> {
        vec!["/bin/sh".into(), "-c".into()]
    }

    fn kv(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// The texts the reference Docker Engine (20.10) recorded for the same
    /// instructions.
    #[test]
    fn config_steps_read_as_dockers() {
        let cases: Vec<(Instruction, &str)> = vec![
            (
                Instruction::Env(kv(&[("A", "3"), ("B", "x y")])),
                "/bin/sh -c #(nop)  ENV A=3 B=x y",
            ),
            (
                Instruction::Label(kv(&[("l1", "3"), ("l 2", "z")])),
                "/bin/sh -c #(nop)  LABEL l1=3 l 2=z",
            ),
            (
                Instruction::Expose(vec!["80".into(), "53/udp".into()]),
                "/bin/sh -c #(nop)  EXPOSE 53/udp 80",
            ),
            (
                Instruction::Volume(vec!["/data".into(), "/d2".into()]),
                "/bin/sh -c #(nop)  VOLUME [/data /d2]",
            ),
            (
                Instruction::Cmd(Command::Shell("echo hi".into())),
                r#"/bin/sh -c #(nop)  CMD ["/bin/sh" "-c" "echo hi"]"#,
            ),
            (
                Instruction::Entrypoint(Command::Exec(vec!["/bin/sh".into(), "-c".into()])),
                r#"/bin/sh -c #(nop)  ENTRYPOINT ["/bin/sh" "-c"]"#,
            ),
            (
                Instruction::Healthcheck(Some(Health {
                    test: vec!["CMD-SHELL".into(), "true".into()],
                    interval: Some(5_000_000_000),
                    timeout: None,
                    start_period: None,
                    retries: None,
                })),
                r#"/bin/sh -c #(nop)  HEALTHCHECK &{["CMD-SHELL" "true"] "5s" "0s" "0s" '\x00'}"#,
            ),
            (
                Instruction::Onbuild("RUN echo x".into()),
                "/bin/sh -c #(nop)  ONBUILD RUN echo x",
            ),
            (
                Instruction::StopSignal("SIGINT".into()),
                "/bin/sh -c #(nop)  STOPSIGNAL SIGINT",
            ),
            (
                Instruction::User("1:1".into()),
                "/bin/sh -c #(nop)  USER 1:1",
            ),
            (
                Instruction::Maintainer("me <me@x>".into()),
                "/bin/sh -c #(nop)  MAINTAINER me <me@x>",
            ),
        ];
        for (inst, want) in cases {
            assert_eq!(config_created_by(&inst, &sh()).as_deref(), Some(want));
        }
        let xc = vec!["/bin/sh".to_string(), "-xc".to_string()];
        assert_eq!(
            config_created_by(&Instruction::Shell(xc.clone()), &xc).unwrap(),
            "/bin/sh -xc #(nop)  SHELL [/bin/sh -xc]"
        );
        assert_eq!(
            workdir_created_by("/w/3", &sh()),
            "/bin/sh -c #(nop) WORKDIR /w/3"
        );
        assert!(config_created_by(&Instruction::Run(Command::Shell("x".into())), &sh()).is_none());
    }

    #[test]
    fn run_text_names_the_build_args() {
        let argv = sh()
            .into_iter()
            .chain(["echo $V".to_string()])
            .collect::<Vec<_>>();
        assert_eq!(run_created_by(&argv, &[]), "/bin/sh -c echo $V");
        assert_eq!(
            run_created_by(&argv, &["V=3".into()]),
            "|1 V=3 /bin/sh -c echo $V"
        );
    }

    #[test]
    fn files_text_has_dockers_shape_and_follows_the_content() {
        let a = CopyArgs {
            sources: vec!["a.txt".into()],
            dest: "/a.txt".into(),
            chown: Some("1:2".into()),
            ..Default::default()
        };
        let t = files_created_by("COPY", &a, SourceKind::File, "h1", &sh());
        let hash = t
            .strip_prefix("/bin/sh -c #(nop) COPY --chown=1:2file:")
            .and_then(|r| r.strip_suffix(" in /a.txt "))
            .unwrap();
        assert_eq!(hash.len(), 64);
        // Other content, other names or other options: another text.
        assert_ne!(
            t,
            files_created_by("COPY", &a, SourceKind::File, "h2", &sh())
        );
        let renamed = CopyArgs {
            sources: vec!["b.txt".into()],
            ..a.clone()
        };
        assert_ne!(
            t,
            files_created_by("COPY", &renamed, SourceKind::File, "h1", &sh())
        );
        let chmod = CopyArgs {
            chmod: Some(0o755),
            ..a.clone()
        };
        assert_ne!(
            t,
            files_created_by("COPY", &chmod, SourceKind::File, "h1", &sh())
        );
        let d = CopyArgs {
            sources: vec!["d".into(), "e".into()],
            dest: "/m/".into(),
            ..Default::default()
        };
        assert!(files_created_by("ADD", &d, SourceKind::Multi, "h", &sh())
            .starts_with("/bin/sh -c #(nop) ADD multi:"));
    }

    #[test]
    fn durations_and_runes_print_as_go_does() {
        for (ns, want) in [
            (0, "0s"),
            (5_000_000_000, "5s"),
            (1_500_000_000, "1.5s"),
            (90_000_000_000, "1m30s"),
            (7_200_000_000_000, "2h0m0s"),
            (500_000_000, "500ms"),
            (1_500, "1.5µs"),
            (42, "42ns"),
        ] {
            assert_eq!(go_duration(ns), want);
        }
        assert_eq!(go_rune(0), r"'\x00'");
        assert_eq!(go_rune(3), r"'\x03'");
        assert_eq!(go_rune(65), "'A'");
        assert_eq!(go_quote("a\"b\\\n"), r#""a\"b\\\n""#);
    }
}
