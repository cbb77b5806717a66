//! BITS for fakedc: the Background Intelligent Transfer Service upload
//! protocol (MC-BUP) and ranged HTTPS downloads on every Windows host's 443
//! (and ESXi's), plus a BITS client, since none exists off Windows.
//!
//! - [`proto`] — sans-IO rules (headers, `Content-Range`, the fragment
//!   rule, session ids, path jail, `Range` and conditionals, the virtual
//!   file generator), unit-tested;
//! - [`config`] — `[machine.options.bits]`;
//! - [`store`] — the share on disk: session files, commit by
//!   fsync + rename, resume after a restart;
//! - [`service`] — the hyper-facing service registered with the network
//!   layer;
//! - [`client`] — the resumable client behind `fakedc bits`;
//! - [`probe`] — the `fakedc check` probe (BITS Ping).

pub mod body;
pub mod client;
pub mod config;
pub mod probe;
pub mod proto;
pub mod service;
pub mod store;

pub use config::BitsOptions;
pub use proto::fill_virtual;
pub use service::{operations, register, OptionsError};
