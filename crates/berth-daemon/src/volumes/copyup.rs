//! Docker's volume copy-up: an empty volume mounted over a path the image
//! has content at gets a copy of that content (owner, mode, times, links,
//! device nodes) the first time it is mounted.
//!
//! The container's rootfs is only ever mounted inside its own mount
//! namespace, so to read it here we mount it read-only on a thread that has
//! unshared its filesystem context and mount namespace: the mount is seen by
//! no one else, the overlay's relative lowerdirs can be resolved with a
//! thread-local chdir, and it vanishes with the thread even if we crash.

use berth_image::SnapshotMount;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{unshare, CloneFlags};
use std::collections::HashMap;
use std::fs;
use std::io;
use std::os::unix::fs::{lchown, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// One volume to fill: the path in the image and the volume's data directory.
pub struct Job {
    pub image_path: String,
    pub volume_dir: PathBuf,
}

/// True when `dir` has no entries (a missing dir counts as empty).
pub fn is_empty_dir(dir: &Path) -> bool {
    match fs::read_dir(dir) {
        Ok(mut it) => it.next().is_none(),
        Err(_) => true,
    }
}

/// Copies the image content of each job into its (empty) volume. `scratch`
/// is a directory the rootfs may be mounted on; it is created and removed here.
pub fn copy_up(rootfs: &SnapshotMount, scratch: &Path, jobs: Vec<Job>) -> io::Result<()> {
    if jobs.is_empty() {
        return Ok(());
    }
    if rootfs.fstype != "overlay" {
        // vfs: the rootfs is a plain directory.
        let root = PathBuf::from(&rootfs.source);
        return run_jobs(&root, &jobs);
    }
    fs::create_dir_all(scratch)?;
    let rootfs = rootfs.clone();
    let target = scratch.to_path_buf();
    let result = std::thread::spawn(move || -> io::Result<()> {
        unshare(CloneFlags::CLONE_FS | CloneFlags::CLONE_NEWNS).map_err(io::Error::from)?;
        mount(
            None::<&str>,
            "/",
            None::<&str>,
            MsFlags::MS_REC | MsFlags::MS_PRIVATE,
            None::<&str>,
        )
        .map_err(io::Error::from)?;
        if let Some(dir) = &rootfs.chdir {
            std::env::set_current_dir(dir)?;
        }
        mount(
            Some(rootfs.source.as_str()),
            &target,
            Some(rootfs.fstype.as_str()),
            MsFlags::MS_RDONLY,
            Some(rootfs.data.as_str()),
        )
        .map_err(|e| io::Error::other(format!("mounting the container's rootfs: {e}")))?;
        let r = run_jobs(&target, &jobs);
        let _ = umount2(&target, MntFlags::MNT_DETACH);
        r
    })
    .join()
    .unwrap_or_else(|_| Err(io::Error::other("copy-up thread panicked")));
    let _ = fs::remove_dir(scratch);
    result
}

fn run_jobs(root: &Path, jobs: &[Job]) -> io::Result<()> {
    for job in jobs {
        let src = root.join(job.image_path.trim_start_matches('/'));
        let Ok(md) = fs::symlink_metadata(&src) else {
            continue; // nothing in the image there
        };
        if !md.is_dir() || !is_empty_dir(&job.volume_dir) {
            continue;
        }
        let mut links = HashMap::new();
        copy_tree(&src, &job.volume_dir, &mut links).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("copying {} into the volume: {e}", job.image_path),
            )
        })?;
        add_init_layer(&job.image_path, &job.volume_dir)?;
        // The volume takes the owner and mode of the directory it covers.
        copy_meta(&job.volume_dir, &md)?;
    }
    Ok(())
}

/// Docker copies from the container's rootfs, whose "init layer" adds
/// `/etc/mtab -> /proc/mounts` on top of the image; berth's rootfs has no
/// such layer, so the entries it would contribute are added here.
const INIT_LAYER_SYMLINKS: &[(&str, &str)] = &[("/etc/mtab", "/proc/mounts")];

fn add_init_layer(image_path: &str, volume_dir: &Path) -> io::Result<()> {
    let base = format!("{}/", image_path.trim_end_matches('/'));
    for (path, target) in INIT_LAYER_SYMLINKS {
        let Some(rel) = path.strip_prefix(&base) else {
            continue;
        };
        if rel.contains('/') {
            continue; // only entries directly in the copied directory
        }
        let at = volume_dir.join(rel);
        if fs::symlink_metadata(&at).is_err() {
            std::os::unix::fs::symlink(target, &at)?;
        }
    }
    Ok(())
}

fn copy_tree(src: &Path, dst: &Path, links: &mut HashMap<(u64, u64), PathBuf>) -> io::Result<()> {
    for entry in fs::read_dir(src)? {
        let entry = entry?;
        let from = entry.path();
        let to = dst.join(entry.file_name());
        let md = fs::symlink_metadata(&from)?;
        let ft = md.file_type();
        if ft.is_dir() {
            match fs::create_dir(&to) {
                Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(e),
                _ => {}
            }
            copy_tree(&from, &to, links)?;
        } else if ft.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(&from)?, &to)?;
        } else {
            if md.nlink() > 1 {
                if let Some(first) = links.get(&(md.dev(), md.ino())) {
                    fs::hard_link(first, &to)?;
                    continue;
                }
                links.insert((md.dev(), md.ino()), to.clone());
            }
            if ft.is_file() {
                fs::copy(&from, &to)?;
            } else {
                // fifo, socket, device node
                nix::sys::stat::mknod(
                    &to,
                    nix::sys::stat::SFlag::from_bits_truncate(md.mode() & libc::S_IFMT),
                    nix::sys::stat::Mode::from_bits_truncate(md.mode() & 0o7777),
                    md.rdev(),
                )
                .map_err(io::Error::from)?;
            }
        }
        copy_meta(&to, &md)?;
    }
    Ok(())
}

/// Owner, permission bits (after chown, which clears setuid) and times.
fn copy_meta(path: &Path, md: &fs::Metadata) -> io::Result<()> {
    lchown(path, Some(md.uid()), Some(md.gid()))?;
    if !md.file_type().is_symlink() {
        fs::set_permissions(path, fs::Permissions::from_mode(md.mode() & 0o7777))?;
    }
    let ts = |s: i64, ns: i64| nix::sys::time::TimeSpec::new(s, ns);
    nix::sys::stat::utimensat(
        None,
        path,
        &ts(md.atime(), md.atime_nsec()),
        &ts(md.mtime(), md.mtime_nsec()),
        nix::sys::stat::UtimensatFlags::NoFollowSymlink,
    )
    .map_err(io::Error::from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn copies_tree_with_links_and_modes() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        let etc = root.join("etc");
        fs::create_dir_all(etc.join("sub")).unwrap();
        fs::write(etc.join("passwd"), "root:x:0:0\n").unwrap();
        fs::set_permissions(etc.join("passwd"), fs::Permissions::from_mode(0o600)).unwrap();
        fs::hard_link(etc.join("passwd"), etc.join("passwd.link")).unwrap();
        symlink("passwd", etc.join("pw")).unwrap();
        fs::write(etc.join("sub/f"), "x").unwrap();
        fs::set_permissions(&etc, fs::Permissions::from_mode(0o750)).unwrap();
        lchown(etc.join("sub/f"), Some(1000), Some(1000)).unwrap();

        let vol = tmp.path().join("vol");
        fs::create_dir(&vol).unwrap();
        let m = SnapshotMount {
            fstype: "bind".into(),
            source: root.to_string_lossy().into_owned(),
            data: String::new(),
            chdir: None,
        };
        let job = |p: &str| Job {
            image_path: p.into(),
            volume_dir: vol.clone(),
        };
        copy_up(&m, &tmp.path().join("scratch"), vec![job("/etc")]).unwrap();
        assert_eq!(
            fs::read_to_string(vol.join("passwd")).unwrap(),
            "root:x:0:0\n"
        );
        assert_eq!(
            fs::metadata(vol.join("passwd")).unwrap().mode() & 0o7777,
            0o600
        );
        assert_eq!(fs::metadata(&vol).unwrap().mode() & 0o7777, 0o750);
        assert_eq!(
            fs::read_link(vol.join("pw")).unwrap(),
            PathBuf::from("passwd")
        );
        assert_eq!(
            fs::metadata(vol.join("passwd")).unwrap().ino(),
            fs::metadata(vol.join("passwd.link")).unwrap().ino()
        );
        assert_eq!(fs::metadata(vol.join("sub/f")).unwrap().uid(), 1000);
        assert_eq!(
            fs::read_link(vol.join("mtab")).unwrap(),
            PathBuf::from("/proc/mounts"),
            "Docker's init layer adds /etc/mtab"
        );

        // A volume with content is left alone.
        fs::write(etc.join("new"), "n").unwrap();
        copy_up(&m, &tmp.path().join("scratch"), vec![job("/etc")]).unwrap();
        assert!(!vol.join("new").exists());
        // A path the image lacks copies nothing.
        let vol2 = tmp.path().join("vol2");
        fs::create_dir(&vol2).unwrap();
        copy_up(
            &m,
            &tmp.path().join("scratch"),
            vec![Job {
                image_path: "/none".into(),
                volume_dir: vol2.clone(),
            }],
        )
        .unwrap();
        assert!(is_empty_dir(&vol2));
    }

    #[test]
    fn copies_out_of_an_overlay_only_on_this_thread() {
        let tmp = tempfile::tempdir().unwrap();
        let home = tmp.path();
        for d in ["l1/data", "l2/data", "up", "work"] {
            fs::create_dir_all(home.join(d)).unwrap();
        }
        fs::write(home.join("l1/data/low"), "low").unwrap();
        fs::write(home.join("l2/data/top"), "top").unwrap();
        let m = SnapshotMount {
            fstype: "overlay".into(),
            source: "overlay".into(),
            data: format!(
                "lowerdir=l2:l1,upperdir={},workdir={}",
                home.join("up").display(),
                home.join("work").display()
            ),
            chdir: Some(home.to_path_buf()),
        };
        let vol = home.join("vol");
        fs::create_dir(&vol).unwrap();
        let scratch = home.join("scratch");
        let cwd = std::env::current_dir().unwrap();
        copy_up(
            &m,
            &scratch,
            vec![Job {
                image_path: "/data".into(),
                volume_dir: vol.clone(),
            }],
        )
        .unwrap();
        assert_eq!(fs::read_to_string(vol.join("low")).unwrap(), "low");
        assert_eq!(fs::read_to_string(vol.join("top")).unwrap(), "top");
        assert!(!scratch.exists(), "scratch mount point removed");
        let mounts = fs::read_to_string("/proc/self/mountinfo").unwrap();
        assert!(!mounts.contains(&scratch.to_string_lossy().into_owned()));
        assert_eq!(
            std::env::current_dir().unwrap(),
            cwd,
            "the chdir stayed on the copy thread"
        );
    }
}
