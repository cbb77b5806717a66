//! PowerShell Remoting Protocol (MS-PSRP) for fakedc, sans-IO.
//!
//! - [`fragment`]: fragments and their reassembly, with size limits;
//! - [`message`]: the 40-byte message header and the message types;
//! - [`clixml`]: PowerShell's object serialisation, read (bounded, `<Ref>`
//!   copies charged to a budget) and written;
//! - [`messages`]: the messages' bodies as Windows PowerShell 5.1 writes
//!   and reads them;
//! - [`pool`]: one runspace pool's state machine over a [`pool::Runspace`]
//!   (the evaluator), fed by the WinRM glue in `fakedc-wsman`.
//!
//! Nothing here reads a clock, opens a socket or blocks.

pub mod clixml;
pub mod fragment;
pub mod message;
pub mod messages;
pub mod pool;
pub mod pwsh;

pub use clixml::{Object, Value};
pub use message::Guid;
pub use messages::{Command, ErrorInfo, Event, Finish, PipelineSpec};
pub use pool::{Limits, Outcome, Pool, PsrpError, Runspace};

/// The shell resource URIs PSRP answers on: the default configuration's,
/// in either case WinRM accepts.
pub const RESOURCE_PREFIX: &str = "http://schemas.microsoft.com/powershell/";
