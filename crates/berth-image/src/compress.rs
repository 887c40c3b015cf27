//! Detects the compression of a layer or import stream by its magic bytes
//! (as Docker's `archive.DetectCompression`) and returns a decompressing reader.

use std::io::{BufRead, BufReader, Read};

use crate::error::ImageError;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Bzip2,
    Xz,
    Zstd,
}

pub fn detect(head: &[u8]) -> Compression {
    if head.starts_with(&[0x1f, 0x8b, 0x08]) {
        Compression::Gzip
    } else if head.starts_with(b"BZh") {
        Compression::Bzip2
    } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
        Compression::Xz
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Compression::Zstd
    } else {
        Compression::None
    }
}

/// Wraps `input` so that reading yields the uncompressed bytes.
pub fn decompressed<'a>(input: &'a mut dyn Read) -> Result<Box<dyn Read + 'a>, ImageError> {
    let mut buf = BufReader::with_capacity(256 * 1024, input);
    let head = peek(&mut buf, 6)?;
    Ok(match detect(&head) {
        Compression::None => Box::new(buf),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(buf)),
        Compression::Bzip2 => Box::new(bzip2::read::MultiBzDecoder::new(buf)),
        Compression::Xz => Box::new(liblzma::read::XzDecoder::new_multi_decoder(buf)),
        Compression::Zstd => Box::new(
            ruzstd::decoding::StreamingDecoder::new(buf)
                .map_err(|e| ImageError::Internal(format!("zstd stream: {e}")))?,
        ),
    })
}

/// Peeks at up to `n` bytes without consuming them. This is one read: a pipe
/// could in theory deliver fewer than 6 bytes first, but every writer of
/// tar streams writes far larger chunks, so the magic is always there.
fn peek<R: Read>(buf: &mut BufReader<R>, n: usize) -> Result<Vec<u8>, ImageError> {
    let head = buf
        .fill_buf()
        .map_err(|e| ImageError::io("reading input", e))?;
    Ok(head[..head.len().min(n)].to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn roundtrip(data: Vec<u8>) -> Vec<u8> {
        let mut input: &[u8] = &data;
        let mut out = Vec::new();
        decompressed(&mut input)
            .unwrap()
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    #[test]
    fn sniffs_and_decompresses() {
        let plain = b"hello tar world".repeat(100);
        assert_eq!(roundtrip(plain.clone()), plain);

        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&plain).unwrap();
        assert_eq!(roundtrip(gz.finish().unwrap()), plain);

        let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
        bz.write_all(&plain).unwrap();
        assert_eq!(roundtrip(bz.finish().unwrap()), plain);

        let mut xz = liblzma::write::XzEncoder::new(Vec::new(), 1);
        xz.write_all(&plain).unwrap();
        assert_eq!(roundtrip(xz.finish().unwrap()), plain);

        let zst = ruzstd::encoding::compress_to_vec(
            &plain[..],
            ruzstd::encoding::CompressionLevel::Fastest,
        );
        assert_eq!(roundtrip(zst), plain);
    }

    #[test]
    fn detect_magic() {
        assert_eq!(detect(b""), Compression::None);
        assert_eq!(detect(&[0x1f, 0x8b, 8, 0]), Compression::Gzip);
        assert_eq!(detect(b"BZh91AY"), Compression::Bzip2);
    }
}
