//! The vocabulary every protocol's probe reports in, so `fakedc check` maps
//! one enum, not one per protocol. Only a completed protocol handshake is
//! `Verified`; an open port is not.

/// What a protocol probe concluded about an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeVerdict {
    /// The protocol's own handshake completed (and, with credentials, a
    /// logged-in operation).
    Verified,
    /// Nothing listens (connection refused, ICMP port unreachable).
    Refused,
    /// No answer in time.
    Timeout,
    /// Something answered, but not this protocol.
    WrongProtocol,
    /// The TLS handshake failed.
    TlsFailure,
    /// The protocol answered but refused the credentials.
    AuthFailure,
}
