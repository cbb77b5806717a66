//! RC4, NTLM's sealing cipher (MS-NLMP 3.4.3) and its key exchange
//! (3.1.5.1.2). Written here, like DES, because it is a dozen lines: the
//! `rc4` crate runs every byte through the `cipher` traits' one-byte
//! blocks, which made sealing a WinRM message cost as much as its HMAC-MD5
//! (13% of the server's CPU per NTLM-sealed Enumerate). The MS-NLMP test
//! vectors in this crate check it.

/// An RC4 key stream.
#[derive(Clone)]
pub(crate) struct Rc4 {
    s: [u8; 256],
    i: u8,
    j: u8,
}

impl Rc4 {
    /// The key schedule for a 16-byte key (every key NTLM uses is one).
    pub(crate) fn new(key: &[u8; 16]) -> Rc4 {
        Rc4::schedule(key)
    }

    /// The key schedule for a key of any length (an empty one acts as
    /// zeros).
    fn schedule(key: &[u8]) -> Rc4 {
        let mut s = [0u8; 256];
        for (n, v) in s.iter_mut().enumerate() {
            *v = n as u8;
        }
        let mut k = key.iter().copied().cycle();
        let mut j = 0u8;
        for n in 0..256 {
            j = j.wrapping_add(s[n]).wrapping_add(k.next().unwrap_or(0));
            s.swap(n, usize::from(j));
        }
        Rc4 { s, i: 0, j: 0 }
    }

    /// XORs the next `data.len()` bytes of the key stream into `data`.
    pub(crate) fn apply_keystream(&mut self, data: &mut [u8]) {
        let (mut i, mut j) = (self.i, self.j);
        let s = &mut self.s;
        for b in data {
            i = i.wrapping_add(1);
            let si = s[usize::from(i)];
            j = j.wrapping_add(si);
            let sj = s[usize::from(j)];
            s[usize::from(i)] = sj;
            s[usize::from(j)] = si;
            *b ^= s[usize::from(si.wrapping_add(sj))];
        }
        self.i = i;
        self.j = j;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_vectors() {
        for (key, plain, sealed) in [
            (&b"Key"[..], &b"Plaintext"[..], "bbf316e8d940af0ad3"),
            (b"Wiki", b"pedia", "1021bf0420"),
            (b"Secret", b"Attack at dawn", "45a01f645fc35b383552544b9bf5"),
        ] {
            let mut data = plain.to_vec();
            Rc4::schedule(key).apply_keystream(&mut data);
            let hex: String = data.iter().map(|b| format!("{b:02x}")).collect();
            assert_eq!(hex, sealed);
        }
    }

    #[test]
    fn the_stream_continues_across_calls() {
        let key = [7u8; 16];
        let mut whole = [0u8; 100];
        Rc4::new(&key).apply_keystream(&mut whole);
        let mut parts = [0u8; 100];
        let mut r = Rc4::new(&key);
        let (a, b) = parts.split_at_mut(33);
        r.apply_keystream(a);
        r.apply_keystream(b);
        assert_eq!(whole, parts);
    }
}
