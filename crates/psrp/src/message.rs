//! The PSRP message header (MS-PSRP 2.2.1): destination (u32 LE), message
//! type (u32 LE), runspace pool id and pipeline id (GUIDs in .NET's byte
//! order), then the data: UTF-8 CLIXML, usually after a BOM.

/// Where a message goes.
pub const TO_CLIENT: u32 = 1;
pub const TO_SERVER: u32 = 2;

/// The header's length before the data.
pub const HEADER_LEN: usize = 40;

/// Declares the message types with their names (for the journal and for
/// "not implemented" errors).
macro_rules! message_types {
    ($($name:ident = $value:expr),+ $(,)?) => {
        /// MS-PSRP 2.2.1 message types.
        pub mod types {
            $(pub const $name: u32 = $value;)+
        }
        /// The spec's name of a message type, if it has one.
        pub fn type_name(t: u32) -> Option<&'static str> {
            match t {
                $($value => Some(stringify!($name)),)+
                _ => None,
            }
        }
    };
}

message_types! {
    SESSION_CAPABILITY = 0x0001_0002,
    INIT_RUNSPACEPOOL = 0x0001_0004,
    PUBLIC_KEY = 0x0001_0005,
    ENCRYPTED_SESSION_KEY = 0x0001_0006,
    PUBLIC_KEY_REQUEST = 0x0001_0007,
    CONNECT_RUNSPACEPOOL = 0x0001_0008,
    RUNSPACEPOOL_INIT_DATA = 0x0002_100B,
    RESET_RUNSPACE_STATE = 0x0002_100C,
    SET_MAX_RUNSPACES = 0x0002_1002,
    SET_MIN_RUNSPACES = 0x0002_1003,
    RUNSPACE_AVAILABILITY = 0x0002_1004,
    RUNSPACEPOOL_STATE = 0x0002_1005,
    CREATE_PIPELINE = 0x0002_1006,
    GET_AVAILABLE_RUNSPACES = 0x0002_1007,
    USER_EVENT = 0x0002_1008,
    APPLICATION_PRIVATE_DATA = 0x0002_1009,
    GET_COMMAND_METADATA = 0x0002_100A,
    RUNSPACEPOOL_HOST_CALL = 0x0002_1100,
    RUNSPACEPOOL_HOST_RESPONSE = 0x0002_1101,
    PIPELINE_INPUT = 0x0004_1002,
    END_OF_PIPELINE_INPUT = 0x0004_1003,
    PIPELINE_OUTPUT = 0x0004_1004,
    ERROR_RECORD = 0x0004_1005,
    PIPELINE_STATE = 0x0004_1006,
    DEBUG_RECORD = 0x0004_1007,
    VERBOSE_RECORD = 0x0004_1008,
    WARNING_RECORD = 0x0004_1009,
    PROGRESS_RECORD = 0x0004_1010,
    INFORMATION_RECORD = 0x0004_1011,
    PIPELINE_HOST_CALL = 0x0004_1100,
    PIPELINE_HOST_RESPONSE = 0x0004_1101,
}

/// A GUID as .NET lays it out in bytes (the first three fields little
/// endian), which is how PSRP carries them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Guid(pub [u8; 16]);

impl Guid {
    pub const NIL: Guid = Guid([0; 16]);

    /// Parses `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` (braces allowed, any
    /// case).
    pub fn parse(s: &str) -> Option<Guid> {
        let s = s.trim().trim_start_matches('{').trim_end_matches('}');
        let hex: String = s.chars().filter(|c| *c != '-').collect();
        let dashes_ok = s.len() == 36
            && s.char_indices()
                .all(|(i, c)| (c == '-') == matches!(i, 8 | 13 | 18 | 23));
        if !dashes_ok || hex.len() != 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let mut be = [0u8; 16];
        for (i, b) in be.iter_mut().enumerate() {
            *b = u8::from_str_radix(hex.get(i * 2..i * 2 + 2)?, 16).ok()?;
        }
        Some(Guid(swap(be)))
    }

    /// Upper case, as WinRM writes shell and command ids.
    pub fn to_upper(&self) -> String {
        let b = swap(self.0);
        let h: String = b.iter().map(|x| format!("{x:02X}")).collect();
        format!(
            "{}-{}-{}-{}-{}",
            &h[0..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..32]
        )
    }
}

impl std::fmt::Display for Guid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_upper())
    }
}

/// Between the textual (big-endian) order and .NET's: the swap is its own
/// inverse.
fn swap(mut b: [u8; 16]) -> [u8; 16] {
    b[0..4].reverse();
    b[4..6].reverse();
    b[6..8].reverse();
    b
}

/// One PSRP message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub destination: u32,
    pub message_type: u32,
    pub rpid: Guid,
    pub pid: Guid,
    /// The CLIXML, without the BOM.
    pub data: Vec<u8>,
}

/// Why a message header was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    #[error("a PSRP message of {0} bytes is shorter than its 40-byte header")]
    Short(usize),
    #[error("a PSRP message sent to destination {0}, not the server")]
    Destination(u32),
}

const BOM: &[u8] = b"\xEF\xBB\xBF";

impl Message {
    pub fn new(message_type: u32, rpid: Guid, pid: Guid, data: String) -> Message {
        Message {
            destination: TO_CLIENT,
            message_type,
            rpid,
            pid,
            data: data.into_bytes(),
        }
    }

    /// Reads a message sent to the server.
    pub fn decode(b: &[u8]) -> Result<Message, MessageError> {
        if b.len() < HEADER_LEN {
            return Err(MessageError::Short(b.len()));
        }
        let u32_at = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let guid_at = |i: usize| {
            let mut g = [0u8; 16];
            g.copy_from_slice(&b[i..i + 16]);
            Guid(g)
        };
        let destination = u32_at(0);
        if destination != TO_SERVER {
            return Err(MessageError::Destination(destination));
        }
        let data = &b[HEADER_LEN..];
        let data = data.strip_prefix(BOM).unwrap_or(data);
        Ok(Message {
            destination,
            message_type: u32_at(4),
            rpid: guid_at(8),
            pid: guid_at(24),
            data: data.to_vec(),
        })
    }

    /// Writes the message with a BOM before the data, as Windows does.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + 3 + self.data.len());
        out.extend_from_slice(&self.destination.to_le_bytes());
        out.extend_from_slice(&self.message_type.to_le_bytes());
        out.extend_from_slice(&self.rpid.0);
        out.extend_from_slice(&self.pid.0);
        out.extend_from_slice(BOM);
        out.extend_from_slice(&self.data);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guids_in_dotnet_order() {
        let g = Guid::parse("00112233-4455-6677-8899-aabbccddeeff").unwrap();
        assert_eq!(
            g.0,
            [
                0x33, 0x22, 0x11, 0x00, 0x55, 0x44, 0x77, 0x66, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd,
                0xee, 0xff
            ]
        );
        assert_eq!(g.to_upper(), "00112233-4455-6677-8899-AABBCCDDEEFF");
        assert!(Guid::parse("0011223-4455-6677-8899-aabbccddeeff0").is_none());
        assert!(Guid::parse("zz112233-4455-6677-8899-aabbccddeeff").is_none());
    }

    #[test]
    fn header_round_trip() {
        let mut m = Message::new(
            types::PIPELINE_OUTPUT,
            Guid::parse("00112233-4455-6677-8899-aabbccddeeff").unwrap(),
            Guid::NIL,
            "<S>x</S>".into(),
        );
        m.destination = TO_SERVER;
        assert_eq!(Message::decode(&m.encode()).unwrap(), m);
        assert_eq!(Message::decode(&[0; 39]), Err(MessageError::Short(39)));
        assert_eq!(type_name(0x0004_1006), Some("PIPELINE_STATE"));
    }
}
