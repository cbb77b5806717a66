//! SMB2/3 keys, signatures and encryption (MS-SMB2 3.1.4.1-3.1.4.3):
//! the SP800-108 counter-mode KDF over HMAC-SHA256, HMAC-SHA256 (2.0.2,
//! 2.1), AES-128-CMAC (3.x) and AES-128-GMAC (3.1.1 when negotiated)
//! signatures, and the transform header's AES-CCM/GCM in both key sizes.
//!
//! Crates: RustCrypto `cmac` 0.8, `ccm` 0.6 and `aes-gcm` 0.11 (already
//! in the tree through russh), one AES implementation between them; GMAC
//! is GCM over an empty plaintext with the message as associated data.

use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::aes::{Aes128, Aes256};
use aes_gcm::{Aes128Gcm, Aes256Gcm};
use ccm::consts::{U11, U16};
use ccm::Ccm;
use cmac::{Cmac, Mac as _};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256, Sha512};

/// Where a header's signature lies.
pub const SIGNATURE: std::ops::Range<usize> = 48..64;

/// The KDF of MS-SMB2 3.1.4.2: SP800-108 counter mode, HMAC-SHA256,
/// r = 32, one or two rounds for L = 128 or 256. `label` and `context`
/// are given with their terminating zeros, as the spec spells them.
pub fn kdf(key: &[u8], label: &[u8], context: &[u8], bits: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(bits as usize / 8);
    let mut i: u32 = 1;
    while out.len() < bits as usize / 8 {
        let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(key) else {
            return out;
        };
        mac.update(&i.to_be_bytes());
        mac.update(label);
        mac.update(&[0]);
        mac.update(context);
        mac.update(&bits.to_be_bytes());
        out.extend_from_slice(&mac.finalize().into_bytes());
        i += 1;
    }
    out.truncate(bits as usize / 8);
    out
}

/// One step of the 3.1.1 preauthentication hash: SHA-512(previous || message).
pub fn preauth(prev: &[u8; 64], msg: &[u8]) -> [u8; 64] {
    let mut h = Sha512::new();
    h.update(prev);
    h.update(msg);
    h.finalize().into()
}

/// Signing algorithm ids (SIGNING_CAPABILITIES, MS-SMB2 2.2.3.1.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignAlgo {
    HmacSha256,
    AesCmac,
    AesGmac,
}

impl SignAlgo {
    pub fn id(self) -> u16 {
        match self {
            SignAlgo::HmacSha256 => 0,
            SignAlgo::AesCmac => 1,
            SignAlgo::AesGmac => 2,
        }
    }

    pub fn from_id(id: u16) -> Option<SignAlgo> {
        match id {
            0 => Some(SignAlgo::HmacSha256),
            1 => Some(SignAlgo::AesCmac),
            2 => Some(SignAlgo::AesGmac),
            _ => None,
        }
    }
}

/// The signature of one message (header at offset 0; its signature field
/// is treated as zero).
pub fn signature(algo: SignAlgo, key: &[u8], msg: &[u8]) -> Option<[u8; 16]> {
    let head = msg.get(..SIGNATURE.start)?;
    let tail = msg.get(SIGNATURE.end..)?;
    let zero = [0u8; 16];
    let mut out = [0u8; 16];
    match algo {
        SignAlgo::HmacSha256 => {
            let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).ok()?;
            mac.update(head);
            mac.update(&zero);
            mac.update(tail);
            out.copy_from_slice(mac.finalize().into_bytes().get(..16)?);
        }
        SignAlgo::AesCmac => {
            let mut mac = <Cmac<Aes128> as cmac::KeyInit>::new_from_slice(key).ok()?;
            cmac::Mac::update(&mut mac, head);
            cmac::Mac::update(&mut mac, &zero);
            cmac::Mac::update(&mut mac, tail);
            out.copy_from_slice(&mac.finalize().into_bytes());
        }
        SignAlgo::AesGmac => {
            // Nonce: MessageId, then a 32-bit word whose bit 0 says "sent
            // by the server" and bit 1 "this is a CANCEL" (3.1.4.1).
            let flags = u32::from_le_bytes(head.get(16..20)?.try_into().ok()?);
            let command = u16::from_le_bytes(head.get(12..14)?.try_into().ok()?);
            let mut nonce = [0u8; 12];
            nonce[..8].copy_from_slice(head.get(24..32)?);
            let mut role = u32::from(flags & 1 != 0);
            if command == 0x0C {
                role |= 2;
            }
            nonce[8..].copy_from_slice(&role.to_le_bytes());
            out = gmac(key, &nonce, &[head, &zero, tail])?;
        }
    }
    Some(out)
}

/// AES-128-GMAC (GCM with no plaintext, NIST SP 800-38D) of the
/// associated data `parts` in order, streamed: the message is hashed where
/// it lies, never copied (an 8 MiB READ or WRITE is signed or checked
/// without a second buffer). Each part but the last must be a whole number
/// of 16-byte blocks (the SMB2 header's 48 bytes and the zeroed signature).
fn gmac(key: &[u8], nonce: &[u8; 12], parts: &[&[u8]]) -> Option<[u8; 16]> {
    use aes_gcm::aes::cipher::{Array, BlockCipherEncrypt};
    use ghash::universal_hash::UniversalHash;
    let aes = Aes128::new_from_slice(key).ok()?;
    let mut h = Array::from([0u8; 16]);
    aes.encrypt_block(&mut h);
    let mut g = ghash::GHash::new(&h);
    let mut len: u64 = 0;
    for (i, p) in parts.iter().enumerate() {
        if i + 1 < parts.len() && !p.len().is_multiple_of(16) {
            return None;
        }
        g.update_padded(p);
        len += p.len() as u64;
    }
    let mut lens = [0u8; 16];
    lens[..8].copy_from_slice(&(len * 8).to_be_bytes());
    g.update_padded(&lens);
    let mut j0 = Array::from([0u8; 16]);
    j0[..12].copy_from_slice(nonce);
    j0[15] = 1;
    aes.encrypt_block(&mut j0);
    let s = g.finalize();
    let mut out = [0u8; 16];
    for (o, (a, b)) in out.iter_mut().zip(s.iter().zip(j0.iter())) {
        *o = a ^ b;
    }
    Some(out)
}

/// Signs `msg` in place (its header's signature field).
pub fn sign(algo: SignAlgo, key: &[u8], msg: &mut [u8]) {
    if let Some(sig) = signature(algo, key, msg) {
        if let Some(f) = msg.get_mut(SIGNATURE) {
            f.copy_from_slice(&sig);
        }
    }
}

/// Whether `msg` carries its correct signature (constant time).
pub fn verify(algo: SignAlgo, key: &[u8], msg: &[u8]) -> bool {
    match (signature(algo, key, msg), msg.get(SIGNATURE)) {
        (Some(want), Some(got)) => want.iter().zip(got).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0,
        _ => false,
    }
}

/// Cipher ids (ENCRYPTION_CAPABILITIES, MS-SMB2 2.2.3.1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cipher {
    Aes128Ccm,
    Aes128Gcm,
    Aes256Ccm,
    Aes256Gcm,
}

impl Cipher {
    pub fn id(self) -> u16 {
        match self {
            Cipher::Aes128Ccm => 1,
            Cipher::Aes128Gcm => 2,
            Cipher::Aes256Ccm => 3,
            Cipher::Aes256Gcm => 4,
        }
    }

    pub fn from_id(id: u16) -> Option<Cipher> {
        match id {
            1 => Some(Cipher::Aes128Ccm),
            2 => Some(Cipher::Aes128Gcm),
            3 => Some(Cipher::Aes256Ccm),
            4 => Some(Cipher::Aes256Gcm),
            _ => None,
        }
    }

    /// Key length in bits (the KDF's L).
    pub fn key_bits(self) -> u32 {
        match self {
            Cipher::Aes128Ccm | Cipher::Aes128Gcm => 128,
            Cipher::Aes256Ccm | Cipher::Aes256Gcm => 256,
        }
    }

    /// Bytes of the transform header's 16-byte nonce field that are used.
    pub fn nonce_len(self) -> usize {
        match self {
            Cipher::Aes128Ccm | Cipher::Aes256Ccm => 11,
            Cipher::Aes128Gcm | Cipher::Aes256Gcm => 12,
        }
    }
}

/// Length of the transform header (MS-SMB2 2.2.41).
pub const TRANSFORM_LEN: usize = 52;
pub const TRANSFORM_ID: [u8; 4] = [0xFD, b'S', b'M', b'B'];

/// Why a transform could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error("transform header truncated")]
    Truncated,
    #[error("decryption failed")]
    Auth,
}

fn seal(cipher: Cipher, key: &[u8], nonce: &[u8], aad: &[u8], buf: &mut [u8]) -> Option<[u8; 16]> {
    let tag = match cipher {
        Cipher::Aes128Gcm => Aes128Gcm::new_from_slice(key)
            .ok()?
            .encrypt_inout_detached(nonce.try_into().ok()?, aad, buf.into())
            .ok()?,
        Cipher::Aes256Gcm => Aes256Gcm::new_from_slice(key)
            .ok()?
            .encrypt_inout_detached(nonce.try_into().ok()?, aad, buf.into())
            .ok()?,
        Cipher::Aes128Ccm => Ccm::<Aes128, U16, U11>::new_from_slice(key)
            .ok()?
            .encrypt_inout_detached(nonce.try_into().ok()?, aad, buf.into())
            .ok()?,
        Cipher::Aes256Ccm => Ccm::<Aes256, U16, U11>::new_from_slice(key)
            .ok()?
            .encrypt_inout_detached(nonce.try_into().ok()?, aad, buf.into())
            .ok()?,
    };
    let mut out = [0u8; 16];
    out.copy_from_slice(&tag);
    Some(out)
}

fn open(cipher: Cipher, key: &[u8], nonce: &[u8], aad: &[u8], buf: &mut [u8], tag: &[u8]) -> bool {
    fn go<C: AeadInOut + KeyInit>(
        key: &[u8],
        nonce: &[u8],
        aad: &[u8],
        buf: &mut [u8],
        tag: &[u8],
    ) -> bool {
        let (Ok(c), Ok(n), Ok(t)) = (C::new_from_slice(key), nonce.try_into(), tag.try_into())
        else {
            return false;
        };
        c.decrypt_inout_detached(n, aad, buf.into(), t).is_ok()
    }
    match cipher {
        Cipher::Aes128Gcm => go::<Aes128Gcm>(key, nonce, aad, buf, tag),
        Cipher::Aes256Gcm => go::<Aes256Gcm>(key, nonce, aad, buf, tag),
        Cipher::Aes128Ccm => go::<Ccm<Aes128, U16, U11>>(key, nonce, aad, buf, tag),
        Cipher::Aes256Ccm => go::<Ccm<Aes256, U16, U11>>(key, nonce, aad, buf, tag),
    }
}

/// Wraps one message (or compound chain) in a transform header for
/// `session_id` with a fresh random nonce.
pub fn encrypt(
    cipher: Cipher,
    key: &[u8],
    session_id: u64,
    nonce_seed: [u8; 16],
    msg: &[u8],
) -> Vec<u8> {
    encrypt_with_headroom(cipher, key, session_id, nonce_seed, msg, 0)
}

/// [`encrypt`] into a buffer that starts with `headroom` zero bytes (room
/// for the transport header, so the sealed message is not copied again).
pub fn encrypt_with_headroom(
    cipher: Cipher,
    key: &[u8],
    session_id: u64,
    nonce_seed: [u8; 16],
    msg: &[u8],
    headroom: usize,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(headroom + TRANSFORM_LEN + msg.len());
    out.resize(headroom + TRANSFORM_LEN, 0);
    out.extend_from_slice(msg);
    encrypt_in_place(cipher, key, session_id, nonce_seed, &mut out, headroom);
    out
}

/// Seals the message at `buf[headroom + TRANSFORM_LEN..]` where it lies,
/// writing the transform header into the [`TRANSFORM_LEN`] bytes before
/// it: an 8 MiB READ answer is encrypted in the buffer it was read into,
/// not copied into a new one.
pub fn encrypt_in_place(
    cipher: Cipher,
    key: &[u8],
    session_id: u64,
    nonce_seed: [u8; 16],
    buf: &mut [u8],
    headroom: usize,
) {
    let Some(whole) = buf.get_mut(headroom..) else {
        return;
    };
    if whole.len() < TRANSFORM_LEN {
        return;
    }
    let (head, body) = whole.split_at_mut(TRANSFORM_LEN);
    let n = cipher.nonce_len();
    let mut nonce = [0u8; 16];
    nonce[..n].copy_from_slice(&nonce_seed[..n]);
    head[..4].copy_from_slice(&TRANSFORM_ID);
    head[4..20].fill(0);
    head[20..36].copy_from_slice(&nonce);
    head[36..40].copy_from_slice(&u32::try_from(body.len()).unwrap_or(u32::MAX).to_le_bytes());
    head[40..42].copy_from_slice(&0u16.to_le_bytes());
    head[42..44].copy_from_slice(&1u16.to_le_bytes());
    head[44..52].copy_from_slice(&session_id.to_le_bytes());
    let mut aad = [0u8; 32];
    aad.copy_from_slice(&head[20..52]);
    if let Some(tag) = seal(cipher, key, &nonce[..n], &aad, body) {
        head[4..20].copy_from_slice(&tag);
    }
}

/// Opens a transform where it lies: on success the plaintext has replaced
/// the ciphertext at `buf[TRANSFORM_LEN..]` (an 8 MiB WRITE is decrypted
/// in the buffer it arrived in).
pub fn decrypt_in_place(cipher: Cipher, key: &[u8], buf: &mut [u8]) -> Result<(), CryptoError> {
    if buf.len() < TRANSFORM_LEN {
        return Err(CryptoError::Truncated);
    }
    let (head, body) = buf.split_at_mut(TRANSFORM_LEN);
    let size = u32::from_le_bytes([head[36], head[37], head[38], head[39]]) as usize;
    if size != body.len() {
        return Err(CryptoError::Truncated);
    }
    let n = cipher.nonce_len();
    if open(
        cipher,
        key,
        &head[20..20 + n],
        &head[20..52],
        body,
        &head[4..20],
    ) {
        Ok(())
    } else {
        Err(CryptoError::Auth)
    }
}

/// The session id a transform header names (to find the key).
pub fn transform_session(buf: &[u8]) -> Option<u64> {
    Some(u64::from_le_bytes(buf.get(44..52)?.try_into().ok()?))
}

/// Opens a transform: the plaintext message(s).
pub fn decrypt(cipher: Cipher, key: &[u8], buf: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let mut whole = buf.to_vec();
    decrypt_in_place(cipher, key, &mut whole)?;
    whole.drain(..TRANSFORM_LEN);
    Ok(whole)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The streamed GMAC equals aes-gcm's GCM over an empty plaintext with
    /// the whole message as associated data, for lengths around a block.
    #[test]
    fn streamed_gmac_is_gcm_with_no_plaintext() {
        let key = [0x42u8; 16];
        let nonce = [7u8; 12];
        for n in [0usize, 1, 15, 16, 17, 100, 4096 + 3] {
            let tail: Vec<u8> = (0..n).map(|i| (i * 31 + 5) as u8).collect();
            let head = [0x11u8; 48];
            let zero = [0u8; 16];
            let mut aad = head.to_vec();
            aad.extend_from_slice(&zero);
            aad.extend_from_slice(&tail);
            let want = Aes128Gcm::new_from_slice(&key)
                .unwrap()
                .encrypt_inout_detached(&nonce.into(), &aad, (&mut [][..]).into())
                .unwrap();
            let got = gmac(&key, &nonce, &[&head, &zero, &tail]).unwrap();
            assert_eq!(&got[..], &want[..], "{n}");
        }
        assert!(gmac(&key, &nonce, &[&[1u8; 3], &[2u8; 16]]).is_none());
    }

    #[test]
    fn kdf_lengths_and_determinism() {
        let k = kdf(&[1u8; 16], b"SMB2AESCMAC\0", b"SmbSign\0", 128);
        assert_eq!(k.len(), 16);
        assert_eq!(
            kdf(&[1u8; 16], b"SMBC2SCipherKey\0", &[0; 64], 256).len(),
            32
        );
        assert_ne!(k, kdf(&[1u8; 16], b"SMB2AESCCM\0", b"ServerIn \0", 128));
    }

    /// The AES-CMAC vector from RFC 4493 (example 2), through `signature`'s
    /// framing: a 64-byte "message" whose signature field holds the tail
    /// of the RFC's data would differ, so the primitive is checked alone.
    #[test]
    fn cmac_rfc4493() {
        let key = [
            0x2b, 0x7e, 0x15, 0x16, 0x28, 0xae, 0xd2, 0xa6, 0xab, 0xf7, 0x15, 0x88, 0x09, 0xcf,
            0x4f, 0x3c,
        ];
        let msg = [
            0x6b, 0xc1, 0xbe, 0xe2, 0x2e, 0x40, 0x9f, 0x96, 0xe9, 0x3d, 0x7e, 0x11, 0x73, 0x93,
            0x17, 0x2a,
        ];
        let mut mac = <Cmac<Aes128> as cmac::KeyInit>::new_from_slice(&key).unwrap();
        cmac::Mac::update(&mut mac, &msg);
        assert_eq!(
            mac.finalize().into_bytes().as_slice(),
            &[
                0x07, 0x0a, 0x16, 0xb4, 0x6b, 0x4d, 0x41, 0x44, 0xf7, 0x9b, 0xdd, 0x9d, 0xd0, 0x4a,
                0x28, 0x7c
            ]
        );
    }

    #[test]
    fn sign_verify_and_tamper() {
        for algo in [SignAlgo::HmacSha256, SignAlgo::AesCmac, SignAlgo::AesGmac] {
            let mut m = vec![0u8; 100];
            m[..4].copy_from_slice(b"\xfeSMB");
            m[70] = 7;
            sign(algo, &[9u8; 16], &mut m);
            assert!(verify(algo, &[9u8; 16], &m));
            m[70] = 8;
            assert!(!verify(algo, &[9u8; 16], &m));
        }
        assert!(!verify(SignAlgo::AesCmac, &[9u8; 16], &[0u8; 10]));
    }

    #[test]
    fn transform_round_trip() {
        for c in [
            Cipher::Aes128Ccm,
            Cipher::Aes128Gcm,
            Cipher::Aes256Ccm,
            Cipher::Aes256Gcm,
        ] {
            let key = vec![3u8; c.key_bits() as usize / 8];
            let t = encrypt(c, &key, 42, [5u8; 16], b"\xfeSMB hello");
            assert_eq!(transform_session(&t), Some(42));
            assert_eq!(decrypt(c, &key, &t).unwrap(), b"\xfeSMB hello");
            let mut bad = t.clone();
            bad[60] ^= 1;
            assert_eq!(decrypt(c, &key, &bad), Err(CryptoError::Auth));
            assert!(decrypt(c, &key, &t[..40]).is_err());
        }
    }
}
