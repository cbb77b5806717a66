//! IPMI over LAN for fakedc: the sans-IO codec ([`wire`]), its cryptography
//! ([`crypto`]) and the BMC-side session state machine ([`session`]).
//!
//! This crate knows nothing about sockets, tokio or clocks: datagrams go in as bytes,
//! replies come out as bytes, and time is passed in as [`std::time::Instant`].

pub mod commands;
pub mod crypto;
pub mod service;
pub mod session;
pub mod sol;
pub mod wire;
pub use service::{operations, register};
pub mod probe;
