//! docker's wording and exit statuses for command-line mistakes.
//!
//! clap finds the mistakes cobra and pflag find (a missing or extra
//! argument, an unknown flag or command, a value that does not parse) but
//! words them its own way, and a script written against docker matches
//! docker's text and exit status: 1 for argument counts and unknown
//! commands, 125 for flags. [`translate`] rewrites a clap error into what
//! docker prints for the same command line. A clap error does not say in
//! which command of the path it arose nor how a flag was spelled, so argv is
//! read again the way pflag reads it ([`invocation`]); the usage lines come
//! from the command tree ([`crate::usage`]).

use std::any::TypeId;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{Arg, ArgAction, Command};

use super::go_strconv::GoType;
use super::invocation::{self, needs_value, Item, Level, Spelling};
use super::{flag_usage_error, FlagError, StatusError};
use crate::usage::usage_line;

/// docker commands that stop reading flags at their first argument
/// (`SetInterspersed(false)`) though their last argument takes no more than
/// one word: with too many arguments, a later `--flag` is one more argument.
/// (`run`, `create` and `exec` end in an argument that takes the rest, which
/// tells the scan by itself.)
const NOT_INTERSPERSED: &[&str] = &["tag", "commit"];

/// docker commands checked by cobra's own `ExactArgs` rather than docker's
/// validators: a bare `accepts N arg(s), received M`.
const COBRA_EXACT_ARGS: &[&str] = &["context use"];

/// What docker prints, and its exit status, for the command line clap
/// refused with `err`; None for what docker has no wording of its own for
/// (help, version, clap's conflicts), which clap prints. `root` must come
/// from [`crate::cli::command`], for its usage lines.
pub fn translate(err: &clap::Error, root: &mut Command, argv: &[String]) -> Option<StatusError> {
    root.build();
    let bin = root.get_name().to_string();
    let levels = invocation::resolve(root, argv);
    let leaf = levels.last()?;
    match err.kind() {
        ErrorKind::InvalidSubcommand => {
            // cobra parses the command's flags before it looks at the name.
            let name = context_str(err, ContextKind::InvalidSubcommand)?;
            first_flag_error(&levels).or_else(|| Some(unknown_command(&bin, &levels, name)))
        }
        ErrorKind::MissingRequiredArgument => arg_count(&bin, leaf),
        ErrorKind::UnknownArgument if !is_flag(context_str(err, ContextKind::InvalidArg)?) => {
            // An argument too many; pflag's flag errors come first.
            let interspersed = !NOT_INTERSPERSED.contains(&leaf.cmd.get_name());
            let flag_error = interspersed.then(|| flag_error(leaf)).flatten();
            flag_error.or_else(|| arg_count(&bin, leaf))
        }
        ErrorKind::UnknownArgument
        | ErrorKind::InvalidValue
        | ErrorKind::ValueValidation
        | ErrorKind::TooManyValues => {
            first_flag_error(&levels).or_else(|| refused_value(err, &levels))
        }
        _ => None,
    }
}

fn is_flag(arg: &str) -> bool {
    arg.starts_with('-') && arg != "-"
}

fn context_str(err: &clap::Error, kind: ContextKind) -> Option<&str> {
    match err.get(kind)? {
        ContextValue::String(s) => Some(s),
        _ => None,
    }
}

/// The first flag pflag would refuse, in the order it parses them.
fn first_flag_error(levels: &[Level]) -> Option<StatusError> {
    levels.iter().find_map(flag_error)
}

/// pflag's error for the first flag of `level` it cannot parse: unknown, its
/// value missing, or a value strconv refuses.
fn flag_error(level: &Level) -> Option<StatusError> {
    let message = invocation::scan(level.cmd, level.tokens).find_map(|item| {
        let Item::Flag(flag) = item else {
            return None;
        };
        match (flag.arg, flag.value) {
            (None, _) => Some(flag.spelling.unknown()),
            (Some(arg), None) if needs_value(arg) => Some(flag.spelling.needs_argument()),
            (Some(arg), Some(value)) => {
                let reason = go_type(arg)?.parse_error(value)?;
                Some(FlagError::new(&flag_label(arg, flag.spelling), value, reason).to_string())
            }
            (Some(_), None) => None,
        }
    })?;
    Some(flag_usage_error(
        message,
        &usage_line(level.cmd),
        &level.path,
    ))
}

/// A value clap refused that pflag would parse differently (a value parser
/// of berth's own, or a value Go takes and clap does not): the flag error
/// with clap's reason.
fn refused_value(err: &clap::Error, levels: &[Level]) -> Option<StatusError> {
    let shown = context_str(err, ContextKind::InvalidArg)?;
    let (level, arg) = levels.iter().rev().find_map(|level| {
        let arg = level.cmd.get_arguments().find(|a| a.to_string() == shown)?;
        Some((level, arg))
    })?;
    let uses: Vec<_> = invocation::scan(level.cmd, level.tokens)
        .filter_map(|item| match item {
            Item::Flag(f) if f.arg.is_some_and(|a| a.get_id() == arg.get_id()) => Some(f),
            _ => None,
        })
        .collect();
    let usage = usage_line(level.cmd);
    let value = context_str(err, ContextKind::InvalidValue).unwrap_or_default();
    if value.is_empty() && err.kind() == ErrorKind::InvalidValue {
        // clap's "a value is required": the flag came last.
        let spelling = uses
            .last()
            .map(|f| f.spelling)
            .unwrap_or(Spelling::Long(arg.get_long()?));
        return Some(flag_usage_error(
            spelling.needs_argument(),
            &usage,
            &level.path,
        ));
    }
    let spelling = uses
        .iter()
        .find(|f| f.value == Some(value))
        .map(|f| f.spelling);
    let reason = go_type(arg)
        .and_then(|t| t.parse_error(value))
        .or_else(|| Some(std::error::Error::source(err)?.to_string()))?;
    let label = match spelling {
        Some(spelling) => flag_label(arg, spelling),
        None => flag_label(arg, Spelling::Long(arg.get_long()?)),
    };
    Some(FlagError::new(&label, value, reason).with_usage(&usage, &level.path))
}

/// How pflag names a flag in its errors: `-c, --cpu-shares`, or `--name`
/// without a shorthand. berth's aliases (`--time` for `--timeout`) are
/// flags of their own to docker, named as typed.
fn flag_label(arg: &Arg, spelling: Spelling) -> String {
    if let Spelling::Long(name) = spelling {
        if arg.get_long() != Some(name) {
            return format!("--{name}");
        }
    }
    match (arg.get_short(), arg.get_long()) {
        (Some(short), Some(long)) => format!("-{short}, --{long}"),
        (None, Some(long)) => format!("--{long}"),
        (Some(short), None) => format!("-{short}"),
        (None, None) => arg.get_id().to_string(),
    }
}

/// How pflag parses the flag's value: berth names its flags' values as
/// docker's help does (`int`, `uint16`, `bool`); plain switches are bools.
fn go_type(arg: &Arg) -> Option<GoType> {
    let named = arg
        .get_value_names()
        .and_then(|names| names.first())
        .and_then(|name| GoType::from_type_name(name.as_str()));
    let switch = matches!(arg.get_action(), ArgAction::SetTrue | ArgAction::SetFalse)
        || arg.get_value_parser().type_id() == TypeId::of::<bool>();
    named.or(switch.then_some(GoType::Bool))
}

/// The argument counts a command takes, from its positional arguments,
/// worded as docker's validators (`cli.ExactArgs`, `RequiresMinArgs`...).
fn arg_count(bin: &str, level: &Level) -> Option<StatusError> {
    let (min, max) = arity(level.cmd);
    let path = &level.path;
    let command = path.strip_prefix(bin).unwrap_or(path).trim_start();
    if COBRA_EXACT_ARGS.contains(&command) {
        let received = invocation::scan(level.cmd, level.tokens)
            .filter(|item| matches!(item, Item::Positional(_)))
            .count();
        return Some(StatusError::new(
            1,
            format!("accepts {min} arg(s), received {received}"),
        ));
    }
    let plural = |n: usize| if n == 1 { "argument" } else { "arguments" };
    let (requirement, pointer) = match (min, max) {
        (_, Some(0)) => ("accepts no arguments".to_string(), "Run"),
        (min, Some(max)) if min == max => (format!("requires {min} {}", plural(min)), "Run"),
        // "SRun" is docker 28's own typo in RequiresMaxArgs.
        (0, Some(max)) => (format!("requires at most {max} {}", plural(max)), "SRun"),
        (min, Some(max)) => (
            format!("requires at least {min} and at most {max} {}", plural(max)),
            "Run",
        ),
        (0, None) => return None,
        (min, None) => (format!("requires at least {min} {}", plural(min)), "See"),
    };
    Some(StatusError::new(
        1,
        format!(
            "{bin}: '{path}' {requirement}\n\nUsage:  {}\n\n{pointer} '{path} --help' for more information",
            usage_line(level.cmd)
        ),
    ))
}

/// The least and most arguments `cmd` takes (None: no limit).
fn arity(cmd: &Command) -> (usize, Option<usize>) {
    cmd.get_positionals().fold((0, Some(0)), |(min, max), arg| {
        let range = arg.get_num_args().unwrap_or_default();
        let least = if arg.is_required_set() {
            range.min_values()
        } else {
            0
        };
        let most = match range.max_values() {
            usize::MAX => None,
            n => max.map(|m| m + n),
        };
        (min + least, most)
    })
}

/// docker's unknown-command error: the root's has no usage line.
fn unknown_command(bin: &str, levels: &[Level], name: &str) -> StatusError {
    let level = &levels[levels.len() - 1];
    let path = &level.path;
    let usage = if levels.len() == 1 {
        String::new()
    } else {
        format!("\n\nUsage:  {}", usage_line(level.cmd))
    };
    StatusError::new(
        1,
        format!(
            "{bin}: unknown command: {path} {name}{usage}\n\nRun '{path} --help' for more information"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// berth's answer to a command line: exit status and stderr text.
    fn refused(line: &str) -> (i32, String) {
        let argv: Vec<String> = line.split(' ').map(String::from).collect();
        let mut root = crate::cli::command();
        let err = root
            .try_get_matches_from_mut(&argv)
            .expect_err("the line must be refused");
        let status = translate(&err, &mut root, &argv).expect("docker has words for it");
        (status.code, status.message)
    }

    fn usage_and_help(usage: &str, path: &str) -> String {
        format!("\n\nUsage:  {usage}\n\nRun '{path} --help' for more information")
    }

    const RUN_USAGE: &str = "berth run [OPTIONS] IMAGE [COMMAND] [ARG...]";

    #[test]
    fn missing_arguments() {
        assert_eq!(
            refused("berth run"),
            (
                1,
                format!("berth: 'berth run' requires at least 1 argument\n\nUsage:  {RUN_USAGE}\n\nSee 'berth run --help' for more information")
            )
        );
        assert_eq!(
            refused("berth container exec -it c"),
            (
                1,
                "berth: 'berth container exec' requires at least 2 arguments\n\nUsage:  berth container exec [OPTIONS] CONTAINER COMMAND [ARG...]\n\nSee 'berth container exec --help' for more information".to_string()
            )
        );
        let tag = usage_and_help(
            "berth tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]",
            "berth tag",
        );
        assert_eq!(
            refused("berth tag a"),
            (1, format!("berth: 'berth tag' requires 2 arguments{tag}"))
        );
        assert_eq!(
            refused("berth logs").1,
            format!(
                "berth: 'berth logs' requires 1 argument{}",
                usage_and_help("berth logs [OPTIONS] CONTAINER", "berth logs")
            )
        );
        assert_eq!(
            refused("berth port").1,
            format!(
                "berth: 'berth port' requires at least 1 and at most 2 arguments{}",
                usage_and_help("berth port CONTAINER [PRIVATE_PORT[/PROTO]]", "berth port")
            )
        );
    }

    #[test]
    fn docker_validators_berth_cannot_derive() {
        // docker import requires one argument and ignores any past two.
        assert!(refused("berth import")
            .1
            .starts_with("berth: 'berth import' requires at least 1 argument\n"));
        assert_eq!(
            refused("berth context use a b"),
            (1, "accepts 1 arg(s), received 2".to_string())
        );
    }

    #[test]
    fn too_many_arguments() {
        let tag = usage_and_help(
            "berth tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]",
            "berth tag",
        );
        assert_eq!(
            refused("berth tag a b c"),
            (1, format!("berth: 'berth tag' requires 2 arguments{tag}"))
        );
        // tag stops reading flags at its first argument; rename does not.
        assert_eq!(refused("berth tag a b c --oops").0, 1);
        assert_eq!(
            refused("berth rename a b c --oops"),
            (
                125,
                format!(
                    "unknown flag: --oops{}",
                    usage_and_help("berth rename CONTAINER NEW_NAME", "berth rename")
                )
            )
        );
        assert_eq!(
            refused("berth images a b"),
            (
                1,
                "berth: 'berth images' requires at most 1 argument\n\nUsage:  berth images [OPTIONS] [REPOSITORY[:TAG]]\n\nSRun 'berth images --help' for more information".to_string()
            )
        );
        assert_eq!(
            refused("berth version x"),
            (
                1,
                format!(
                    "berth: 'berth version' accepts no arguments{}",
                    usage_and_help("berth version [OPTIONS]", "berth version")
                )
            )
        );
    }

    #[test]
    fn unknown_flags() {
        let run = usage_and_help(RUN_USAGE, "berth run");
        assert_eq!(
            refused("berth run --oops"),
            (125, format!("unknown flag: --oops{run}"))
        );
        assert_eq!(
            refused("berth run -z"),
            (125, format!("unknown shorthand flag: 'z' in -z{run}"))
        );
        assert_eq!(
            refused("berth run -zd busybox").1,
            format!("unknown shorthand flag: 'z' in -zd{run}")
        );
        assert_eq!(
            refused("berth run -dz busybox").1,
            format!("unknown shorthand flag: 'z' in -z{run}")
        );
        // A root flag error names the root's usage, even with a command after it.
        assert_eq!(
            refused("berth --oops ps"),
            (
                125,
                format!(
                    "unknown flag: --oops{}",
                    usage_and_help("berth [OPTIONS] COMMAND [ARG...]", "berth")
                )
            )
        );
        assert_eq!(
            refused("berth image --oops").1,
            format!(
                "unknown flag: --oops{}",
                usage_and_help("berth image", "berth image")
            )
        );
    }

    #[test]
    fn invalid_values() {
        let run = usage_and_help(RUN_USAGE, "berth run");
        assert_eq!(
            refused("berth run -c abc busybox"),
            (
                125,
                format!("invalid argument \"abc\" for \"-c, --cpu-shares\" flag: strconv.ParseInt: parsing \"abc\": invalid syntax{run}")
            )
        );
        assert_eq!(
            refused("berth run --cpu-shares=99999999999999999999 busybox").1,
            format!("invalid argument \"99999999999999999999\" for \"-c, --cpu-shares\" flag: strconv.ParseInt: parsing \"99999999999999999999\": value out of range{run}")
        );
        assert_eq!(
            refused("berth run --blkio-weight 99999 busybox").1,
            format!("invalid argument \"99999\" for \"--blkio-weight\" flag: strconv.ParseUint: parsing \"99999\": value out of range{run}")
        );
        assert_eq!(
            refused("berth run --rm=abc busybox").1,
            format!("invalid argument \"abc\" for \"--rm\" flag: strconv.ParseBool: parsing \"abc\": invalid syntax{run}")
        );
        assert_eq!(
            refused("berth run -d=maybe busybox").1,
            format!("invalid argument \"maybe\" for \"-d, --detach\" flag: strconv.ParseBool: parsing \"maybe\": invalid syntax{run}")
        );
        // docker's --time is a flag of its own, not -t's long name.
        let stop = usage_and_help(
            "berth stop [OPTIONS] CONTAINER [CONTAINER...]",
            "berth stop",
        );
        assert_eq!(
            refused("berth stop --time x c").1,
            format!("invalid argument \"x\" for \"--time\" flag: strconv.ParseInt: parsing \"x\": invalid syntax{stop}")
        );
        assert_eq!(
            refused("berth stop -t x c").1,
            format!("invalid argument \"x\" for \"-t, --timeout\" flag: strconv.ParseInt: parsing \"x\": invalid syntax{stop}")
        );
        assert_eq!(
            refused("berth --tlsverify=x ps"),
            (
                125,
                format!(
                    "invalid argument \"x\" for \"--tlsverify\" flag: strconv.ParseBool: parsing \"x\": invalid syntax{}",
                    usage_and_help("berth [OPTIONS] COMMAND [ARG...]", "berth")
                )
            )
        );
    }

    #[test]
    fn missing_values() {
        let run = usage_and_help(RUN_USAGE, "berth run");
        assert_eq!(
            refused("berth run --name"),
            (125, format!("flag needs an argument: --name{run}"))
        );
        let logs = usage_and_help("berth logs [OPTIONS] CONTAINER", "berth logs");
        assert_eq!(
            refused("berth logs -n"),
            (125, format!("flag needs an argument: 'n' in -n{logs}"))
        );
        assert_eq!(
            refused("berth -H").1,
            format!(
                "flag needs an argument: 'H' in -H{}",
                usage_and_help("berth [OPTIONS] COMMAND [ARG...]", "berth")
            )
        );
    }

    #[test]
    fn unknown_commands() {
        assert_eq!(
            refused("berth foo"),
            (
                1,
                "berth: unknown command: berth foo\n\nRun 'berth --help' for more information"
                    .to_string()
            )
        );
        assert_eq!(
            refused("berth image foo"),
            (
                1,
                format!(
                    "berth: unknown command: berth image foo{}",
                    usage_and_help("berth image", "berth image")
                )
            )
        );
        assert_eq!(
            refused("berth volume foo").1,
            format!(
                "berth: unknown command: berth volume foo{}",
                usage_and_help("berth volume COMMAND", "berth volume")
            )
        );
        // Flags are parsed before the name is looked up.
        assert_eq!(refused("berth container foo --oops").0, 125);
    }

    #[test]
    fn help_is_left_to_clap() {
        let argv: Vec<String> = ["berth", "run", "--help"].map(String::from).to_vec();
        let mut root = crate::cli::command();
        let err = root.try_get_matches_from_mut(&argv).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::DisplayHelp);
        assert!(translate(&err, &mut root, &argv).is_none());
    }
}
