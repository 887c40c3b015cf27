//! `docker info` / `docker system info`

use anyhow::Result;
use serde_json::Value;

use crate::cli::Ctx;
use crate::formatter::GoTemplate;
use crate::humanize::bytes_size;

/// Display system-wide information
#[derive(Debug, clap::Args)]
#[command(override_usage = "[OPTIONS]")]
pub struct Args {
    /// Format output using a custom template
    #[arg(short = 'f', long = "format", value_name = "string")]
    pub format: Option<String>,
}

pub async fn run(ctx: &mut Ctx, args: Args) -> Result<()> {
    let info: Value = ctx.client.get_json("/info").await?;
    if let Some(f) = args.format.as_deref() {
        let f = if f == "json" { "{{json .}}" } else { f };
        println!("{}", GoTemplate::parse(f)?.render(&info)?);
        return Ok(());
    }
    print!("{}", render(&info));
    Ok(())
}

/// The human-readable `docker info` text for an /info answer.
pub fn render(i: &Value) -> String {
    let s = |k: &str| match &i[k] {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        v => v.to_string(),
    };
    let mut out = String::new();
    let mut line = |t: String| {
        out.push_str(&t);
        out.push('\n');
    };
    line("Client:".into());
    line(format!(" Version:    {}", super::version::CLIENT_VERSION));
    line(" Context:    default".into());
    line(" Debug Mode: false".into());
    line(String::new());
    line("Server:".into());
    line(format!(" Containers: {}", s("Containers")));
    line(format!("  Running: {}", s("ContainersRunning")));
    line(format!("  Paused: {}", s("ContainersPaused")));
    line(format!("  Stopped: {}", s("ContainersStopped")));
    line(format!(" Images: {}", s("Images")));
    line(format!(" Server Version: {}", s("ServerVersion")));
    line(format!(" Storage Driver: {}", s("Driver")));
    if let Some(status) = i["DriverStatus"].as_array() {
        for pair in status {
            if let (Some(k), Some(v)) = (pair[0].as_str(), pair[1].as_str()) {
                line(format!("  {k}: {v}"));
            }
        }
    }
    line(format!(" Logging Driver: {}", s("LoggingDriver")));
    line(format!(" Cgroup Driver: {}", s("CgroupDriver")));
    line(format!(" Cgroup Version: {}", s("CgroupVersion")));
    if let Some(rt) = i["Runtimes"].as_object() {
        let names: Vec<&str> = rt.keys().map(String::as_str).collect();
        line(format!(" Runtimes: {}", names.join(" ")));
    }
    line(format!(" Default Runtime: {}", s("DefaultRuntime")));
    line(format!(" Init Binary: {}", s("InitBinary")));
    if let Some(opts) = i["SecurityOptions"].as_array() {
        line(" Security Options:".into());
        for o in opts.iter().filter_map(Value::as_str) {
            for (n, part) in o.split(',').enumerate() {
                let (k, v) = part.split_once('=').unwrap_or(("", part));
                if n == 0 {
                    line(format!("  {v}"));
                } else {
                    line(format!("   {}: {v}", title(k)));
                }
            }
        }
    }
    line(format!(" Kernel Version: {}", s("KernelVersion")));
    line(format!(" Operating System: {}", s("OperatingSystem")));
    line(format!(" OSType: {}", s("OSType")));
    line(format!(" Architecture: {}", s("Architecture")));
    line(format!(" CPUs: {}", s("NCPU")));
    line(format!(
        " Total Memory: {}",
        bytes_size(i["MemTotal"].as_f64().unwrap_or(0.0))
    ));
    line(format!(" Name: {}", s("Name")));
    line(format!(" ID: {}", s("ID")));
    line(format!(" Docker Root Dir: {}", s("DockerRootDir")));
    line(format!(
        " Debug Mode: {}",
        i["Debug"].as_bool().unwrap_or(false)
    ));
    line(format!(
        " Experimental: {}",
        i["ExperimentalBuild"].as_bool().unwrap_or(false)
    ));
    line(" Insecure Registries:".into());
    if let Some(cidrs) = i["RegistryConfig"]["InsecureRegistryCIDRs"].as_array() {
        for c in cidrs.iter().filter_map(Value::as_str) {
            line(format!("  {c}"));
        }
    }
    line(format!(
        " Live Restore Enabled: {}",
        i["LiveRestoreEnabled"].as_bool().unwrap_or(false)
    ));
    out
}

fn title(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn info_text() {
        let i = json!({"Containers": 3, "ContainersRunning": 1, "ContainersPaused": 0, "ContainersStopped": 2,
            "Images": 1, "ServerVersion": "0.1.0", "Driver": "overlay2", "MemTotal": 2147483648u64,
            "SecurityOptions": ["name=seccomp,profile=builtin"], "NCPU": 2});
        let text = render(&i);
        assert!(text.contains("\n Containers: 3\n  Running: 1\n"));
        assert!(text.contains(" Total Memory: 2GiB\n"));
        assert!(text.contains("  seccomp\n   Profile: builtin\n"));
        assert!(text.contains(" CPUs: 2\n"));
    }
}
