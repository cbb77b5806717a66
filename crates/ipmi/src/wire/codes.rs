//! Numeric code points used on the IPMI LAN wire.
//!
//! Every code that a peer can send is an enum with an `Unknown(n)` variant (the smoltcp
//! convention), so a value we do not know still parses and re-emits to the same byte:
//! the session layer decides what to do with it, the codec never refuses it.

/// Declares a `u8`-backed code enum with an `Unknown(u8)` catch-all and the two
/// conversions (`From<u8>` and `From<Enum> for u8`).
macro_rules! code_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $value:expr ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
            /// A value this codec has no name for; kept so it round-trips.
            Unknown(u8),
        }

        impl From<u8> for $name {
            fn from(value: u8) -> Self {
                match value {
                    $( $value => $name::$variant, )+
                    other => $name::Unknown(other),
                }
            }
        }

        impl From<$name> for u8 {
            fn from(value: $name) -> u8 {
                match value {
                    $( $name::$variant => $value, )+
                    $name::Unknown(other) => other,
                }
            }
        }
    };
}

code_enum! {
    /// RMCP message class (§13.1.3), the low 5 bits of the RMCP header's class byte.
    pub enum MessageClass {
        /// ASF (presence ping/pong).
        Asf = 0x06,
        /// IPMI (1.5 session wrapper or RMCP+).
        Ipmi = 0x07,
        /// OEM-defined class.
        Oem = 0x08,
    }
}

code_enum! {
    /// ASF message type (ASF 2.0 §3.2.4).
    pub enum AsfType {
        /// Presence Ping (what `ipmitool -I lan` and discovery tools send first).
        Ping = 0x80,
        /// Presence Pong.
        Pong = 0x40,
    }
}

code_enum! {
    /// IPMI session authentication type (Table 13-8, first byte after the RMCP header).
    pub enum AuthType {
        /// No authcode field (pre-session traffic, or a 1.5 session without auth).
        None = 0x00,
        /// MD2 authcode. Parsed but never offered: no MD2 in our dependency set.
        Md2 = 0x01,
        /// MD5 authcode (`ipmitool -I lan -A MD5`).
        Md5 = 0x02,
        /// Straight password: the 16-byte password travels as the authcode.
        Password = 0x04,
        /// OEM proprietary.
        Oem = 0x05,
        /// Format = RMCP+ (IPMI v2.0); selects the RMCP+ session header.
        RmcpPlus = 0x06,
    }
}

code_enum! {
    /// RMCP+ payload type, bits 5:0 of the payload-type byte (§13.27.3).
    pub enum PayloadKind {
        /// An IPMI message (request or response).
        Ipmi = 0x00,
        /// Serial over LAN.
        Sol = 0x01,
        /// OEM explicit; the header then carries OEM IANA and OEM payload ID.
        Oem = 0x02,
        /// RMCP+ Open Session Request.
        OpenSessionRequest = 0x10,
        /// RMCP+ Open Session Response.
        OpenSessionResponse = 0x11,
        /// RAKP Message 1.
        Rakp1 = 0x12,
        /// RAKP Message 2.
        Rakp2 = 0x13,
        /// RAKP Message 3.
        Rakp3 = 0x14,
        /// RAKP Message 4.
        Rakp4 = 0x15,
    }
}

code_enum! {
    /// RMCP+ authentication algorithm (§13.28), used by RAKP.
    pub enum AuthAlgorithm {
        /// RAKP-none: no key-exchange authentication codes at all.
        None = 0x00,
        /// RAKP-HMAC-SHA1.
        HmacSha1 = 0x01,
        /// RAKP-HMAC-MD5 (suites 6-8, 11-12).
        HmacMd5 = 0x02,
        /// RAKP-HMAC-SHA256.
        HmacSha256 = 0x03,
    }
}

code_enum! {
    /// RMCP+ integrity algorithm (§13.28.4).
    pub enum IntegrityAlgorithm {
        /// No per-packet integrity.
        None = 0x00,
        /// HMAC-SHA1 truncated to 96 bits, keyed with K1.
        HmacSha1_96 = 0x01,
        /// HMAC-MD5-128 keyed with K1 (suites 7, 8).
        HmacMd5_128 = 0x02,
        /// MD5-128 keyed with the password (suites 11, 12).
        Md5_128 = 0x03,
        /// HMAC-SHA256 truncated to 128 bits, keyed with K1.
        HmacSha256_128 = 0x04,
    }
}

code_enum! {
    /// RMCP+ confidentiality algorithm (§13.28.5).
    pub enum ConfidentialityAlgorithm {
        /// Payloads travel in clear.
        None = 0x00,
        /// AES-CBC-128 with K2[0..16] and the IPMI pad scheme.
        AesCbc128 = 0x01,
        /// xRC4-128 (not offered).
        Xrc4_128 = 0x02,
        /// xRC4-40 (not offered).
        Xrc4_40 = 0x03,
    }
}

code_enum! {
    /// RMCP+ and RAKP message status codes (§13.24).
    pub enum RmcpStatus {
        /// No errors.
        NoError = 0x00,
        /// Insufficient resources to create a session (session table full).
        InsufficientResources = 0x01,
        /// Invalid session ID.
        InvalidSessionId = 0x02,
        /// Invalid payload type.
        InvalidPayloadType = 0x03,
        /// Invalid authentication algorithm.
        InvalidAuthAlgorithm = 0x04,
        /// Invalid integrity algorithm.
        InvalidIntegrityAlgorithm = 0x05,
        /// No matching authentication payload.
        NoMatchingAuthPayload = 0x06,
        /// No matching integrity payload.
        NoMatchingIntegrityPayload = 0x07,
        /// Inactive session ID.
        InactiveSessionId = 0x08,
        /// Invalid role (the role byte itself is malformed).
        InvalidRole = 0x09,
        /// Unauthorized role or privilege level requested.
        UnauthorizedRole = 0x0A,
        /// Insufficient resources to create a session at the requested role.
        InsufficientResourcesAtRole = 0x0B,
        /// Invalid name length.
        InvalidNameLength = 0x0C,
        /// Unauthorized name (ipmitool prints "unauthorized name").
        UnauthorizedName = 0x0D,
        /// Unauthorized GUID.
        UnauthorizedGuid = 0x0E,
        /// Invalid integrity check value (bad RAKP3 HMAC).
        InvalidIntegrityCheckValue = 0x0F,
        /// Invalid confidentiality algorithm.
        InvalidConfidentialityAlgorithm = 0x10,
        /// No cipher suite match with the proposed security algorithms.
        NoCipherSuiteMatch = 0x11,
        /// Illegal or unrecognized parameter.
        IllegalParameter = 0x12,
    }
}

/// IPMI privilege level (§6.8). Ordered, so `a >= b` reads as "a is at least b".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Privilege {
    /// Callback: only callback-related commands.
    Callback = 1,
    /// User: read-only "benign" commands.
    User = 2,
    /// Operator: all commands except configuration changes.
    Operator = 3,
    /// Administrator: everything.
    Admin = 4,
    /// OEM proprietary level.
    Oem = 5,
}

impl Privilege {
    /// Maps the low-nibble wire value (1-5) to a level; 0 and 6-15 are not levels.
    pub fn from_u8(value: u8) -> Option<Self> {
        match value {
            1 => Some(Self::Callback),
            2 => Some(Self::User),
            3 => Some(Self::Operator),
            4 => Some(Self::Admin),
            5 => Some(Self::Oem),
            _ => None,
        }
    }

    /// The wire value (1-5).
    pub fn as_u8(self) -> u8 {
        self as u8
    }
}

/// An IPMI completion code (§5.2, Table 5-2), the first data byte of every response.
///
/// A newtype rather than an enum: command-specific codes (80h-BEh) overlap between
/// commands, and the command layer passes through whatever it decides. The values
/// are the [`cc`] constants: `CompletionCode(cc::INVALID_FIELD)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CompletionCode(pub u8);

impl From<CompletionCode> for u8 {
    fn from(value: CompletionCode) -> u8 {
        value.0
    }
}

impl From<u8> for CompletionCode {
    fn from(value: u8) -> Self {
        Self(value)
    }
}

/// IPMI completion codes (§5.2, Table 5-2): the generic ones, used by the session
/// layer and the command layer alike.
pub mod cc {
    /// Command completed normally.
    pub const OK: u8 = 0x00;
    /// Command-specific codes start here; each command documents its own.
    pub const PARAM_NOT_SUPPORTED: u8 = 0x80;
    /// Node busy.
    pub const NODE_BUSY: u8 = 0xC0;
    /// Invalid command (ipmitool needs this rather than silence for unknown commands).
    pub const INVALID_COMMAND: u8 = 0xC1;
    /// Command invalid for the given LUN.
    pub const INVALID_FOR_LUN: u8 = 0xC2;
    /// Out of space.
    pub const OUT_OF_SPACE: u8 = 0xC4;
    /// Reservation canceled or invalid reservation ID.
    pub const RESERVATION_CANCELED: u8 = 0xC5;
    /// Request data truncated.
    pub const DATA_TRUNCATED: u8 = 0xC6;
    /// Request data length invalid (too short).
    pub const DATA_LENGTH_INVALID: u8 = 0xC7;
    /// Request data field length limit exceeded (too long).
    pub const DATA_LENGTH_EXCEEDED: u8 = 0xC8;
    /// Parameter out of range.
    pub const PARAM_OUT_OF_RANGE: u8 = 0xC9;
    /// Cannot return the number of requested data bytes.
    pub const CANT_RETURN_BYTES: u8 = 0xCA;
    /// Requested sensor, data or record not present.
    pub const NOT_PRESENT: u8 = 0xCB;
    /// Invalid data field in request.
    pub const INVALID_FIELD: u8 = 0xCC;
    /// Command illegal for the specified sensor or record type.
    pub const ILLEGAL_FOR_SENSOR: u8 = 0xCD;
    /// Insufficient privilege level.
    pub const INSUFFICIENT_PRIVILEGE: u8 = 0xD4;
    /// Command not supported in present state.
    pub const NOT_SUPPORTED_IN_STATE: u8 = 0xD5;
    /// Unspecified error.
    pub const UNSPECIFIED: u8 = 0xFF;
}

/// IPMI 1.5 authentication types as bits (bit n = [`AuthType`] n), the form the
/// "authentication type support/enables" fields carry them in: Get Channel
/// Authentication Capabilities byte 2 (§22.13) and LAN configuration parameters 1
/// and 2 (§23.2).
pub mod auth_type {
    /// Authentication type none.
    pub const NONE: u8 = 0x01;
    /// MD2.
    pub const MD2: u8 = 0x02;
    /// MD5.
    pub const MD5: u8 = 0x04;
    /// Straight password / key.
    pub const PASSWORD: u8 = 0x10;
    /// OEM proprietary.
    pub const OEM: u8 = 0x20;
    /// Every defined bit (the others are reserved).
    pub const ALL: u8 = NONE | MD2 | MD5 | PASSWORD | OEM;
}

/// Network function codes of requests (§5.1); responses are `netfn | 1`.
pub mod netfn {
    /// Chassis requests.
    pub const CHASSIS: u8 = 0x00;
    /// Sensor/event requests.
    pub const SENSOR_EVENT: u8 = 0x04;
    /// Application requests (session management lives here).
    pub const APP: u8 = 0x06;
    /// Storage requests (FRU, SDR, SEL).
    pub const STORAGE: u8 = 0x0A;
    /// Transport requests (LAN and SOL configuration).
    pub const TRANSPORT: u8 = 0x0C;
    /// Group extension; the first data byte names the group (DCh = DCMI, 00h PICMG,
    /// 03h VSO).
    pub const GROUP_EXT: u8 = 0x2C;
}

/// Application-netfn command numbers that belong to the session layer (§22).
pub mod app_cmd {
    /// Get Device ID.
    pub const GET_DEVICE_ID: u8 = 0x01;
    /// Get Channel Authentication Capabilities (pre-session).
    pub const GET_CHANNEL_AUTH_CAPABILITIES: u8 = 0x38;
    /// Get Session Challenge (IPMI 1.5, pre-session).
    pub const GET_SESSION_CHALLENGE: u8 = 0x39;
    /// Activate Session (IPMI 1.5, under the temporary session ID).
    pub const ACTIVATE_SESSION: u8 = 0x3A;
    /// Set Session Privilege Level.
    pub const SET_SESSION_PRIVILEGE: u8 = 0x3B;
    /// Close Session.
    pub const CLOSE_SESSION: u8 = 0x3C;
    /// Get Session Info.
    pub const GET_SESSION_INFO: u8 = 0x3D;
    /// Get Channel Cipher Suites (pre-session, RMCP+ framing).
    pub const GET_CHANNEL_CIPHER_SUITES: u8 = 0x54;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_values_round_trip() {
        for v in 0..=255u8 {
            assert_eq!(u8::from(PayloadKind::from(v)), v);
            assert_eq!(u8::from(RmcpStatus::from(v)), v);
            assert_eq!(u8::from(AuthType::from(v)), v);
            assert_eq!(u8::from(IntegrityAlgorithm::from(v)), v);
        }
        assert_eq!(PayloadKind::from(0x12), PayloadKind::Rakp1);
        assert_eq!(PayloadKind::from(0x3f), PayloadKind::Unknown(0x3f));
    }

    #[test]
    fn auth_type_bits_are_auth_type_numbers() {
        for (t, bit) in [
            (AuthType::None, auth_type::NONE),
            (AuthType::Md2, auth_type::MD2),
            (AuthType::Md5, auth_type::MD5),
            (AuthType::Password, auth_type::PASSWORD),
            (AuthType::Oem, auth_type::OEM),
        ] {
            assert_eq!(1 << u8::from(t), bit, "{t:?}");
        }
        assert_eq!(auth_type::ALL, 0x37);
    }

    #[test]
    fn privilege_order() {
        assert!(Privilege::Admin > Privilege::Operator);
        assert!(Some(Privilege::Callback) > None);
        assert_eq!(Privilege::from_u8(0), None);
        assert_eq!(Privilege::from_u8(4), Some(Privilege::Admin));
    }
}
