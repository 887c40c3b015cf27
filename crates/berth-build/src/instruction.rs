//! A step made concrete: the typed instruction, after the substitution
//! Docker applies to that instruction with the variables the step sees.

use crate::error::BuildError;
use crate::parser::Step;
use crate::words::{expand_vars, key_values, word, words, Lookup};

/// RUN/CMD/ENTRYPOINT argument: shell form or JSON exec form.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    Shell(String),
    Exec(Vec<String>),
}

impl Command {
    /// The argv to run, with `shell` for the shell form.
    pub fn argv(&self, shell: &[String]) -> Vec<String> {
        match self {
            Command::Exec(v) => v.clone(),
            Command::Shell(s) => {
                let mut v = shell.to_vec();
                v.push(s.clone());
                v
            }
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct CopyArgs {
    pub sources: Vec<String>,
    pub dest: String,
    pub from: Option<String>,
    pub chown: Option<String>,
    /// `--chmod=755`: the mode of everything copied.
    pub chmod: Option<u32>,
    /// `ADD --checksum=sha256:...` for a URL source.
    pub checksum: Option<String>,
    /// Here-documents used as sources (`COPY <<EOF /x`): name and content,
    /// variables already expanded where the delimiter was unquoted.
    pub heredocs: Vec<(String, String)>,
}

impl CopyArgs {
    /// The here-document a source names (`<<EOF`), if it is one.
    pub fn heredoc(&self, source: &str) -> Option<&str> {
        let name = source.strip_prefix("<<")?.trim_start_matches('-');
        self.heredocs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, c)| c.as_str())
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Health {
    pub test: Vec<String>,
    pub interval: Option<i64>,
    pub timeout: Option<i64>,
    pub start_period: Option<i64>,
    pub retries: Option<i64>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Instruction {
    From {
        image: String,
        alias: Option<String>,
    },
    Run(Command),
    Cmd(Command),
    Entrypoint(Command),
    Copy(CopyArgs),
    Add(CopyArgs),
    Env(Vec<(String, String)>),
    Arg(Vec<(String, Option<String>)>),
    Workdir(String),
    User(String),
    Expose(Vec<String>),
    Label(Vec<(String, String)>),
    Volume(Vec<String>),
    StopSignal(String),
    /// `None` is `HEALTHCHECK NONE`.
    Healthcheck(Option<Health>),
    Shell(Vec<String>),
    Onbuild(String),
    Maintainer(String),
}

/// `["a", "b"]` when `rest` is a JSON array of strings.
fn exec_form(rest: &str) -> Option<Vec<String>> {
    let t = rest.trim();
    if !t.starts_with('[') {
        return None;
    }
    serde_json::from_str::<Vec<String>>(t).ok()
}

fn command(rest: &str) -> Command {
    exec_form(rest).map_or_else(|| Command::Shell(rest.to_string()), Command::Exec)
}

/// RUN with here-documents: a lone `<<EOF` makes the body the script (as
/// BuildKit does); otherwise the bodies follow the line, for the shell to
/// feed to the command as it would any here-document.
fn run_command(step: &Step) -> Command {
    let rest = step.rest.as_str();
    if step.heredocs.is_empty() || exec_form(rest).is_some() {
        return command(rest);
    }
    if step.heredocs.len() == 1 && rest.split_whitespace().count() == 1 {
        return Command::Shell(step.heredocs[0].content());
    }
    let mut script = rest.to_string();
    for h in &step.heredocs {
        script.push('\n');
        script.push_str(&h.body);
        script.push_str(&h.name);
    }
    Command::Shell(script)
}

/// `--chmod` value: octal digits only (Docker's classic builder form).
fn chmod(value: &str) -> Result<u32, BuildError> {
    u32::from_str_radix(value, 8)
        .ok()
        .filter(|m| *m <= 0o7777)
        .ok_or_else(|| BuildError::invalid(format!("invalid chmod parameter: {value}")))
}

/// Go duration text (`30s`, `1m30s`, `500ms`) in nanoseconds.
pub fn parse_duration(s: &str) -> Result<i64, BuildError> {
    let bad = || BuildError::invalid(format!("time: invalid duration \"{s}\""));
    let mut total: f64 = 0.0;
    let mut rest = s;
    if rest == "0" {
        return Ok(0);
    }
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let value: f64 = rest[..n].parse().map_err(|_| bad())?;
        rest = &rest[n..];
        let u = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let mult = match &rest[..u] {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(bad()),
        };
        total += value * mult;
        rest = &rest[u..];
    }
    Ok(total as i64)
}

fn healthcheck(step: &Step) -> Result<Option<Health>, BuildError> {
    let rest = step.rest.trim();
    if rest.eq_ignore_ascii_case("NONE") {
        return Ok(None);
    }
    let (kind, cmd) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    if !kind.eq_ignore_ascii_case("CMD") {
        return Err(BuildError::invalid(format!(
            "Unknown type \"{kind}\" in HEALTHCHECK (try CMD)"
        )));
    }
    let test = match command(cmd.trim()) {
        Command::Exec(v) => std::iter::once("CMD".to_string()).chain(v).collect(),
        Command::Shell(s) => vec!["CMD-SHELL".to_string(), s],
    };
    let dur = |name: &str| step.flag(name).map(parse_duration).transpose();
    Ok(Some(Health {
        test,
        interval: dur("interval")?,
        timeout: dur("timeout")?,
        start_period: dur("start-period")?,
        retries: step
            .flag("retries")
            .map(|r| {
                r.parse()
                    .map_err(|_| BuildError::invalid("invalid retries"))
            })
            .transpose()?,
    }))
}

/// An `ONBUILD` trigger, checked as Docker checks it when it is declared.
fn onbuild_trigger(rest: &str) -> Result<String, BuildError> {
    let t = rest.trim();
    let kw = t
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_ascii_uppercase();
    match kw.as_str() {
        "ONBUILD" => Err(BuildError::invalid(
            "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed",
        )),
        "FROM" | "MAINTAINER" => Err(BuildError::invalid(format!(
            "{kw} isn't allowed as an ONBUILD trigger"
        ))),
        _ => Ok(t.to_string()),
    }
}

/// Makes `step` concrete with the variables in `vars`.
pub fn instruction(step: &Step, vars: Lookup<'_>) -> Result<Instruction, BuildError> {
    let for_words = step.rest_for_words();
    let rest = for_words.as_str();
    let need = |n: usize, got: usize| -> Result<(), BuildError> {
        if got < n {
            Err(BuildError::invalid(format!(
                "{} requires at least {n} argument{}",
                step.keyword,
                if n == 1 { "" } else { "s" }
            )))
        } else {
            Ok(())
        }
    };
    Ok(match step.keyword.as_str() {
        "FROM" => {
            let w = words(rest, vars)?;
            need(1, w.len())?;
            let alias = match w.as_slice() {
                [_, as_, name] if as_.eq_ignore_ascii_case("as") => Some(name.to_lowercase()),
                [_] => None,
                _ => {
                    return Err(BuildError::invalid(
                        "FROM requires either one or three arguments",
                    ))
                }
            };
            Instruction::From {
                image: w[0].clone(),
                alias,
            }
        }
        "RUN" => Instruction::Run(run_command(step)),
        "CMD" => Instruction::Cmd(command(&step.rest)),
        "ENTRYPOINT" => Instruction::Entrypoint(command(&step.rest)),
        "COPY" | "ADD" => {
            let mut w = exec_form(rest).map_or_else(
                || words(rest, vars),
                |v| v.iter().map(|s| word(s, vars)).collect(),
            )?;
            need(2, w.len())?;
            let dest = w.pop().unwrap_or_default();
            let args = CopyArgs {
                sources: w,
                dest,
                from: step.flag("from").map(str::to_string),
                chown: step.flag("chown").map(|c| word(c, vars)).transpose()?,
                chmod: step.flag("chmod").map(chmod).transpose()?,
                checksum: step.flag("checksum").map(str::to_string),
                heredocs: step
                    .heredocs
                    .iter()
                    .map(|h| {
                        let c = h.content();
                        let c = if h.expand { expand_vars(&c, vars)? } else { c };
                        Ok((h.name.clone(), c))
                    })
                    .collect::<Result<_, BuildError>>()?,
            };
            if step.keyword == "COPY" && args.checksum.is_some() {
                return Err(BuildError::invalid("Unknown flag: checksum"));
            }
            if step.keyword == "COPY" {
                Instruction::Copy(args)
            } else {
                Instruction::Add(args)
            }
        }
        "ENV" | "LABEL" => {
            let mut kv = Vec::new();
            for (k, v) in key_values(rest, vars, true)? {
                let v = v.ok_or_else(|| {
                    BuildError::invalid(format!("{} must have two arguments", step.keyword))
                })?;
                kv.push((k, v));
            }
            if step.keyword == "ENV" {
                Instruction::Env(kv)
            } else {
                Instruction::Label(kv)
            }
        }
        "ARG" => Instruction::Arg(key_values(rest, vars, false)?),
        "WORKDIR" => Instruction::Workdir(word(rest, vars)?),
        "USER" => Instruction::User(word(rest, vars)?),
        "EXPOSE" => Instruction::Expose(
            words(rest, vars)?
                .into_iter()
                .map(|p| {
                    if p.contains('/') {
                        p.to_lowercase()
                    } else {
                        format!("{p}/tcp")
                    }
                })
                .collect(),
        ),
        "VOLUME" => Instruction::Volume(match exec_form(rest) {
            Some(v) => v,
            None => words(rest, vars)?,
        }),
        "STOPSIGNAL" => Instruction::StopSignal(word(rest, vars)?),
        "HEALTHCHECK" => Instruction::Healthcheck(healthcheck(step)?),
        "SHELL" => Instruction::Shell(exec_form(rest).ok_or_else(|| {
            BuildError::invalid("SHELL requires the arguments to be in JSON form")
        })?),
        "ONBUILD" => Instruction::Onbuild(onbuild_trigger(&step.rest)?),
        "MAINTAINER" => Instruction::Maintainer(word(rest, vars)?),
        other => return Err(BuildError::invalid(format!("unknown instruction: {other}"))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parser::parse;

    fn none(_: &str) -> Option<String> {
        None
    }

    fn one(text: &str) -> Instruction {
        instruction(&parse(text).unwrap()[0], &none).unwrap()
    }

    #[test]
    fn forms() {
        assert_eq!(
            one("FROM busybox AS Builder"),
            Instruction::From {
                image: "busybox".into(),
                alias: Some("builder".into())
            }
        );
        assert_eq!(
            one("RUN [\"a\", \"b\"]"),
            Instruction::Run(Command::Exec(vec!["a".into(), "b".into()]))
        );
        assert_eq!(
            one("CMD echo $X"),
            Instruction::Cmd(Command::Shell("echo $X".into()))
        );
        assert_eq!(
            one("COPY --from=b /g /a /out/"),
            Instruction::Copy(CopyArgs {
                sources: vec!["/g".into(), "/a".into()],
                dest: "/out/".into(),
                from: Some("b".into()),
                chown: None,
                chmod: None,
                checksum: None,
                heredocs: vec![],
            })
        );
        assert_eq!(
            one("EXPOSE 8080 53/UDP"),
            Instruction::Expose(vec!["8080/tcp".into(), "53/udp".into()])
        );
        assert_eq!(
            one("VOLUME [\"/a\", \"/b\"]"),
            Instruction::Volume(vec!["/a".into(), "/b".into()])
        );
    }

    #[test]
    fn heredoc_forms() {
        let run = |t: &str| match one(t) {
            Instruction::Run(Command::Shell(s)) => s,
            other => panic!("{other:?}"),
        };
        assert_eq!(run("RUN <<EOF\necho a\necho b\nEOF"), "echo a\necho b\n");
        assert_eq!(
            run("RUN cat <<EOF > /f\nhi\nEOF"),
            "cat <<EOF > /f\nhi\nEOF"
        );
        let vars = |n: &str| (n == "X").then(|| "ex".to_string());
        let step = &parse("COPY <<a <<'b' /d/\n$X\na\n$X\nb").unwrap()[0];
        let Instruction::Copy(c) = instruction(step, &vars).unwrap() else {
            panic!()
        };
        assert_eq!(c.heredoc("<<a"), Some("ex\n"));
        assert_eq!(c.heredoc("<<b"), Some("$X\n"));
        assert_eq!(c.sources, vec!["<<a", "<<b"]);
    }

    #[test]
    fn copy_flags_and_onbuild_checks() {
        let Instruction::Add(a) = one("ADD --chmod=640 --checksum=sha256:ab http://x/y /z") else {
            panic!()
        };
        assert_eq!(a.chmod, Some(0o640));
        assert_eq!(a.checksum.as_deref(), Some("sha256:ab"));
        let bad = instruction(&parse("COPY --chmod=9z a b").unwrap()[0], &none);
        assert!(bad.is_err());
        let chain = instruction(&parse("ONBUILD ONBUILD RUN x").unwrap()[0], &none);
        assert!(chain.unwrap_err().to_string().contains("Chaining ONBUILD"));
        assert_eq!(
            one("ONBUILD RUN echo hi"),
            Instruction::Onbuild("RUN echo hi".into())
        );
    }

    #[test]
    fn healthcheck_and_durations() {
        assert_eq!(parse_duration("1m30s").unwrap(), 90_000_000_000);
        let Instruction::Healthcheck(Some(h)) =
            one("HEALTHCHECK --interval=5s --retries=3 CMD true")
        else {
            panic!("not a healthcheck")
        };
        assert_eq!(h.test, vec!["CMD-SHELL", "true"]);
        assert_eq!(h.interval, Some(5_000_000_000));
        assert_eq!(h.retries, Some(3));
        assert_eq!(one("HEALTHCHECK NONE"), Instruction::Healthcheck(None));
    }
}
