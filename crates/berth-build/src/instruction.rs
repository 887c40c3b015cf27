//! A step made concrete: the typed instruction, after the substitution
//! Docker applies to that instruction with the variables the step sees.

use crate::error::BuildError;
use crate::parser::Step;
use crate::words::{key_values, word, words, Lookup};

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

#[derive(Clone, Debug, PartialEq)]
pub struct CopyArgs {
    pub sources: Vec<String>,
    pub dest: String,
    pub from: Option<String>,
    pub chown: Option<String>,
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

/// Makes `step` concrete with the variables in `vars`.
pub fn instruction(step: &Step, vars: Lookup<'_>) -> Result<Instruction, BuildError> {
    let rest = step.rest.as_str();
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
        "RUN" => Instruction::Run(command(rest)),
        "CMD" => Instruction::Cmd(command(rest)),
        "ENTRYPOINT" => Instruction::Entrypoint(command(rest)),
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
            };
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
        "ONBUILD" => Instruction::Onbuild(rest.to_string()),
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
                chown: None
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
