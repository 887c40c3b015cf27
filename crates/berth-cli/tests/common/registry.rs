//! Registry servers for the tests: `berth registry serve` and Debian's
//! `docker-registry` (the reference distribution server), each with a
//! scratch directory, killed and removed on drop.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use super::net::{free_port, wait_for_port};
use super::{scratch, Scratch, BERTH};

/// A registry process on `addr`, its storage and log in `root`.
pub struct Registry {
    pub root: PathBuf,
    pub addr: String,
    child: Child,
}

impl Registry {
    /// `berth registry serve` on a free loopback port, no auth.
    pub fn start(name: &str) -> Registry {
        Registry::berth(name, "127.0.0.1", &[])
    }

    /// `berth registry serve` on a free port of `ip` (an address this host
    /// has), with extra flags (TLS, auth).
    pub fn berth(name: &str, ip: &str, extra: &[&str]) -> Registry {
        Registry::berth_in(scratch(&format!("registry-{name}")), ip, extra)
    }

    /// [`Registry::berth`] in a scratch directory the caller prepared
    /// (e.g. with an htpasswd file).
    pub fn berth_in(dir: Scratch, ip: &str, extra: &[&str]) -> Registry {
        let addr = format!("{ip}:{}", free_port(ip));
        let storage = dir.join("storage");
        let mut args: Vec<&OsStr> = vec![
            "--addr".as_ref(),
            addr.as_ref(),
            "--root".as_ref(),
            storage.as_os_str(),
        ];
        args.extend(extra.iter().map(OsStr::new));
        let root = dir.into_path();
        Registry::serve(&root, &addr, &args)
    }

    /// `berth registry serve <args>` logging to `dir/registry.log`, once it
    /// accepts connections on `addr`; `dir` goes with it.
    pub fn serve(dir: &Path, addr: &str, args: &[&OsStr]) -> Registry {
        let child = Command::new(BERTH)
            .args(["registry", "serve"])
            .args(args)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("registry.log")).unwrap())
            .spawn()
            .unwrap();
        Registry::wait(dir, addr, child, "berth registry")
    }

    /// Debian's `docker-registry` on a free loopback port.
    pub fn reference(name: &str) -> Registry {
        let dir = scratch(&format!("refregistry-{name}")).into_path();
        let addr = format!("127.0.0.1:{}", free_port("127.0.0.1"));
        let config = format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n\
             http:\n  addr: {addr}\n",
            dir.join("storage").display()
        );
        std::fs::write(dir.join("config.yml"), config).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(dir.join("config.yml"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("registry.log")).unwrap())
            .spawn()
            .expect("docker-registry (Debian package docker-registry, installed by .ci/run)");
        Registry::wait(&dir, &addr, child, "docker-registry")
    }

    fn wait(dir: &Path, addr: &str, child: Child, what: &str) -> Registry {
        // Built first: a registry that never comes up is killed and removed too.
        let reg = Registry {
            root: dir.to_path_buf(),
            addr: addr.to_string(),
            child,
        };
        wait_for_port(addr, what);
        reg
    }

    /// Paths of every blob in the storage of `berth registry serve`.
    pub fn blobs(&self) -> Vec<PathBuf> {
        std::fs::read_dir(self.root.join("storage/blobs/sha256"))
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .collect()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if !super::keep_scratch() {
            let _ = std::fs::remove_dir_all(&self.root);
        }
    }
}
