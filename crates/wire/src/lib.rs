//! A binary wire toolkit for fakedc's binary protocols (TDS, SMB2 and
//! NetBIOS, DCE/RPC, RDP, net.tcp framing), in the spirit of smoltcp's
//! `wire` module: the codecs describe packets; this crate does the byte
//! work they all need, once, without panics.
//!
//! - [`Reader`]: a cursor over `&[u8]` whose every read is bounds-checked
//!   and returns [`Error`] instead of panicking, so a peer's short or lying
//!   packet is an error value, never an index out of range. A failed read
//!   consumes nothing, so a caller may try another interpretation.
//! - [`Writer`]: the same writes into a `Vec<u8>`, plus length fields that
//!   are reserved first and patched once the length is known ([`Field`]):
//!   every one of these protocols prefixes a structure with its size.
//! - [`code_enum!`]: enums over `u8`/`u16`/`u32` codes with an `Unknown(n)`
//!   variant, so a value from a newer peer survives a parse and re-emit
//!   unchanged instead of failing the message or turning into another.
//!
//! Sans-IO and allocation-light: reads borrow from the input; only UTF-16
//! strings are decoded into owned `String`s.

mod code_enum;
mod reader;
mod writer;

pub use reader::Reader;
pub use writer::{Field, Writer};

/// Why a read (or a length patch) failed. Offsets are from the start of
/// the outermost [`Reader`] (a sub-reader keeps its parent's offsets), so
/// an error names the byte of the packet where it happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Fewer bytes are left than the read needs.
    #[error("truncated at byte {at}: {needed} bytes needed, {remaining} left")]
    Truncated {
        at: usize,
        needed: usize,
        remaining: usize,
    },
    /// A UTF-16 string with an unpaired surrogate.
    #[error("invalid UTF-16 in the string at byte {at}")]
    Utf16 { at: usize },
    /// An offset and length that do not lie inside the buffer (a
    /// [`Reader::window`] taken from a peer's offset field, or a [`Field`]
    /// patched into a writer it does not belong to).
    #[error("{len} bytes at offset {offset} do not fit in {size} bytes")]
    OutOfBounds {
        offset: usize,
        len: usize,
        size: usize,
    },
    /// A value too large for the field reserved for it (a 70,000-byte body
    /// behind a 16-bit length).
    #[error("{value} does not fit in the {width}-byte field at byte {at}")]
    FieldOverflow { at: usize, width: usize, value: u64 },
    /// Bytes left over where a structure should have ended.
    #[error("{count} unexpected bytes at byte {at}")]
    Trailing { at: usize, count: usize },
}

pub type Result<T> = core::result::Result<T, Error>;
