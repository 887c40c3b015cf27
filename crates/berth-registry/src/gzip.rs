//! Layer compression for push: one gzip member whose deflate stream is made
//! of independently compressed 1 MiB chunks (as pigz does), compressed on a
//! few threads and written in order. A chunk that looks incompressible (its
//! byte entropy is close to 8 bits) is written as stored blocks without
//! trying: deflating random or already-compressed data costs ~15 times a
//! copy and gains nothing. A compressed chunk that came out no smaller than
//! its stored form is stored too. Every chunk ends byte-aligned (a sync
//! flush or a stored block), and an empty final block closes the stream, so
//! any gzip reader (Go's, zlib, single-member ones) reads the result.

use std::collections::BTreeMap;
use std::io::{self, Read};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use flate2::{Compress, Compression, Crc, FlushCompress, Status};
use sha2::{Digest, Sha256};

const CHUNK: usize = 1 << 20;
/// Stored blocks carry at most this many bytes.
const STORED_MAX: usize = 0xffff;
/// Chunks with more bits of byte entropy than this are stored untried.
const STORE_ENTROPY: f64 = 7.9;
/// gzip header: no name, mtime 0, OS unknown (as Go's writer).
const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
/// An empty stored block with BFINAL set.
const FINAL_BLOCK: [u8; 5] = [1, 0, 0, 0xff, 0xff];

/// What [`gzip`] produced: `sha256:<hex>` of the compressed bytes, their
/// length and the number of bytes read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gzipped {
    pub digest: String,
    pub size: u64,
    pub input: u64,
}

/// Order-0 entropy of `data` in bits per byte.
fn entropy(data: &[u8]) -> f64 {
    if data.is_empty() {
        return 0.0;
    }
    // Four tables break the dependency chain of the increments.
    let mut h = [[0u32; 256]; 4];
    let mut quads = data.chunks_exact(4);
    for q in &mut quads {
        h[0][q[0] as usize] += 1;
        h[1][q[1] as usize] += 1;
        h[2][q[2] as usize] += 1;
        h[3][q[3] as usize] += 1;
    }
    for &b in quads.remainder() {
        h[0][b as usize] += 1;
    }
    let n = data.len() as f64;
    let [h0, h1, h2, h3] = h;
    h0.iter()
        .zip(h1)
        .zip(h2)
        .zip(h3)
        .map(|(((a, b), c), d)| a + b + c + d)
        .filter(|&c| c > 0)
        .map(|c| {
            let p = c as f64 / n;
            -p * p.log2()
        })
        .sum()
}

fn stored_len(n: usize) -> usize {
    n + 5 * n.div_ceil(STORED_MAX).max(1)
}

/// `data` as non-final stored blocks.
fn store(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(stored_len(data.len()));
    for block in data.chunks(STORED_MAX) {
        let len = block.len() as u16;
        out.push(0);
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(block);
    }
    out
}

/// Deflates `data` as a raw, non-final, byte-aligned piece (ends with a sync
/// flush); `None` when that is no smaller than storing it.
fn deflate(data: &[u8], level: Compression) -> io::Result<Option<Vec<u8>>> {
    let limit = stored_len(data.len());
    let mut c = Compress::new(level, false);
    let mut out = Vec::with_capacity(limit + 64);
    loop {
        if out.capacity() - out.len() < 64 {
            out.reserve(64 + data.len() / 8);
        }
        let consumed = c.total_in() as usize;
        let status = c
            .compress_vec(&data[consumed..], &mut out, FlushCompress::Sync)
            .map_err(io::Error::other)?;
        if out.len() >= limit {
            return Ok(None);
        }
        let done = c.total_in() as usize == data.len() && out.len() < out.capacity();
        if done || status == Status::StreamEnd {
            return Ok(Some(out));
        }
    }
}

/// One chunk's encoded bytes and the CRC of its input.
fn encode(data: &[u8], level: Compression) -> io::Result<(Vec<u8>, Crc)> {
    let mut crc = Crc::new();
    crc.update(data);
    let body = if entropy(data) > STORE_ENTROPY {
        store(data)
    } else {
        match deflate(data, level)? {
            Some(d) => d,
            None => store(data),
        }
    };
    Ok((body, crc))
}

/// Reads up to a full chunk (fewer only at the end of the input).
fn read_chunk(input: &mut dyn Read) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; CHUNK];
    let mut n = 0;
    while n < CHUNK {
        match input.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(n);
    Ok(buf)
}

/// Gzips `input`, handing the compressed bytes to `out` in order and in
/// pieces of up to about a chunk. `threads` chunks are encoded at once (at
/// least one); the caller's thread reads, orders, hashes and calls `out`.
pub fn gzip(
    input: &mut dyn Read,
    level: Compression,
    threads: usize,
    mut out: impl FnMut(Vec<u8>) -> io::Result<()>,
) -> io::Result<Gzipped> {
    let mut sha = Sha256::new();
    let mut size = 0u64;
    let mut emit = |piece: Vec<u8>| -> io::Result<()> {
        sha.update(&piece);
        size += piece.len() as u64;
        out(piece)
    };
    emit(HEADER.to_vec())?;
    let mut crc = Crc::new();
    let mut input_len = 0u64;

    let threads = threads.max(1);
    std::thread::scope(|scope| -> io::Result<()> {
        type Job = (u64, Vec<u8>);
        type Done = (u64, io::Result<(Vec<u8>, Crc)>);
        let (job_tx, job_rx) = mpsc::channel::<Job>();
        let job_rx = Arc::new(Mutex::new(job_rx));
        let (done_tx, done_rx) = mpsc::channel::<Done>();
        for _ in 0..threads {
            let job_rx = job_rx.clone();
            let done_tx = done_tx.clone();
            scope.spawn(move || loop {
                let job = job_rx.lock().unwrap_or_else(|p| p.into_inner()).recv();
                let Ok((i, data)) = job else { return };
                if done_tx.send((i, encode(&data, level))).is_err() {
                    return;
                }
            });
        }
        drop(done_tx);
        // Dropping job_tx (on return, error or not) ends the workers.
        let job_tx = job_tx;
        let mut next_in = 0u64;
        let mut next_out = 0u64;
        let mut ready: BTreeMap<u64, (Vec<u8>, Crc)> = BTreeMap::new();
        let mut eof = false;
        let in_flight_max = 2 * threads as u64;
        loop {
            while !eof && next_in - next_out < in_flight_max {
                let data = read_chunk(input)?;
                if data.is_empty() {
                    eof = true;
                    break;
                }
                input_len += data.len() as u64;
                let last = data.len() < CHUNK;
                job_tx
                    .send((next_in, data))
                    .map_err(|_| io::Error::other("compression worker died"))?;
                next_in += 1;
                eof = last;
            }
            if next_out == next_in {
                break;
            }
            let (i, r) = done_rx
                .recv()
                .map_err(|_| io::Error::other("compression worker died"))?;
            ready.insert(i, r?);
            while let Some((body, c)) = ready.remove(&next_out) {
                crc.combine(&c);
                emit(body)?;
                next_out += 1;
            }
        }
        Ok(())
    })?;

    let mut tail = FINAL_BLOCK.to_vec();
    tail.extend_from_slice(&crc.sum().to_le_bytes());
    tail.extend_from_slice(&(input_len as u32).to_le_bytes());
    emit(tail)?;
    Ok(Gzipped {
        digest: format!("sha256:{}", hex::encode(sha.finalize())),
        size,
        input: input_len,
    })
}

/// Threads for [`gzip`]: the machine's CPUs, at most 8.
pub fn default_threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(data: &[u8], threads: usize) -> (Vec<u8>, Gzipped) {
        let mut gz = Vec::new();
        let mut input = data;
        let r = gzip(&mut input, Compression::fast(), threads, |p| {
            gz.extend_from_slice(&p);
            Ok(())
        })
        .unwrap();
        assert_eq!(r.size, gz.len() as u64);
        assert_eq!(r.input, data.len() as u64);
        assert_eq!(
            r.digest,
            format!("sha256:{}", hex::encode(Sha256::digest(&gz)))
        );
        // A single-member reader sees the whole stream.
        let mut back = Vec::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, data);
        (gz, r)
    }

    fn pseudo_random(n: usize, seed: u64) -> Vec<u8> {
        let mut x = seed | 1;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect()
    }

    #[test]
    fn empty_and_small_inputs() {
        let (gz, _) = roundtrip(b"", 2);
        assert_eq!(gz.len(), 10 + 5 + 8);
        roundtrip(b"hello", 1);
        roundtrip(&b"abc".repeat(1000), 3);
    }

    #[test]
    fn mixed_chunks_in_order_and_deterministic() {
        // Text, random, text, a partial last chunk: compressed and stored
        // chunks interleave; the output does not depend on the threads.
        let mut data = b"layer text line\n".repeat(CHUNK / 16);
        data.extend(pseudo_random(CHUNK + 12345, 7));
        data.extend(b"more text ".repeat(CHUNK / 10 + 77));
        let (one, r1) = roundtrip(&data, 1);
        let (four, r4) = roundtrip(&data, 4);
        assert_eq!(one, four);
        assert_eq!(r1, r4);
        assert!(r1.size < data.len() as u64);
    }

    #[test]
    fn random_data_is_stored() {
        let data = pseudo_random(3 * CHUNK, 42);
        let (gz, _) = roundtrip(&data, 2);
        // Stored blocks: 5 bytes per 64 KiB, header, final block, trailer.
        assert_eq!(gz.len(), stored_len(CHUNK) * 3 + 10 + 5 + 8);
        assert!(entropy(&data) > STORE_ENTROPY);
        assert!(entropy(&b"text".repeat(100)) < 3.0);
    }

    #[test]
    fn read_errors_propagate() {
        struct Failing;
        impl Read for Failing {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::other("disk on fire"))
            }
        }
        let err = gzip(&mut Failing, Compression::fast(), 2, |_| Ok(())).unwrap_err();
        assert!(err.to_string().contains("disk on fire"));
    }
}
