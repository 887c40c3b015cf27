//! End-to-end tests of the image store, run as root for real: overlay
//! mounts, device nodes for whiteouts, ownership.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use berth_image::{ErrorKind, ImageStore, ImportOptions, SnapshotMount};

/// The shared busybox rootfs fixture when present, else an equivalent tar
/// built here from the host's static busybox.
fn busybox_rootfs() -> Vec<u8> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/compat/fixtures/busybox-rootfs.sh");
    if script.exists() {
        let out = Command::new("bash")
            .arg(&script)
            .output()
            .expect("run fixture");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        return out.stdout;
    }
    let mut b = tar::Builder::new(Vec::new());
    for dir in ["bin/", "etc/", "tmp/"] {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(0o755);
        h.set_size(0);
        b.append_data(&mut h, dir, &[][..]).unwrap();
    }
    b.append_path_with_name("/bin/busybox", "bin/busybox")
        .unwrap();
    for applet in ["sh", "echo", "ls", "cat"] {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        h.set_mode(0o777);
        b.append_link(&mut h, format!("bin/{applet}"), "busybox")
            .unwrap();
    }
    let passwd = b"root:x:0:0:root:/root:/bin/sh\n";
    let mut h = tar::Header::new_gnu();
    h.set_size(passwd.len() as u64);
    h.set_mode(0o644);
    b.append_data(&mut h, "etc/passwd", &passwd[..]).unwrap();
    b.into_inner().unwrap()
}

fn import(store: &ImageStore, tar: &[u8], reference: Option<&str>, changes: &[&str]) -> String {
    store
        .import(
            &mut &tar[..],
            ImportOptions {
                changes: changes.iter().map(|s| s.to_string()).collect(),
                message: String::new(),
                reference: reference.map(str::to_string),
            },
        )
        .unwrap()
}

fn no_user(_: &str) -> Option<(String, bool)> {
    None
}

fn filters(k: &str, v: &str) -> HashMap<String, Vec<String>> {
    HashMap::from([(k.to_string(), vec![v.to_string()])])
}

fn cid(n: u8) -> String {
    format!("{n:02x}").repeat(32)
}

/// Mounts the snapshot at `target` in a child process (so the chdir does
/// not affect the test process), runs `check`, unmounts.
fn with_mount(m: &SnapshotMount, target: &Path, check: impl FnOnce()) {
    let mut cmd = Command::new("mount");
    if m.fstype == "bind" {
        cmd.args(["--rbind", &m.source]).arg(target);
    } else {
        cmd.args(["-t", &m.fstype, "-o", &m.data, &m.source])
            .arg(target);
    }
    if let Some(dir) = &m.chdir {
        cmd.current_dir(dir);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "mount {m:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(check));
    let out = Command::new("umount")
        .arg("-l")
        .arg(target)
        .output()
        .unwrap();
    assert!(out.status.success());
    if let Err(p) = result {
        std::panic::resume_unwind(p);
    }
}

fn overlay_dirs(root: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(root.join("overlay"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "l")
        .collect();
    v.sort();
    v
}

#[test]
fn import_tag_list_inspect_mount_remove() {
    let dir = tempfile::tempdir().unwrap();
    let store = ImageStore::open(dir.path(), None).unwrap();
    assert_eq!(store.driver(), "overlay2");
    let tar = busybox_rootfs();
    let id = import(
        &store,
        &tar,
        Some("imp:v1"),
        &[r#"CMD ["echo","imported"]"#, "ENV GREETING=hi"],
    );
    assert!(id.starts_with("sha256:") && id.len() == 71);

    // resolve by name, qualified name, id, bare hex, prefix
    let img = store.resolve("imp:v1").unwrap();
    assert_eq!(img.id, id);
    assert_eq!(img.repo_tags, ["imp:v1"]);
    assert_eq!(
        img.config.cmd,
        Some(vec!["echo".to_string(), "imported".to_string()])
    );
    assert_eq!(img.config.env, Some(vec!["GREETING=hi".to_string()]));
    assert_eq!(store.resolve("docker.io/library/imp:v1").unwrap().id, id);
    assert_eq!(store.resolve(&id).unwrap().id, id);
    assert_eq!(store.resolve(&id[7..]).unwrap().id, id);
    assert_eq!(store.resolve(&id[7..19]).unwrap().id, id);
    let err = store.resolve("imp").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert_eq!(err.to_string(), "No such image: imp:latest");
    assert_eq!(
        store.resolve("busybox:nosuchtag").unwrap_err().to_string(),
        "No such image: busybox:nosuchtag"
    );
    assert_eq!(
        store.resolve("Imp").unwrap_err().kind(),
        ErrorKind::InvalidParameter
    );

    // tag + list with reference filters
    store.tag("imp:v1", "imp", Some("v2")).unwrap();
    assert_eq!(
        store.tag("imp:v1", "Bad", None).unwrap_err().to_string(),
        "invalid reference format: repository name must be lowercase"
    );
    let listed = store.list(false, &filters("reference", "imp")).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["Id"], id);
    assert_eq!(
        listed[0]["RepoTags"],
        serde_json::json!(["imp:v1", "imp:v2"])
    );
    assert!(listed[0]["Size"].as_i64().unwrap() > 500_000);
    let listed = store.list(false, &filters("reference", "imp:v2")).unwrap();
    assert_eq!(listed[0]["RepoTags"], serde_json::json!(["imp:v2"]));
    assert!(store
        .list(false, &filters("reference", "busybox:lat*"))
        .unwrap()
        .is_empty());
    assert_eq!(
        store
            .list(false, &filters("dangling", "true"))
            .unwrap()
            .len(),
        0
    );

    // inspect + history shapes
    let ins = store.inspect("imp:v1").unwrap();
    assert_eq!(ins["Id"], id);
    assert_eq!(
        ins["Config"]["Cmd"],
        serde_json::json!(["echo", "imported"])
    );
    assert_eq!(ins["Config"]["Hostname"], "");
    assert_eq!(ins["Os"], "linux");
    assert_eq!(ins["Architecture"], "amd64");
    assert_eq!(ins["Comment"], "Imported from -");
    assert_eq!(ins["RootFS"]["Type"], "layers");
    assert_eq!(ins["RootFS"]["Layers"].as_array().unwrap().len(), 1);
    assert_eq!(ins["GraphDriver"]["Name"], "overlay2");
    assert_ne!(ins["Metadata"]["LastTagTime"], "0001-01-01T00:00:00Z");
    let hist = store.history("imp:v2").unwrap();
    assert_eq!(hist.len(), 1);
    assert_eq!(hist[0]["Id"], id);
    assert_eq!(hist[0]["Comment"], "Imported from -");
    assert_eq!(hist[0]["Tags"], serde_json::json!(["imp:v1", "imp:v2"]));

    // rw layer: mount it and see the image's files; writes land in the upper dir
    let c = cid(1);
    store.create_rw_layer(&c, &id).unwrap();
    store.create_rw_layer(&c, &id).unwrap();
    let m = store.rw_layer_mount(&c).unwrap();
    assert_eq!(m.fstype, "overlay");
    assert!(m.data.starts_with("lowerdir=l/"), "{}", m.data);
    let target = tempfile::tempdir().unwrap();
    with_mount(&m, target.path(), || {
        assert!(target.path().join("bin/busybox").is_file());
        std::fs::write(target.path().join("hello"), b"x").unwrap();
    });
    assert!(dir
        .path()
        .join("overlay")
        .join(&c)
        .join("diff/hello")
        .exists());
    let gd = store.graph_driver(&c);
    assert_eq!(gd["Name"], "overlay2");
    assert!(gd["Data"]["UpperDir"]
        .as_str()
        .unwrap()
        .ends_with(&format!("{c}/diff")));

    // remove: untag one of two tags, then conflicts with a container
    let recs = store.remove("imp:v2", false, true, &no_user).unwrap();
    assert_eq!(recs, vec![serde_json::json!({"Untagged": "imp:v2"})]);
    let stopped = |_: &str| Some((c.clone(), false));
    let running = |_: &str| Some((c.clone(), true));
    let err = store.remove("imp:v1", false, true, &stopped).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert_eq!(
        err.to_string(),
        format!(
            "conflict: unable to remove repository reference \"imp:v1\" (must force) - container {} is using its referenced image {}",
            &c[..12],
            &id[7..19]
        )
    );
    // By id: the single tag goes with it, so the container check applies.
    let err = store.remove(&id[7..19], false, true, &stopped).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "conflict: unable to delete {} (must be forced) - image is being used by stopped container {}",
            &id[7..19],
            &c[..12]
        )
    );
    let err = store.remove(&id, true, true, &running).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "conflict: unable to delete {} (cannot be forced) - image is being used by running container {}",
            &id[7..19],
            &c[..12]
        )
    );
    assert_eq!(
        store.resolve("imp:v1").unwrap().id,
        id,
        "failed removals change nothing"
    );

    store.remove_rw_layer(&c).unwrap();
    assert!(!dir.path().join("overlay").join(&c).exists());
    let recs = store.remove("imp:v1", false, true, &no_user).unwrap();
    assert_eq!(recs[0], serde_json::json!({"Untagged": "imp:v1"}));
    assert_eq!(recs[1], serde_json::json!({"Deleted": id}));
    assert_eq!(recs.len(), 3, "{recs:?}");
    assert_eq!(
        store.inspect("imp:v1").unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert!(overlay_dirs(dir.path()).is_empty());
    assert_eq!(
        std::fs::read_dir(dir.path().join("overlay/l"))
            .unwrap()
            .count(),
        0
    );
    assert_eq!(
        std::fs::read_dir(dir.path().join("content/sha256"))
            .unwrap()
            .count(),
        0
    );
}

#[test]
fn untagged_gzip_import_and_dangling() {
    let dir = tempfile::tempdir().unwrap();
    let store = ImageStore::open(dir.path(), None).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&busybox_rootfs()).unwrap();
    let id = import(&store, &gz.finish().unwrap(), None, &[]);
    let all = store.list(false, &HashMap::new()).unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0]["RepoTags"], serde_json::json!(["<none>:<none>"]));
    assert_eq!(
        store
            .list(false, &filters("dangling", "true"))
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        store
            .list(false, &filters("dangling", "false"))
            .unwrap()
            .len(),
        0
    );
    // Same content twice shares the layer; removing one image keeps it.
    let id2 = import(&store, &busybox_rootfs(), Some("impstdin"), &[]);
    assert_eq!(overlay_dirs(dir.path()).len(), 1);
    let recs = store.remove(&id, false, false, &no_user).unwrap();
    assert_eq!(recs, vec![serde_json::json!({"Deleted": id})]);
    assert_eq!(overlay_dirs(dir.path()).len(), 1);
    let recs = store.remove("impstdin", false, false, &no_user).unwrap();
    assert_eq!(recs[0], serde_json::json!({"Untagged": "impstdin:latest"}));
    assert_eq!(recs[1], serde_json::json!({"Deleted": id2}));
    assert_eq!(recs.len(), 3);
}

#[test]
fn bad_change_is_rejected_before_unpacking() {
    let dir = tempfile::tempdir().unwrap();
    let store = ImageStore::open(dir.path(), None).unwrap();
    let err = store
        .import(
            &mut &busybox_rootfs()[..],
            ImportOptions {
                changes: vec!["RUN echo".into()],
                ..Default::default()
            },
        )
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidParameter);
    assert_eq!(err.to_string(), "run is not a valid change command");
    assert!(overlay_dirs(dir.path()).is_empty());
}

#[test]
fn reopen_keeps_state_and_collects_leftovers() {
    let dir = tempfile::tempdir().unwrap();
    let c = cid(2);
    let id = {
        let store = ImageStore::open(dir.path(), None).unwrap();
        let id = import(
            &store,
            &busybox_rootfs(),
            Some("persist:v1"),
            &["WORKDIR /tmp"],
        );
        store.create_rw_layer(&c, &id).unwrap();
        id
    };
    // Leftovers of a crash: an unpacked dir no row points to, a temp blob.
    let stray = dir.path().join("overlay").join("ab".repeat(32));
    std::fs::create_dir_all(stray.join("diff")).unwrap();
    std::fs::write(dir.path().join("content/sha256/.tmp-x"), b"partial").unwrap();

    let store = ImageStore::open(dir.path(), None).unwrap();
    assert!(!stray.exists());
    assert!(!dir.path().join("content/sha256/.tmp-x").exists());
    let img = store.resolve("persist:v1").unwrap();
    assert_eq!(img.id, id);
    assert_eq!(img.config.working_dir.as_deref(), Some("/tmp"));
    let m = store.rw_layer_mount(&c).unwrap();
    let target = tempfile::tempdir().unwrap();
    with_mount(&m, target.path(), || {
        assert!(target.path().join("bin/sh").exists())
    });
}

#[test]
fn vfs_driver() {
    let dir = tempfile::tempdir().unwrap();
    let store = ImageStore::open(dir.path(), Some("vfs")).unwrap();
    assert_eq!(store.driver(), "vfs");
    let id = import(&store, &busybox_rootfs(), Some("vfsimg"), &[]);
    let c = cid(3);
    store.create_rw_layer(&c, &id).unwrap();
    let m = store.rw_layer_mount(&c).unwrap();
    assert_eq!(m.fstype, "bind");
    let rootfs = PathBuf::from(&m.source);
    assert!(rootfs.join("bin/busybox").is_file());
    let target = tempfile::tempdir().unwrap();
    with_mount(&m, target.path(), || {
        std::fs::write(target.path().join("new"), b"x").unwrap();
    });
    assert!(rootfs.join("new").exists());
    // The image's layer is a separate copy, untouched by the container.
    let layer_dirs = std::fs::read_dir(dir.path().join("vfs")).unwrap().count();
    assert_eq!(layer_dirs, 3, "l/, the layer and the container");
    store.remove_rw_layer(&c).unwrap();
    store.remove("vfsimg", false, false, &no_user).unwrap();
    assert_eq!(
        std::fs::read_dir(dir.path().join("vfs")).unwrap().count(),
        1
    );
}
