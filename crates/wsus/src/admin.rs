//! The administration web service (`/ApiRemoting30/WebService.asmx`), the
//! subset approvals need: server version and status, classifications and
//! products, target groups (list, create, add a computer), computers and
//! what they reported, updates (search), approve and decline.
//!
//! The API has no open specification: operation names, parameters and
//! result types are those of WSUS's own WSDL (`GenericReadableRow`s of
//! `anyType` values, the rows of WSUS's stored procedures). The columns of
//! those rows are not published, so the ones here are fakedc's own, listed
//! per operation in [`OPS`] and in the served WSDL's documentation. The
//! WSDL (`?wsdl`) is generated from the same table the dispatcher uses.
//! Every other operation of the real API is answered with ASP.NET's
//! server fault naming it as not implemented.

use crate::msg::{self, child, text};
use crate::server::{Server, ALL_COMPUTERS};
use fakedc_xml::{escape_attr, escape_text, Element};
use std::fmt::Write as _;

/// A parameter or result type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    Str,
    Int,
    Bool,
    DateTime,
    Guid,
    RevisionId,
    Row,
    Rows,
    Tables,
    CompleteUpdates,
}

impl Ty {
    fn xsd(self) -> &'static str {
        match self {
            Ty::Str => "s:string",
            Ty::Int => "s:int",
            Ty::Bool => "s:boolean",
            Ty::DateTime => "s:dateTime",
            Ty::Guid => "s1:guid",
            Ty::RevisionId => "tns:UpdateRevisionId",
            Ty::Row => "tns:GenericReadableRow",
            Ty::Rows => "tns:ArrayOfGenericReadableRow",
            Ty::Tables => "tns:ArrayOfArrayOfGenericReadableRow",
            Ty::CompleteUpdates => "tns:CompleteUpdates",
        }
    }

    /// Value types are required (`minOccurs="1"`), as .NET writes them.
    fn required(self) -> bool {
        matches!(self, Ty::Int | Ty::Bool | Ty::DateTime | Ty::Guid)
    }
}

/// One operation: name, parameters, result type, and its columns.
pub struct Op {
    pub name: &'static str,
    pub params: &'static [(&'static str, Ty)],
    pub result: Option<Ty>,
    pub columns: &'static str,
}

/// What this server implements of ApiRemoting30.
pub const OPS: &[Op] = &[
    Op { name: "GetServerVersion", params: &[], result: Some(Ty::Str), columns: "" },
    Op {
        name: "ExecuteSPGetUpdateServerStatus",
        params: &[
            ("updateSources", Ty::Int),
            ("includeDownstreamComputers", Ty::Bool),
            ("updateScopeXml", Ty::Str),
            ("computerTargetScopeXml", Ty::Str),
            ("preferredCulture", Ty::Str),
            ("publicationState", Ty::Int),
            ("propertiesToGet", Ty::Int),
        ],
        result: Some(Ty::Tables),
        columns: "UpdateCount, ApprovedUpdateCount, DeclinedUpdateCount, NotApprovedUpdateCount, ComputerTargetCount, ComputerTargetGroupCount, ComputersReportedCount",
    },
    Op {
        name: "ExecuteSPGetCategories",
        params: &[
            ("preferredCulture", Ty::Str),
            ("retrieveUpdateClassifications", Ty::Bool),
            ("fromSyncDate", Ty::DateTime),
            ("toSyncDate", Ty::DateTime),
        ],
        result: Some(Ty::Rows),
        columns: "CategoryID, CategoryType, Title",
    },
    Op { name: "ExecuteSPGetAllTargetGroups", params: &[], result: Some(Ty::Rows), columns: "TargetGroupID, Name, ParentGroupID" },
    Op {
        name: "ExecuteSPCreateTargetGroup1",
        params: &[("name", Ty::Str), ("parentGroupId", Ty::Guid)],
        result: Some(Ty::Row),
        columns: "TargetGroupID",
    },
    Op {
        name: "ExecuteSPAddComputerToTargetGroupAllowMultipleGroups",
        params: &[("targetGroupId", Ty::Guid), ("computerId", Ty::Str)],
        result: None,
        columns: "",
    },
    Op {
        name: "ExecuteSPGetAllComputers",
        params: &[],
        result: Some(Ty::Tables),
        columns: "ComputerID, FullDomainName, OSVersion, LastSyncTime, LastReportedStatusTime, TargetGroupIDs",
    },
    Op {
        name: "ExecuteSPGetComputersInTargetGroup",
        params: &[("targetGroupId", Ty::Guid), ("includeSubgroups", Ty::Bool)],
        result: Some(Ty::Tables),
        columns: "ComputerID, FullDomainName, OSVersion, LastSyncTime, LastReportedStatusTime, TargetGroupIDs",
    },
    Op {
        name: "ExecuteSPGetTargetGroupsForComputer",
        params: &[("computerId", Ty::Str)],
        result: Some(Ty::Rows),
        columns: "TargetGroupID, Name",
    },
    Op {
        name: "ExecuteSPSimpleSearchUpdates",
        params: &[("preferredCulture", Ty::Str), ("searchText", Ty::Str)],
        result: Some(Ty::CompleteUpdates),
        columns: "minimalProperties: UpdateID, RevisionNumber, Title, ClassificationID, ProductID, IsApproved, IsDeclined; kbArticles: UpdateID, KBArticleID",
    },
    Op {
        name: "ExecuteSPDeployUpdate1",
        params: &[
            ("updateId", Ty::RevisionId),
            ("deploymentAction", Ty::Int),
            ("targetGroupId", Ty::Guid),
            ("deadline", Ty::DateTime),
            ("adminName", Ty::Str),
            ("isAssigned", Ty::Bool),
        ],
        result: Some(Ty::Row),
        columns: "DeploymentID",
    },
    Op {
        name: "ExecuteSPDeclineUpdate",
        params: &[("updateId", Ty::Guid), ("adminName", Ty::Str), ("failIfReplica", Ty::Bool)],
        result: None,
        columns: "",
    },
    Op {
        name: "ExecuteSPGetDeploymentsByUpdate1",
        params: &[("id", Ty::RevisionId)],
        result: Some(Ty::Rows),
        columns: "DeploymentID, TargetGroupID, ActionID, AdminName, CreationDate",
    },
    Op {
        name: "ExecuteSPGetUpdateInstallationInfoForComputer",
        params: &[
            ("computerId", Ty::Str),
            ("updateScopeXml", Ty::Str),
            ("preferredCulture", Ty::Str),
            ("publicationState", Ty::Int),
        ],
        result: Some(Ty::Rows),
        columns: "UpdateID, RevisionNumber, EventID, Win32HResult, TimeAtTarget (the events the computer reported)",
    },
];

/// What WSUS reports as its version (WSUS on Windows Server 2019).
pub const SERVER_VERSION: &str = "10.0.17763.1";

/// A typed `anyType` value.
enum V {
    S(String),
    I(i64),
    B(bool),
    Null,
}

fn row(out: &mut String, values: &[V]) {
    out.push_str("<GenericReadableRow><Values>");
    for v in values {
        match v {
            V::S(s) => {
                let _ = write!(
                    out,
                    "<anyType xsi:type=\"xsd:string\">{}</anyType>",
                    escape_text(s)
                );
            }
            V::I(i) => {
                let _ = write!(out, "<anyType xsi:type=\"xsd:int\">{i}</anyType>");
            }
            V::B(b) => {
                let _ = write!(out, "<anyType xsi:type=\"xsd:boolean\">{b}</anyType>");
            }
            V::Null => out.push_str("<anyType xsi:nil=\"true\" />"),
        }
    }
    out.push_str("</Values></GenericReadableRow>");
}

/// An admin failure: ASP.NET wraps the exception in `soap:Server`.
#[derive(Debug)]
pub enum AdminError {
    /// A parameter missing or malformed (`soap:Client`).
    BadArgument(String),
    /// The operation failed (`soap:Server`).
    Failed(String),
    NotImplemented(String),
}

impl AdminError {
    pub fn fault(&self) -> String {
        match self {
            AdminError::BadArgument(m) => msg::asmx_fault(
                "soap:Client",
                &format!("Server was unable to read request. ---> {m}"),
            ),
            AdminError::Failed(m) => msg::asmx_fault(
                "soap:Server",
                &format!("Server was unable to process request. ---> {m}"),
            ),
            AdminError::NotImplemented(op) => msg::asmx_fault(
                "soap:Server",
                &format!("Server was unable to process request. ---> System.NotImplementedException: {op} is not implemented by this server."),
            ),
        }
    }

    pub fn outcome(&self) -> String {
        match self {
            AdminError::BadArgument(m) => format!("fault soap:Client: {m}"),
            AdminError::Failed(m) => format!("fault soap:Server: {m}"),
            AdminError::NotImplemented(op) => format!("fault not implemented: {op}"),
        }
    }
}

fn arg<'a>(body: &'a Element, name: &str) -> Result<&'a str, AdminError> {
    text(body, name).ok_or_else(|| AdminError::BadArgument(format!("parameter {name} is missing")))
}

fn guid_arg(body: &Element, name: &str) -> Result<String, AdminError> {
    msg::guid(arg(body, name)?)
        .ok_or_else(|| AdminError::BadArgument(format!("parameter {name} is not a GUID")))
}

fn revision_arg(s: &Server, body: &Element, name: &str) -> Result<usize, AdminError> {
    let r = child(body, name)
        .ok_or_else(|| AdminError::BadArgument(format!("parameter {name} is missing")))?;
    let id = text(r, "UpdateId")
        .and_then(msg::guid)
        .ok_or_else(|| AdminError::BadArgument(format!("parameter {name} has no UpdateId")))?;
    s.catalog.update_by_id(&id).ok_or_else(|| {
        AdminError::Failed(format!(
            "System.ArgumentException: update {id} was not found"
        ))
    })
}

/// Runs one admin operation; `admin` is the authenticated user.
pub fn dispatch(
    s: &Server,
    op: &str,
    body: &Element,
    admin: &str,
    now_ms: u64,
) -> Result<String, AdminError> {
    let Some(def) = OPS.iter().find(|o| o.name == op) else {
        return Err(AdminError::NotImplemented(op.to_string()));
    };
    let mut out = String::new();
    match op {
        "GetServerVersion" => out.push_str(SERVER_VERSION),
        "ExecuteSPGetUpdateServerStatus" => {
            let approvals = s.approvals();
            let declined = (0..s.catalog.updates.len())
                .filter(|u| s.declined(*u))
                .count();
            let mut approved: Vec<usize> = approvals.iter().map(|a| a.update).collect();
            approved.sort_unstable();
            approved.dedup();
            let computers = s.computers();
            let n = s.catalog.updates.len();
            out.push_str("<ArrayOfGenericReadableRow>");
            row(
                &mut out,
                &[
                    V::I(n as i64),
                    V::I(approved.len() as i64),
                    V::I(declined as i64),
                    V::I(n.saturating_sub(approved.len() + declined) as i64),
                    V::I(computers.len() as i64),
                    V::I(s.groups().len() as i64),
                    V::I(
                        computers
                            .iter()
                            .filter(|c| c.last_report_ms.is_some())
                            .count() as i64,
                    ),
                ],
            );
            out.push_str("</ArrayOfGenericReadableRow>");
        }
        "ExecuteSPGetCategories" => {
            let classes = matches!(arg(body, "retrieveUpdateClassifications")?, "true" | "1");
            for c in &s.catalog.categories {
                let is_class = c.kind == crate::catalog::CategoryKind::Classification;
                if is_class == classes {
                    let t = if is_class {
                        "UpdateClassification"
                    } else {
                        "Product"
                    };
                    row(
                        &mut out,
                        &[V::S(c.id.clone()), V::S(t.into()), V::S(c.title.clone())],
                    );
                }
            }
        }
        "ExecuteSPGetAllTargetGroups" => {
            for g in s.groups() {
                row(
                    &mut out,
                    &[V::S(g.id), V::S(g.name), g.parent.map_or(V::Null, V::S)],
                );
            }
        }
        "ExecuteSPCreateTargetGroup1" => {
            let name = arg(body, "name")?;
            let parent = guid_arg(body, "parentGroupId")?;
            let g = s
                .create_group(name, &parent, None)
                .map_err(AdminError::Failed)?;
            out.push_str("<Values>");
            let _ = write!(out, "<anyType xsi:type=\"xsd:string\">{}</anyType>", g.id);
            out.push_str("</Values>");
        }
        "ExecuteSPAddComputerToTargetGroupAllowMultipleGroups" => {
            let g = guid_arg(body, "targetGroupId")?;
            let c = arg(body, "computerId")?;
            s.add_computer_to_group(&g, c).map_err(AdminError::Failed)?;
        }
        "ExecuteSPGetAllComputers" | "ExecuteSPGetComputersInTargetGroup" => {
            let group = if op == "ExecuteSPGetComputersInTargetGroup" {
                Some(guid_arg(body, "targetGroupId")?)
            } else {
                None
            };
            out.push_str("<ArrayOfGenericReadableRow>");
            for c in s.computers() {
                if let Some(g) = &group {
                    if g != ALL_COMPUTERS && !c.groups.iter().any(|x| x == g) {
                        continue;
                    }
                }
                row(
                    &mut out,
                    &[
                        V::S(c.id),
                        V::S(c.dns_name),
                        V::S(c.os),
                        c.last_sync_ms.map_or(V::Null, |t| V::S(msg::datetime(t))),
                        c.last_report_ms.map_or(V::Null, |t| V::S(msg::datetime(t))),
                        V::S(c.groups.join(",")),
                    ],
                );
            }
            out.push_str("</ArrayOfGenericReadableRow>");
        }
        "ExecuteSPGetTargetGroupsForComputer" => {
            let c = s.computer(arg(body, "computerId")?).ok_or_else(|| {
                AdminError::Failed("System.ArgumentException: computer not found".into())
            })?;
            let groups = s.groups();
            for g in groups
                .iter()
                .filter(|g| g.id == ALL_COMPUTERS || c.groups.contains(&g.id))
            {
                row(&mut out, &[V::S(g.id.clone()), V::S(g.name.clone())]);
            }
        }
        "ExecuteSPSimpleSearchUpdates" => {
            let q = text(body, "searchText").unwrap_or("").to_ascii_lowercase();
            let approvals = s.approvals();
            let mut kbs = String::new();
            out.push_str("<minimalProperties>");
            for (i, u) in s
                .catalog
                .updates
                .iter()
                .enumerate()
                .filter(|(_, u)| q.is_empty() || u.title.to_ascii_lowercase().contains(&q))
                .take(10_000)
            {
                row(
                    &mut out,
                    &[
                        V::S(u.id.clone()),
                        V::I(u.revision_number as i64),
                        V::S(u.title.clone()),
                        V::S(s.catalog.categories[u.classification].id.clone()),
                        V::S(s.catalog.categories[u.product].id.clone()),
                        V::B(approvals.iter().any(|a| a.update == i)),
                        V::B(s.declined(i)),
                    ],
                );
                row(&mut kbs, &[V::S(u.id.clone()), V::S(u.kb.to_string())]);
            }
            out.push_str("</minimalProperties><kbArticles>");
            out.push_str(&kbs);
            out.push_str("</kbArticles>");
        }
        "ExecuteSPDeployUpdate1" => {
            let u = revision_arg(s, body, "updateId")?;
            let action: i32 = arg(body, "deploymentAction")?
                .parse()
                .map_err(|_| AdminError::BadArgument("deploymentAction is not an int".into()))?;
            let g = guid_arg(body, "targetGroupId")?;
            let who = text(body, "adminName")
                .filter(|n| !n.is_empty())
                .unwrap_or(admin);
            let a = s
                .approve(u, &g, action, who, now_ms)
                .map_err(AdminError::Failed)?;
            let _ = write!(
                out,
                "<Values><anyType xsi:type=\"xsd:int\">{}</anyType></Values>",
                a.deployment_id
            );
        }
        "ExecuteSPDeclineUpdate" => {
            let id = guid_arg(body, "updateId")?;
            let u = s.catalog.update_by_id(&id).ok_or_else(|| {
                AdminError::Failed(format!(
                    "System.ArgumentException: update {id} was not found"
                ))
            })?;
            s.decline(u, now_ms);
        }
        "ExecuteSPGetDeploymentsByUpdate1" => {
            let u = revision_arg(s, body, "id")?;
            for a in s.approvals().into_iter().filter(|a| a.update == u) {
                row(
                    &mut out,
                    &[
                        V::I(a.deployment_id as i64),
                        V::S(a.group),
                        V::I(a.action as i64),
                        V::S(a.admin),
                        V::S(msg::datetime(a.at_ms)),
                    ],
                );
            }
        }
        "ExecuteSPGetUpdateInstallationInfoForComputer" => {
            let c = s.computer(arg(body, "computerId")?).ok_or_else(|| {
                AdminError::Failed("System.ArgumentException: computer not found".into())
            })?;
            for e in c.events {
                row(
                    &mut out,
                    &[
                        e.update_id.map_or(V::Null, V::S),
                        V::I(e.revision_number as i64),
                        V::I(e.event_id as i64),
                        V::I(e.hresult as i64),
                        V::S(e.time_at_target),
                    ],
                );
            }
        }
        _ => return Err(AdminError::NotImplemented(op.to_string())),
    }
    let mut x = format!("<{op}Response xmlns=\"{}\">", msg::NS_ADMIN);
    if def.result.is_some() {
        let _ = write!(x, "<{op}Result>{out}</{op}Result>");
    }
    let _ = write!(x, "</{op}Response>");
    Ok(x)
}

/// The WSDL for [`OPS`], with `location` as the service address.
pub fn wsdl(location: &str) -> String {
    let mut w = String::from(concat!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>",
        "<wsdl:definitions xmlns:s=\"http://www.w3.org/2001/XMLSchema\" xmlns:soap=\"http://schemas.xmlsoap.org/wsdl/soap/\" ",
        "xmlns:s1=\"http://microsoft.com/wsdl/types/\" xmlns:wsdl=\"http://schemas.xmlsoap.org/wsdl/\" ",
        "xmlns:tns=\"http://www.microsoft.com/SoftwareDistribution/Server/ApiRemotingWebService\" ",
        "targetNamespace=\"http://www.microsoft.com/SoftwareDistribution/Server/ApiRemotingWebService\">",
        "<wsdl:types><s:schema elementFormDefault=\"qualified\" targetNamespace=\"http://www.microsoft.com/SoftwareDistribution/Server/ApiRemotingWebService\">",
        "<s:import namespace=\"http://microsoft.com/wsdl/types/\" />",
        "<s:complexType name=\"UpdateRevisionId\"><s:sequence><s:element minOccurs=\"1\" maxOccurs=\"1\" name=\"UpdateId\" type=\"s1:guid\" /><s:element minOccurs=\"1\" maxOccurs=\"1\" name=\"RevisionNumber\" type=\"s:int\" /></s:sequence></s:complexType>",
        "<s:complexType name=\"GenericReadableRow\"><s:sequence><s:element minOccurs=\"0\" maxOccurs=\"1\" name=\"Values\" type=\"tns:ArrayOfAnyType\" /></s:sequence></s:complexType>",
        "<s:complexType name=\"ArrayOfAnyType\"><s:sequence><s:element minOccurs=\"0\" maxOccurs=\"unbounded\" name=\"anyType\" nillable=\"true\" /></s:sequence></s:complexType>",
        "<s:complexType name=\"ArrayOfGenericReadableRow\"><s:sequence><s:element minOccurs=\"0\" maxOccurs=\"unbounded\" name=\"GenericReadableRow\" nillable=\"true\" type=\"tns:GenericReadableRow\" /></s:sequence></s:complexType>",
        "<s:complexType name=\"ArrayOfArrayOfGenericReadableRow\"><s:sequence><s:element minOccurs=\"0\" maxOccurs=\"unbounded\" name=\"ArrayOfGenericReadableRow\" nillable=\"true\" type=\"tns:ArrayOfGenericReadableRow\" /></s:sequence></s:complexType>",
        "<s:complexType name=\"CompleteUpdates\"><s:sequence>",
        "<s:element minOccurs=\"0\" maxOccurs=\"1\" name=\"minimalProperties\" type=\"tns:ArrayOfGenericReadableRow\" />",
        "<s:element minOccurs=\"0\" maxOccurs=\"1\" name=\"localizedCategoryTitleRows\" type=\"tns:ArrayOfGenericReadableRow\" />",
        "<s:element minOccurs=\"0\" maxOccurs=\"1\" name=\"kbArticles\" type=\"tns:ArrayOfGenericReadableRow\" />",
        "<s:element minOccurs=\"0\" maxOccurs=\"1\" name=\"bulletins\" type=\"tns:ArrayOfGenericReadableRow\" />",
        "<s:element minOccurs=\"0\" maxOccurs=\"1\" name=\"infoUrls\" type=\"tns:ArrayOfGenericReadableRow\" />",
        "</s:sequence></s:complexType>",
    ));
    for op in OPS {
        let _ = write!(w, "<s:element name=\"{}\"><s:complexType>", op.name);
        if !op.params.is_empty() {
            w.push_str("<s:sequence>");
            for (n, t) in op.params {
                let _ = write!(
                    w,
                    "<s:element minOccurs=\"{}\" maxOccurs=\"1\" name=\"{n}\" type=\"{}\" />",
                    u8::from(t.required()),
                    t.xsd()
                );
            }
            w.push_str("</s:sequence>");
        }
        w.push_str("</s:complexType></s:element>");
        let _ = write!(w, "<s:element name=\"{}Response\"><s:complexType>", op.name);
        if let Some(t) = op.result {
            let _ = write!(
                w,
                "<s:sequence><s:element minOccurs=\"0\" maxOccurs=\"1\" name=\"{}Result\" type=\"{}\" /></s:sequence>",
                op.name,
                t.xsd()
            );
        }
        w.push_str("</s:complexType></s:element>");
    }
    w.push_str("</s:schema><s:schema elementFormDefault=\"qualified\" targetNamespace=\"http://microsoft.com/wsdl/types/\"><s:simpleType name=\"guid\"><s:restriction base=\"s:string\"><s:pattern value=\"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\" /></s:restriction></s:simpleType></s:schema></wsdl:types>");
    for op in OPS {
        let _ = write!(
            w,
            "<wsdl:message name=\"{0}SoapIn\"><wsdl:part name=\"parameters\" element=\"tns:{0}\" /></wsdl:message><wsdl:message name=\"{0}SoapOut\"><wsdl:part name=\"parameters\" element=\"tns:{0}Response\" /></wsdl:message>",
            op.name
        );
    }
    w.push_str("<wsdl:portType name=\"ApiRemotingWebServiceSoap\">");
    for op in OPS {
        let _ = write!(w, "<wsdl:operation name=\"{0}\">", op.name);
        if !op.columns.is_empty() {
            let _ = write!(
                w,
                "<wsdl:documentation>Columns: {}</wsdl:documentation>",
                escape_text(op.columns)
            );
        }
        let _ = write!(
            w,
            "<wsdl:input message=\"tns:{0}SoapIn\" /><wsdl:output message=\"tns:{0}SoapOut\" /></wsdl:operation>",
            op.name
        );
    }
    w.push_str("</wsdl:portType><wsdl:binding name=\"ApiRemotingWebServiceSoap\" type=\"tns:ApiRemotingWebServiceSoap\"><soap:binding transport=\"http://schemas.xmlsoap.org/soap/http\" />");
    for op in OPS {
        let _ = write!(
            w,
            "<wsdl:operation name=\"{0}\"><soap:operation soapAction=\"{1}/{0}\" style=\"document\" /><wsdl:input><soap:body use=\"literal\" /></wsdl:input><wsdl:output><soap:body use=\"literal\" /></wsdl:output></wsdl:operation>",
            op.name,
            msg::NS_ADMIN
        );
    }
    let _ = write!(
        w,
        "</wsdl:binding><wsdl:service name=\"ApiRemotingWebService\"><wsdl:port name=\"ApiRemotingWebServiceSoap\" binding=\"tns:ApiRemotingWebServiceSoap\"><soap:address location=\"{}\" /></wsdl:port></wsdl:service></wsdl:definitions>",
        escape_attr(location)
    );
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wsdl_parses() {
        let w = wsdl("http://x/ApiRemoting30/WebService.asmx");
        fakedc_xml::parse(w.as_bytes(), &fakedc_xml::Limits::default()).unwrap();
    }
}
