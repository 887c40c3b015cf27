//! Finding the program to run (Go's `exec.LookPath`, which runc uses, so the
//! errors read the same) and the final execve.

use std::ffi::{CStr, CString};
use std::os::unix::ffi::OsStrExt;
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
    let mut out = ProgramPath::new();
    resolve_into(arg0, path_var, &mut out)?;
    Ok(out.as_path().to_path_buf())
}

/// [`resolve`] into a fixed buffer: on success nothing is allocated, which a
/// child sharing its parent's memory until execve relies on (see spawn.rs).
pub fn resolve_into(arg0: &str, path_var: Option<&str>, out: &mut ProgramPath) -> Result<()> {
    if arg0.is_empty() {
        return Err(RuntimeError::NotInPath(String::new()));
    }
    if arg0.contains('/') {
        let r = if out.set(&[arg0.as_bytes()]) {
            check_executable(out.as_cstr())
        } else {
            Err(Errno::ENAMETOOLONG)
        };
        return match r {
            Ok(()) => Ok(()),
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
        if out.set(&[dir.as_bytes(), b"/", arg0.as_bytes()])
            && check_executable(out.as_cstr()).is_ok()
        {
            return Ok(());
        }
    }
    Err(RuntimeError::NotInPath(arg0.to_string()))
}

/// A program path in a fixed, NUL-terminated buffer.
pub struct ProgramPath {
    buf: [u8; libc::PATH_MAX as usize],
    len: usize,
}

impl Default for ProgramPath {
    fn default() -> Self {
        ProgramPath::new()
    }
}

impl ProgramPath {
    pub fn new() -> ProgramPath {
        ProgramPath {
            buf: [0; libc::PATH_MAX as usize],
            len: 0,
        }
    }

    /// Stores the concatenation of `parts`; false if it does not fit or
    /// holds a NUL byte.
    fn set(&mut self, parts: &[&[u8]]) -> bool {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        if len >= self.buf.len() || parts.iter().any(|p| p.contains(&0)) {
            return false;
        }
        let mut at = 0;
        for p in parts {
            self.buf[at..at + p.len()].copy_from_slice(p);
            at += p.len();
        }
        self.buf[at] = 0;
        self.len = len;
        true
    }

    fn as_cstr(&self) -> &CStr {
        // set() wrote a NUL at len and refused interior NULs.
        CStr::from_bytes_with_nul(&self.buf[..=self.len]).unwrap_or_default()
    }

    pub fn as_path(&self) -> &std::path::Path {
        std::path::Path::new(std::ffi::OsStr::from_bytes(&self.buf[..self.len]))
    }
}

/// Go's findExecutable: exists, is not a directory, has an execute bit.
fn check_executable(path: &CStr) -> std::result::Result<(), Errno> {
    // SAFETY: zeroed is a valid `struct stat`; stat only writes into it.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: a NUL-terminated path and a valid out pointer.
    if unsafe { libc::stat(path.as_ptr(), &mut st) } != 0 {
        return Err(Errno::last());
    }
    if st.st_mode & libc::S_IFMT == libc::S_IFDIR || st.st_mode & 0o111 == 0 {
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

    /// Replaces the process image with `program`. Returns only on failure.
    pub fn exec(&self, program: &std::path::Path) -> RuntimeError {
        let mut path = ProgramPath::new();
        if !path.set(&[program.as_os_str().as_bytes()]) {
            return RuntimeError::InvalidSpec("program path contains NUL or is too long".into());
        }
        self.exec_path(&path)
    }

    /// As [`Command::exec`] without allocating when the argument and
    /// environment lists are of ordinary length (see [`resolve_into`]).
    pub fn exec_path(&self, program: &ProgramPath) -> RuntimeError {
        let mut argv = PtrList::new(&self.args);
        let mut envp = PtrList::new(&self.env);
        // SAFETY: NUL-terminated strings and NULL-terminated pointer arrays
        // that outlive the call (execve only returns on failure).
        unsafe { libc::execve(program.as_cstr().as_ptr(), argv.as_ptr(), envp.as_ptr()) };
        match Errno::last() {
            Errno::EACCES => RuntimeError::PermissionDenied(self.arg0.clone()),
            Errno::ENOENT => RuntimeError::NotFound(self.arg0.clone()),
            e => RuntimeError::sys(format!("exec: \"{}\"", self.arg0), e),
        }
    }
}

/// A NULL-terminated `char *[]` for execve: on the stack for up to 511
/// strings, on the heap beyond.
struct PtrList {
    inline: [*const libc::c_char; 512],
    heap: Vec<*const libc::c_char>,
}

impl PtrList {
    fn new(items: &[CString]) -> PtrList {
        let mut l = PtrList {
            inline: [std::ptr::null(); 512],
            heap: Vec::new(),
        };
        if items.len() < l.inline.len() {
            for (slot, s) in l.inline.iter_mut().zip(items) {
                *slot = s.as_ptr();
            }
        } else {
            l.heap = items.iter().map(|s| s.as_ptr()).collect();
            l.heap.push(std::ptr::null());
        }
        l
    }

    fn as_ptr(&mut self) -> *const *const libc::c_char {
        if self.heap.is_empty() {
            self.inline.as_ptr()
        } else {
            self.heap.as_ptr()
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
    use std::os::unix::fs::PermissionsExt;

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
