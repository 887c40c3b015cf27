//! Test images: a busybox rootfs from Debian's static busybox.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use super::Daemon;

/// A busybox rootfs tarball `dir/busybox.tar` from Debian's static busybox,
/// with every applet linked.
pub fn busybox_tar(dir: &Path) -> PathBuf {
    let path = dir.join("busybox.tar");
    write_busybox_tar(&path, &[]);
    path
}

/// [`busybox_tar`] plus `extra` files (mode 0644), in a tarball of its own
/// under `dir`; an extra `etc/passwd` or `etc/group` replaces the default.
pub fn busybox_tar_with(dir: &Path, extra: &[(&str, &[u8])]) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let path = dir.join(format!("busybox-{}.tar", N.fetch_add(1, Ordering::SeqCst)));
    write_busybox_tar(&path, extra);
    path
}

/// Appends a regular file `name` owned by root (mtime 0) to `b`.
pub fn append_file<W: std::io::Write>(b: &mut tar::Builder<W>, name: &str, data: &[u8], mode: u32) {
    let mut h = tar::Header::new_gnu();
    h.set_size(data.len() as u64);
    h.set_mode(mode);
    h.set_uid(0);
    h.set_gid(0);
    h.set_cksum();
    b.append_data(&mut h, name, data).unwrap();
}

fn write_busybox_tar(path: &Path, extra: &[(&str, &[u8])]) {
    let mut b = tar::Builder::new(std::fs::File::create(path).unwrap());
    let mut add = |name: &str, data: &[u8], mode: u32| append_file(&mut b, name, data, mode);
    add(
        "bin/busybox",
        &std::fs::read("/bin/busybox").expect("apt-get install busybox-static"),
        0o755,
    );
    let defaults: [(&str, &[u8]); 2] = [
        (
            "etc/passwd",
            b"root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n",
        ),
        ("etc/group", b"root:x:0:\napp:x:1000:\n"),
    ];
    for (name, data) in defaults {
        if !extra.iter().any(|(n, _)| *n == name) {
            add(name, data, 0o644);
        }
    }
    for (name, data) in extra {
        add(name, data, 0o644);
    }
    let list = Command::new("/bin/busybox").arg("--list").output().unwrap();
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        if applet == "busybox" {
            continue;
        }
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        h.set_mode(0o777);
        h.set_uid(0);
        h.set_gid(0);
        h.set_cksum();
        b.append_link(&mut h, format!("bin/{applet}"), "busybox")
            .unwrap();
    }
    b.into_inner().unwrap();
}

/// The id of image `name` in daemon `d`.
pub fn image_id(d: &Daemon, name: &str) -> String {
    d.ok(&["image", "inspect", "--format", "{{.Id}}", name])
        .trim()
        .to_string()
}
