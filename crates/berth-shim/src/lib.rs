//! berth-shim: the per-container supervisor process.

/// Entry point of `berth shim`; `args` are the flags after the command.
pub fn main(args: Vec<String>) -> anyhow::Result<()> {
    let _ = args;
    anyhow::bail!("shim: work in progress")
}
