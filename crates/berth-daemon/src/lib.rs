//! berth-daemon: the Engine API server and the services behind it.

/// Entry point of `berth daemon` / `berthd`; `args` are the flags after the command.
pub fn main(args: Vec<String>) -> anyhow::Result<()> {
    let _ = args;
    anyhow::bail!("daemon: work in progress")
}
