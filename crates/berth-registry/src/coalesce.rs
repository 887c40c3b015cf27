//! Gathers the small frames of an HTTP body into chunks of at least
//! [`CHUNK`] bytes before they are handed to a blocking consumer: every
//! chunk wakes that consumer, and bodies arrive in frames of a few KiB.
//! Used by the registry client (blob downloads), the registry server
//! (uploads) and the daemon (request bodies such as build contexts).

use bytes::{Bytes, BytesMut};

/// The smallest chunk handed over (but the last).
pub const CHUNK: usize = 256 * 1024;

#[derive(Default)]
pub struct Coalescer {
    pending: BytesMut,
}

impl Coalescer {
    /// Takes a frame; returns a chunk when one is ready. A large frame
    /// with nothing pending passes through without a copy.
    pub fn push(&mut self, frame: Bytes) -> Option<Bytes> {
        if self.pending.is_empty() && frame.len() >= CHUNK {
            return Some(frame);
        }
        self.pending.extend_from_slice(&frame);
        (self.pending.len() >= CHUNK).then(|| self.pending.split().freeze())
    }

    /// What is left at the end of the body, if anything.
    pub fn finish(self) -> Option<Bytes> {
        (!self.pending.is_empty()).then(|| self.pending.freeze())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_frames_gather_and_large_ones_pass() {
        let mut c = Coalescer::default();
        let small = Bytes::from(vec![1u8; CHUNK / 2]);
        assert!(c.push(small.clone()).is_none());
        let out = c.push(small.clone()).unwrap();
        assert_eq!(out.len(), CHUNK);
        let big = Bytes::from(vec![2u8; CHUNK * 2]);
        let passed = c.push(big.clone()).unwrap();
        assert_eq!(passed.as_ptr(), big.as_ptr(), "no copy for a large frame");
        assert!(c.push(Bytes::from_static(b"tail")).is_none());
        assert_eq!(c.finish().unwrap(), Bytes::from_static(b"tail"));
        assert!(Coalescer::default().finish().is_none());
    }
}
