//! `docker version`

use anyhow::Result;
use berth_api::types::SystemVersion;
use serde_json::{json, Value};

use crate::cli::Ctx;
use crate::errors::api_error_text;
use crate::formatter::GoTemplate;

/// Version of this client.
pub const CLIENT_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Show the Docker version information
#[derive(Debug, clap::Args)]
#[command(override_usage = "[OPTIONS]")]
pub struct Args {
    /// Format output using a custom template
    #[arg(short = 'f', long = "format", value_name = "string")]
    pub format: Option<String>,
}

pub async fn run(ctx: &mut Ctx, args: Args) -> Result<()> {
    // The client half prints even when the daemon is unreachable, as docker does.
    let negotiated = ctx.client.negotiate().await;
    let server = match negotiated {
        Ok(()) => ctx.client.get_json::<SystemVersion>("/version").await,
        Err(e) => Err(e),
    };
    let client = json!({
        "Platform": {"Name": "berth"},
        "Version": CLIENT_VERSION,
        "ApiVersion": ctx.client.version(),
        "DefaultAPIVersion": berth_api::API_VERSION,
        "GitCommit": "",
        "GoVersion": "",
        "Os": std::env::consts::OS,
        "Arch": go_arch(),
        "BuildTime": "",
        "Context": "default",
    });
    let server_json = server
        .as_ref()
        .ok()
        .map(|s| serde_json::to_value(s).unwrap_or(Value::Null));
    if let Some(f) = args.format.as_deref() {
        let data = json!({"Client": client, "Server": server_json});
        println!("{}", GoTemplate::parse(f)?.render(&data)?);
    } else {
        print_client(&client);
        if let Ok(s) = &server {
            println!();
            print_server(s);
        }
    }
    match server {
        Ok(_) => Ok(()),
        Err(e) => Err(crate::errors::StatusError::new(1, api_error_text(&e)).into()),
    }
}

fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

fn print_client(c: &Value) {
    let api = c["ApiVersion"].as_str().unwrap_or_default();
    let default_api = c["DefaultAPIVersion"].as_str().unwrap_or_default();
    let api_text = if api != default_api {
        format!("{api} (downgraded from {default_api})")
    } else {
        api.to_string()
    };
    println!("Client:");
    println!(" Version:           {}", CLIENT_VERSION);
    println!(" API version:       {api_text}");
    println!(" Go version:        n/a (berth, Rust)");
    println!(" Git commit:        n/a");
    println!(" Built:             n/a");
    println!(" OS/Arch:           {}/{}", std::env::consts::OS, go_arch());
    println!(" Context:           default");
}

fn print_server(s: &SystemVersion) {
    println!("Server:");
    println!(" Engine:");
    println!("  Version:          {}", s.version);
    println!(
        "  API version:      {} (minimum version {})",
        s.api_version, s.min_api_version
    );
    println!("  Go version:       {}", s.go_version);
    println!("  Git commit:       {}", s.git_commit);
    println!("  Built:            {}", s.build_time);
    println!("  OS/Arch:          {}/{}", s.os, s.arch);
    println!("  Experimental:     {}", s.experimental);
    for c in s.components.iter().filter(|c| c.name != "Engine") {
        println!(" {}:", c.name);
        println!("  Version:          {}", c.version);
        let mut details: Vec<_> = c.details.iter().collect();
        details.sort();
        for (k, v) in details {
            println!("  {:<18}{v}", format!("{k}:"));
        }
    }
}
