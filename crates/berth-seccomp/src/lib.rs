//! berth-seccomp: Docker seccomp profiles -> OCI -> classic BPF (skeleton; filled in next).
pub use oci_spec::runtime::LinuxSeccomp;

#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    #[error("seccomp operation not implemented yet: {0}")]
    Unsupported(&'static str),
}

pub fn docker_profile_to_oci(_profile_json: &[u8], _caps: &[String]) -> Result<LinuxSeccomp, SeccompError> {
    Err(SeccompError::Unsupported("docker_profile_to_oci"))
}

pub fn default_profile(caps: &[String]) -> Result<LinuxSeccomp, SeccompError> {
    docker_profile_to_oci(include_bytes!("default.json"), caps)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Program(Vec<u8>);

impl Program {
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
    pub fn from_bytes(b: &[u8]) -> Result<Program, SeccompError> {
        Ok(Program(b.to_vec()))
    }
}

pub fn compile(_seccomp: &LinuxSeccomp) -> Result<Program, SeccompError> {
    Err(SeccompError::Unsupported("compile"))
}

pub fn install(_prog: &Program) -> Result<(), SeccompError> {
    Err(SeccompError::Unsupported("install"))
}
