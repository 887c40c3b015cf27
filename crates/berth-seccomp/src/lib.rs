//! berth-seccomp: Docker seccomp profiles -> OCI `LinuxSeccomp` -> classic BPF,
//! and installing the result.
//!
//! `profile` reproduces moby's setupSeccomp filtering, `compile` builds BPF
//! with libseccomp (the build host and CI need `libseccomp-dev`) behind the
//! hand-written ENOSYS stub (`enosys`) and allow-range prelude (`ranges`),
//! `program` holds the bytes and installs them.
mod bpf;
mod compile;
mod enosys;
mod error;
mod profile;
mod program;
mod ranges;

pub use error::SeccompError;
pub use oci_spec::runtime::LinuxSeccomp;
pub use program::{install, Program};

/// Docker's profile embedded at build time (moby's profiles/seccomp/default.json).
pub const DEFAULT_PROFILE_JSON: &[u8] = include_bytes!("default.json");

/// Docker's seccomp profile JSON -> the OCI form for this host's architecture
/// and the container's capabilities ("CAP_SYS_ADMIN"; the prefix is optional).
pub fn docker_profile_to_oci(
    profile_json: &[u8],
    caps: &[String],
) -> Result<LinuxSeccomp, SeccompError> {
    profile::translate(profile_json, &profile::this_host(caps)?)
}

/// The embedded default profile for these caps.
pub fn default_profile(caps: &[String]) -> Result<LinuxSeccomp, SeccompError> {
    docker_profile_to_oci(DEFAULT_PROFILE_JSON, caps)
}

mod cache;
pub use cache::compile_cached;

/// Compiles to classic BPF for every architecture the spec lists (plus native).
pub fn compile(seccomp: &LinuxSeccomp) -> Result<Program, SeccompError> {
    compile::compile(seccomp)
}

#[cfg(test)]
mod equivalence;
#[cfg(test)]
mod tests;
