//! The contracts fakedc serves and the WSDL generated from them.
//!
//! VMM publishes no contract for 8100–8103, so these are invented and
//! VMM-shaped (wcf.md): one table describes every operation's parameters
//! and result, and both the dispatcher ([`crate::services`]) and the WSDL
//! ([`wsdl`]) read it, so metadata and behaviour cannot disagree. Data
//! contract members are listed in alphabetical order because that is the
//! order .NET's DataContractSerializer writes and expects.

use crate::nbfx::{Node, Text};

/// The namespace of every contract, message and data contract.
pub const NS: &str = "http://schemas.microsoft.com/VirtualManager/2006/07";

/// A type on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    String,
    Int,
    Bool,
    DateTime,
    Struct(&'static StructDef),
    /// `ArrayOf<Struct>`: the struct repeated under its own name.
    Array(&'static StructDef),
}

impl Ty {
    fn xsd(self) -> String {
        match self {
            Ty::String => "xs:string".into(),
            Ty::Int => "xs:int".into(),
            Ty::Bool => "xs:boolean".into(),
            Ty::DateTime => "xs:dateTime".into(),
            Ty::Struct(s) => format!("tns:{}", s.name),
            Ty::Array(s) => format!("tns:ArrayOf{}", s.name),
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
pub struct StructDef {
    pub name: &'static str,
    /// Alphabetical (DataContractSerializer's order).
    pub fields: &'static [(&'static str, Ty)],
}

#[derive(Debug, PartialEq, Eq)]
pub struct Op {
    pub name: &'static str,
    pub params: &'static [(&'static str, Ty)],
    pub result: Ty,
}

#[derive(Debug, PartialEq, Eq)]
pub struct Contract {
    /// The interface name (`ITimeSync`): the portType and the action's middle.
    pub name: &'static str,
    /// The service name in the WSDL and the endpoint's last path segment.
    pub service: &'static str,
    pub ops: &'static [Op],
}

impl Contract {
    pub fn action(&self, op: &Op) -> String {
        format!("{NS}/{}/{}", self.name, op.name)
    }
    pub fn reply_action(&self, op: &Op) -> String {
        format!("{NS}/{}/{}Response", self.name, op.name)
    }
    pub fn op_by_action(&self, action: &str) -> Option<&'static Op> {
        let rest = action.strip_prefix(NS)?.strip_prefix('/')?;
        let (c, o) = rest.split_once('/')?;
        if c != self.name {
            return None;
        }
        self.ops.iter().find(|op| op.name == o)
    }
    /// The path it is served under.
    pub fn path(&self) -> String {
        format!("/VirtualManager/{}", self.service)
    }
}

pub static SERVER_INFO: StructDef = StructDef {
    name: "ServerInfo",
    fields: &[
        ("ComputerName", Ty::String),
        ("FullyQualifiedDomainName", Ty::String),
        ("ProductName", Ty::String),
        ("ProductVersion", Ty::String),
    ],
};

pub static HOST: StructDef = StructDef {
    name: "Host",
    fields: &[
        ("ComputerName", Ty::String),
        ("HostType", Ty::String),
        ("PowerState", Ty::String),
        ("VirtualMachineCount", Ty::Int),
    ],
};

pub static VM: StructDef = StructDef {
    name: "VirtualMachine",
    fields: &[
        ("HostName", Ty::String),
        ("Id", Ty::String),
        ("Name", Ty::String),
        ("Status", Ty::String),
    ],
};

pub static JOB: StructDef = StructDef {
    name: "Job",
    fields: &[
        ("Id", Ty::String),
        ("Name", Ty::String),
        ("Progress", Ty::Int),
        ("Status", Ty::String),
    ],
};

/// The console's management service (8100, 8102).
pub static MANAGEMENT: Contract = Contract {
    name: "IVirtualManagerService",
    service: "Management",
    ops: &[
        Op {
            name: "GetServerInfo",
            params: &[],
            result: Ty::Struct(&SERVER_INFO),
        },
        Op {
            name: "GetHosts",
            params: &[],
            result: Ty::Array(&HOST),
        },
        Op {
            name: "GetVirtualMachines",
            params: &[],
            result: Ty::Array(&VM),
        },
        Op {
            name: "StartVirtualMachine",
            params: &[("name", Ty::String)],
            result: Ty::Struct(&JOB),
        },
        Op {
            name: "StopVirtualMachine",
            params: &[("name", Ty::String)],
            result: Ty::Struct(&JOB),
        },
        Op {
            name: "ShutdownVirtualMachine",
            params: &[("name", Ty::String)],
            result: Ty::Struct(&JOB),
        },
        Op {
            name: "GetJob",
            params: &[("id", Ty::String)],
            result: Ty::Struct(&JOB),
        },
    ],
};

/// Time sync for the Windows PE agent (8103; also on 8100).
pub static TIME_SYNC: Contract = Contract {
    name: "ITimeSync",
    service: "TimeSync",
    ops: &[Op {
        name: "GetTime",
        params: &[("who", Ty::String)],
        result: Ty::DateTime,
    }],
};

/// The Windows PE agent's control service (8101).
pub static WINPE_AGENT: Contract = Contract {
    name: "IWinPEAgent",
    service: "WinPEAgent",
    ops: &[
        Op {
            name: "RegisterMachine",
            params: &[("smbiosGuid", Ty::String)],
            result: Ty::String,
        },
        Op {
            name: "ReportProgress",
            params: &[
                ("smbiosGuid", Ty::String),
                ("percent", Ty::Int),
                ("message", Ty::String),
            ],
            result: Ty::Bool,
        },
        Op {
            name: "GetCommand",
            params: &[("smbiosGuid", Ty::String)],
            result: Ty::String,
        },
    ],
};

/// The WDS PXE provider's authorization (8102).
pub static PXE: Contract = Contract {
    name: "IPxeAuthorization",
    service: "PxeAuthorization",
    ops: &[Op {
        name: "IsBootAllowed",
        params: &[("smbiosGuid", Ty::String)],
        result: Ty::Bool,
    }],
};

/// A value of a [`Ty`].
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    Str(String),
    Int(i64),
    Bool(bool),
    /// Ticks since 0001-01-01, UTC.
    DateTime(i64),
    /// Field values in the struct's field order.
    Struct(Vec<Val>),
    Array(Vec<Val>),
}

/// The element `name` holding `v` (of type `ty`), children unprefixed in
/// the default namespace [`NS`] declared by the wrapper.
pub fn value_node(name: &str, ty: Ty, v: &Val) -> Node {
    let n = Node::new("", name);
    match (ty, v) {
        (Ty::Struct(s), Val::Struct(fields)) => s
            .fields
            .iter()
            .zip(fields)
            .fold(n, |n, ((fname, fty), fv)| {
                n.child(value_node(fname, *fty, fv))
            }),
        (Ty::Array(s), Val::Array(items)) => items
            .iter()
            .fold(n, |n, it| n.child(value_node(s.name, Ty::Struct(s), it))),
        (_, Val::Str(s)) => n.text(Text::Str(s.clone())),
        (_, Val::Int(i)) => n.text(Text::Int(*i)),
        (_, Val::Bool(b)) => n.text(Text::Bool(*b)),
        (_, Val::DateTime(t)) => n.text(Text::DateTimeUtc(*t)),
        _ => n,
    }
}

/// The `<{Op}Response xmlns=NS><{Op}Result>…` body element.
pub fn response_node(op: &Op, v: &Val) -> Node {
    Node::new("", &format!("{}Response", op.name))
        .ns("", NS)
        .child(value_node(&format!("{}Result", op.name), op.result, v))
}

/// Which binding a WSDL describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Binding {
    /// NetTcpBinding: SOAP 1.2, `http://schemas.microsoft.com/soap/tcp`.
    NetTcp,
    /// BasicHttpBinding: SOAP 1.1 over HTTP(S).
    BasicHttp,
}

const WSDL_NS: &str = "http://schemas.xmlsoap.org/wsdl/";
const XS_NS: &str = "http://www.w3.org/2001/XMLSchema";
const SOAP11_WSDL: &str = "http://schemas.xmlsoap.org/wsdl/soap/";
const SOAP12_WSDL: &str = "http://schemas.xmlsoap.org/wsdl/soap12/";
const WSAW_NS: &str = "http://www.w3.org/2006/05/addressing/wsdl";

fn xs_el(name: &str, ty: Ty, repeated: bool) -> Node {
    let mut n = Node::new("xs", "element")
        .attr("", "name", name)
        .attr("", "type", &ty.xsd());
    if repeated {
        n = n
            .attr("", "minOccurs", "0")
            .attr("", "maxOccurs", "unbounded");
    } else if matches!(ty, Ty::String | Ty::Struct(_) | Ty::Array(_)) {
        n = n.attr("", "minOccurs", "0").attr("", "nillable", "true");
    } else {
        n = n.attr("", "minOccurs", "0");
    }
    n
}

fn seq(fields: impl Iterator<Item = Node>) -> Node {
    Node::new("xs", "complexType").child(fields.fold(Node::new("xs", "sequence"), Node::child))
}

/// The contract's WSDL 1.1 document (schema inline, so `?wsdl` and
/// `?singleWsdl` are one document), with the endpoint at `address`.
pub fn wsdl(c: &Contract, binding: Binding, address: &str) -> Node {
    let (soap, soap_ns, bname, transport) = match binding {
        Binding::NetTcp => (
            "soap12",
            SOAP12_WSDL,
            format!("NetTcpBinding_{}", c.name),
            "http://schemas.microsoft.com/soap/tcp",
        ),
        Binding::BasicHttp => (
            "soap",
            SOAP11_WSDL,
            format!("BasicHttpBinding_{}", c.name),
            "http://schemas.xmlsoap.org/soap/http",
        ),
    };
    // Schema: wrappers, then the data contracts the results use.
    let mut schema = Node::new("xs", "schema")
        .attr("", "elementFormDefault", "qualified")
        .attr("", "targetNamespace", NS);
    let mut structs: Vec<&StructDef> = Vec::new();
    for op in c.ops {
        schema = schema
            .child(
                Node::new("xs", "element")
                    .attr("", "name", op.name)
                    .child(seq(op.params.iter().map(|(n, t)| xs_el(n, *t, false)))),
            )
            .child(
                Node::new("xs", "element")
                    .attr("", "name", &format!("{}Response", op.name))
                    .child(seq(std::iter::once(xs_el(
                        &format!("{}Result", op.name),
                        op.result,
                        false,
                    )))),
            );
        let mut tys = vec![op.result];
        tys.extend(op.params.iter().map(|(_, t)| *t));
        for t in tys {
            if let Ty::Struct(s) | Ty::Array(s) = t {
                if !structs.contains(&s) {
                    structs.push(s);
                }
            }
        }
    }
    for s in &structs {
        schema = schema
            .child(seq(s.fields.iter().map(|(n, t)| xs_el(n, *t, false))).attr("", "name", s.name))
            .child(
                Node::new("xs", "element")
                    .attr("", "name", s.name)
                    .attr("", "nillable", "true")
                    .attr("", "type", &format!("tns:{}", s.name)),
            )
            .child(
                seq(std::iter::once(xs_el(s.name, Ty::Struct(s), true))).attr(
                    "",
                    "name",
                    &format!("ArrayOf{}", s.name),
                ),
            )
            .child(
                Node::new("xs", "element")
                    .attr("", "name", &format!("ArrayOf{}", s.name))
                    .attr("", "nillable", "true")
                    .attr("", "type", &format!("tns:ArrayOf{}", s.name)),
            );
    }
    let mut d = Node::new("wsdl", "definitions")
        .ns("wsdl", WSDL_NS)
        .ns("xs", XS_NS)
        .ns(soap, soap_ns)
        .ns("wsaw", WSAW_NS)
        .ns("tns", NS)
        .attr("", "name", c.service)
        .attr("", "targetNamespace", NS)
        .child(Node::new("wsdl", "types").child(schema));
    for op in c.ops {
        for (suffix, el) in [
            ("InputMessage", op.name.to_string()),
            ("OutputMessage", format!("{}Response", op.name)),
        ] {
            d = d.child(
                Node::new("wsdl", "message")
                    .attr("", "name", &format!("{}_{}_{suffix}", c.name, op.name))
                    .child(
                        Node::new("wsdl", "part")
                            .attr("", "name", "parameters")
                            .attr("", "element", &format!("tns:{el}")),
                    ),
            );
        }
    }
    let mut pt = Node::new("wsdl", "portType").attr("", "name", c.name);
    let mut b = Node::new("wsdl", "binding")
        .attr("", "name", &bname)
        .attr("", "type", &format!("tns:{}", c.name))
        .child(Node::new(soap, "binding").attr("", "transport", transport));
    for op in c.ops {
        pt = pt.child(
            Node::new("wsdl", "operation")
                .attr("", "name", op.name)
                .child(
                    Node::new("wsdl", "input")
                        .attr("wsaw", "Action", &c.action(op))
                        .attr(
                            "",
                            "message",
                            &format!("tns:{}_{}_InputMessage", c.name, op.name),
                        ),
                )
                .child(
                    Node::new("wsdl", "output")
                        .attr("wsaw", "Action", &c.reply_action(op))
                        .attr(
                            "",
                            "message",
                            &format!("tns:{}_{}_OutputMessage", c.name, op.name),
                        ),
                ),
        );
        b = b.child(
            Node::new("wsdl", "operation")
                .attr("", "name", op.name)
                .child(
                    Node::new(soap, "operation")
                        .attr("", "soapAction", &c.action(op))
                        .attr("", "style", "document"),
                )
                .child(
                    Node::new("wsdl", "input")
                        .child(Node::new(soap, "body").attr("", "use", "literal")),
                )
                .child(
                    Node::new("wsdl", "output")
                        .child(Node::new(soap, "body").attr("", "use", "literal")),
                ),
        );
    }
    d.child(pt).child(b).child(
        Node::new("wsdl", "service")
            .attr("", "name", c.service)
            .child(
                Node::new("wsdl", "port")
                    .attr("", "name", &bname)
                    .attr("", "binding", &format!("tns:{bname}"))
                    .child(Node::new(soap, "address").attr("", "location", address)),
            ),
    )
}

/// WS-MetadataExchange's answer: the WSDL in one MetadataSection.
pub fn mex_metadata(c: &Contract, binding: Binding, address: &str) -> Node {
    Node::new("wsx", "Metadata")
        .ns("wsx", "http://schemas.xmlsoap.org/ws/2004/09/mex")
        .child(
            Node::new("wsx", "MetadataSection")
                .attr("", "Dialect", WSDL_NS)
                .attr("", "Identifier", NS)
                .child(wsdl(c, binding, address)),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn structs_are_alphabetical_and_actions_resolve() {
        for s in [&SERVER_INFO, &HOST, &VM, &JOB] {
            let names: Vec<_> = s.fields.iter().map(|f| f.0).collect();
            let mut sorted = names.clone();
            sorted.sort();
            assert_eq!(names, sorted, "{}", s.name);
        }
        let op = TIME_SYNC
            .op_by_action(&format!("{NS}/ITimeSync/GetTime"))
            .unwrap();
        assert_eq!(op.name, "GetTime");
        assert!(TIME_SYNC
            .op_by_action(&format!("{NS}/IOther/GetTime"))
            .is_none());
        let w = wsdl(
            &MANAGEMENT,
            Binding::NetTcp,
            "net.tcp://h:8100/VirtualManager/Management",
        )
        .to_xml();
        let parsed = fakedc_xml::parse(w.as_bytes(), &fakedc_xml::Limits::default()).unwrap();
        assert_eq!(parsed.name, "definitions");
        assert!(w.contains("wsaw:Action=\"http://schemas.microsoft.com/VirtualManager/2006/07/IVirtualManagerService/StartVirtualMachine\""));
    }
}
