//! The PropertyCollector: filter specs read from a request, traversal of
//! selection and traversal specs, property values gathered per object,
//! and the XML of `ObjectContent` and `UpdateSet`.
//!
//! Traversal follows vSphere's rules: an `ObjectSpec` names a start object
//! (reported unless `skip`), a `TraversalSpec` applies to objects of its
//! `type` (or a subtype) and follows the property `path` to more objects
//! (reported unless its own `skip`), a bare `SelectionSpec` refers by name
//! to a `TraversalSpec` anywhere in the filter. Each (object, spec) pair
//! is visited once, so recursive specs over folders terminate.

use crate::props::Target;
use crate::sdk::{Sdk, State};
use crate::soap::VimFault;
use crate::types::types;
use crate::value::{
    child, child_bool, child_text, children, push_all, read_moref, write_moref, write_top,
    xsi_type, MoRef, Value,
};
use fakedc_xml::{escape_text, Element};
use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Instant;

/// Most objects and selection specs one filter may name (a peer controls
/// these counts).
pub const MAX_SPECS: usize = 10_000;
/// Most traversal steps one collection may take.
pub const MAX_VISITS: usize = 1_000_000;

#[derive(Debug, Clone)]
pub struct PropSpec {
    pub ty: String,
    pub all: bool,
    pub paths: Vec<String>,
}

#[derive(Debug, Clone)]
pub enum Sel {
    /// A reference to a named traversal spec.
    Name(String),
    Traversal(Traversal),
}

#[derive(Debug, Clone)]
pub struct Traversal {
    pub name: Option<String>,
    pub ty: String,
    pub path: String,
    pub skip: bool,
    pub select: Vec<Sel>,
}

#[derive(Debug, Clone)]
pub struct ObjSpec {
    pub obj: MoRef,
    pub skip: bool,
    pub select: Vec<Sel>,
}

#[derive(Debug, Clone)]
pub struct FilterSpec {
    pub props: Vec<PropSpec>,
    pub objects: Vec<ObjSpec>,
    pub report_missing: bool,
}

/// The paths (and their declared types) an object of one type gets.
type Plan = Vec<(Arc<str>, &'static str)>;

/// One object's collected properties.
#[derive(Debug, Clone)]
pub struct Content {
    pub obj: MoRef,
    /// (path, declared type, value); the path is shared by every object
    /// of a collection.
    pub props: Vec<(Arc<str>, &'static str, Value)>,
}

fn read_sel(e: &Element, count: &mut usize, depth: usize) -> Result<Sel, VimFault> {
    *count += 1;
    if *count > MAX_SPECS || depth > 32 {
        return Err(VimFault::invalid_argument("specSet"));
    }
    let is_traversal = xsi_type(e) == Some("TraversalSpec") || child(e, "path").is_some();
    if !is_traversal {
        return Ok(Sel::Name(
            child_text(e, "name")
                .ok_or_else(|| VimFault::invalid_argument("selectSet.name"))?
                .to_string(),
        ));
    }
    let mut select = Vec::new();
    for s in children(e, "selectSet") {
        select.push(read_sel(s, count, depth + 1)?);
    }
    Ok(Sel::Traversal(Traversal {
        name: child_text(e, "name").map(str::to_string),
        ty: child_text(e, "type")
            .ok_or_else(|| VimFault::invalid_argument("selectSet.type"))?
            .to_string(),
        path: child_text(e, "path")
            .ok_or_else(|| VimFault::invalid_argument("selectSet.path"))?
            .to_string(),
        skip: child_bool(e, "skip").unwrap_or(false),
        select,
    }))
}

/// Reads a `PropertyFilterSpec` element.
pub fn read_spec(e: &Element) -> Result<FilterSpec, VimFault> {
    let mut count = 0usize;
    let mut props = Vec::new();
    for p in children(e, "propSet") {
        count += 1;
        let ty = child_text(p, "type")
            .ok_or_else(|| VimFault::invalid_argument("propSet.type"))?
            .to_string();
        if !types().is_managed(&ty) {
            return Err(VimFault::invalid_type(&ty));
        }
        let paths: Vec<String> = children(p, "pathSet")
            .map(|x| x.text_trim().to_string())
            .collect();
        count += paths.len();
        props.push(PropSpec {
            all: child_bool(p, "all").unwrap_or(false),
            ty,
            paths,
        });
    }
    let mut objects = Vec::new();
    for o in children(e, "objectSet") {
        count += 1;
        if count > MAX_SPECS {
            return Err(VimFault::invalid_argument("specSet"));
        }
        let obj = child(o, "obj")
            .and_then(read_moref)
            .ok_or_else(|| VimFault::invalid_argument("objectSet.obj"))?;
        let mut select = Vec::new();
        for s in children(o, "selectSet") {
            select.push(read_sel(s, &mut count, 0)?);
        }
        objects.push(ObjSpec {
            obj,
            skip: child_bool(o, "skip").unwrap_or(false),
            select,
        });
    }
    if count > MAX_SPECS {
        return Err(VimFault::invalid_argument("specSet"));
    }
    Ok(FilterSpec {
        props,
        objects,
        report_missing: child_bool(e, "reportMissingObjectsInResults").unwrap_or(false),
    })
}

/// An object already reported or visited: an inventory object by its
/// index (no copy of its reference per object), others by reference.
#[derive(PartialEq, Eq, Hash)]
enum Seen {
    Inv(usize),
    Other(MoRef),
}

impl Seen {
    fn of(mo: &MoRef, t: &Target) -> Seen {
        match t {
            Target::Inv(i) => Seen::Inv(*i),
            _ => Seen::Other(mo.clone()),
        }
    }
}

fn collect_named<'a>(sels: &'a [Sel], out: &mut HashMap<&'a str, &'a Traversal>) {
    for s in sels {
        if let Sel::Traversal(t) = s {
            if let Some(n) = &t.name {
                out.entry(n.as_str()).or_insert(t);
            }
            collect_named(&t.select, out);
        }
    }
}

impl Sdk {
    fn type_of<'a>(&'a self, st: &'a State, t: &Target) -> &'a str {
        match t {
            Target::Inv(i) => self.inv.obj(*i).mo.ty.as_str(),
            Target::View(_) => "ContainerView",
            Target::Task(i) => st.tasks.get(*i).map(|t| t.mo.ty.as_str()).unwrap_or(""),
            Target::Filter(_) => "PropertyFilter",
            Target::Collector(_) => "PropertyCollector",
        }
    }

    /// The objects a traversal's `path` leads to from `target`. A
    /// container view's `view` (what every inventory script walks) comes
    /// straight from its members, without building the property's value
    /// and resolving each reference back.
    fn follow(
        &self,
        st: &State,
        target: &Target,
        path: &str,
        now: Instant,
        out: &mut Vec<(MoRef, Target)>,
    ) {
        if let (Target::View(id), "view") = (target, path) {
            if let Some(v) = st.views.get(id) {
                for i in self.view_members(v) {
                    out.push((self.inv.obj(i).mo.clone(), Target::Inv(i)));
                }
            }
            return;
        }
        let Some(v) = self.get(st, target, path, now) else {
            return;
        };
        let refs: Vec<MoRef> = match v {
            Value::MoRef(m) => vec![m],
            Value::Array(items) => items
                .into_iter()
                .filter_map(|i| match i {
                    Value::MoRef(m) => Some(m),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        };
        for r in refs {
            if let Some(t2) = self.resolve(st, &r) {
                out.push((r, t2));
            }
        }
    }

    /// Collects what a filter spec selects, objects in traversal order.
    pub fn collect(
        &self,
        st: &State,
        spec: &FilterSpec,
        now: Instant,
    ) -> Result<Vec<Content>, VimFault> {
        let ti = types();
        // Property paths are checked against the description first.
        for p in &spec.props {
            for path in &p.paths {
                if ti.path_type(&p.ty, path).is_none() {
                    return Err(VimFault::invalid_property(path));
                }
            }
        }
        let mut named = HashMap::new();
        for o in &spec.objects {
            collect_named(&o.select, &mut named);
        }
        let mut order: Vec<(MoRef, Target)> = Vec::new();
        let mut reported: HashSet<Seen> = HashSet::new();
        let mut visited: HashSet<(Seen, usize)> = HashSet::new();
        let mut visits = 0usize;
        for o in &spec.objects {
            let Some(t) = self.resolve(st, &o.obj) else {
                if spec.report_missing {
                    continue;
                }
                return Err(VimFault::not_found(&o.obj));
            };
            // A stack of (object, its target, selection specs to apply).
            let mut stack: Vec<(MoRef, Target, &[Sel], bool)> =
                vec![(o.obj.clone(), t, &o.select, !o.skip)];
            let mut found = Vec::new();
            while let Some((mo, target, sels, report)) = stack.pop() {
                visits += 1;
                if visits > MAX_VISITS {
                    return Err(VimFault::invalid_argument("specSet"));
                }
                let ty = self.type_of(st, &target);
                let mut next = Vec::new();
                for s in sels {
                    let tr = match s {
                        Sel::Traversal(t) => t,
                        Sel::Name(n) => match named.get(n.as_str()) {
                            Some(t) => *t,
                            None => continue,
                        },
                    };
                    let applies = match target {
                        Target::Inv(i) => self.inv.is_a(i, &tr.ty),
                        _ => ti.managed_is_a(ty, &tr.ty),
                    };
                    if !applies {
                        continue;
                    }
                    let key = (Seen::of(&mo, &target), tr as *const Traversal as usize);
                    if !visited.insert(key) {
                        continue;
                    }
                    found.clear();
                    self.follow(st, &target, &tr.path, now, &mut found);
                    next.extend(
                        found
                            .drain(..)
                            .map(|(r, t2)| (r, t2, tr.select.as_slice(), !tr.skip)),
                    );
                }
                if report && reported.insert(Seen::of(&mo, &target)) {
                    order.push((mo, target));
                }
                // Depth first, in the order the specs produced them.
                stack.extend(next.into_iter().rev());
            }
        }
        let mut out = Vec::with_capacity(order.len());
        // Which paths (and their declared types) an object of each type
        // gets, worked out once per type rather than once per object. A
        // collection meets a handful of types: a list beats hashing the
        // type name of every object.
        let mut plans: Vec<(&str, Option<Plan>)> = Vec::new();
        for (mo, target) in order {
            let ty = self.type_of(st, &target);
            let at = match plans.iter().position(|(t, _)| *t == ty) {
                Some(at) => at,
                None => {
                    plans.push((ty, plan_for(spec, ty)));
                    plans.len() - 1
                }
            };
            let Some(plan) = &plans[at].1 else { continue };
            let mut props = Vec::with_capacity(plan.len());
            for (path, declared) in plan.iter() {
                if let Some(v) = self.get_path(st, &target, path, now) {
                    props.push((Arc::clone(path), *declared, v));
                }
            }
            out.push(Content { obj: mo, props });
        }
        Ok(out)
    }

    /// A property path's value: the top-level property, then into its
    /// data objects.
    pub fn get_path(&self, st: &State, t: &Target, path: &str, now: Instant) -> Option<Value> {
        // The read every inventory script makes, without building the
        // whole runtime info.
        if let Target::Inv(i) = t {
            if let crate::inventory::Kind::Vm(h, vi) = self.inv.obj(*i).kind {
                if path == "runtime.powerState" || path == "summary.runtime.powerState" {
                    return Some(Value::Str(self.vm_power(h, vi, now).into()));
                }
            }
        }
        match path.split_once('.') {
            None => self.get(st, t, path, now),
            Some((top, rest)) => self.get(st, t, top, now)?.descend(rest).cloned(),
        }
    }
}

/// The paths (and their declared types) an object of type `ty` gets from
/// a spec; `None` when no property spec applies to the type.
fn plan_for(spec: &FilterSpec, ty: &str) -> Option<Plan> {
    let ti = types();
    let mut plan: Plan = Vec::new();
    let mut wanted = false;
    for p in spec.props.iter().filter(|p| ti.managed_is_a(ty, &p.ty)) {
        wanted = true;
        let paths: Vec<String> = if p.all {
            ti.managed_props(ty)
                .into_iter()
                .map(|p| p.name.to_string())
                .collect()
        } else {
            p.paths.clone()
        };
        for path in paths {
            if plan.iter().any(|(n, _)| **n == *path) {
                continue;
            }
            if let Some(declared) = ti.path_type(ty, &path) {
                plan.push((path.into(), declared.ty));
            }
        }
    }
    wanted.then_some(plan)
}

/// Writes one `ObjectContent` element.
pub fn write_content(out: &mut String, tag: &str, c: &Content) {
    push_all(out, &["<", tag, " xsi:type=\"ObjectContent\">"]);
    write_obj(out, "obj", &c.obj);
    for (path, declared, v) in &c.props {
        push_all(
            out,
            &[
                "<propSet xsi:type=\"DynamicProperty\"><name xsi:type=\"xsd:string\">",
                &escape_text(path),
                "</name>",
            ],
        );
        write_top(out, "val", declared, v);
        out.push_str("</propSet>");
    }
    push_all(out, &["</", tag, ">"]);
}

pub fn write_obj(out: &mut String, tag: &str, m: &MoRef) {
    write_moref(out, tag, m);
}

/// What a filter last reported per object: path -> the value's XML.
pub type Reported = HashMap<MoRef, HashMap<String, String>>;

/// One object's change since a filter last reported it.
pub struct Update {
    pub obj: MoRef,
    /// The `ObjectUpdate` element.
    pub xml: String,
    /// What the filter has reported once this update is sent (`None`: the
    /// object left).
    pub state: Option<HashMap<String, String>>,
}

/// The changes between what a filter reported (`last`) and what it sees
/// now, in traversal order, leaves last. The caller records the updates it
/// sends ([`apply`]); one held back by `maxObjectUpdates` comes again.
pub fn diff(last: &Reported, now: Vec<Content>) -> Vec<Update> {
    let mut updates = Vec::new();
    let mut seen = HashSet::new();
    for c in now {
        seen.insert(c.obj.clone());
        let mut rendered: HashMap<String, String> = HashMap::new();
        for (path, declared, v) in &c.props {
            let mut x = String::new();
            write_top(&mut x, "val", declared, v);
            rendered.insert(path.to_string(), x);
        }
        let prev = last.get(&c.obj);
        let kind = if prev.is_none() { "enter" } else { "modify" };
        let mut changes = String::new();
        for (path, _, _) in &c.props {
            let Some(x) = rendered.get(&**path) else {
                continue;
            };
            if prev.and_then(|p| p.get(&**path)) == Some(x) {
                continue;
            }
            let _ = write!(
                changes,
                "<changeSet xsi:type=\"PropertyChange\"><name xsi:type=\"xsd:string\">{}</name><op xsi:type=\"PropertyChangeOp\">assign</op>{x}</changeSet>",
                escape_text(path)
            );
        }
        if let Some(p) = prev {
            for path in p.keys() {
                if !rendered.contains_key(path) {
                    let _ = write!(
                        changes,
                        "<changeSet xsi:type=\"PropertyChange\"><name xsi:type=\"xsd:string\">{}</name><op xsi:type=\"PropertyChangeOp\">assign</op></changeSet>",
                        escape_text(path)
                    );
                }
            }
        }
        if kind == "enter" || !changes.is_empty() {
            let mut u = String::from("<objectSet xsi:type=\"ObjectUpdate\">");
            let _ = write!(u, "<kind xsi:type=\"ObjectUpdateKind\">{kind}</kind>");
            write_obj(&mut u, "obj", &c.obj);
            u.push_str(&changes);
            u.push_str("</objectSet>");
            updates.push(Update {
                obj: c.obj,
                xml: u,
                state: Some(rendered),
            });
        }
    }
    let mut gone: Vec<&MoRef> = last.keys().filter(|k| !seen.contains(*k)).collect();
    gone.sort();
    for g in gone {
        let mut u = String::from(
            "<objectSet xsi:type=\"ObjectUpdate\"><kind xsi:type=\"ObjectUpdateKind\">leave</kind>",
        );
        write_obj(&mut u, "obj", g);
        u.push_str("</objectSet>");
        updates.push(Update {
            obj: g.clone(),
            xml: u,
            state: None,
        });
    }
    updates
}

/// Records that an update was sent.
pub fn apply(last: &mut Reported, u: Update) -> String {
    match u.state {
        Some(s) => {
            last.insert(u.obj, s);
        }
        None => {
            last.remove(&u.obj);
        }
    }
    u.xml
}
