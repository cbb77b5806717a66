//! SMASH over WS-Management: the BMC row "443 HTTPS (SMASH over
//! WS-Management)". The DMTF server profiles (Profile Registration, Base
//! Server, Power State Management, Boot Control, Physical Asset, Software
//! Inventory, CPU, System Memory, Sensors, Record Log) are CIM classes over
//! the shared model, served by the WS-Management engine of `fakedc-wsman`.
//!
//! A BMC shares its host's chassis, so what SMASH changes is what IPMI,
//! the control API and the host's OS endpoints see, and the other way round.
//!
//! Sans-IO: `digest` (RFC 7616), `cim` (classes over a chassis snapshot),
//! `timefmt`. `service` is the HTTP glue, `probe` the client for `check`.

pub mod cim;
pub mod digest;
pub mod probe;
pub mod service;
pub mod timefmt;

pub use service::{operations, register, OptionsError, SmashOptions};
