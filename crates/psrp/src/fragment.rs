//! PSRP fragments (MS-PSRP 2.2.4): every message travels as one or more
//! fragments, `ObjectId` (u64 BE), `FragmentId` (u64 BE), flags (bit 0
//! start, bit 1 end), blob length (u32 BE) and the blob. A WinRM stream
//! carries fragments back to back; one blob may hold several of them.

/// The fixed header before a fragment's blob.
pub const HEADER_LEN: usize = 21;

/// One fragment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fragment {
    pub object_id: u64,
    pub fragment_id: u64,
    pub start: bool,
    pub end: bool,
    pub blob: Vec<u8>,
}

/// Why fragments were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FragmentError {
    #[error("a fragment is cut short ({0} bytes left)")]
    Truncated(usize),
    #[error("fragment {got} of object {object} arrived where {expected} was due")]
    OutOfOrder {
        object: u64,
        expected: u64,
        got: u64,
    },
    #[error("object {0} continues without a start fragment")]
    NoStart(u64),
    #[error("a message of more than {0} bytes")]
    TooLarge(usize),
    #[error("more than {0} messages in flight")]
    TooManyObjects(usize),
}

impl Fragment {
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.object_id.to_be_bytes());
        out.extend_from_slice(&self.fragment_id.to_be_bytes());
        out.push(u8::from(self.start) | (u8::from(self.end) << 1));
        // Blobs are cut to fit a u32 by `fragment`; a longer one cannot be
        // built by this crate.
        out.extend_from_slice(&(self.blob.len().min(u32::MAX as usize) as u32).to_be_bytes());
        out.extend_from_slice(&self.blob);
    }

    /// Reads one fragment from the front of `data`; returns it and the rest.
    pub fn decode(data: &[u8]) -> Result<(Fragment, &[u8]), FragmentError> {
        let head = data
            .get(..HEADER_LEN)
            .ok_or(FragmentError::Truncated(data.len()))?;
        let u64_at = |i: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&head[i..i + 8]);
            u64::from_be_bytes(b)
        };
        let flags = head[16];
        let mut lb = [0u8; 4];
        lb.copy_from_slice(&head[17..21]);
        let len = u32::from_be_bytes(lb) as usize;
        let rest = &data[HEADER_LEN..];
        let blob = rest
            .get(..len)
            .ok_or(FragmentError::Truncated(rest.len()))?;
        Ok((
            Fragment {
                object_id: u64_at(0),
                fragment_id: u64_at(8),
                start: flags & 1 != 0,
                end: flags & 2 != 0,
                blob: blob.to_vec(),
            },
            &rest[len..],
        ))
    }
}

/// Cuts one message into fragments of at most `max_blob` bytes each.
pub fn fragment(object_id: u64, message: &[u8], max_blob: usize) -> Vec<Fragment> {
    let max_blob = max_blob.clamp(1, u32::MAX as usize);
    let mut out = Vec::new();
    let mut chunks = message.chunks(max_blob).peekable();
    if chunks.peek().is_none() {
        return vec![Fragment {
            object_id,
            fragment_id: 0,
            start: true,
            end: true,
            blob: Vec::new(),
        }];
    }
    let mut id = 0u64;
    while let Some(c) = chunks.next() {
        out.push(Fragment {
            object_id,
            fragment_id: id,
            start: id == 0,
            end: chunks.peek().is_none(),
            blob: c.to_vec(),
        });
        id += 1;
    }
    out
}

/// Reassembles messages from fragments, per object id.
///
/// Fragments of one object must arrive in order (WinRM is in order); a
/// message may not grow past `max_message`, and at most `max_objects`
/// messages may be half-received at once.
#[derive(Debug)]
pub struct Defragmenter {
    partial: Vec<(u64, u64, Vec<u8>)>,
    max_message: usize,
    max_objects: usize,
}

impl Defragmenter {
    pub fn new(max_message: usize, max_objects: usize) -> Defragmenter {
        Defragmenter {
            partial: Vec::new(),
            max_message,
            max_objects,
        }
    }

    /// Feeds a stream's bytes (any number of whole fragments); returns the
    /// messages they complete, in order.
    pub fn push(&mut self, mut data: &[u8]) -> Result<Vec<Vec<u8>>, FragmentError> {
        let mut done = Vec::new();
        while !data.is_empty() {
            let (f, rest) = Fragment::decode(data)?;
            data = rest;
            if let Some(m) = self.push_fragment(f)? {
                done.push(m);
            }
        }
        Ok(done)
    }

    pub fn push_fragment(&mut self, f: Fragment) -> Result<Option<Vec<u8>>, FragmentError> {
        if f.blob.len() > self.max_message {
            return Err(FragmentError::TooLarge(self.max_message));
        }
        let pos = self.partial.iter().position(|(o, _, _)| *o == f.object_id);
        if f.start {
            if let Some(i) = pos {
                // A new start abandons what came before under that id.
                self.partial.swap_remove(i);
            }
            if f.fragment_id != 0 {
                return Err(FragmentError::OutOfOrder {
                    object: f.object_id,
                    expected: 0,
                    got: f.fragment_id,
                });
            }
            if f.end {
                return Ok(Some(f.blob));
            }
            if self.partial.len() >= self.max_objects {
                return Err(FragmentError::TooManyObjects(self.max_objects));
            }
            self.partial.push((f.object_id, 1, f.blob));
            return Ok(None);
        }
        let i = pos.ok_or(FragmentError::NoStart(f.object_id))?;
        let (_, next, buf) = &mut self.partial[i];
        if f.fragment_id != *next {
            let expected = *next;
            self.partial.swap_remove(i);
            return Err(FragmentError::OutOfOrder {
                object: f.object_id,
                expected,
                got: f.fragment_id,
            });
        }
        if buf.len() + f.blob.len() > self.max_message {
            self.partial.swap_remove(i);
            return Err(FragmentError::TooLarge(self.max_message));
        }
        buf.extend_from_slice(&f.blob);
        *next += 1;
        if f.end {
            let (_, _, buf) = self.partial.swap_remove(i);
            return Ok(Some(buf));
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fragments_round_trip() {
        let msg: Vec<u8> = (0..1000u32).map(|i| i as u8).collect();
        let mut wire = Vec::new();
        for f in fragment(7, &msg, 300) {
            f.encode(&mut wire);
        }
        for f in fragment(8, b"", 300) {
            f.encode(&mut wire);
        }
        let mut d = Defragmenter::new(4096, 4);
        let out = d.push(&wire).unwrap();
        assert_eq!(out, vec![msg, Vec::new()]);
    }

    #[test]
    fn hostile_fragments_are_refused() {
        let mut d = Defragmenter::new(100, 1);
        assert!(matches!(d.push(&[0; 10]), Err(FragmentError::Truncated(_))));
        let mut wire = Vec::new();
        Fragment {
            object_id: 1,
            fragment_id: 1,
            start: false,
            end: true,
            blob: vec![1],
        }
        .encode(&mut wire);
        assert_eq!(d.push(&wire), Err(FragmentError::NoStart(1)));
        let mut wire = Vec::new();
        for f in fragment(2, &[0; 250], 60) {
            f.encode(&mut wire);
        }
        assert_eq!(d.push(&wire), Err(FragmentError::TooLarge(100)));
        // A declared length past the data.
        let mut wire = Vec::new();
        Fragment {
            object_id: 3,
            fragment_id: 0,
            start: true,
            end: true,
            blob: vec![1, 2],
        }
        .encode(&mut wire);
        wire.truncate(wire.len() - 1);
        assert!(matches!(d.push(&wire), Err(FragmentError::Truncated(1))));
    }
}
