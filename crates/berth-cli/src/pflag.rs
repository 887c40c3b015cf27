//! pflag's rules for flags, on berth's whole clap command tree.
//!
//! docker reads its flags with pflag, which differs from clap in two ways
//! scripts rely on:
//! - a bool flag takes an optional attached value, read as Go's
//!   `strconv.ParseBool` reads it: `--rm=false`, `-d=true`, and in a group
//!   `-it=false` (`-i`, and `-t` false). The next word is never its value:
//!   `--rm false` is `--rm` and an argument `false`.
//! - a flag given again replaces its value (`--name a --name b` names the
//!   container `b`) where clap refuses the repeat; list flags (`-e`, `-v`)
//!   still collect every value.
//!
//! berth's commands declare their bools as plain switches (`pub rm: bool`);
//! [`apply`] rewrites the assembled tree once, so every command, present and
//! future, parses as pflag does without each flag spelling it out.

use std::any::TypeId;

use clap::{Arg, ArgAction, Command};

use crate::errors::go_strconv;

/// The value name of bool flags: `errors::clap_errors` words a refused
/// value as strconv does for it, and help leaves it out ([`docker_help`]).
const BOOL_VALUE: &str = "bool";

/// How clap's help shows a bool flag's optional value (`--rm[=<bool>]`).
const BOOL_VALUE_SUFFIX: &str = "[=<bool>]";

/// `cmd` and its subcommands with pflag's rules for bool and repeated flags.
pub fn apply(cmd: Command) -> Command {
    cmd.args_override_self(true)
        .mut_args(bool_flag)
        .mut_subcommands(apply)
}

/// A switch (`SetTrue`) or a bool that takes a value (`--sig-proxy`,
/// default true) as a pflag bool: the bare flag sets it, `=value` sets it to
/// the value, and a later use overrides an earlier one.
fn bool_flag(arg: Arg) -> Arg {
    if arg.is_positional() {
        return arg;
    }
    let arg = match arg.get_action() {
        // The default clap gives a switch, which a valued arg lacks.
        ArgAction::SetTrue if arg.get_default_values().is_empty() => arg.default_value("false"),
        ArgAction::SetTrue => arg,
        ArgAction::Set if arg.get_value_parser().type_id() == TypeId::of::<bool>() => arg,
        _ => return arg,
    };
    // docker's help says `(default true)`; a false default goes unsaid.
    let default_true = arg.get_default_values().iter().any(|v| v != "false");
    arg.action(ArgAction::Set)
        .num_args(0..=1)
        .require_equals(true)
        .default_missing_value("true")
        .value_parser(go_strconv::parse_bool)
        .value_name(BOOL_VALUE)
        .hide_default_value(!default_true)
}

/// clap's help text with bool flags shown as docker shows them: `--rm`,
/// not `--rm[=<bool>]`. Blanks take the suffix's place so the descriptions
/// stay in their column.
pub fn docker_help(help: &str) -> String {
    let blank = " ".repeat(BOOL_VALUE_SUFFIX.len());
    help.lines()
        .map(|line| {
            line.replace(BOOL_VALUE_SUFFIX, &blank)
                .trim_end()
                .to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
        + if help.ends_with('\n') { "\n" } else { "" }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{command, Cli};
    use crate::commands::Command as Cmd;
    use clap::FromArgMatches;

    fn parse(line: &str) -> Result<Cli, clap::Error> {
        let argv: Vec<&str> = line.split(' ').collect();
        let m = command().try_get_matches_from(argv)?;
        Cli::from_arg_matches(&m)
    }

    fn run_args(line: &str) -> crate::commands::container::run::Args {
        match parse(line).unwrap().command {
            Some(Cmd::Run(args)) => args,
            other => panic!("{line}: {other:?}"),
        }
    }

    #[test]
    fn bool_flags_take_an_attached_value() {
        let run = run_args("berth run --rm=false -d=true --privileged=T --tty=FALSE busybox");
        assert!(!run.opts.rm && run.detach && run.opts.privileged && !run.opts.tty);
        let run = run_args("berth run --rm --rm=0 --init=1 --init busybox");
        assert!(!run.opts.rm && run.opts.init);
        // A separate word is an argument, not the flag's value.
        let run = run_args("berth run --rm false");
        assert!(run.opts.rm);
        assert_eq!(run.opts.image_and_args, ["false"]);
        // Defaults stay: false for switches, true for --sig-proxy.
        let run = run_args("berth run busybox");
        assert!(!run.opts.rm && !run.detach && run.sig_proxy);
        assert!(!run_args("berth run --sig-proxy=false busybox").sig_proxy);
    }

    #[test]
    fn short_groups_read_as_pflag_reads_them() {
        let run = run_args("berth run -dit busybox");
        assert!(run.detach && run.opts.interactive && run.opts.tty);
        let run = run_args("berth run -it=false busybox");
        assert!(run.opts.interactive && !run.opts.tty);
        let run = run_args("berth run -itd=f -p 80:80 busybox");
        assert!(run.opts.interactive && run.opts.tty && !run.detach);
        let run = run_args("berth run -dp 80:80 busybox");
        assert!(run.detach && run.opts.publish == ["80:80"]);
    }

    #[test]
    fn global_bools_take_values_too() {
        let cli = parse("berth -D=false --tls=true --tlsverify=0 ps").unwrap();
        assert!(!cli.debug && cli.tls && cli.tlsverify == Some(false));
        let cli = parse("berth -D ps").unwrap();
        assert!(cli.debug && !cli.tls && cli.tlsverify.is_none());
    }

    #[test]
    fn bad_values_are_refused() {
        for line in [
            "berth run --rm=abc busybox",
            "berth run --rm= busybox",
            "berth run -d=yes busybox",
        ] {
            assert_eq!(
                parse(line).unwrap_err().kind(),
                clap::error::ErrorKind::ValueValidation,
                "{line}"
            );
        }
    }

    #[test]
    fn the_last_value_wins_and_lists_collect() {
        let run = run_args("berth run --name a --name b -m 10m -m 20m -e A=1 -e B=2 busybox");
        assert_eq!(run.opts.name.as_deref(), Some("b"));
        assert_eq!(run.opts.memory.as_deref(), Some("20m"));
        assert_eq!(run.opts.env, ["A=1", "B=2"]);
        assert!(run_args("berth run --rm --rm busybox").opts.rm);
        // -H is a list to docker too: both are kept (and refused later).
        let cli = parse("berth -H unix:///a -H unix:///b ps").unwrap();
        assert_eq!(cli.host, ["unix:///a", "unix:///b"]);
    }

    #[test]
    fn every_bool_flag_follows_pflag() {
        fn check(cmd: &Command, path: &str, count: &mut usize) {
            for arg in cmd.get_arguments().filter(|a| !a.is_positional()) {
                let bool_typed = arg.get_value_parser().type_id() == TypeId::of::<bool>();
                assert!(
                    !matches!(arg.get_action(), ArgAction::SetTrue | ArgAction::SetFalse),
                    "{path} {arg}: a switch that refuses =value"
                );
                if bool_typed && matches!(arg.get_action(), ArgAction::Set) {
                    *count += 1;
                    assert_eq!(arg.get_num_args(), Some((0..=1).into()), "{path} {arg}");
                    assert!(arg.is_require_equals_set(), "{path} {arg}");
                }
            }
            for sub in cmd.get_subcommands() {
                check(sub, &format!("{path} {}", sub.get_name()), count);
            }
        }
        let mut root = command();
        root.build();
        let mut count = 0;
        check(&root, "berth", &mut count);
        assert!(count > 60, "{count} bool flags");
    }

    #[test]
    fn help_shows_bools_without_a_value() {
        let help = |line: &str| {
            let argv: Vec<&str> = line.split(' ').collect();
            let err = command().try_get_matches_from(argv).unwrap_err();
            docker_help(&err.render().to_string())
        };
        let ps = help("berth ps --help");
        assert!(
            !ps.contains("<bool>") && !ps.contains("[default: false]"),
            "{ps}"
        );
        // Descriptions keep their column.
        let column = |flag: &str, text: &str| {
            let line = ps.lines().find(|l| l.contains(flag)).unwrap();
            line.find(text)
        };
        assert_eq!(
            column("--no-trunc", "Don't truncate"),
            column("--format", "Format output"),
            "{ps}"
        );
        let run = help("berth run --help");
        assert!(!run.contains("<bool>") && !run.contains("[default: false]"));
        assert!(run.contains("Proxy received signals to the process [default: true]"));
    }
}
