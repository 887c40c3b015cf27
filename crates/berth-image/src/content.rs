//! Content-addressed blob store: `<root>/content/sha256/<hex>`. Blobs are
//! written to a temp file in the same directory, verified, fsynced and renamed,
//! so a blob path that exists is always complete and correct.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::{ImageError, PathContext};

pub(crate) const TEMP_PREFIX: &str = ".tmp-";

pub struct ContentStore {
    dir: PathBuf,
}

/// A blob being written; `commit` verifies (optionally) and publishes it.
pub struct BlobWriter {
    file: tempfile::NamedTempFile,
    hasher: Sha256,
    size: u64,
    dir: PathBuf,
    /// Bytes up to which writeback has been started.
    flushed: u64,
}

/// How much written data may wait before its writeback is started.
const WRITEBACK_CHUNK: u64 = 8 << 20;

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        if self.size - self.flushed >= WRITEBACK_CHUNK {
            self.start_writeback();
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl BlobWriter {
    /// Starts (without waiting for) writeback of what was written since the
    /// last call, so the disk works while the stream goes on and the fsync
    /// at commit has little left to wait for. Only a hint: errors are left
    /// to that fsync.
    fn start_writeback(&mut self) {
        use std::os::fd::AsRawFd;
        let (from, len) = (self.flushed, self.size - self.flushed);
        // SAFETY: sync_file_range on a descriptor we own, with plain integers.
        unsafe {
            libc::sync_file_range(
                self.file.as_file().as_raw_fd(),
                from as libc::off64_t,
                len as libc::off64_t,
                libc::SYNC_FILE_RANGE_WRITE,
            );
        }
        self.flushed = self.size;
    }

    /// Another descriptor of the (still unpublished) blob, for reading it.
    pub(crate) fn reopen(&self) -> Result<File, ImageError> {
        self.file
            .reopen()
            .map_err(|e| ImageError::io("reopening temp blob", e))
    }

    /// Digest of what was written so far (`sha256:<hex>`).
    pub fn digest(&self) -> String {
        format!("sha256:{}", hex::encode(self.hasher.clone().finalize()))
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// Flushes what was written to disk (so that a later `commit` has
    /// nothing left to wait for).
    pub(crate) fn sync(&self) -> Result<(), ImageError> {
        self.file
            .as_file()
            .sync_all()
            .map_err(|e| ImageError::io("fsync blob", e))
    }

    /// Publishes the blob under its digest. With `expected`, a mismatch is an
    /// error and nothing is published.
    pub fn commit(self, expected: Option<&str>) -> Result<String, ImageError> {
        let digest = self.digest();
        if let Some(want) = expected {
            if want != digest {
                return Err(ImageError::InvalidParameter(format!(
                    "digest mismatch: expected {want}, got {digest}"
                )));
            }
        }
        self.file
            .as_file()
            .sync_all()
            .map_err(|e| ImageError::io("fsync blob", e))?;
        let target = self.dir.join(hex_of(&digest));
        self.file
            .persist(&target)
            .map_err(|e| ImageError::path("publishing blob", &target, e.error))?;
        Ok(digest)
    }
}

/// `io::copy` with a buffer fit for `expected` bytes (8 KiB to 1 MiB): layer
/// and archive entries are often large, and the default 8 KiB means one write
/// syscall (and hash call) per 8 KiB; small files keep a small buffer.
pub(crate) fn copy_large(r: &mut dyn Read, w: &mut dyn Write, expected: u64) -> io::Result<u64> {
    let cap = expected.clamp(8 << 10, 1 << 20) as usize;
    let mut buf = vec![0u8; cap];
    let mut total = 0u64;
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        w.write_all(&buf[..n])?;
        total += n as u64;
    }
}

/// As `copy_large` into a blob writer, with the writing and hashing on a
/// second thread: the reading thread only fills 1 MiB buffers and hands
/// them over. For big entries (layer tars of an archive being loaded).
pub(crate) fn copy_to_blob_threaded(r: &mut dyn Read, mut w: BlobWriter) -> io::Result<BlobWriter> {
    const BUF: usize = 1 << 20;
    std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(8);
        let writer = scope.spawn(move || -> io::Result<BlobWriter> {
            for buf in rx {
                w.write_all(&buf)?;
            }
            Ok(w)
        });
        let read = (|| -> io::Result<()> {
            loop {
                let mut buf = vec![0u8; BUF];
                let mut n = 0;
                while n < BUF {
                    match r.read(&mut buf[n..]) {
                        Ok(0) => break,
                        Ok(k) => n += k,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(e),
                    }
                }
                if n == 0 {
                    return Ok(());
                }
                buf.truncate(n);
                if tx.send(buf).is_err() {
                    // The writer failed; its error is the one to report.
                    return Ok(());
                }
            }
        })();
        drop(tx);
        let w = writer
            .join()
            .map_err(|_| io::Error::other("blob writer panicked"))??;
        read.map(|()| w)
    })
}

fn hex_of(digest: &str) -> &str {
    digest.strip_prefix("sha256:").unwrap_or(digest)
}

fn valid_digest(digest: &str) -> bool {
    let h = hex_of(digest);
    h.len() == 64
        && h.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

impl ContentStore {
    pub fn open(data_root: &Path) -> Result<ContentStore, ImageError> {
        let dir = data_root.join("content").join("sha256");
        fs::create_dir_all(&dir).at("creating", &dir)?;
        let store = ContentStore { dir };
        store.remove_temp_files();
        Ok(store)
    }

    /// Leftovers of writes interrupted by a crash.
    fn remove_temp_files(&self) {
        if let Ok(entries) = fs::read_dir(&self.dir) {
            for e in entries.flatten() {
                if e.file_name().to_string_lossy().starts_with(TEMP_PREFIX) {
                    let _ = fs::remove_file(e.path());
                }
            }
        }
    }

    pub fn writer(&self) -> Result<BlobWriter, ImageError> {
        let file = tempfile::Builder::new()
            .prefix(TEMP_PREFIX)
            .tempfile_in(&self.dir)
            .at("creating temp blob in", &self.dir)?;
        Ok(BlobWriter {
            file,
            hasher: Sha256::new(),
            size: 0,
            dir: self.dir.clone(),
            flushed: 0,
        })
    }

    /// Stores `data` and returns its digest.
    pub fn put(&self, data: &[u8]) -> Result<String, ImageError> {
        let mut w = self.writer()?;
        w.write_all(data)
            .map_err(|e| ImageError::io("writing blob", e))?;
        w.commit(None)
    }

    pub fn path(&self, digest: &str) -> Option<PathBuf> {
        valid_digest(digest).then(|| self.dir.join(hex_of(digest)))
    }

    pub fn exists(&self, digest: &str) -> bool {
        self.path(digest).is_some_and(|p| p.exists())
    }

    pub fn open_blob(&self, digest: &str) -> Result<File, ImageError> {
        let p = self
            .path(digest)
            .ok_or_else(|| ImageError::NotFound(format!("blob {digest} not found")))?;
        File::open(&p).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => ImageError::NotFound(format!("blob {digest} not found")),
            _ => ImageError::path("opening blob", &p, e),
        })
    }

    pub fn read(&self, digest: &str) -> Result<Vec<u8>, ImageError> {
        let mut v = Vec::new();
        self.open_blob(digest)?
            .read_to_end(&mut v)
            .map_err(|e| ImageError::io(format!("reading blob {digest}"), e))?;
        Ok(v)
    }

    pub fn delete(&self, digest: &str) -> Result<(), ImageError> {
        if let Some(p) = self.path(digest) {
            match fs::remove_file(&p) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => {
                    return Err(ImageError::path("removing blob", &p, e))
                }
                _ => {}
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_read_verify_delete() {
        let dir = tempfile::tempdir().unwrap();
        let cs = ContentStore::open(dir.path()).unwrap();
        let d = cs.put(b"hello").unwrap();
        assert_eq!(
            d,
            "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        assert_eq!(cs.read(&d).unwrap(), b"hello");
        let mut w = cs.writer().unwrap();
        w.write_all(b"x").unwrap();
        assert!(w.commit(Some(&d)).is_err());
        cs.delete(&d).unwrap();
        assert!(!cs.exists(&d));
        assert_eq!(cs.read(&d).unwrap_err().kind(), crate::ErrorKind::NotFound);
        assert!(cs.path("sha256:../../etc").is_none());
    }

    #[test]
    fn threaded_copy_writes_and_hashes_everything() {
        let dir = tempfile::tempdir().unwrap();
        let cs = ContentStore::open(dir.path()).unwrap();
        let data: Vec<u8> = (0..(3 << 20) + 12345)
            .map(|i| (i * 31 % 251) as u8)
            .collect();
        let w = copy_to_blob_threaded(&mut data.as_slice(), cs.writer().unwrap()).unwrap();
        assert_eq!(w.size(), data.len() as u64);
        let d = w.commit(None).unwrap();
        assert_eq!(cs.read(&d).unwrap(), data);

        struct Failing;
        impl Read for Failing {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::other("truncated archive"))
            }
        }
        let err = copy_to_blob_threaded(&mut Failing, cs.writer().unwrap())
            .err()
            .unwrap();
        assert!(err.to_string().contains("truncated archive"));
    }
}
