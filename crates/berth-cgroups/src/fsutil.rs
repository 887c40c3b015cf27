//! Small file helpers for cgroupfs. cgroupfs files must be written with a single
//! write(2) and no O_TRUNC/O_CREAT surprises, and errors must carry the path.
use crate::CgroupError;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;

pub(crate) fn write(dir: &Path, file: &str, value: &str) -> Result<(), CgroupError> {
    let path = dir.join(file);
    let res = OpenOptions::new()
        .write(true)
        .open(&path)
        .and_then(|mut f| f.write_all(value.as_bytes()));
    res.map_err(|source| CgroupError::Write {
        path,
        value: value.to_string(),
        source,
    })
}

/// Writes only when the kernel exposes the file (optional features such as
/// swap accounting or blkio weight under a non-BFQ scheduler).
pub(crate) fn write_if_exists(dir: &Path, file: &str, value: &str) -> Result<bool, CgroupError> {
    if dir.join(file).exists() {
        write(dir, file, value)?;
        Ok(true)
    } else {
        Ok(false)
    }
}

pub(crate) fn read(dir: &Path, file: &str) -> Result<String, CgroupError> {
    let path = dir.join(file);
    std::fs::read_to_string(&path).map_err(|source| CgroupError::Read { path, source })
}

pub(crate) fn read_opt(dir: &Path, file: &str) -> Result<Option<String>, CgroupError> {
    let path = dir.join(file);
    match std::fs::read_to_string(&path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(CgroupError::Read { path, source }),
    }
}

/// A single unsigned number; "max" (v2) maps to u64::MAX.
pub(crate) fn read_u64(dir: &Path, file: &str) -> Result<u64, CgroupError> {
    let text = read(dir, file)?;
    parse_u64(text.trim()).ok_or_else(|| CgroupError::Parse {
        path: dir.join(file),
        msg: format!("expected a number, got {:?}", text.trim()),
    })
}

pub(crate) fn read_u64_opt(dir: &Path, file: &str) -> Result<Option<u64>, CgroupError> {
    if dir.join(file).exists() {
        read_u64(dir, file).map(Some)
    } else {
        Ok(None)
    }
}

pub(crate) fn parse_u64(s: &str) -> Option<u64> {
    if s == "max" {
        Some(u64::MAX)
    } else {
        s.parse().ok()
    }
}

/// Creates `dir` and any missing parents, remembering nothing: cgroupfs
/// directories appear fully populated by the kernel.
pub(crate) fn mkdir_all(dir: &Path) -> Result<(), CgroupError> {
    std::fs::create_dir_all(dir).map_err(|source| CgroupError::Create {
        path: dir.to_path_buf(),
        source,
    })
}
