//! LOGIN7 (MS-TDS 2.2.6.4): the fixed part, the offset/length table (every
//! offset checked against the message), password de-obfuscation, and the
//! client side's encoder for the probe and the tests.

use crate::TdsError;
use fakedc_wire::{Reader, Writer};

/// TDS versions as LOGIN7 carries them (little-endian u32 of the bytes).
pub const TDS_71: u32 = 0x7100_0000;
pub const TDS_71_REV1: u32 = 0x7100_0001;
pub const TDS_72: u32 = 0x7209_0002;
pub const TDS_73A: u32 = 0x730A_0003;
pub const TDS_73B: u32 = 0x730B_0003;
pub const TDS_74: u32 = 0x7400_0004;

/// OptionFlags2: integrated (SSPI) security.
pub const OPTION2_INTEGRATED: u8 = 0x80;
/// OptionFlags3: the Extension field points at FeatureExt.
pub const OPTION3_EXTENSION: u8 = 0x10;

const FIXED_LEN_71: usize = 86;
/// A login larger than this is refused (SQL Server's limit is 128 KiB).
pub const MAX_LOGIN_LEN: usize = 128 * 1024;

#[derive(Clone, Default, PartialEq, Eq)]
pub struct Login7 {
    pub tds_version: u32,
    pub packet_size: u32,
    pub client_prog_ver: u32,
    pub client_pid: u32,
    pub connection_id: u32,
    pub option_flags1: u8,
    pub option_flags2: u8,
    pub type_flags: u8,
    pub option_flags3: u8,
    pub client_time_zone: i32,
    pub client_lcid: u32,
    pub hostname: String,
    pub username: String,
    pub password: String,
    pub app_name: String,
    pub server_name: String,
    pub library: String,
    pub language: String,
    pub database: String,
    pub client_id: [u8; 6],
    pub sspi: Vec<u8>,
}

impl std::fmt::Debug for Login7 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Login7")
            .field("tds_version", &format_args!("{:#010x}", self.tds_version))
            .field("packet_size", &self.packet_size)
            .field("hostname", &self.hostname)
            .field("username", &self.username)
            .field("password", &"<hidden>")
            .field("app_name", &self.app_name)
            .field("library", &self.library)
            .field("database", &self.database)
            .field("sspi", &self.sspi.len())
            .finish()
    }
}

/// The password as the client scrambles it: nibbles swapped, then XOR 0xA5.
pub fn obfuscate(password: &str) -> Vec<u8> {
    let mut w = Writer::new();
    w.utf16le(password);
    w.into_vec()
        .into_iter()
        .map(|b| b.rotate_left(4) ^ 0xA5)
        .collect()
}

/// The reverse: XOR 0xA5, then swap nibbles.
pub fn deobfuscate(bytes: &[u8]) -> String {
    let plain: Vec<u16> = bytes
        .chunks_exact(2)
        .map(|c| {
            let lo = (c[0] ^ 0xA5).rotate_left(4);
            let hi = (c[1] ^ 0xA5).rotate_left(4);
            u16::from_le_bytes([lo, hi])
        })
        .collect();
    String::from_utf16_lossy(&plain)
}

impl Login7 {
    pub fn parse(payload: &[u8]) -> Result<Login7, TdsError> {
        if payload.len() > MAX_LOGIN_LEN {
            return Err(TdsError::Protocol("LOGIN7 too large".into()));
        }
        let whole = Reader::new(payload);
        let mut r = Reader::new(payload);
        let length = r.u32_le()? as usize;
        if length > payload.len() || length < FIXED_LEN_71 {
            return Err(TdsError::Protocol(format!(
                "LOGIN7 length {length} does not match the {} bytes received",
                payload.len()
            )));
        }
        let mut l = Login7 {
            tds_version: r.u32_le()?,
            packet_size: r.u32_le()?,
            client_prog_ver: r.u32_le()?,
            client_pid: r.u32_le()?,
            connection_id: r.u32_le()?,
            option_flags1: r.u8()?,
            option_flags2: r.u8()?,
            type_flags: r.u8()?,
            option_flags3: r.u8()?,
            client_time_zone: r.i32_le()?,
            client_lcid: r.u32_le()?,
            ..Login7::default()
        };
        let body = whole.window(0, length)?;
        let string = |r: &mut Reader<'_>| -> Result<String, TdsError> {
            let off = usize::from(r.u16_le()?);
            let units = usize::from(r.u16_le()?);
            if units == 0 {
                return Ok(String::new());
            }
            let mut w = body.window(off, units * 2)?;
            Ok(w.utf16le_lossy(units)?)
        };
        l.hostname = string(&mut r)?;
        l.username = string(&mut r)?;
        let pw_off = usize::from(r.u16_le()?);
        let pw_units = usize::from(r.u16_le()?);
        l.password = deobfuscate(body.window(pw_off, pw_units * 2)?.rest());
        l.app_name = string(&mut r)?;
        l.server_name = string(&mut r)?;
        // Extension (FeatureExt pointer): read but not interpreted yet.
        r.u16_le()?;
        r.u16_le()?;
        l.library = string(&mut r)?;
        l.language = string(&mut r)?;
        l.database = string(&mut r)?;
        l.client_id = r.array()?;
        let sspi_off = usize::from(r.u16_le()?);
        let sspi_len = usize::from(r.u16_le()?);
        l.sspi = body.window(sspi_off, sspi_len)?.rest().to_vec();
        Ok(l)
    }

    /// The client's encoding (TDS 7.2+ fixed part of 94 bytes).
    pub fn write(&self) -> Vec<u8> {
        let fields: [Vec<u8>; 9] = [
            utf16(&self.hostname),
            utf16(&self.username),
            obfuscate(&self.password),
            utf16(&self.app_name),
            utf16(&self.server_name),
            Vec::new(),
            utf16(&self.library),
            utf16(&self.language),
            utf16(&self.database),
        ];
        let fixed = 94usize;
        let mut w = Writer::new();
        let total = w.reserve_u32_le();
        w.u32_le(self.tds_version)
            .u32_le(self.packet_size)
            .u32_le(self.client_prog_ver)
            .u32_le(self.client_pid)
            .u32_le(self.connection_id)
            .u8(self.option_flags1)
            .u8(self.option_flags2)
            .u8(self.type_flags)
            .u8(self.option_flags3 & !OPTION3_EXTENSION)
            .i32_le(self.client_time_zone)
            .u32_le(self.client_lcid);
        let mut offset = fixed;
        for f in &fields {
            w.u16_le(offset as u16).u16_le((f.len() / 2) as u16);
            offset += f.len();
        }
        w.bytes(&self.client_id);
        w.u16_le(offset as u16).u16_le(self.sspi.len() as u16);
        offset += self.sspi.len();
        // AtchDBFile, ChangePassword: empty; cbSSPILong.
        w.u16_le(offset as u16).u16_le(0);
        w.u16_le(offset as u16).u16_le(0);
        w.u32_le(0);
        for f in &fields {
            w.bytes(f);
        }
        w.bytes(&self.sspi);
        let len = w.position();
        // The whole login is far below 4 GiB.
        let _ = w.patch(total, len as u64);
        w.into_vec()
    }
}

fn utf16(s: &str) -> Vec<u8> {
    let mut w = Writer::new();
    w.utf16le(s);
    w.into_vec()
}

/// The version the server agrees to, as LOGINACK writes it (big-endian on
/// the wire), and whether encodings follow TDS 7.1.
pub fn agreed_version(client: u32) -> (u32, bool) {
    match client {
        TDS_71 => (0x0701_0000, true),
        v if v < TDS_72 => (TDS_71_REV1, true),
        v if v >= TDS_74 => (TDS_74, false),
        v => (v, false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_round_trip_and_known_bytes() {
        // "a" = 0x61 0x00 → swap 0x16, 0x00 → XOR A5: 0xB3 0xA5.
        assert_eq!(obfuscate("a"), vec![0xB3, 0xA5]);
        assert_eq!(deobfuscate(&obfuscate("P@ssw0rd!é")), "P@ssw0rd!é");
    }

    #[test]
    fn login_round_trip() {
        let l = Login7 {
            tds_version: TDS_74,
            packet_size: 4096,
            hostname: "client".into(),
            username: "sa".into(),
            password: "P@ssw0rd!".into(),
            app_name: "test".into(),
            server_name: "sql01".into(),
            library: "fakedc".into(),
            database: "master".into(),
            ..Login7::default()
        };
        let back = Login7::parse(&l.write()).expect("parses");
        assert_eq!(back, l);
        assert!(!format!("{back:?}").contains("P@ss"));
    }

    #[test]
    fn offsets_outside_the_login_are_refused() {
        let l = Login7 {
            tds_version: TDS_74,
            username: "sa".into(),
            ..Login7::default()
        };
        let mut bytes = l.write();
        // UserName's offset (fixed part byte 40) far past the end.
        bytes[40] = 0xF0;
        bytes[41] = 0x7F;
        assert!(Login7::parse(&bytes).is_err());
        assert!(Login7::parse(&bytes[..50]).is_err());
    }

    #[test]
    fn versions_agreed() {
        assert_eq!(agreed_version(TDS_71), (0x0701_0000, true));
        assert_eq!(agreed_version(TDS_71_REV1), (TDS_71_REV1, true));
        assert_eq!(agreed_version(TDS_74), (TDS_74, false));
        assert_eq!(agreed_version(0x7500_0000), (TDS_74, false));
        assert_eq!(agreed_version(TDS_72), (TDS_72, false));
    }
}
