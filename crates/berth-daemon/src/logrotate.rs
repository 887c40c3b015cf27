//! Reading a json-file log the shim rotates (`<log>.N` oldest ... `<log>.1`,
//! then `<log>`): the files are opened together and read as one stream, and
//! followers notice the rotation by the log's inode changing.

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use tokio::io::AsyncRead;

pub type LogReader = Box<dyn AsyncRead + Unpin + Send>;

/// Rotated files that exist, oldest first.
fn rotated_files(path: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for n in 1.. {
        let p = berth_shim::logfile::rotated_path(path, n);
        if !p.exists() {
            break;
        }
        out.push(p);
    }
    out.reverse();
    out
}

pub fn inode(path: &Path) -> Option<u64> {
    std::fs::metadata(path).ok().map(|m| m.ino())
}

/// The current log file alone, with its inode.
pub async fn open_current(path: &Path) -> Option<(LogReader, u64)> {
    let f = tokio::fs::File::open(path).await.ok()?;
    let ino = f.metadata().await.ok()?.ino();
    Some((Box::new(f), ino))
}

/// Every file of the log chained oldest first; the inode is the current log's.
pub async fn open_all(path: &Path) -> Option<(LogReader, u64)> {
    // The current file first: a rotation between the two steps then only
    // means an entry may be read twice, never that one is skipped.
    let (current, ino) = open_current(path).await?;
    let mut reader: LogReader = Box::new(tokio::io::empty());
    for p in rotated_files(path) {
        if let Ok(f) = tokio::fs::File::open(&p).await {
            reader = Box::new(tokio::io::AsyncReadExt::chain(reader, f));
        }
    }
    Some((
        Box::new(tokio::io::AsyncReadExt::chain(reader, current)),
        ino,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    #[tokio::test]
    async fn reads_oldest_first() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x-json.log");
        std::fs::write(&p, "c\n").unwrap();
        std::fs::write(berth_shim::logfile::rotated_path(&p, 1), "b\n").unwrap();
        std::fs::write(berth_shim::logfile::rotated_path(&p, 2), "a\n").unwrap();
        let (mut r, ino) = open_all(&p).await.unwrap();
        let mut s = String::new();
        r.read_to_string(&mut s).await.unwrap();
        assert_eq!(s, "a\nb\nc\n");
        assert_eq!(inode(&p), Some(ino));
    }
}
