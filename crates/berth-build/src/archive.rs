//! Telling a compressed archive from other bytes, as the docker CLI does for
//! a build context on stdin and the daemon does for `ADD` of a local file.
//! (Tar headers are recognised by `berth_image::tarhead`.)

/// Magic bytes of the compressions a context or ADD archive may use
/// (gzip, bzip2, xz, zstd).
pub fn is_compressed(head: &[u8]) -> bool {
    const MAGICS: [&[u8]; 4] = [
        b"\x1f\x8b\x08",
        b"BZh",
        b"\xfd7zXZ\x00",
        b"\x28\xb5\x2f\xfd",
    ];
    MAGICS.iter().any(|m| head.starts_with(m))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_compression_magics() {
        assert!(is_compressed(b"\x1f\x8b\x08\x00"));
        assert!(!is_compressed(b"FROM"));
    }
}
