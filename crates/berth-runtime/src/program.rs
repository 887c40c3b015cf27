//! Finding the program to run (Go's `exec.LookPath`, which runc uses, so the
//! errors read the same) and the final execve.

use std::ffi::CString;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use nix::errno::Errno;

use crate::error::{Result, RuntimeError};

/// Used when the process environment has no PATH (runc would fall back to its
/// own environment, which is this list under Docker).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The PATH entry of an environment list ("KEY=value" strings).
pub fn path_from_env<S: AsRef<str>>(env: &[S]) -> Option<&str> {
    env.iter()
        .rev()
        .find_map(|e| e.as_ref().strip_prefix("PATH="))
}

/// Resolves `arg0` the way runc does: names with a '/' are checked as given,
/// others are searched in `path_var` (':'-separated, empty entry = ".").
pub fn resolve(arg0: &str, path_var: Option<&str>) -> Result<PathBuf> {
    if arg0.is_empty() {
        return Err(RuntimeError::NotInPath(String::new()));
    }
    if arg0.contains('/') {
        return match check_executable(arg0) {
            Ok(()) => Ok(PathBuf::from(arg0)),
            Err(Errno::ENOENT) => Err(RuntimeError::NotFound(arg0.to_string())),
            Err(Errno::EACCES) => Err(RuntimeError::PermissionDenied(arg0.to_string())),
            Err(e) => Err(RuntimeError::sys(
                format!("exec: \"{arg0}\": stat {arg0}"),
                e,
            )),
        };
    }
    for dir in path_var.unwrap_or(DEFAULT_PATH).split(':') {
        let dir = if dir.is_empty() { "." } else { dir };
        let candidate = format!("{dir}/{arg0}");
        if check_executable(&candidate).is_ok() {
            return Ok(PathBuf::from(candidate));
        }
    }
    Err(RuntimeError::NotInPath(arg0.to_string()))
}

/// Go's findExecutable: exists, is not a directory, has an execute bit.
fn check_executable(path: &str) -> std::result::Result<(), Errno> {
    let meta = std::fs::metadata(path)
        .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))?;
    if meta.is_dir() || meta.permissions().mode() & 0o111 == 0 {
        return Err(Errno::EACCES);
    }
    Ok(())
}

/// A ready-to-exec command line: converted before fork so that the child does
/// no conversion work and bad input (NUL bytes) is reported early.
#[derive(Debug, Clone)]
pub struct Command {
    pub args: Vec<CString>,
    pub env: Vec<CString>,
    pub arg0: String,
    pub path_var: Option<String>,
}

impl Command {
    pub fn new(args: &[String], env: &[String]) -> Result<Command> {
        let arg0 = args
            .first()
            .ok_or_else(|| RuntimeError::InvalidSpec("process.args is empty".into()))?
            .clone();
        Ok(Command {
            args: to_cstrings(args, "process.args")?,
            env: to_cstrings(env, "process.env")?,
            path_var: path_from_env(env).map(str::to_string),
            arg0,
        })
    }

    /// Resolves the program and replaces the process image. Returns only on
    /// failure.
    pub fn exec(&self, program: &std::path::Path) -> RuntimeError {
        let prog = match CString::new(program.as_os_str().as_encoded_bytes()) {
            Ok(p) => p,
            Err(_) => return RuntimeError::InvalidSpec("program path contains NUL".into()),
        };
        let err = match nix::unistd::execve(&prog, &self.args, &self.env) {
            Ok(never) => match never {},
            Err(e) => e,
        };
        match err {
            Errno::EACCES => RuntimeError::PermissionDenied(self.arg0.clone()),
            Errno::ENOENT => RuntimeError::NotFound(self.arg0.clone()),
            e => RuntimeError::sys(format!("exec: \"{}\"", self.arg0), e),
        }
    }
}

fn to_cstrings(items: &[String], what: &str) -> Result<Vec<CString>> {
    items
        .iter()
        .map(|s| {
            CString::new(s.as_bytes())
                .map_err(|_| RuntimeError::InvalidSpec(format!("{what} entry {s:?} contains NUL")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn exe(dir: &std::path::Path, name: &str, mode: u32) -> String {
        let p = dir.join(name);
        fs::write(&p, "#!/bin/sh\n").unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
        p.to_str().unwrap().to_string()
    }

    #[test]
    fn finds_first_executable_in_path() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        exe(a.path(), "tool", 0o644); // not executable: skipped
        let want = exe(b.path(), "tool", 0o755);
        let path = format!("{}:{}", a.path().display(), b.path().display());
        assert_eq!(resolve("tool", Some(&path)).unwrap(), PathBuf::from(want));
    }

    #[test]
    fn missing_in_path_uses_runc_wording() {
        let a = tempfile::tempdir().unwrap();
        let err = resolve("foo", Some(a.path().to_str().unwrap())).unwrap_err();
        assert_eq!(
            err.to_string(),
            "exec: \"foo\": executable file not found in $PATH"
        );
    }

    #[test]
    fn slash_paths_are_checked_as_given() {
        let a = tempfile::tempdir().unwrap();
        let plain = exe(a.path(), "data", 0o644);
        let good = exe(a.path(), "run", 0o700);
        assert_eq!(resolve(&good, None).unwrap(), PathBuf::from(&good));
        assert!(matches!(
            resolve(&plain, None),
            Err(RuntimeError::PermissionDenied(_))
        ));
        let dir = a.path().to_str().unwrap().to_string();
        assert!(matches!(
            resolve(&dir, None),
            Err(RuntimeError::PermissionDenied(_))
        ));
        let err = resolve("/nonexistent", None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "exec: \"/nonexistent\": stat /nonexistent: no such file or directory"
        );
    }

    #[test]
    fn path_comes_from_the_process_env() {
        let env = ["A=1", "PATH=/x:/y", "B=2"];
        assert_eq!(path_from_env(&env), Some("/x:/y"));
        assert_eq!(path_from_env(&["A=1"]), None);
    }

    #[test]
    fn command_rejects_nul_and_empty_args() {
        assert!(Command::new(&[], &[]).is_err());
        assert!(Command::new(&["a\0b".into()], &[]).is_err());
        let c = Command::new(&["sh".into()], &["PATH=/bin".into()]).unwrap();
        assert_eq!(c.path_var.as_deref(), Some("/bin"));
    }
}
