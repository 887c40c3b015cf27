//! `docker login`: checks the credentials through the daemon (`POST /auth`)
//! and stores them in the docker config file.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::{bail, Result};
use serde_json::{json, Value};

use super::credentials;
use crate::cli::Ctx;

/// Log in to a registry
#[derive(Debug, clap::Args)]
#[command(override_usage = "[OPTIONS] [SERVER]")]
pub struct Args {
    /// Username
    #[arg(short = 'u', long = "username", value_name = "string")]
    pub username: Option<String>,
    /// Password
    #[arg(short = 'p', long = "password", value_name = "string")]
    pub password: Option<String>,
    /// Take the password from stdin
    #[arg(long = "password-stdin")]
    pub password_stdin: bool,
    #[arg(value_name = "SERVER")]
    pub server: Option<String>,
}

fn read_line(prompt: &str, echo: bool) -> Result<String> {
    eprint!("{prompt}");
    std::io::stderr().flush()?;
    let stdin = std::io::stdin();
    let fd = libc::STDIN_FILENO;
    // SAFETY: termios calls on our own stdin with a zeroed, then filled, struct.
    let mut saved: libc::termios = unsafe { std::mem::zeroed() };
    let hide = !echo && unsafe { libc::tcgetattr(fd, &mut saved) } == 0;
    if hide {
        let mut t = saved;
        t.c_lflag &= !libc::ECHO;
        unsafe { libc::tcsetattr(fd, libc::TCSANOW, &t) };
    }
    let mut line = String::new();
    let r = stdin.lock().read_line(&mut line);
    if hide {
        unsafe { libc::tcsetattr(fd, libc::TCSANOW, &saved) };
        eprintln!();
    }
    r?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}

pub async fn run(ctx: &mut Ctx, args: Args) -> Result<()> {
    let server = args
        .server
        .clone()
        .unwrap_or_else(|| credentials::INDEX_SERVER.into());
    if args.password.is_some() && args.password_stdin {
        bail!("--password and --password-stdin are mutually exclusive");
    }
    let mut password = args.password.clone();
    if password.is_some() {
        eprintln!("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
    }
    if args.password_stdin {
        if args.username.is_none() {
            bail!("Must provide --username with --password-stdin");
        }
        let mut s = String::new();
        std::io::stdin().read_line(&mut s)?;
        password = Some(s.trim_end_matches(['\n', '\r']).to_string());
    }
    let interactive = std::io::stdin().is_terminal();
    let username = match args.username.clone() {
        Some(u) => u,
        None if interactive => read_line("Username: ", true)?,
        None => bail!("Error: Cannot perform an interactive login from a non TTY device"),
    };
    let password = match password {
        Some(p) => p,
        None if interactive => read_line("Password: ", false)?,
        None => bail!("Error: Cannot perform an interactive login from a non TTY device"),
    };
    if username.is_empty() {
        bail!("Error: Non-null Username Required");
    }
    if password.is_empty() {
        bail!("Error: Password Required");
    }
    let body = json!({
        "username": username,
        "password": password,
        "serveraddress": credentials::server_key(&server),
    });
    let resp: Value = ctx.client.post_json("/auth", Some(&body)).await?;
    credentials::store(&ctx.config.dir, &server, &username, &password)?;
    let status = resp
        .get("Status")
        .and_then(Value::as_str)
        .unwrap_or("Login Succeeded");
    println!("{status}");
    Ok(())
}
