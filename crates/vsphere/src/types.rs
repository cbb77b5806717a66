//! The vim25 type description, as data: pyvmomi's `_typeinfo_*.py` dumped
//! to `data/vim25-types.json` (see `data/README.md`). A data type's fields
//! (element order, declared types, optional flags), a managed type's
//! properties and methods and every enum come from here, so a new property
//! is a line of JSON and a getter, never a hand-written struct; the
//! serialiser ([`crate::value`]) writes `xsi:type` from the declared types.
//!
//! Read once, lazily, on the first request that needs it (a `fakedc list`
//! never pays for it).

use std::collections::HashMap;
use std::sync::OnceLock;

const JSON: &str = include_str!("../data/vim25-types.json");

/// One property of a data or managed type.
#[derive(Debug, Clone)]
pub struct Prop {
    pub name: String,
    /// The declared type: `xsd:*`, `mor:<Type>`, a data or enum type's
    /// WSDL name; arrays end in `[]`.
    pub ty: String,
    pub optional: bool,
}

impl Prop {
    pub fn is_array(&self) -> bool {
        self.ty.ends_with("[]")
    }

    /// The element type (without `[]`).
    pub fn base(&self) -> &str {
        self.ty.strip_suffix("[]").unwrap_or(&self.ty)
    }
}

#[derive(Debug, Default)]
struct Type {
    base: String,
    props: Vec<Prop>,
    methods: Vec<String>,
}

/// Every data, managed and enum type of vim25.
#[derive(Debug, Default)]
pub struct TypeInfo {
    data: HashMap<String, Type>,
    managed: HashMap<String, Type>,
    enums: HashMap<String, Vec<String>>,
    /// A data type's fields, inherited first (the WSDL's element order).
    flat: HashMap<String, Vec<Prop>>,
}

/// The one registry (parsed on first use).
pub fn types() -> &'static TypeInfo {
    static T: OnceLock<TypeInfo> = OnceLock::new();
    T.get_or_init(|| TypeInfo::parse(JSON).unwrap_or_default())
}

fn props(v: &serde_json::Value) -> Vec<Prop> {
    v.get("props")
        .and_then(|p| p.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|p| {
                    let p = p.as_array()?;
                    Some(Prop {
                        name: p.first()?.as_str()?.to_string(),
                        ty: p.get(1)?.as_str()?.to_string(),
                        optional: p.get(2).and_then(|f| f.as_str()) == Some("o"),
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

fn ty(v: &serde_json::Value) -> Type {
    Type {
        base: v
            .get("base")
            .and_then(|b| b.as_str())
            .unwrap_or("")
            .to_string(),
        props: props(v),
        methods: v
            .get("methods")
            .and_then(|m| m.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|m| m.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default(),
    }
}

impl TypeInfo {
    fn parse(json: &str) -> Result<TypeInfo, serde_json::Error> {
        let v: serde_json::Value = serde_json::from_str(json)?;
        let table = |k: &str| -> HashMap<String, Type> {
            v.get(k)
                .and_then(|t| t.as_object())
                .map(|o| o.iter().map(|(n, t)| (n.clone(), ty(t))).collect())
                .unwrap_or_default()
        };
        let data = table("data");
        let managed = table("managed");
        let enums = v
            .get("enums")
            .and_then(|t| t.as_object())
            .map(|o| {
                o.iter()
                    .map(|(n, vals)| {
                        let vals = vals
                            .as_array()
                            .map(|a| {
                                a.iter()
                                    .filter_map(|s| s.as_str().map(str::to_string))
                                    .collect()
                            })
                            .unwrap_or_default();
                        (n.clone(), vals)
                    })
                    .collect()
            })
            .unwrap_or_default();
        let mut flat = HashMap::with_capacity(data.len());
        for name in data.keys() {
            let mut chain = Vec::new();
            let mut cur = name.as_str();
            // Bounded: the description has no cycles, but a bad file must
            // not hang the service.
            for _ in 0..32 {
                let Some(t) = data.get(cur) else { break };
                chain.push(t);
                cur = &t.base;
            }
            let fields = chain.iter().rev().flat_map(|t| t.props.clone()).collect();
            flat.insert(name.clone(), fields);
        }
        Ok(TypeInfo {
            data,
            managed,
            enums,
            flat,
        })
    }

    /// A data type's fields in element order (inherited first).
    pub fn fields(&self, data_type: &str) -> Option<&[Prop]> {
        self.flat.get(data_type).map(|v| v.as_slice())
    }

    pub fn is_data(&self, name: &str) -> bool {
        self.data.contains_key(name)
    }

    pub fn is_enum(&self, name: &str) -> bool {
        self.enums.contains_key(name)
    }

    pub fn is_managed(&self, name: &str) -> bool {
        self.managed.contains_key(name)
    }

    pub fn enum_values(&self, name: &str) -> Option<&[String]> {
        self.enums.get(name).map(|v| v.as_slice())
    }

    /// Whether data type `sub` is `base` or derives from it.
    pub fn data_is_a(&self, sub: &str, base: &str) -> bool {
        self.is_a(&self.data, sub, base)
    }

    /// Whether managed type `sub` is `base` or derives from it
    /// (`ManagedObject` is everyone's base).
    pub fn managed_is_a(&self, sub: &str, base: &str) -> bool {
        base == "ManagedObject" || self.is_a(&self.managed, sub, base)
    }

    fn is_a(&self, table: &HashMap<String, Type>, sub: &str, base: &str) -> bool {
        let mut cur = sub;
        for _ in 0..32 {
            if cur == base {
                return true;
            }
            match table.get(cur) {
                Some(t) => cur = &t.base,
                None => return false,
            }
        }
        false
    }

    /// A managed type's property, looked up through its bases.
    pub fn managed_prop(&self, managed_type: &str, name: &str) -> Option<&Prop> {
        let mut cur = managed_type;
        for _ in 0..32 {
            let t = self.managed.get(cur)?;
            if let Some(p) = t.props.iter().find(|p| p.name == name) {
                return Some(p);
            }
            cur = &t.base;
        }
        None
    }

    /// Every property of a managed type, inherited ones first.
    pub fn managed_props(&self, managed_type: &str) -> Vec<&Prop> {
        let mut chain = Vec::new();
        let mut cur = managed_type;
        for _ in 0..32 {
            let Some(t) = self.managed.get(cur) else {
                break;
            };
            chain.push(t);
            cur = &t.base;
        }
        chain.iter().rev().flat_map(|t| t.props.iter()).collect()
    }

    /// Whether a managed type (or a base) declares this method (by WSDL
    /// name): such a method that fakedc does not implement is
    /// `MethodNotFound`, as is one nobody declares.
    pub fn has_method(&self, managed_type: &str, method: &str) -> bool {
        let mut cur = managed_type;
        for _ in 0..32 {
            let Some(t) = self.managed.get(cur) else {
                return false;
            };
            if t.methods.iter().any(|m| m == method) {
                return true;
            }
            cur = &t.base;
        }
        false
    }

    /// The declared type of a property path (`summary.runtime.powerState`)
    /// on a managed type, or `None` when some step does not exist: vSphere's
    /// `InvalidProperty`. Array steps end the walk (a path cannot index).
    pub fn path_type(&self, managed_type: &str, path: &str) -> Option<&Prop> {
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
                .map(|p| p.ty.as_str()),
            Some("VirtualMachinePowerState")
        );
        assert_eq!(
            t.path_type("VirtualMachine", "name").map(|p| p.ty.as_str()),
            Some("xsd:string")
        );
        assert!(t.path_type("VirtualMachine", "runtime.nope").is_none());
        assert!(t.managed_is_a("ClusterComputeResource", "ComputeResource"));
        assert!(t.has_method("VirtualMachine", "PowerOffVM_Task"));
        assert!(t.has_method("VirtualMachine", "Destroy_Task"));
        assert!(t.data_is_a("TraversalSpec", "SelectionSpec"));
        // DynamicData's fields come first in a derived type.
        let about = t.fields("AboutInfo").expect("about");
        assert_eq!(about[0].name, "dynamicType");
    }
}
