//! The vim25 type description as tables generated at build time
//! (`build.rs`) from the committed `data/vim25-types.json` (pyvmomi's
//! typeinfo, see `data/README.md`). A data type's fields (element order,
//! declared types, optional flags), a managed type's properties and
//! methods and every enum come from here, so a new property is a line of
//! JSON and a getter, never a hand-written struct; the serialiser
//! ([`crate::value`]) writes `xsi:type` from the declared types. Static
//! data: nothing is parsed at run time; a name index over the tables is
//! built on first use.

/// One property of a data or managed type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prop {
    pub name: &'static str,
    /// The declared type: `xsd:*`, `mor:<Type>`, a data or enum type's
    /// WSDL name; arrays end in `[]`.
    pub ty: &'static str,
    pub optional: bool,
}

const fn p(name: &'static str, ty: &'static str, optional: bool) -> Prop {
    Prop { name, ty, optional }
}

impl Prop {
    pub fn is_array(&self) -> bool {
        self.ty.ends_with("[]")
    }

    /// The element type (without `[]`).
    pub fn base(&self) -> &'static str {
        self.ty.strip_suffix("[]").unwrap_or(self.ty)
    }
}

/// A data type (fields flattened, inherited first) or a managed type (its
/// own properties and methods).
#[derive(Debug)]
pub struct Type {
    pub name: &'static str,
    pub base: &'static str,
    pub props: &'static [Prop],
    pub methods: &'static [&'static str],
}

use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::sync::OnceLock;

mod generated {
    use super::{p, Type};
    include!(concat!(env!("OUT_DIR"), "/vim25_types.rs"));
}

/// Every data, managed and enum type of vim25.
#[derive(Debug)]
pub struct TypeInfo {
    data: &'static [Type],
    managed: &'static [Type],
    enums: &'static [(&'static str, &'static [&'static str])],
}

static TYPES: TypeInfo = TypeInfo {
    data: generated::DATA,
    managed: generated::MANAGED,
    enums: generated::ENUMS,
};

/// The one registry.
pub fn types() -> &'static TypeInfo {
    &TYPES
}

/// FNV-1a for the name index: type names are short ASCII and known ahead,
/// so a simple hash beats SipHash, and no peer chooses the keys (a name
/// from a request is looked up, never inserted).
#[derive(Default)]
struct Fnv(u64);

impl std::hash::Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for b in bytes {
            h = (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

type NameIndex<T> = HashMap<&'static str, T, BuildHasherDefault<Fnv>>;

/// Every table by name, built once: the binary searches (a string
/// comparison per step, a dozen steps in the data table) were the largest
/// of the SDK's own costs in a property read's profile, where each
/// object's type is walked to its bases and each value's declared type
/// looked up.
struct Index {
    data: NameIndex<&'static Type>,
    managed: NameIndex<&'static Type>,
    enums: NameIndex<&'static [&'static str]>,
}

fn index() -> &'static Index {
    static INDEX: OnceLock<Index> = OnceLock::new();
    INDEX.get_or_init(|| {
        let table = |t: &'static [Type]| t.iter().map(|t| (t.name, t)).collect();
        Index {
            data: table(TYPES.data),
            managed: table(TYPES.managed),
            enums: TYPES.enums.iter().copied().collect(),
        }
    })
}

/// Which table a name is looked up in.
#[derive(Clone, Copy)]
enum Table {
    Data,
    Managed,
}

fn find(table: Table, name: &str) -> Option<&'static Type> {
    let ix = index();
    match table {
        Table::Data => ix.data.get(name),
        Table::Managed => ix.managed.get(name),
    }
    .copied()
}

impl TypeInfo {
    /// A data type's fields in element order (inherited first).
    pub fn fields(&self, data_type: &str) -> Option<&'static [Prop]> {
        find(Table::Data, data_type).map(|t| t.props)
    }

    pub fn is_data(&self, name: &str) -> bool {
        find(Table::Data, name).is_some()
    }

    pub fn is_enum(&self, name: &str) -> bool {
        self.enum_values(name).is_some()
    }

    pub fn is_managed(&self, name: &str) -> bool {
        find(Table::Managed, name).is_some()
    }

    pub fn enum_values(&self, name: &str) -> Option<&'static [&'static str]> {
        index().enums.get(name).copied()
    }

    /// Whether data type `sub` is `base` or derives from it.
    pub fn data_is_a(&self, sub: &str, base: &str) -> bool {
        is_a(Table::Data, sub, base)
    }

    /// Whether managed type `sub` is `base` or derives from it
    /// (`ManagedObject` is everyone's base).
    pub fn managed_is_a(&self, sub: &str, base: &str) -> bool {
        base == "ManagedObject" || is_a(Table::Managed, sub, base)
    }

    /// The names [`TypeInfo::managed_is_a`] compares after the type's own,
    /// nearest base first: what an inventory object's type is checked
    /// against without a lookup per step (see `Inventory::is_a`).
    pub fn managed_bases(&self, sub: &str) -> Vec<&'static str> {
        let mut out = Vec::new();
        let mut cur = find(Table::Managed, sub);
        while let Some(t) = cur {
            if out.len() >= 31 {
                break;
            }
            out.push(t.base);
            cur = find(Table::Managed, t.base);
        }
        out
    }

    /// A managed type's property, looked up through its bases.
    pub fn managed_prop(&self, managed_type: &str, name: &str) -> Option<&'static Prop> {
        let mut cur = find(Table::Managed, managed_type)?;
        for _ in 0..32 {
            if let Some(p) = cur.props.iter().find(|p| p.name == name) {
                return Some(p);
            }
            cur = find(Table::Managed, cur.base)?;
        }
        None
    }

    /// Every property of a managed type, inherited ones first.
    pub fn managed_props(&self, managed_type: &str) -> Vec<&'static Prop> {
        let mut chain = Vec::new();
        let mut cur = find(Table::Managed, managed_type);
        while let Some(t) = cur {
            if chain.len() >= 32 {
                break;
            }
            chain.push(t);
            cur = find(Table::Managed, t.base);
        }
        chain.iter().rev().flat_map(|t| t.props.iter()).collect()
    }

    /// Whether a managed type (or a base) declares this method (by WSDL
    /// name): such a method that fakedc does not implement is
    /// `MethodNotFound`, as is one nobody declares.
    pub fn has_method(&self, managed_type: &str, method: &str) -> bool {
        let mut cur = find(Table::Managed, managed_type);
        for _ in 0..32 {
            let Some(t) = cur else { return false };
            if t.methods.contains(&method) {
                return true;
            }
            cur = find(Table::Managed, t.base);
        }
        false
    }

    /// The declared type of a property path (`summary.runtime.powerState`)
    /// on a managed type, or `None` when some step does not exist: vSphere's
    /// `InvalidProperty`. Array steps end the walk (a path cannot index).
    pub fn path_type(&self, managed_type: &str, path: &str) -> Option<&'static Prop> {
        let mut parts = path.split('.');
        let first = parts.next()?;
        let mut prop = self.managed_prop(managed_type, first)?;
        for part in parts {
            if prop.is_array() {
                return None;
            }
            let fields = self.fields(prop.base())?;
            prop = fields.iter().find(|f| f.name == part)?;
        }
        Some(prop)
    }

    pub fn counts(&self) -> (usize, usize, usize) {
        (self.data.len(), self.managed.len(), self.enums.len())
    }
}

fn is_a(table: Table, sub: &str, base: &str) -> bool {
    let mut cur = sub;
    for _ in 0..32 {
        if cur == base {
            return true;
        }
        match find(table, cur) {
            Some(t) => cur = t.base,
            None => return false,
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_description_loads() {
        let t = types();
        let (d, m, e) = t.counts();
        assert!(d > 2900 && m > 130 && e > 400, "{d} {m} {e}");
        let f = t.fields("VirtualMachineSummary").expect("summary");
        assert_eq!(f[2].name, "vm");
        assert_eq!(f[2].ty, "mor:VirtualMachine");
        assert_eq!(
            t.path_type("VirtualMachine", "summary.runtime.powerState")
                .map(|p| p.ty),
            Some("VirtualMachinePowerState")
        );
        assert_eq!(
            t.path_type("VirtualMachine", "name").map(|p| p.ty),
            Some("xsd:string")
        );
        assert!(t.path_type("VirtualMachine", "runtime.nope").is_none());
        assert!(t.managed_is_a("ClusterComputeResource", "ComputeResource"));
        let bases = t.managed_bases("ClusterComputeResource");
        assert_eq!(bases.first(), Some(&"ComputeResource"));
        assert!(bases.contains(&"ManagedEntity"));
        assert!(t.managed_bases("NoSuchType").is_empty());
        assert!(t.has_method("VirtualMachine", "PowerOffVM_Task"));
        assert!(t.has_method("VirtualMachine", "Destroy_Task"));
        assert!(t.data_is_a("TraversalSpec", "SelectionSpec"));
        assert!(t
            .enum_values("VirtualMachinePowerState")
            .is_some_and(|v| v.contains(&"poweredOn")));
        // DynamicData's fields come first in a derived type.
        let about = t.fields("AboutInfo").expect("about");
        assert_eq!(about[0].name, "dynamicType");
    }
}
