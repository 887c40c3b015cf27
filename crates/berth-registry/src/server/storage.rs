//! On-disk layout of the registry server. Blobs (layers, configs and
//! manifests alike) are content-addressed and shared by all repositories; a
//! repository sees a blob only through a link, as in the reference registry,
//! so a digest known in one repository is not readable from another until it
//! is pushed or mounted there.
//!
//! ```text
//! <root>/blobs/sha256/<hex>                          blob bytes
//! <root>/uploads/<uuid>                              upload in progress
//! <root>/repositories/<name>/_layers/<hex>           blob link (empty)
//! <root>/repositories/<name>/_manifests/<hex>        manifest link: media type
//! <root>/repositories/<name>/_tags/<tag>             manifest digest
//! ```
//!
//! Every file is written to a temp file, fsynced and renamed into place, so a
//! path that exists is complete. Uploads are hashed while they are written
//! (the state is kept between the requests of a chunked upload), so the
//! commit does not read the blob back unless that state was lost.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex};

use regex::Regex;
use sha2::{Digest, Sha256};

use super::errors::ApiError;

static NAME_RE: LazyLock<Regex> = LazyLock::new(|| {
    let c = r"[a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*";
    Regex::new(&format!("^{c}(?:/{c})*$")).expect("static regex")
});
static TAG_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[\w][\w.-]{0,127}$").expect("static regex"));
static DIGEST_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new("^sha256:[a-f0-9]{64}$").expect("static regex"));
static UUID_RE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new("^[a-f0-9]{32}$").expect("static regex"));

pub fn valid_name(name: &str) -> bool {
    name.len() <= 255 && NAME_RE.is_match(name)
}

pub fn valid_tag(tag: &str) -> bool {
    TAG_RE.is_match(tag)
}

pub fn valid_digest(d: &str) -> bool {
    DIGEST_RE.is_match(d)
}

fn hex(d: &str) -> &str {
    d.strip_prefix("sha256:").unwrap_or(d)
}

pub fn sha256_digest(data: &[u8]) -> String {
    format!("sha256:{}", ::hex::encode(Sha256::digest(data)))
}

pub struct Storage {
    root: PathBuf,
    /// Digest state of uploads in progress: (hasher, bytes hashed), valid
    /// while the upload file has exactly that many bytes.
    hashes: Mutex<HashMap<String, (Sha256, u64)>>,
    /// One lock per upload in progress, held while a request appends to it
    /// (until its writer thread is done, even when the request was cut off
    /// and its handler dropped), so a status query or the next chunk sees
    /// the size the append left.
    upload_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// Held while an upload is appended to or read for its status.
pub type UploadGuard = tokio::sync::OwnedMutexGuard<()>;

/// How much of an upload may be written before its writeback is started, so
/// the fsync at commit has little left to wait for.
const WRITEBACK_CHUNK: u64 = 8 << 20;

/// Appends to an upload file, hashing as it goes.
pub struct UploadAppender {
    file: File,
    hasher: Option<Sha256>,
    size: u64,
    flushed: u64,
}

impl UploadAppender {
    pub fn append(&mut self, data: &[u8]) -> io::Result<()> {
        self.file.write_all(data)?;
        if let Some(h) = &mut self.hasher {
            h.update(data);
        }
        self.size += data.len() as u64;
        if self.size - self.flushed >= WRITEBACK_CHUNK {
            start_writeback(&self.file, self.flushed, self.size - self.flushed);
            self.flushed = self.size;
        }
        Ok(())
    }

    pub fn size(&self) -> u64 {
        self.size
    }
}

/// Starts (without waiting for) writeback of a range; only a hint.
fn start_writeback(f: &File, from: u64, len: u64) {
    use std::os::fd::AsRawFd;
    // SAFETY: sync_file_range on a descriptor we own, with plain integers.
    unsafe {
        libc::sync_file_range(
            f.as_raw_fd(),
            from as libc::off64_t,
            len as libc::off64_t,
            libc::SYNC_FILE_RANGE_WRITE,
        );
    }
}

impl Storage {
    pub fn open(root: &Path) -> io::Result<Storage> {
        for d in ["blobs/sha256", "uploads", "repositories"] {
            fs::create_dir_all(root.join(d))?;
        }
        Ok(Storage {
            root: root.to_path_buf(),
            hashes: Mutex::new(HashMap::new()),
            upload_locks: Mutex::new(HashMap::new()),
        })
    }

    fn repo(&self, name: &str) -> PathBuf {
        self.root.join("repositories").join(name)
    }

    pub fn blob_path(&self, digest: &str) -> PathBuf {
        self.root.join("blobs/sha256").join(hex(digest))
    }

    pub fn upload_path(&self, uuid: &str) -> Result<PathBuf, ApiError> {
        if !UUID_RE.is_match(uuid) {
            return Err(ApiError::UploadUnknown);
        }
        Ok(self.root.join("uploads").join(uuid))
    }

    pub fn repo_exists(&self, name: &str) -> bool {
        self.repo(name).join("_layers").is_dir() || self.repo(name).join("_manifests").is_dir()
    }

    /// Size of a blob the repository may see.
    pub fn blob_size(&self, name: &str, digest: &str) -> Option<u64> {
        if !self.repo(name).join("_layers").join(hex(digest)).exists() {
            return None;
        }
        fs::metadata(self.blob_path(digest)).ok().map(|m| m.len())
    }

    #[cfg(test)]
    pub fn blob_exists_anywhere(&self, digest: &str) -> bool {
        self.blob_path(digest).exists()
    }

    pub fn link_blob(&self, name: &str, digest: &str) -> io::Result<()> {
        write_atomic(&self.repo(name).join("_layers").join(hex(digest)), b"")
    }

    pub fn unlink_blob(&self, name: &str, digest: &str) -> Result<(), ApiError> {
        remove_existing(&self.repo(name).join("_layers").join(hex(digest)))
            .map_err(|_| ApiError::BlobUnknown(digest.to_string()))
    }

    pub fn new_upload(&self) -> io::Result<String> {
        let uuid = ::hex::encode(rand::random::<[u8; 16]>());
        File::create(self.root.join("uploads").join(&uuid))?;
        Ok(uuid)
    }

    /// Waits for the upload's lock (see `upload_locks`).
    pub async fn lock_upload(&self, uuid: &str) -> UploadGuard {
        let lock = self
            .upload_locks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(uuid.to_string())
            .or_default()
            .clone();
        lock.lock_owned().await
    }

    /// Forgets the lock of an upload that is committed or cancelled.
    fn drop_upload_lock(&self, uuid: &str) {
        self.upload_locks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(uuid);
    }

    pub fn upload_size(&self, uuid: &str) -> Result<u64, ApiError> {
        let p = self.upload_path(uuid)?;
        fs::metadata(p)
            .map(|m| m.len())
            .map_err(|_| ApiError::UploadUnknown)
    }

    pub fn cancel_upload(&self, uuid: &str) -> Result<(), ApiError> {
        let p = self.upload_path(uuid)?;
        self.take_hash(uuid);
        self.drop_upload_lock(uuid);
        fs::remove_file(p).map_err(|_| ApiError::UploadUnknown)
    }

    fn take_hash(&self, uuid: &str) -> Option<(Sha256, u64)> {
        self.hashes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(uuid)
    }

    /// Opens an upload for appending. The digest state continues from the
    /// previous request's when it covers the whole file (or the file is
    /// empty); otherwise the commit hashes the file again.
    pub fn appender(&self, uuid: &str) -> Result<UploadAppender, ApiError> {
        let p = self.upload_path(uuid)?;
        let file = fs::OpenOptions::new()
            .append(true)
            .open(&p)
            .map_err(|_| ApiError::UploadUnknown)?;
        let size = file.metadata()?.len();
        let hasher = match self.take_hash(uuid) {
            Some((h, n)) if n == size => Some(h),
            _ if size == 0 => Some(Sha256::new()),
            _ => None,
        };
        Ok(UploadAppender {
            file,
            hasher,
            size,
            flushed: size,
        })
    }

    /// Ends an append: keeps the digest state for the next request.
    pub fn finish_append(&self, uuid: &str, a: UploadAppender) {
        if let Some(h) = a.hasher {
            self.hashes
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(uuid.to_string(), (h, a.size));
        }
    }

    /// Verifies a finished upload against `digest` and publishes it as a blob
    /// linked into `name`. On a mismatch the upload is discarded.
    pub fn commit_upload(&self, name: &str, uuid: &str, digest: &str) -> Result<u64, ApiError> {
        let p = self.upload_path(uuid)?;
        let mut f = File::open(&p).map_err(|_| ApiError::UploadUnknown)?;
        self.drop_upload_lock(uuid);
        let on_disk = f.metadata()?.len();
        let (h, size) = match self.take_hash(uuid) {
            Some((h, n)) if n == on_disk => (h, n),
            _ => {
                let mut h = Sha256::new();
                let mut buf = vec![0u8; 1 << 20];
                let mut size = 0u64;
                loop {
                    let n = f.read(&mut buf)?;
                    if n == 0 {
                        break;
                    }
                    h.update(&buf[..n]);
                    size += n as u64;
                }
                (h, size)
            }
        };
        let got = format!("sha256:{}", ::hex::encode(h.finalize()));
        if got != digest {
            let _ = fs::remove_file(&p);
            return Err(ApiError::DigestInvalid(digest.to_string()));
        }
        f.sync_all()?;
        let target = self.blob_path(digest);
        fs::rename(&p, &target)?;
        sync_dir(target.parent());
        self.link_blob(name, digest)?;
        Ok(size)
    }

    /// Stores a manifest (as a blob) and links it, with its media type, into
    /// the repository; tags it when `tag` is given.
    pub fn put_manifest(
        &self,
        name: &str,
        bytes: &[u8],
        media_type: &str,
        tag: Option<&str>,
    ) -> io::Result<String> {
        let digest = sha256_digest(bytes);
        let target = self.blob_path(&digest);
        if !target.exists() {
            write_atomic(&target, bytes)?;
        }
        write_atomic(
            &self.repo(name).join("_manifests").join(hex(&digest)),
            media_type.as_bytes(),
        )?;
        if let Some(t) = tag {
            write_atomic(&self.repo(name).join("_tags").join(t), digest.as_bytes())?;
        }
        Ok(digest)
    }

    /// Resolves a tag or digest to (digest, media type, bytes).
    pub fn get_manifest(
        &self,
        name: &str,
        reference: &str,
    ) -> Result<(String, String, Vec<u8>), ApiError> {
        let unknown = || ApiError::ManifestUnknown(reference.to_string());
        let digest = if valid_digest(reference) {
            reference.to_string()
        } else {
            fs::read_to_string(self.repo(name).join("_tags").join(reference))
                .map_err(|_| unknown())?
                .trim()
                .to_string()
        };
        let media_type = fs::read_to_string(self.repo(name).join("_manifests").join(hex(&digest)))
            .map_err(|_| unknown())?;
        let bytes = fs::read(self.blob_path(&digest)).map_err(|_| unknown())?;
        Ok((digest, media_type, bytes))
    }

    /// Deletes a manifest by digest (with every tag pointing at it) or a tag.
    pub fn delete_manifest(&self, name: &str, reference: &str) -> Result<(), ApiError> {
        let unknown = || ApiError::ManifestUnknown(reference.to_string());
        if !valid_digest(reference) {
            return remove_existing(&self.repo(name).join("_tags").join(reference))
                .map_err(|_| unknown());
        }
        remove_existing(&self.repo(name).join("_manifests").join(hex(reference)))
            .map_err(|_| unknown())?;
        for (tag, d) in self.tag_targets(name) {
            if d == reference {
                let _ = fs::remove_file(self.repo(name).join("_tags").join(tag));
            }
        }
        Ok(())
    }

    fn tag_targets(&self, name: &str) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if let Ok(rd) = fs::read_dir(self.repo(name).join("_tags")) {
            for e in rd.flatten() {
                let tag = e.file_name().to_string_lossy().into_owned();
                if tag.starts_with(".tmp") {
                    continue;
                }
                if let Ok(d) = fs::read_to_string(e.path()) {
                    out.push((tag, d.trim().to_string()));
                }
            }
        }
        out
    }

    pub fn tags(&self, name: &str) -> Vec<String> {
        let mut t: Vec<String> = self.tag_targets(name).into_iter().map(|(t, _)| t).collect();
        t.sort();
        t
    }

    /// Repositories with at least one manifest, sorted.
    pub fn catalog(&self) -> Vec<String> {
        let mut out = Vec::new();
        walk_repos(&self.root.join("repositories"), "", &mut out);
        out.sort();
        out
    }
}

impl Storage {
    /// Descriptors of the repository's manifests whose `subject` is
    /// `digest` (the OCI referrers API), sorted by digest.
    pub fn referrers(&self, name: &str, digest: &str) -> Vec<serde_json::Value> {
        let mut out = Vec::new();
        let Ok(rd) = fs::read_dir(self.repo(name).join("_manifests")) else {
            return out;
        };
        for e in rd.flatten() {
            let hex_name = e.file_name().to_string_lossy().into_owned();
            let d = format!("sha256:{hex_name}");
            if !valid_digest(&d) {
                continue;
            }
            let media_type = fs::read_to_string(e.path()).unwrap_or_default();
            let Ok(bytes) = fs::read(self.blob_path(&d)) else {
                continue;
            };
            let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
                continue;
            };
            if v["subject"]["digest"].as_str() != Some(digest) {
                continue;
            }
            let artifact_type = v["artifactType"]
                .as_str()
                .or_else(|| v["config"]["mediaType"].as_str())
                .unwrap_or("");
            let mut desc = serde_json::json!({
                "mediaType": media_type,
                "digest": d,
                "size": bytes.len(),
                "artifactType": artifact_type,
            });
            if let Some(a) = v.get("annotations").filter(|a| a.is_object()) {
                desc["annotations"] = a.clone();
            }
            out.push(desc);
        }
        out.sort_by(|a, b| a["digest"].as_str().cmp(&b["digest"].as_str()));
        out
    }
}

/// What a garbage collection found and removed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct GcReport {
    /// Blobs some manifest of some repository still needs.
    pub kept: usize,
    /// Digests of the blobs removed (or, in a dry run, to be removed).
    pub removed: Vec<String>,
    pub freed_bytes: u64,
}

impl Storage {
    /// Mark and sweep, as the reference registry's `garbage-collect`: every
    /// manifest a repository links (tagged or not) is kept with the config,
    /// layers and child manifests it names; any other blob is removed, with
    /// the repositories' links to it. Run it while no server writes to this
    /// root (a push in between could lose a blob it just uploaded).
    pub fn gc(&self, dry_run: bool) -> io::Result<GcReport> {
        let mut marked = std::collections::HashSet::new();
        let mut repos = Vec::new();
        all_repos(&self.root.join("repositories"), "", &mut repos);
        for name in &repos {
            let Ok(rd) = fs::read_dir(self.repo(name).join("_manifests")) else {
                continue;
            };
            for e in rd.flatten() {
                let hex_name = e.file_name().to_string_lossy().into_owned();
                if hex_name.starts_with(".tmp") {
                    continue;
                }
                self.mark(&format!("sha256:{hex_name}"), &mut marked);
            }
        }
        let mut report = GcReport::default();
        for e in fs::read_dir(self.root.join("blobs/sha256"))?.flatten() {
            let hex_name = e.file_name().to_string_lossy().into_owned();
            let digest = format!("sha256:{hex_name}");
            if !valid_digest(&digest) || marked.contains(&digest) {
                report.kept += usize::from(valid_digest(&digest));
                continue;
            }
            report.freed_bytes += e.metadata().map(|m| m.len()).unwrap_or(0);
            if !dry_run {
                fs::remove_file(e.path())?;
                for name in &repos {
                    let _ = fs::remove_file(self.repo(name).join("_layers").join(&hex_name));
                }
            }
            report.removed.push(digest);
        }
        report.removed.sort();
        Ok(report)
    }

    /// Marks a manifest and everything it references (recursively for
    /// indexes). Unparsable or missing manifests mark only themselves.
    fn mark(&self, digest: &str, marked: &mut std::collections::HashSet<String>) {
        if !marked.insert(digest.to_string()) {
            return;
        }
        let Ok(bytes) = fs::read(self.blob_path(digest)) else {
            return;
        };
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
            return;
        };
        let digest_of = |d: &serde_json::Value| {
            d.get("digest")
                .and_then(serde_json::Value::as_str)
                .filter(|d| valid_digest(d))
                .map(str::to_string)
        };
        if let Some(c) = v.get("config").and_then(digest_of) {
            marked.insert(c);
        }
        for key in ["layers", "blobs"] {
            for l in v
                .get(key)
                .and_then(serde_json::Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(d) = digest_of(l) {
                    marked.insert(d);
                }
            }
        }
        for m in v
            .get("manifests")
            .and_then(serde_json::Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(d) = digest_of(m) {
                self.mark(&d, marked);
            }
        }
    }
}

/// Every repository directory (one holding `_layers` or `_manifests`).
fn all_repos(dir: &Path, prefix: &str, out: &mut Vec<String>) {
    let Ok(rd) = fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        let n = e.file_name().to_string_lossy().into_owned();
        if n.starts_with('_') || !e.path().is_dir() {
            continue;
        }
        let name = if prefix.is_empty() {
            n
        } else {
            format!("{prefix}/{n}")
        };
        if e.path().join("_layers").is_dir() || e.path().join("_manifests").is_dir() {
            out.push(name.clone());
        }
        all_repos(&e.path(), &name, out);
    }
}

fn walk_repos(dir: &Path, prefix: &str, out: &mut Vec<String>) {
    let Ok(rd) = fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        let n = e.file_name().to_string_lossy().into_owned();
        if n.starts_with('_') || !e.path().is_dir() {
            continue;
        }
        let name = if prefix.is_empty() {
            n.clone()
        } else {
            format!("{prefix}/{n}")
        };
        if e.path().join("_manifests").is_dir() {
            out.push(name.clone());
        }
        walk_repos(&e.path(), &name, out);
    }
}

fn remove_existing(p: &Path) -> io::Result<()> {
    fs::remove_file(p)
}

fn sync_dir(dir: Option<&Path>) {
    if let Some(d) = dir {
        if let Ok(f) = File::open(d) {
            let _ = f.sync_all();
        }
    }
}

/// Writes `data` to `path` through a temp file in the same directory.
pub fn write_atomic(path: &Path, data: &[u8]) -> io::Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| io::Error::other("path without parent"))?;
    fs::create_dir_all(dir)?;
    let mut tmp = tempfile::Builder::new().prefix(".tmp-").tempfile_in(dir)?;
    tmp.write_all(data)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    sync_dir(Some(dir));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_names_tags_digests() {
        assert!(valid_name("compat/bb"));
        assert!(valid_name("a-b.c/d__e"));
        assert!(!valid_name("../etc"));
        assert!(!valid_name("A/b"));
        assert!(!valid_name("a//b"));
        assert!(valid_tag("v1.0-rc_1"));
        assert!(!valid_tag(".x"));
        assert!(valid_digest(&sha256_digest(b"")));
        assert!(!valid_digest("sha256:../../x"));
    }

    #[test]
    fn upload_commit_verifies_digest_and_links() {
        let dir = tempfile::tempdir().unwrap();
        let s = Storage::open(dir.path()).unwrap();
        let u = s.new_upload().unwrap();
        fs::write(s.upload_path(&u).unwrap(), b"layer").unwrap();
        let bad = sha256_digest(b"other");
        assert!(matches!(
            s.commit_upload("a/b", &u, &bad),
            Err(ApiError::DigestInvalid(_))
        ));
        assert!(!s.blob_exists_anywhere(&bad));
        assert!(matches!(s.upload_size(&u), Err(ApiError::UploadUnknown)));

        let u = s.new_upload().unwrap();
        fs::write(s.upload_path(&u).unwrap(), b"layer").unwrap();
        let d = sha256_digest(b"layer");
        assert_eq!(s.commit_upload("a/b", &u, &d).unwrap(), 5);
        assert_eq!(s.blob_size("a/b", &d), Some(5));
        // Not visible from another repository until linked (mount).
        assert_eq!(s.blob_size("c/d", &d), None);
        s.link_blob("c/d", &d).unwrap();
        assert_eq!(s.blob_size("c/d", &d), Some(5));
    }

    #[test]
    fn chunked_upload_keeps_its_digest_state() {
        let dir = tempfile::tempdir().unwrap();
        let s = Storage::open(dir.path()).unwrap();
        let u = s.new_upload().unwrap();
        for part in [&b"lay"[..], b"er"] {
            let mut a = s.appender(&u).unwrap();
            a.append(part).unwrap();
            s.finish_append(&u, a);
        }
        assert_eq!(s.upload_size(&u).unwrap(), 5);
        let d = sha256_digest(b"layer");
        assert_eq!(s.commit_upload("a/b", &u, &d).unwrap(), 5);
        assert_eq!(s.blob_size("a/b", &d), Some(5));

        // Bytes the state did not see: the commit hashes the file itself.
        let u = s.new_upload().unwrap();
        let mut a = s.appender(&u).unwrap();
        a.append(b"ab").unwrap();
        s.finish_append(&u, a);
        let mut f = fs::OpenOptions::new()
            .append(true)
            .open(s.upload_path(&u).unwrap())
            .unwrap();
        f.write_all(b"c").unwrap();
        assert!(matches!(
            s.commit_upload("a/b", &u, &sha256_digest(b"ab")),
            Err(ApiError::DigestInvalid(_))
        ));
        let u = s.new_upload().unwrap();
        let mut a = s.appender(&u).unwrap();
        a.append(b"ab").unwrap();
        s.finish_append(&u, a);
        fs::write(s.upload_path(&u).unwrap(), b"abc").unwrap();
        let d = sha256_digest(b"abc");
        assert_eq!(s.commit_upload("a/b", &u, &d).unwrap(), 3);
    }

    #[test]
    fn manifests_tags_and_catalog() {
        let dir = tempfile::tempdir().unwrap();
        let s = Storage::open(dir.path()).unwrap();
        let mt = "application/vnd.oci.image.manifest.v1+json";
        let d = s.put_manifest("x/y", b"{}", mt, Some("v1")).unwrap();
        let (gd, gmt, bytes) = s.get_manifest("x/y", "v1").unwrap();
        assert_eq!(
            (gd.as_str(), gmt.as_str(), bytes.as_slice()),
            (d.as_str(), mt, &b"{}"[..])
        );
        assert!(s.get_manifest("x/y", &d).is_ok());
        assert!(s.get_manifest("x/z", &d).is_err());
        assert_eq!(s.tags("x/y"), vec!["v1"]);
        assert_eq!(s.catalog(), vec!["x/y"]);
        s.delete_manifest("x/y", &d).unwrap();
        assert!(s.get_manifest("x/y", "v1").is_err());
        assert!(s.tags("x/y").is_empty());
    }

    #[test]
    fn gc_keeps_what_manifests_reference_and_removes_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let s = Storage::open(dir.path()).unwrap();
        let put_blob = |repo: &str, data: &[u8]| {
            let d = sha256_digest(data);
            write_atomic(&s.blob_path(&d), data).unwrap();
            s.link_blob(repo, &d).unwrap();
            d
        };
        let config = put_blob("a/b", b"config");
        let layer = put_blob("a/b", b"layer");
        let orphan = put_blob("a/b", b"orphan layer");
        let child_layer = put_blob("c", b"child layer");
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "config": {"digest": config, "size": 6},
            "layers": [{"digest": layer, "size": 5}],
        })
        .to_string();
        let m = s
            .put_manifest(
                "a/b",
                manifest.as_bytes(),
                "application/vnd.oci.image.manifest.v1+json",
                Some("v1"),
            )
            .unwrap();
        let child = serde_json::json!({"schemaVersion": 2, "layers": [{"digest": child_layer}]})
            .to_string();
        let child_d = s.put_manifest("c", child.as_bytes(), "x", None).unwrap();
        let index =
            serde_json::json!({"schemaVersion": 2, "manifests": [{"digest": child_d}]}).to_string();
        s.put_manifest("c", index.as_bytes(), "y", Some("multi"))
            .unwrap();
        // The child manifest's own link goes: only the index keeps it now.
        fs::remove_file(s.repo("c").join("_manifests").join(hex(&child_d))).unwrap();

        let dry = s.gc(true).unwrap();
        assert_eq!(dry.removed, vec![orphan.clone()]);
        assert!(s.blob_exists_anywhere(&orphan));
        let report = s.gc(false).unwrap();
        assert_eq!(report.removed, vec![orphan.clone()]);
        assert_eq!(report.freed_bytes, b"orphan layer".len() as u64);
        assert!(!s.blob_exists_anywhere(&orphan));
        assert_eq!(s.blob_size("a/b", &orphan), None);
        for kept in [&config, &layer, &m, &child_layer, &child_d] {
            assert!(s.blob_exists_anywhere(kept), "{kept}");
        }
        // Untagged and deleted: its blobs go at the next collection.
        s.delete_manifest("a/b", &m).unwrap();
        let report = s.gc(false).unwrap();
        let mut gone = vec![config, layer, m];
        gone.sort();
        assert_eq!(report.removed, gone);
    }
}
