//! IPMI LAN cryptography: RAKP key exchange (§13.31), session key derivation (§13.32),
//! RMCP+ integrity and confidentiality (§13.28, §13.29), IPMI 1.5 authcodes (§22.17),
//! and the cipher-suite table (§22.15.2).
//!
//! Everything is a pure function of its inputs. Randomness (AES IVs) is passed in, so
//! the session layer stays deterministic under a seeded RNG. No function panics on
//! peer data; MAC comparisons are constant-time. Keys are never printed: the
//! `Debug` impl of [`SessionKeys`] shows only the suite.

use aes::Aes128;
use cbc::cipher::{block_padding::NoPadding, BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use hmac::{Hmac, Mac};
use md5::{Digest, Md5};
use rand::RngCore;
use sha1::Sha1;
use sha2::Sha256;

use crate::wire::{
    integrity_pad_len, AuthAlgorithm, AuthType, ConfidentialityAlgorithm, IntegrityAlgorithm,
    OemPayload, PayloadKind, PayloadType, RmcpHeader, RmcpPlusHeader, RmcpPlusPacket, NEXT_HEADER,
};

/// Length of Rm, Rc and the GUID in RAKP.
pub const RANDOM_LEN: usize = 16;
/// AES block (and IV) size.
pub const AES_BLOCK: usize = 16;
/// Maximum RMCP+ password length (Kuid is the password zero-padded to this).
pub const MAX_PASSWORD_LEN: usize = 20;

/// Why a sealed payload could not be opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// The suite requires integrity but the packet is not authenticated.
    #[error("packet lacks the integrity trailer the session requires")]
    IntegrityMissing,
    /// The packet claims integrity or encryption the session did not negotiate.
    #[error("packet claims protection the session did not negotiate")]
    UnexpectedProtection,
    /// The integrity trailer is malformed (pad, next header, AuthCode length).
    #[error("bad integrity trailer: {0}")]
    Trailer(crate::wire::Error),
    /// The AuthCode does not match.
    #[error("integrity AuthCode mismatch")]
    BadAuthCode,
    /// The suite requires confidentiality but the payload is in clear.
    #[error("payload not encrypted but the session requires it")]
    EncryptionMissing,
    /// Ciphertext is empty, shorter than an IV plus a block, or not block-aligned.
    #[error("ciphertext length {0} is not IV + n*16")]
    CiphertextLength(usize),
    /// Confidentiality pad bytes (01 02 .. N N) are wrong: wrong key or tampering.
    #[error("bad confidentiality pad")]
    BadPad,
    /// An algorithm we do not implement.
    #[error("unsupported algorithm")]
    Unsupported,
}

/// One RMCP+ cipher suite: the (authentication, integrity, confidentiality) triple.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CipherSuite {
    /// Cipher suite ID (§22.15.2, Table 22-20).
    pub id: u8,
    /// RAKP algorithm.
    pub auth: AuthAlgorithm,
    /// Per-packet integrity algorithm.
    pub integrity: IntegrityAlgorithm,
    /// Payload confidentiality algorithm.
    pub confidentiality: ConfidentialityAlgorithm,
}

/// The suites this crate implements, in ID order: every suite of Table 22-20
/// whose algorithms exist outside the xRC4 family (0-3, 6-8, 11-12, 15-17).
/// The xRC4-40/128 suites (4, 5, 9, 10, 13, 14, 18, 19) are not: neither
/// ipmitool nor FreeIPMI implements xRC4, so nothing could check them, and
/// a BMC lists only the suites it really serves (ipmitool issue #363).
pub const SUPPORTED_SUITES: [CipherSuite; 12] = [
    CipherSuite {
        id: 0,
        auth: AuthAlgorithm::None,
        integrity: IntegrityAlgorithm::None,
        confidentiality: ConfidentialityAlgorithm::None,
    },
    CipherSuite {
        id: 1,
        auth: AuthAlgorithm::HmacSha1,
        integrity: IntegrityAlgorithm::None,
        confidentiality: ConfidentialityAlgorithm::None,
    },
    CipherSuite {
        id: 2,
        auth: AuthAlgorithm::HmacSha1,
        integrity: IntegrityAlgorithm::HmacSha1_96,
        confidentiality: ConfidentialityAlgorithm::None,
    },
    CipherSuite {
        id: 3,
        auth: AuthAlgorithm::HmacSha1,
        integrity: IntegrityAlgorithm::HmacSha1_96,
        confidentiality: ConfidentialityAlgorithm::AesCbc128,
    },
    CipherSuite {
        id: 6,
        auth: AuthAlgorithm::HmacMd5,
        integrity: IntegrityAlgorithm::None,
        confidentiality: ConfidentialityAlgorithm::None,
    },
    CipherSuite {
        id: 7,
        auth: AuthAlgorithm::HmacMd5,
        integrity: IntegrityAlgorithm::HmacMd5_128,
        confidentiality: ConfidentialityAlgorithm::None,
    },
    CipherSuite {
        id: 8,
        auth: AuthAlgorithm::HmacMd5,
        integrity: IntegrityAlgorithm::HmacMd5_128,
        confidentiality: ConfidentialityAlgorithm::AesCbc128,
    },
    CipherSuite {
        id: 11,
        auth: AuthAlgorithm::HmacMd5,
        integrity: IntegrityAlgorithm::Md5_128,
        confidentiality: ConfidentialityAlgorithm::None,
    },
    CipherSuite {
        id: 12,
        auth: AuthAlgorithm::HmacMd5,
        integrity: IntegrityAlgorithm::Md5_128,
        confidentiality: ConfidentialityAlgorithm::AesCbc128,
    },
    CipherSuite {
        id: 15,
        auth: AuthAlgorithm::HmacSha256,
        integrity: IntegrityAlgorithm::None,
        confidentiality: ConfidentialityAlgorithm::None,
    },
    CipherSuite {
        id: 16,
        auth: AuthAlgorithm::HmacSha256,
        integrity: IntegrityAlgorithm::HmacSha256_128,
        confidentiality: ConfidentialityAlgorithm::None,
    },
    CipherSuite {
        id: 17,
        auth: AuthAlgorithm::HmacSha256,
        integrity: IntegrityAlgorithm::HmacSha256_128,
        confidentiality: ConfidentialityAlgorithm::AesCbc128,
    },
];

/// The IDs of [`SUPPORTED_SUITES`], for messages that list them.
pub fn supported_suite_ids() -> String {
    SUPPORTED_SUITES
        .iter()
        .map(|s| s.id.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

impl CipherSuite {
    /// The supported suite with this ID.
    pub fn by_id(id: u8) -> Option<Self> {
        SUPPORTED_SUITES.iter().copied().find(|s| s.id == id)
    }

    /// The supported suite with exactly this triple, among `enabled` IDs. There is no
    /// per-algorithm matching: a triple that is not a configured suite is refused,
    /// never mapped to a neighbour (the go-ipmi PR #68 bug).
    pub fn matching(
        enabled: &[u8],
        auth: AuthAlgorithm,
        integrity: IntegrityAlgorithm,
        confidentiality: ConfidentialityAlgorithm,
    ) -> Option<Self> {
        SUPPORTED_SUITES.iter().copied().find(|s| {
            enabled.contains(&s.id)
                && s.auth == auth
                && s.integrity == integrity
                && s.confidentiality == confidentiality
        })
    }

    /// The 5-byte Get Channel Cipher Suites record (§22.15.1):
    /// `C0h | suite id | auth alg | 40h | integrity alg | 80h | conf alg`.
    /// Suite 3 → `C0 03 01 41 81`, suite 17 → `C0 11 03 44 81`.
    pub fn record(&self) -> [u8; 5] {
        [
            0xC0,
            self.id,
            u8::from(self.auth) & 0x3F,
            0x40 | (u8::from(self.integrity) & 0x3F),
            0x80 | (u8::from(self.confidentiality) & 0x3F),
        ]
    }

    /// Length of the RAKP2 key-exchange auth code (and RAKP3's) for this suite.
    pub fn rakp_auth_code_len(&self) -> usize {
        hmac_len(self.auth)
    }

    /// Length of the RAKP4 integrity check value.
    pub fn rakp4_icv_len(&self) -> usize {
        match self.auth {
            AuthAlgorithm::HmacSha1 => 12,
            AuthAlgorithm::HmacMd5 | AuthAlgorithm::HmacSha256 => 16,
            _ => 0,
        }
    }

    /// Length of the per-packet AuthCode (0 without integrity).
    pub fn auth_code_len(&self) -> usize {
        match self.integrity {
            IntegrityAlgorithm::HmacSha1_96 => 12,
            IntegrityAlgorithm::HmacMd5_128
            | IntegrityAlgorithm::Md5_128
            | IntegrityAlgorithm::HmacSha256_128 => 16,
            _ => 0,
        }
    }
}

/// Concatenated records of `suite_ids` (unsupported IDs skipped), the data that Get
/// Channel Cipher Suites pages out 16 bytes at a time after the channel byte.
pub fn cipher_suite_records(suite_ids: &[u8]) -> Vec<u8> {
    suite_ids
        .iter()
        .filter_map(|id| CipherSuite::by_id(*id))
        .flat_map(|s| s.record())
        .collect()
}

/// Compares two byte strings in time independent of where they differ.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn hmac_len(alg: AuthAlgorithm) -> usize {
    match alg {
        AuthAlgorithm::HmacSha1 => 20,
        AuthAlgorithm::HmacMd5 => 16,
        AuthAlgorithm::HmacSha256 => 32,
        _ => 0,
    }
}

/// HMAC-SHA1 over the concatenation of `parts`.
pub fn hmac_sha1(key: &[u8], parts: &[&[u8]]) -> [u8; 20] {
    let mut mac = <Hmac<Sha1> as Mac>::new_from_slice(key).expect("HMAC takes keys of any length");
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

/// HMAC-SHA256 over the concatenation of `parts`.
pub fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes keys of any length");
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

/// HMAC-MD5 over the concatenation of `parts`.
pub fn hmac_md5(key: &[u8], parts: &[&[u8]]) -> [u8; 16] {
    let mut mac = <Hmac<Md5> as Mac>::new_from_slice(key).expect("HMAC takes keys of any length");
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

/// MD5 over the concatenation of `parts`.
pub fn md5(parts: &[&[u8]]) -> [u8; 16] {
    let mut h = Md5::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// The RAKP HMAC for `alg`: HMAC-SHA1, HMAC-MD5 or HMAC-SHA256; empty for RAKP-none (and for
/// algorithms we do not implement, which the session layer never negotiates).
pub fn auth_hmac(alg: AuthAlgorithm, key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    match alg {
        AuthAlgorithm::HmacSha1 => hmac_sha1(key, parts).to_vec(),
        AuthAlgorithm::HmacMd5 => hmac_md5(key, parts).to_vec(),
        AuthAlgorithm::HmacSha256 => hmac_sha256(key, parts).to_vec(),
        _ => Vec::new(),
    }
}

/// Kuid: the user's password zero-padded to 20 bytes (§13.31). HMAC pads short keys
/// with zeros anyway, so the padding only matters for documentation and clarity.
pub fn kuid(password: &[u8]) -> [u8; MAX_PASSWORD_LEN] {
    let mut k = [0u8; MAX_PASSWORD_LEN];
    let n = password.len().min(MAX_PASSWORD_LEN);
    k[..n].copy_from_slice(&password[..n]);
    k
}

/// The inputs RAKP messages 2-4 and the SIK are computed from (§13.31).
#[derive(Debug, Clone, Copy)]
pub struct RakpParams<'a> {
    /// SIDm, the console's session ID.
    pub console_session_id: u32,
    /// SIDc, the BMC's session ID.
    pub bmc_session_id: u32,
    /// Rm.
    pub console_random: &'a [u8; RANDOM_LEN],
    /// Rc.
    pub bmc_random: &'a [u8; RANDOM_LEN],
    /// GUIDc.
    pub bmc_guid: &'a [u8; RANDOM_LEN],
    /// ROLEm, the raw RAKP1 role byte including the name-only lookup bit.
    pub role: u8,
    /// UNAMEm.
    pub username: &'a [u8],
}

impl RakpParams<'_> {
    fn ulen(&self) -> [u8; 1] {
        [self.username.len().min(255) as u8]
    }

    /// RAKP2 key exchange auth code: HMAC_Kuid(SIDm | SIDc | Rm | Rc | GUIDc | ROLEm | ULENm | UNAMEm).
    pub fn rakp2_auth_code(&self, alg: AuthAlgorithm, password: &[u8]) -> Vec<u8> {
        auth_hmac(
            alg,
            &kuid(password),
            &[
                &self.console_session_id.to_le_bytes(),
                &self.bmc_session_id.to_le_bytes(),
                self.console_random,
                self.bmc_random,
                self.bmc_guid,
                &[self.role],
                &self.ulen(),
                self.username,
            ],
        )
    }

    /// RAKP3 key exchange auth code: HMAC_Kuid(Rc | SIDm | ROLEm | ULENm | UNAMEm).
    pub fn rakp3_auth_code(&self, alg: AuthAlgorithm, password: &[u8]) -> Vec<u8> {
        auth_hmac(
            alg,
            &kuid(password),
            &[
                self.bmc_random,
                &self.console_session_id.to_le_bytes(),
                &[self.role],
                &self.ulen(),
                self.username,
            ],
        )
    }

    /// Session integrity key: HMAC_Kg(Rm | Rc | ROLEm | ULENm | UNAMEm), where Kg is
    /// the BMC key when one is set and Kuid otherwise (§13.31).
    pub fn sik(&self, alg: AuthAlgorithm, password: &[u8], bmc_key: Option<&[u8]>) -> Vec<u8> {
        let kg = kuid(bmc_key.unwrap_or(password));
        auth_hmac(
            alg,
            &kg,
            &[
                self.console_random,
                self.bmc_random,
                &[self.role],
                &self.ulen(),
                self.username,
            ],
        )
    }

    /// RAKP4 integrity check value: HMAC_SIK(Rm | SIDc | GUIDc), truncated to 12 bytes
    /// (SHA1) or 16 bytes (MD5, whole; SHA256).
    pub fn rakp4_icv(&self, alg: AuthAlgorithm, sik: &[u8]) -> Vec<u8> {
        let mut v = auth_hmac(
            alg,
            sik,
            &[
                self.console_random,
                &self.bmc_session_id.to_le_bytes(),
                self.bmc_guid,
            ],
        );
        let keep = match alg {
            AuthAlgorithm::HmacSha1 => 12,
            AuthAlgorithm::HmacMd5 | AuthAlgorithm::HmacSha256 => 16,
            _ => 0,
        };
        v.truncate(keep);
        v
    }
}

/// K1 = HMAC_SIK(01h × 20): the integrity key. The constant is 20 bytes even for
/// SHA256 (ipmitool `lanplus_generate_k1`, go-ipmi `DeriveK1`).
pub fn k1(alg: AuthAlgorithm, sik: &[u8]) -> Vec<u8> {
    auth_hmac(alg, sik, &[&[0x01; 20]])
}

/// K2 = HMAC_SIK(02h × 20): the confidentiality key; AES uses K2[0..16].
pub fn k2(alg: AuthAlgorithm, sik: &[u8]) -> Vec<u8> {
    auth_hmac(alg, sik, &[&[0x02; 20]])
}

/// Per-packet AuthCode over `signed` (authtype through next header) (§13.28.4):
/// HMAC-SHA1-96, HMAC-MD5-128 or HMAC-SHA256-128 keyed with K1, or MD5-128, which
/// is no HMAC but MD5(Kuid | signed | Kuid) with the password zero-padded to 20
/// bytes (FreeIPMI's reading of the spec, the one client that implements it).
/// Empty for no integrity; `None` if unsupported.
pub fn integrity_auth_code(
    alg: IntegrityAlgorithm,
    k1: &[u8],
    password: &[u8],
    signed: &[u8],
) -> Option<Vec<u8>> {
    match alg {
        IntegrityAlgorithm::None => Some(Vec::new()),
        IntegrityAlgorithm::HmacSha1_96 => Some(hmac_sha1(k1, &[signed])[..12].to_vec()),
        IntegrityAlgorithm::HmacMd5_128 => Some(hmac_md5(k1, &[signed]).to_vec()),
        IntegrityAlgorithm::Md5_128 => {
            let k = kuid(password);
            Some(md5(&[&k, signed, &k]).to_vec())
        }
        IntegrityAlgorithm::HmacSha256_128 => Some(hmac_sha256(k1, &[signed])[..16].to_vec()),
        _ => None,
    }
}

fn aes_key(k2: &[u8]) -> [u8; 16] {
    let mut key = [0u8; 16];
    let n = k2.len().min(16);
    key[..n].copy_from_slice(&k2[..n]);
    key
}

/// AES-CBC-128 with the IPMI pad (§13.29): returns `IV | AES(K2[0..16], data | 01 02 .. N | N)`
/// where N (0-15) makes the plaintext a multiple of 16.
pub fn aes_cbc_encrypt(k2: &[u8], iv: [u8; AES_BLOCK], data: &[u8]) -> Vec<u8> {
    let n = (AES_BLOCK - (data.len() + 1) % AES_BLOCK) % AES_BLOCK;
    let mut plain = Vec::with_capacity(data.len() + n + 1);
    plain.extend_from_slice(data);
    plain.extend((1..=n).map(|i| i as u8));
    plain.push(n as u8);
    let ct = cbc::Encryptor::<Aes128>::new(&aes_key(k2).into(), &iv.into())
        .encrypt_padded_vec_mut::<NoPadding>(&plain);
    let mut out = Vec::with_capacity(AES_BLOCK + ct.len());
    out.extend_from_slice(&iv);
    out.extend_from_slice(&ct);
    out
}

/// Inverse of [`aes_cbc_encrypt`]; checks that the pad bytes read `01 02 .. N` and `N <= 15`.
pub fn aes_cbc_decrypt(k2: &[u8], payload: &[u8]) -> Result<Vec<u8>, CryptoError> {
    if payload.len() < 2 * AES_BLOCK || !payload.len().is_multiple_of(AES_BLOCK) {
        return Err(CryptoError::CiphertextLength(payload.len()));
    }
    let (iv, ct) = payload.split_at(AES_BLOCK);
    let mut ivb = [0u8; AES_BLOCK];
    ivb.copy_from_slice(iv);
    let mut plain = cbc::Decryptor::<Aes128>::new(&aes_key(k2).into(), &ivb.into())
        .decrypt_padded_vec_mut::<NoPadding>(ct)
        .map_err(|_| CryptoError::CiphertextLength(payload.len()))?;
    let n = usize::from(*plain.last().ok_or(CryptoError::BadPad)?);
    if n >= AES_BLOCK || n + 1 > plain.len() {
        return Err(CryptoError::BadPad);
    }
    let data_len = plain.len() - n - 1;
    let pad_ok = plain[data_len..plain.len() - 1]
        .iter()
        .enumerate()
        .all(|(i, b)| usize::from(*b) == i + 1);
    if !pad_ok {
        return Err(CryptoError::BadPad);
    }
    plain.truncate(data_len);
    Ok(plain)
}

/// The keys of an established RMCP+ session and the packet protection they give.
#[derive(Clone)]
pub struct SessionKeys {
    suite: CipherSuite,
    k1: Vec<u8>,
    k2: Vec<u8>,
    /// The integrity MAC with K1 already absorbed, made once per session:
    /// each packet clones it instead of keying an HMAC again (two of the
    /// four hash blocks a short packet's HMAC-SHA1 costs). Boxed: a few
    /// hundred bytes an established session holds, not every table slot.
    /// (The AES key schedule is not kept: expanding it costs far less than
    /// the kilobyte per session it would hold across 10,000 BMCs.)
    mac: Box<PacketMac>,
}

/// A session's per-packet integrity function, keyed.
#[derive(Clone)]
enum PacketMac {
    None,
    Sha1(Hmac<Sha1>),
    Md5(Hmac<Md5>),
    Sha256(Hmac<Sha256>),
    /// MD5-128: MD5(Kuid | signed | Kuid), keyed with the password.
    Md5Kuid([u8; MAX_PASSWORD_LEN]),
    /// An algorithm no suite here negotiates.
    Unsupported,
}

impl PacketMac {
    fn new(alg: IntegrityAlgorithm, k1: &[u8], password: &[u8]) -> PacketMac {
        match alg {
            IntegrityAlgorithm::None => PacketMac::None,
            IntegrityAlgorithm::HmacSha1_96 => PacketMac::Sha1(
                <Hmac<Sha1> as Mac>::new_from_slice(k1).expect("HMAC takes keys of any length"),
            ),
            IntegrityAlgorithm::HmacMd5_128 => PacketMac::Md5(
                <Hmac<Md5> as Mac>::new_from_slice(k1).expect("HMAC takes keys of any length"),
            ),
            IntegrityAlgorithm::HmacSha256_128 => PacketMac::Sha256(
                <Hmac<Sha256> as Mac>::new_from_slice(k1).expect("HMAC takes keys of any length"),
            ),
            IntegrityAlgorithm::Md5_128 => PacketMac::Md5Kuid(kuid(password)),
            _ => PacketMac::Unsupported,
        }
    }

    /// The AuthCode over `signed` into `out` (at most 16 bytes; empty for
    /// no integrity); its length, or `None` if unsupported. The same values
    /// as [`integrity_auth_code`].
    fn code(&self, signed: &[u8], out: &mut [u8; 16]) -> Option<usize> {
        fn put(out: &mut [u8; 16], code: &[u8], n: usize) -> usize {
            out[..n].copy_from_slice(&code[..n]);
            n
        }
        Some(match self {
            PacketMac::None => 0,
            PacketMac::Sha1(m) => {
                let mut m = m.clone();
                m.update(signed);
                put(out, &m.finalize().into_bytes(), 12)
            }
            PacketMac::Md5(m) => {
                let mut m = m.clone();
                m.update(signed);
                put(out, &m.finalize().into_bytes(), 16)
            }
            PacketMac::Sha256(m) => {
                let mut m = m.clone();
                m.update(signed);
                put(out, &m.finalize().into_bytes(), 16)
            }
            PacketMac::Md5Kuid(k) => put(out, &md5(&[k, signed, k]), 16),
            PacketMac::Unsupported => return None,
        })
    }
}

impl core::fmt::Debug for SessionKeys {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SessionKeys")
            .field("suite", &self.suite.id)
            .finish_non_exhaustive()
    }
}

impl SessionKeys {
    /// Derives K1 and K2 from the session integrity key; `password` is
    /// kept only when the suite's integrity is MD5-128.
    pub fn derive(suite: CipherSuite, sik: &[u8], password: &[u8]) -> Self {
        let (k1, k2) = (k1(suite.auth, sik), k2(suite.auth, sik));
        Self {
            suite,
            mac: Box::new(PacketMac::new(suite.integrity, &k1, password)),
            k1,
            k2,
        }
    }

    /// The negotiated suite.
    pub fn suite(&self) -> CipherSuite {
        self.suite
    }

    /// K1 (for tests and diagnostics that compare against captures).
    pub fn k1(&self) -> &[u8] {
        &self.k1
    }

    /// K2.
    pub fn k2(&self) -> &[u8] {
        &self.k2
    }

    /// True if packets of this session carry an integrity trailer.
    pub fn authenticated(&self) -> bool {
        self.suite.integrity != IntegrityAlgorithm::None
    }

    /// True if payloads of this session are encrypted.
    pub fn encrypted(&self) -> bool {
        self.suite.confidentiality != ConfidentialityAlgorithm::None
    }

    /// Builds a whole datagram carrying `payload` of `kind` to the peer whose session
    /// ID is `session_id`, encrypting and adding the integrity trailer as the suite
    /// requires. `rng` supplies the AES IV.
    pub fn seal(
        &self,
        kind: PayloadKind,
        oem: Option<OemPayload>,
        session_id: u32,
        seq: u32,
        payload: &[u8],
        rng: &mut dyn RngCore,
    ) -> Vec<u8> {
        // The whole datagram is written into one buffer: the payload (or
        // IV, payload and pad, encrypted in place), then the trailer.
        let pad = (AES_BLOCK - (payload.len() + 1) % AES_BLOCK) % AES_BLOCK;
        let body_len = if self.encrypted() {
            AES_BLOCK + payload.len() + pad + 1
        } else {
            payload.len()
        };
        let header = RmcpPlusHeader {
            payload_type: PayloadType {
                encrypted: self.encrypted(),
                authenticated: self.authenticated(),
                kind,
            },
            oem,
            session_id,
            session_seq: seq,
            // Payloads are bounded far below 64 KiB by the datagram limit; saturate
            // rather than wrap if a caller ever exceeds it (the peer then drops it).
            payload_len: u16::try_from(body_len).unwrap_or(u16::MAX),
        };
        let mut out = Vec::with_capacity(4 + header.buffer_len() + body_len + 24);
        RmcpHeader::ipmi().emit(&mut out);
        header.emit(&mut out);
        if self.encrypted() {
            let mut iv = [0u8; AES_BLOCK];
            rng.fill_bytes(&mut iv);
            out.extend_from_slice(&iv);
            let start = out.len();
            out.extend_from_slice(payload);
            out.extend((1..=pad).map(|i| i as u8));
            out.push(pad as u8);
            let plain = &mut out[start..];
            let len = plain.len();
            // The length is a multiple of the block by construction, so
            // the padding-free encryption cannot fail.
            let _ = cbc::Encryptor::<Aes128>::new(&aes_key(&self.k2).into(), &iv.into())
                .encrypt_padded_mut::<NoPadding>(plain, len);
        } else {
            out.extend_from_slice(payload);
        }
        if self.authenticated() {
            let pad = integrity_pad_len(out.len() - RmcpHeader::LEN);
            out.extend(std::iter::repeat_n(0xFF, pad));
            out.push(pad as u8);
            out.push(NEXT_HEADER);
            let mut code = [0u8; 16];
            let n = self
                .mac
                .code(&out[RmcpHeader::LEN..], &mut code)
                .unwrap_or(0);
            out.extend_from_slice(&code[..n]);
        }
        out
    }

    /// Checks integrity (when negotiated), then decrypts (when negotiated), and returns
    /// the clear payload. Does not look at the sequence number: the caller checks the
    /// window *after* this succeeds, so forged packets cannot move it.
    pub fn open(&self, packet: &RmcpPlusPacket<'_>) -> Result<Vec<u8>, CryptoError> {
        let pt = packet.header.payload_type;
        if self.authenticated() {
            if !pt.authenticated {
                return Err(CryptoError::IntegrityMissing);
            }
            let trailer = packet
                .integrity(self.suite.auth_code_len())
                .map_err(CryptoError::Trailer)?;
            let mut code = [0u8; 16];
            let n = self
                .mac
                .code(trailer.signed, &mut code)
                .ok_or(CryptoError::Unsupported)?;
            if !ct_eq(&code[..n], trailer.auth_code) {
                return Err(CryptoError::BadAuthCode);
            }
        } else if pt.authenticated {
            return Err(CryptoError::UnexpectedProtection);
        }
        match (self.encrypted(), pt.encrypted) {
            (true, true) => aes_cbc_decrypt(&self.k2, packet.payload),
            (true, false) => Err(CryptoError::EncryptionMissing),
            (false, true) => Err(CryptoError::UnexpectedProtection),
            (false, false) => Ok(packet.payload.to_vec()),
        }
    }
}

/// The 16-byte IPMI 1.5 password field: the password truncated or zero-padded to 16.
pub fn password16(password: &[u8]) -> [u8; 16] {
    let mut p = [0u8; 16];
    let n = password.len().min(16);
    p[..n].copy_from_slice(&password[..n]);
    p
}

/// IPMI 1.5 MD5 authcode (§22.17.1):
/// MD5(password16 | session id | IPMI message | session seq | password16).
pub fn md5_auth_code(
    password: &[u8],
    session_id: u32,
    message: &[u8],
    session_seq: u32,
) -> [u8; 16] {
    let p = password16(password);
    md5(&[
        &p,
        &session_id.to_le_bytes(),
        message,
        &session_seq.to_le_bytes(),
        &p,
    ])
}

/// The IPMI 1.5 authcode for `auth_type`: MD5 as above, the padded password itself
/// for straight-password, `None` for types we do not implement (MD2, OEM) and for
/// `AuthType::None` (no authcode field).
pub fn lan15_auth_code(
    auth_type: AuthType,
    password: &[u8],
    session_id: u32,
    message: &[u8],
    session_seq: u32,
) -> Option<[u8; 16]> {
    match auth_type {
        AuthType::Md5 => Some(md5_auth_code(password, session_id, message, session_seq)),
        AuthType::Password => Some(password16(password)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suite_records() {
        let rec = |id| CipherSuite::by_id(id).map(|s| s.record());
        assert_eq!(rec(3), Some([0xC0, 0x03, 0x01, 0x41, 0x81]));
        assert_eq!(rec(17), Some([0xC0, 0x11, 0x03, 0x44, 0x81]));
        assert_eq!(rec(0), Some([0xC0, 0x00, 0x00, 0x40, 0x80]));
        assert_eq!(rec(1), Some([0xC0, 0x01, 0x01, 0x40, 0x80]));
        assert_eq!(rec(2), Some([0xC0, 0x02, 0x01, 0x41, 0x80]));
        assert_eq!(rec(4), None);
        assert_eq!(cipher_suite_records(&[3, 4, 17]).len(), 10);
    }

    #[test]
    fn triple_matching_is_exact() {
        let m = CipherSuite::matching(
            &[3, 17],
            AuthAlgorithm::HmacSha1,
            IntegrityAlgorithm::HmacSha1_96,
            ConfidentialityAlgorithm::AesCbc128,
        );
        assert_eq!(m.map(|s| s.id), Some(3));
        // SHA1 auth with SHA256 integrity is no suite, even though each part is offered.
        let m = CipherSuite::matching(
            &[3, 17],
            AuthAlgorithm::HmacSha1,
            IntegrityAlgorithm::HmacSha256_128,
            ConfidentialityAlgorithm::AesCbc128,
        );
        assert_eq!(m, None);
        // Suite 2 exists but is not enabled.
        let m = CipherSuite::matching(
            &[3, 17],
            AuthAlgorithm::HmacSha1,
            IntegrityAlgorithm::HmacSha1_96,
            ConfidentialityAlgorithm::None,
        );
        assert_eq!(m, None);
    }

    #[test]
    fn aes_round_trip_and_pad_check() {
        let k2 = [7u8; 20];
        for len in 0..40 {
            let data: Vec<u8> = (0..len as u8).collect();
            let ct = aes_cbc_encrypt(&k2, [9; 16], &data);
            assert_eq!(ct.len() % 16, 0);
            assert_eq!(aes_cbc_decrypt(&k2, &ct), Ok(data));
        }
        let ct = aes_cbc_encrypt(&k2, [9; 16], b"hello");
        assert!(aes_cbc_decrypt(&[8u8; 20], &ct).is_err());
        assert_eq!(
            aes_cbc_decrypt(&k2, &ct[..16]),
            Err(CryptoError::CiphertextLength(16))
        );
        assert_eq!(
            aes_cbc_decrypt(&k2, &ct[..20]),
            Err(CryptoError::CiphertextLength(20))
        );
    }

    /// The per-session keyed MAC and AES schedule give exactly what the
    /// reference functions give: every suite's sealed datagram carries
    /// `integrity_auth_code`'s trailer and `aes_cbc_encrypt`'s body, and
    /// opens to the payload again.
    #[test]
    fn cached_session_keys_match_the_reference_functions() {
        use rand::SeedableRng;
        let (sik, password) = ([0x5Au8; 20], b"password");
        for suite in SUPPORTED_SUITES {
            let keys = SessionKeys::derive(suite, &sik, password);
            for len in [0usize, 1, 7, 15, 16, 31, 40] {
                let payload: Vec<u8> = (0..len as u8).collect();
                let mut rng = rand::rngs::StdRng::seed_from_u64(7);
                let d = keys.seal(PayloadKind::Ipmi, None, 0x1234, 5, &payload, &mut rng);
                let Ok(crate::wire::Datagram::RmcpPlus(p)) = crate::wire::parse(&d) else {
                    panic!("suite {}: sealed datagram does not parse", suite.id);
                };
                if keys.encrypted() {
                    let mut iv = [0u8; AES_BLOCK];
                    rand::rngs::StdRng::seed_from_u64(7).fill_bytes(&mut iv);
                    assert_eq!(p.payload, aes_cbc_encrypt(&keys.k2, iv, &payload));
                } else {
                    assert_eq!(p.payload, &payload[..]);
                }
                if keys.authenticated() {
                    let t = p.integrity(suite.auth_code_len()).unwrap();
                    let want =
                        integrity_auth_code(suite.integrity, &keys.k1, password, t.signed).unwrap();
                    assert_eq!(t.auth_code, &want[..], "suite {}", suite.id);
                }
                assert_eq!(keys.open(&p), Ok(payload.clone()), "suite {}", suite.id);
            }
        }
    }

    #[test]
    fn ct_eq_works() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"ab"));
    }

    #[test]
    fn straight_password_is_padded() {
        assert_eq!(
            lan15_auth_code(AuthType::Password, b"password", 1, b"", 2),
            Some(*b"password\0\0\0\0\0\0\0\0")
        );
        assert_eq!(lan15_auth_code(AuthType::Md2, b"p", 1, b"", 2), None);
    }
}
