//! [`code_enum!`](crate::code_enum): protocol code enums that keep unknown values.

/// Declares an enum over an integer code (`u8`, `u16`, `u32`) whose extra
/// `Unknown(n)` variant holds any value without a name.
///
/// Why not a plain `#[repr(u8)]` enum and `TryFrom`: a peer newer than the
/// codec sends codes it does not know (a TDS token type, an SMB2 negotiate
/// context, an RDP capability set), and a proxy, a logger or a
/// "skip what you do not understand" parser must carry them through
/// unchanged. With `Unknown(n)` every integer converts, `from(into(x)) ==
/// x` for every value, and a `match` still names the known ones.
///
/// What it generates:
/// - `From<int>` and `From<Enum> for int` (infallible both ways), and the
///   same as `const fn`s, `from_value` and `value`;
/// - `Display` by name (`PreLogin`), `Unknown(0x99)` for the rest; `name()`;
/// - `PartialEq`/`Eq`/`Hash`/`Ord` by value, so a hand-built `Unknown(1)`
///   equals the variant named 1 (conversion from the integer never builds
///   one);
/// - `ALL`, the named variants in order;
/// - a compile-time check that no two variants share a value.
///
/// ```
/// fakedc_wire::code_enum! {
///     /// TDS packet types (MS-TDS 2.2.3.1.1).
///     pub enum PacketType: u8 {
///         SqlBatch = 0x01,
///         PreLogin = 0x12,
///     }
/// }
/// assert_eq!(PacketType::from(0x12), PacketType::PreLogin);
/// assert_eq!(u8::from(PacketType::from(0x99)), 0x99);
/// assert_eq!(PacketType::from(0x99).to_string(), "Unknown(0x99)");
/// assert_eq!(PacketType::PreLogin.to_string(), "PreLogin");
/// ```
#[macro_export]
macro_rules! code_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident : $int:ty {
            $(
                $(#[$vmeta:meta])*
                $variant:ident = $value:expr
            ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy)]
        $vis enum $name {
            $(
                $(#[$vmeta])*
                $variant,
            )+
            /// A value with no name here, kept as it came.
            Unknown($int),
        }

        // A private codec enum need not use every helper generated here.
        #[allow(dead_code)]
        impl $name {
            /// The named variants, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The variant for `v`, `Unknown(v)` when none is named `v`.
            pub const fn from_value(v: $int) -> $name {
                $(
                    if v == $value {
                        return $name::$variant;
                    }
                )+
                $name::Unknown(v)
            }

            /// The code on the wire.
            pub const fn value(self) -> $int {
                match self {
                    $($name::$variant => $value,)+
                    $name::Unknown(v) => v,
                }
            }

            /// The variant's name; `None` for a value without one.
            pub const fn name(self) -> ::core::option::Option<&'static str> {
                match $name::from_value(self.value()) {
                    $($name::$variant => ::core::option::Option::Some(stringify!($variant)),)+
                    $name::Unknown(_) => ::core::option::Option::None,
                }
            }

            pub const fn is_known(self) -> bool {
                self.name().is_some()
            }
        }

        impl ::core::convert::From<$int> for $name {
            fn from(v: $int) -> $name {
                $name::from_value(v)
            }
        }

        impl ::core::convert::From<$name> for $int {
            fn from(c: $name) -> $int {
                c.value()
            }
        }

        impl ::core::cmp::PartialEq for $name {
            fn eq(&self, other: &$name) -> bool {
                self.value() == other.value()
            }
        }

        impl ::core::cmp::Eq for $name {}

        impl ::core::hash::Hash for $name {
            fn hash<H: ::core::hash::Hasher>(&self, state: &mut H) {
                ::core::hash::Hash::hash(&self.value(), state)
            }
        }

        impl ::core::cmp::PartialOrd for $name {
            fn partial_cmp(&self, other: &$name) -> ::core::option::Option<::core::cmp::Ordering> {
                ::core::option::Option::Some(::core::cmp::Ord::cmp(self, other))
            }
        }

        impl ::core::cmp::Ord for $name {
            fn cmp(&self, other: &$name) -> ::core::cmp::Ordering {
                self.value().cmp(&other.value())
            }
        }

        impl ::core::fmt::Display for $name {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                match self.name() {
                    ::core::option::Option::Some(n) => f.write_str(n),
                    ::core::option::Option::None => write!(f, "Unknown({:#x})", self.value()),
                }
            }
        }

        // Two variants with one value would make `from` pick the first and
        // the second unreachable: refuse at compile time.
        const _: () = {
            let values: &[$int] = &[$($value),+];
            let mut i = 0;
            while i < values.len() {
                let mut j = i + 1;
                while j < values.len() {
                    assert!(
                        values[i] != values[j],
                        concat!("code_enum! ", stringify!($name), ": two variants share a value")
                    );
                    j += 1;
                }
                i += 1;
            }
        };
    };
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    crate::code_enum! {
        /// SMB2 commands (MS-SMB2 2.2.1.2), a u16 sample.
        pub enum Command: u16 {
            /// NEGOTIATE
            Negotiate = 0x0000,
            SessionSetup = 0x0001,
            Logoff = 0x0002,
            TreeConnect = 0x0003,
        }
    }

    crate::code_enum! {
        enum Tiny: u8 { A = 1, B = 2 }
    }

    crate::code_enum! {
        /// A u32 with the top value named.
        pub(crate) enum Status: u32 {
            Success = 0,
            MoreProcessing = 0xC000_0016,
            Max = u32::MAX,
        }
    }

    #[test]
    fn every_value_round_trips() {
        for v in 0..=u8::MAX {
            assert_eq!(u8::from(Tiny::from(v)), v);
        }
        for v in (0..=u16::MAX).step_by(7).chain([0, 1, 2, 3, 4, u16::MAX]) {
            let c = Command::from(v);
            assert_eq!(u16::from(c), v);
            assert_eq!(c.is_known(), v <= 3, "{v}");
        }
        for v in [0, 1, 0xC000_0016, u32::MAX - 1, u32::MAX] {
            assert_eq!(Status::from(v).value(), v);
        }
        assert_eq!(Status::from(u32::MAX), Status::Max);
    }

    #[test]
    fn names_and_unknowns() {
        assert_eq!(Command::from(1), Command::SessionSetup);
        assert_eq!(Command::SessionSetup.to_string(), "SessionSetup");
        assert_eq!(Command::from(0x0042).to_string(), "Unknown(0x42)");
        assert_eq!(Command::from(0x0042), Command::Unknown(0x42));
        assert_eq!(Command::Logoff.name(), Some("Logoff"));
        assert_eq!(Command::Unknown(9).name(), None);
        assert_eq!(Status::MoreProcessing.to_string(), "MoreProcessing");
        assert_eq!(Status::from(0xC000_0022).to_string(), "Unknown(0xc0000022)");
        assert_eq!(
            Command::ALL,
            [
                Command::Negotiate,
                Command::SessionSetup,
                Command::Logoff,
                Command::TreeConnect
            ]
        );
        assert_eq!(Tiny::A.value() + Tiny::B.value(), 3);
    }

    /// Equality, hashing and order are by value: an `Unknown` that holds a
    /// named value is that variant.
    #[test]
    fn compares_by_value() {
        assert_eq!(Command::Unknown(1), Command::SessionSetup);
        assert_eq!(Command::Unknown(1).to_string(), "SessionSetup");
        let set: HashSet<Command> = [Command::Unknown(2), Command::Logoff, Command::from(2)]
            .into_iter()
            .collect();
        assert_eq!(set.len(), 1);
        assert!(Command::Negotiate < Command::Unknown(0x10));
        assert!(Command::TreeConnect > Command::Logoff);
    }
}
