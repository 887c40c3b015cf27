//! argv read back the way cobra and pflag read it: which commands it names,
//! which tokens each of them parses, and how each flag was written. A clap
//! error tells what went wrong but not in which command of the path nor how
//! the user spelled the flag (`-t` or `--time`); docker's messages show both.

use clap::{Arg, Command};

/// One command of the invoked path.
pub struct Level<'a> {
    pub cmd: &'a Command,
    /// The command path as docker prints it: `berth container run`.
    pub path: String,
    /// The tokens after this command's name, up to its subcommand's name.
    pub tokens: &'a [String],
}

/// The commands argv names, root first: each one's subcommand is the first
/// argument that is neither a flag nor a flag's value.
pub fn resolve<'a>(root: &'a Command, argv: &'a [String]) -> Vec<Level<'a>> {
    let mut levels = Vec::new();
    let (mut cmd, mut path) = (root, root.get_name().to_string());
    let mut rest = argv.get(1..).unwrap_or_default();
    loop {
        let sub = cmd
            .has_subcommands()
            .then(|| first_positional(cmd, rest))
            .flatten()
            .and_then(|i| Some((i, cmd.find_subcommand(&rest[i])?)));
        let Some((i, sub)) = sub else {
            levels.push(Level {
                cmd,
                path,
                tokens: rest,
            });
            return levels;
        };
        levels.push(Level {
            cmd,
            path: path.clone(),
            tokens: &rest[..i],
        });
        path = format!("{path} {}", sub.get_name());
        cmd = sub;
        rest = &rest[i + 1..];
    }
}

fn first_positional(cmd: &Command, tokens: &[String]) -> Option<usize> {
    scan(cmd, tokens).find_map(|item| match item {
        Item::Positional(i) => Some(i),
        Item::Flag(_) => None,
    })
}

/// How a flag was written on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spelling<'a> {
    /// `--name` or `--name=value`: the name as typed (an alias maybe).
    Long(&'a str),
    /// A letter of a `-abc` group, with the group from that letter on: pflag
    /// quotes that rest (`'z' in -zd` for `-dzd`).
    Short { letter: char, from: &'a str },
}

impl Spelling<'_> {
    /// pflag's error for a flag the command does not have.
    pub fn unknown(&self) -> String {
        match self {
            Spelling::Long(name) => format!("unknown flag: --{name}"),
            Spelling::Short { letter, from } => {
                format!("unknown shorthand flag: '{letter}' in -{from}")
            }
        }
    }

    /// pflag's error for a flag given no value at the end of the line.
    pub fn needs_argument(&self) -> String {
        match self {
            Spelling::Long(name) => format!("flag needs an argument: --{name}"),
            Spelling::Short { letter, from } => {
                format!("flag needs an argument: '{letter}' in -{from}")
            }
        }
    }
}

/// One flag occurrence.
#[derive(Debug, Clone, Copy)]
pub struct FlagUse<'a> {
    /// The command's argument, None when it has no such flag.
    pub arg: Option<&'a Arg>,
    pub spelling: Spelling<'a>,
    /// The value given (attached or the next token); None if none was.
    pub value: Option<&'a str>,
}

#[derive(Debug, Clone, Copy)]
pub enum Item<'a> {
    Flag(FlagUse<'a>),
    /// Index of a non-flag argument in the tokens.
    Positional(usize),
}

/// The flags and arguments of `tokens` as pflag parses them for `cmd`:
/// after `--`, or after the first argument of a command whose last argument
/// swallows the rest (`run IMAGE [COMMAND] [ARG...]`), all are arguments.
pub fn scan<'a>(cmd: &'a Command, tokens: &'a [String]) -> impl Iterator<Item = Item<'a>> {
    let interspersed = !cmd.get_positionals().any(Arg::is_trailing_var_arg_set);
    let mut items = Vec::new();
    let mut i = 0;
    let mut flags_done = false;
    while i < tokens.len() {
        let token = tokens[i].as_str();
        let next = tokens.get(i + 1).map(String::as_str);
        i += 1;
        if flags_done || token == "-" || !token.starts_with('-') {
            items.push(Item::Positional(i - 1));
            flags_done |= !interspersed;
        } else if token == "--" {
            flags_done = true;
        } else if let Some(long) = token.strip_prefix("--") {
            let (name, attached) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (long, None),
            };
            let arg = find_long(cmd, name);
            let mut value = attached;
            if value.is_none() && arg.is_some_and(needs_value) {
                value = next;
                i += usize::from(next.is_some());
            }
            items.push(Item::Flag(FlagUse {
                arg,
                spelling: Spelling::Long(name),
                value,
            }));
        } else {
            i += scan_shorts(cmd, &token[1..], next, &mut items);
        }
    }
    items.into_iter()
}

/// A `-abc` group: each letter is a flag until one takes the rest of the
/// group (or the next token) as its value. Returns how many following
/// tokens were consumed.
fn scan_shorts<'a>(
    cmd: &'a Command,
    group: &'a str,
    next: Option<&'a str>,
    items: &mut Vec<Item<'a>>,
) -> usize {
    for (at, letter) in group.char_indices() {
        let from = &group[at..];
        let after = &from[letter.len_utf8()..];
        let arg = find_short(cmd, letter);
        let spelling = Spelling::Short { letter, from };
        let flag = |value| {
            Item::Flag(FlagUse {
                arg,
                spelling,
                value,
            })
        };
        match arg {
            None => {
                items.push(flag(None));
                return 0;
            }
            Some(_) if after.len() > 1 && after.starts_with('=') => {
                items.push(flag(Some(&after[1..])));
                return 0;
            }
            Some(a) if !needs_value(a) => items.push(flag(None)),
            Some(_) if !after.is_empty() => {
                items.push(flag(Some(after)));
                return 0;
            }
            Some(_) => {
                items.push(flag(next));
                return usize::from(next.is_some());
            }
        }
    }
    0
}

/// A flag that cannot go without a value (`--name`, unlike `--rm` or
/// `--tlsverify[=bool]`).
pub fn needs_value(arg: &Arg) -> bool {
    arg.get_action().takes_values() && arg.get_num_args().is_none_or(|n| n.min_values() > 0)
}

fn find_long<'a>(cmd: &'a Command, name: &str) -> Option<&'a Arg> {
    cmd.get_arguments().find(|a| {
        a.get_long() == Some(name) || a.get_all_aliases().is_some_and(|al| al.contains(&name))
    })
}

fn find_short(cmd: &Command, letter: char) -> Option<&Arg> {
    cmd.get_arguments().find(|a| {
        a.get_short() == Some(letter)
            || a.get_all_short_aliases()
                .is_some_and(|al| al.contains(&letter))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::ArgAction;

    fn cmd() -> Command {
        let mut c = Command::new("berth")
            .arg(Arg::new("host").short('H').long("host"))
            .subcommand(
                Command::new("image").subcommand(
                    Command::new("ls")
                        .arg(Arg::new("all").short('a').action(ArgAction::SetTrue))
                        .arg(Arg::new("timeout").short('t').long("timeout").alias("time"))
                        .arg(Arg::new("repo")),
                ),
            );
        c.build();
        c
    }

    fn argv(s: &str) -> Vec<String> {
        s.split(' ').map(String::from).collect()
    }

    #[test]
    fn finds_the_path_past_flags_and_their_values() {
        let c = cmd();
        let a = argv("berth -H image image -z ls x");
        let levels = resolve(&c, &a);
        let paths: Vec<_> = levels.iter().map(|l| l.path.as_str()).collect();
        assert_eq!(paths, ["berth", "berth image", "berth image ls"]);
        assert_eq!(levels[0].tokens, ["-H", "image"]);
        assert_eq!(levels[1].tokens, ["-z"]);
        assert_eq!(levels[2].tokens, ["x"]);
        // An unknown name ends the path: that command gets the rest.
        let a = argv("berth image foo ls");
        let levels = resolve(&c, &a);
        assert_eq!(levels.last().unwrap().path, "berth image");
        assert_eq!(levels.last().unwrap().tokens, ["foo", "ls"]);
    }

    #[test]
    fn reads_flags_as_pflag_does() {
        let c = cmd();
        let ls = c
            .find_subcommand("image")
            .unwrap()
            .find_subcommand("ls")
            .unwrap();
        let a = argv("-at5 --time=x -az --timeout v -- -q");
        let flags: Vec<_> = scan(ls, &a)
            .map(|i| match i {
                Item::Flag(f) => (f.arg.map(|a| a.get_id().as_str()), f.spelling, f.value),
                Item::Positional(i) => (None, Spelling::Long("<arg>"), Some(a[i].as_str())),
            })
            .collect();
        let short = |letter, from| Spelling::Short { letter, from };
        assert_eq!(
            flags,
            [
                (Some("all"), short('a', "at5"), None),
                (Some("timeout"), short('t', "t5"), Some("5")),
                (Some("timeout"), Spelling::Long("time"), Some("x")),
                (Some("all"), short('a', "az"), None),
                (None, short('z', "z"), None),
                (Some("timeout"), Spelling::Long("timeout"), Some("v")),
                (None, Spelling::Long("<arg>"), Some("-q")),
            ]
        );
        assert_eq!(
            short('z', "zd").unknown(),
            "unknown shorthand flag: 'z' in -zd"
        );
        assert_eq!(
            Spelling::Long("name").needs_argument(),
            "flag needs an argument: --name"
        );
    }
}
