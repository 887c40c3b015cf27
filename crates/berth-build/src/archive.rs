//! Telling a tar archive from other bytes, as the docker CLI does for a build
//! context on stdin and the daemon does for `ADD` of a local file.

/// Whether `block` (the first 512 bytes of a stream) is a tar header: its
/// checksum (bytes 148..156, octal) matches the sum of the block with that
/// field read as spaces. An all-zero block (an empty archive) is not.
pub fn valid_tar_header(block: &[u8]) -> bool {
    if block.len() < 512 || block[0] == 0 {
        return false;
    }
    let block = &block[..512];
    let text: String = block[148..156]
        .iter()
        .take_while(|b| **b != 0)
        .map(|b| *b as char)
        .collect();
    let Ok(stored) = u32::from_str_radix(text.trim(), 8) else {
        return false;
    };
    let sum: u32 = block
        .iter()
        .enumerate()
        .map(|(i, b)| {
            if (148..156).contains(&i) {
                32
            } else {
                *b as u32
            }
        })
        .sum();
    stored == sum
}

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
    fn recognises_tar_headers_only() {
        let mut h = [0u8; 512];
        h[..4].copy_from_slice(b"file");
        h[148..156].copy_from_slice(b"        ");
        let sum: u32 = h.iter().map(|b| *b as u32).sum();
        h[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
        assert!(valid_tar_header(&h));
        h[0] = b'g';
        assert!(!valid_tar_header(&h));
        assert!(!valid_tar_header(&[0u8; 512]));
        assert!(!valid_tar_header(b"FROM busybox\n"));
        assert!(is_compressed(b"\x1f\x8b\x08\x00"));
        assert!(!is_compressed(b"FROM"));
    }
}
