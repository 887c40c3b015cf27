//! Telling a tar archive from other bytes by its first header block: a
//! build context on stdin, `ADD` of a local file, a file of an image archive
//! being loaded.

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
        // One the tar crate wrote.
        let mut b = tar::Builder::new(Vec::new());
        let mut hd = tar::Header::new_gnu();
        hd.set_size(1);
        hd.set_mode(0o644);
        b.append_data(&mut hd, "x", &b"x"[..]).unwrap();
        assert!(valid_tar_header(&b.into_inner().unwrap()));
    }
}
