//! A cache of compiled filters, keyed by the SHA-256 of the OCI seccomp
//! section. libseccomp needs tens of milliseconds for Docker's default
//! profile; almost every container uses one of a few profiles, so the start
//! path reads the compiled program from a file instead.

use crate::{compile, LinuxSeccomp, Program, SeccompError};
use sha2::{Digest, Sha256};
use std::path::Path;

/// Bumped whenever [`compile`] lays programs out differently.
const LAYOUT: &[u8] = b"layout-3\n";

/// Compiles `seccomp`, reusing a program cached in `dir` when its profile is
/// byte-identical. Cache failures fall back to compiling: the cache is only
/// an optimisation, never a reason a container cannot start.
pub fn compile_cached(seccomp: &LinuxSeccomp, dir: &Path) -> Result<Program, SeccompError> {
    let key = match serde_json::to_vec(seccomp) {
        // The layout version keeps programs of an older compiler out.
        Ok(json) => hex::encode(Sha256::digest([LAYOUT, &json].concat())),
        Err(_) => return compile(seccomp),
    };
    let path = dir.join(format!("{key}.bpf"));
    if let Ok(bytes) = std::fs::read(&path) {
        if let Ok(p) = Program::from_bytes(&bytes) {
            return Ok(p);
        }
    }
    let program = compile(seccomp)?;
    // Write-then-rename so a concurrent start never reads half a program.
    if std::fs::create_dir_all(dir).is_ok() {
        let tmp = dir.join(format!("{key}.{}.tmp", std::process::id()));
        if std::fs::write(&tmp, program.as_bytes()).is_ok() {
            let _ = std::fs::rename(&tmp, &path);
        }
    }
    Ok(program)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_compile_comes_from_the_cache() {
        let dir = tempfile::tempdir().unwrap();
        let caps = vec!["CAP_CHOWN".to_string()];
        let profile = crate::default_profile(&caps).unwrap();
        let first = compile_cached(&profile, dir.path()).unwrap();
        let files: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(files.len(), 1);
        let second = compile_cached(&profile, dir.path()).unwrap();
        assert_eq!(first.as_bytes(), second.as_bytes());
        // A corrupt cache entry is recompiled, not trusted.
        let entry = files[0].as_ref().unwrap().path();
        std::fs::write(&entry, b"junk").unwrap();
        let third = compile_cached(&profile, dir.path()).unwrap();
        assert_eq!(first.as_bytes(), third.as_bytes());
    }
}
