//! WS-Management for fakedc: the SOAP engine (typed messages, Windows-shaped
//! faults, enumeration, filters, envelope limits), the WinRM cmd shell, a
//! resource-provider interface for CIM/WMI classes, NTLMv2 with MS-WSMV
//! message encryption, the HTTP service for WinRM's 5985/5986/80 and the
//! probe `fakedc check` uses.
//!
//! Sans-IO layers (`xml`, `message`, `fault`, `wql`, `ntlm`, `shell`,
//! `engine`) know nothing about sockets; `service` is the thin async glue.

pub mod engine;
pub mod fault;
pub mod message;
pub mod ntlm;
pub mod provider;
pub mod shell;
pub mod spnego;
pub mod wql;
pub mod xml;

pub use engine::Engine;
pub use fault::Fault;
pub use provider::{
    Association, Ctx, EndpointRef, Instance, MethodOutput, ResourceProvider, Value,
};
pub mod service;
pub mod wmi;

pub use service::{operations, register, OptionsError};
pub mod client;
pub mod probe;
