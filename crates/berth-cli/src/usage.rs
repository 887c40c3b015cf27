//! docker's usage lines on berth's clap command tree.
//!
//! Each command's `override_usage` holds what docker's cobra `Use` puts
//! after the command's name (`[OPTIONS] IMAGE [COMMAND] [ARG...]` for
//! `run`). The same flags serve several paths (`run` and `container run`),
//! so the path is prefixed here, once the tree is built, as cobra's
//! `UseLine` does: help and error messages then show docker's line.

use clap::Command;

/// `cmd` and its subcommands with usage lines that start with their path.
pub fn with_docker_usage(cmd: Command) -> Command {
    prefix_path(cmd, None)
}

fn prefix_path(cmd: Command, parent: Option<&str>) -> Command {
    let path = match parent {
        Some(parent) => format!("{parent} {}", cmd.get_name()),
        None => cmd.get_name().to_string(),
    };
    let line = match usage_line(&cmd).as_str() {
        "" => path.clone(),
        tail => format!("{path} {tail}"),
    };
    cmd.override_usage(line)
        .mut_subcommands(|sub| prefix_path(sub, Some(&path)))
}

/// The usage line clap shows for `cmd`, without clap's `Usage:` title.
pub fn usage_line(cmd: &Command) -> String {
    let rendered = cmd.clone().render_usage().to_string();
    rendered
        .strip_prefix("Usage:")
        .unwrap_or(&rendered)
        .trim()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every command of the tree, depth first.
    fn all(cmd: &Command) -> Vec<&Command> {
        std::iter::once(cmd)
            .chain(cmd.get_subcommands().flat_map(all))
            .collect()
    }

    #[test]
    fn every_command_carries_docker_usage() {
        use clap::CommandFactory;
        // Without an override clap renders its own usage, starting with the
        // command's name: that command lacks docker's usage.
        for cmd in all(&crate::cli::Cli::command()) {
            let tail = usage_line(cmd);
            assert!(
                !tail.starts_with(cmd.get_name()) && !tail.contains('<'),
                "{}: {tail}",
                cmd.get_name()
            );
        }
        let lines: Vec<String> = all(&crate::cli::command())
            .into_iter()
            .map(usage_line)
            .collect();
        for expected in [
            "berth [OPTIONS] COMMAND [ARG...]",
            "berth run [OPTIONS] IMAGE [COMMAND] [ARG...]",
            "berth container run [OPTIONS] IMAGE [COMMAND] [ARG...]",
            "berth image",
            "berth volume COMMAND",
            "berth image ls [OPTIONS] [REPOSITORY[:TAG]]",
            "berth context show",
        ] {
            assert!(lines.iter().any(|l| l == expected), "{expected}");
        }
    }
}
