//! The .NET surface scripts reach: static members of the types tool
//! scripts use (`[Environment]`, `[Convert]`, `[System.IO.File]`, ...) and
//! live objects (`FileStream`, hash algorithms, encodings).

/// A live .NET object's state.
#[derive(Debug)]
pub enum LiveObject {
    /// Placeholder until the first live types land.
    Opaque(String),
}

impl LiveObject {
    /// The .NET type name.
    pub fn type_name(&self) -> &str {
        match self {
            LiveObject::Opaque(t) => t,
        }
    }
}
