//! `GET /containers/{id}/top`: runs the host's `ps` with the client's
//! arguments and keeps the rows whose PID is in the container's cgroup, as
//! Docker does (so the columns are whatever `ps` prints).

use crate::container::Status;
use crate::daemon::Daemon;
use crate::error::{ApiError, ApiResult};
use serde_json::{json, Value};
use std::collections::HashSet;

/// Titles and rows of `ps` output, keeping only processes in `pids`. The last
/// column takes the rest of the line (commands contain spaces).
pub fn parse_ps(output: &str, pids: &HashSet<i32>) -> ApiResult<(Vec<String>, Vec<Vec<String>>)> {
    let mut lines = output.lines();
    let titles: Vec<String> = lines
        .next()
        .unwrap_or("")
        .split_whitespace()
        .map(String::from)
        .collect();
    let pid_idx = titles
        .iter()
        .position(|t| t == "PID")
        .ok_or_else(|| ApiError::internal("Couldn't find PID field in ps output"))?;
    let mut rows = Vec::new();
    for line in lines.filter(|l| !l.trim().is_empty()) {
        let mut fields: Vec<String> = line.split_whitespace().map(String::from).collect();
        let Some(pid) = fields.get(pid_idx) else {
            continue;
        };
        let pid: i32 = pid
            .parse()
            .map_err(|_| ApiError::internal(format!("Unexpected pid '{pid}': invalid syntax")))?;
        if !pids.contains(&pid) {
            continue;
        }
        if fields.len() > titles.len() {
            let rest = fields.split_off(titles.len() - 1).join(" ");
            fields.push(rest);
        }
        rows.push(fields);
    }
    Ok((titles, rows))
}

/// Docker refuses `ps` options that select processes by themselves being
/// parsed as anything else than options.
fn ps_args(raw: &str) -> Vec<String> {
    let args: Vec<String> = raw.split_whitespace().map(String::from).collect();
    if args.is_empty() {
        vec!["-ef".into()]
    } else {
        args
    }
}

pub async fn top(d: &Daemon, name: &str, raw_args: &str) -> ApiResult<Value> {
    let e = d.lookup(name)?;
    let c = e.get();
    if !matches!(c.state.status, Status::Running | Status::Paused) {
        return Err(ApiError::conflict(format!(
            "Container {} is not running",
            c.id
        )));
    }
    let pids: HashSet<i32> = berth_cgroups::Cgroup::open(&crate::cgroup_opts::cgroup_path(&c))
        .and_then(|cg| cg.pids())
        .map_err(|err| ApiError::internal(format!("cannot list processes of {}: {err}", c.id)))?
        .into_iter()
        .collect();
    let args = ps_args(raw_args);
    let out = tokio::process::Command::new("ps")
        .args(&args)
        .output()
        .await
        .map_err(|err| ApiError::internal(format!("Error running ps: {err}")))?;
    if !out.status.success() {
        let code = out.status.code().unwrap_or(-1);
        return Err(ApiError::internal(format!(
            "ps: exit status {code}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let (titles, rows) = parse_ps(&String::from_utf8_lossy(&out.stdout), &pids)?;
    Ok(json!({"Titles": titles, "Processes": rows}))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PS: &str = "UID          PID    PPID  C STIME TTY          TIME CMD
root           1       0  0 10:00 ?        00:00:01 /sbin/init
root        4242    4200  0 10:01 ?        00:00:00 sleep 100
";

    #[test]
    fn keeps_container_rows_and_joins_command() {
        let pids = HashSet::from([4242]);
        let (titles, rows) = parse_ps(PS, &pids).unwrap();
        assert_eq!(titles.len(), 8);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0][1], "4242");
        assert_eq!(rows[0][7], "sleep 100");
    }

    #[test]
    fn needs_a_pid_column() {
        let err = parse_ps("USER COMMAND\nroot sh\n", &HashSet::new()).unwrap_err();
        assert_eq!(err.message, "Couldn't find PID field in ps output");
    }

    #[test]
    fn default_args() {
        assert_eq!(ps_args(""), ["-ef"]);
        assert_eq!(ps_args("-o pid,comm"), ["-o", "pid,comm"]);
    }
}
