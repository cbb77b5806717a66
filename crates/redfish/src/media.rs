//! Managers/1/VirtualMedia: one virtual CD/DVD (`CD1`) with
//! `VirtualMedia.InsertMedia` and `VirtualMedia.EjectMedia`, kept in the
//! chassis (`fakedc_model::VirtualMedia`) so a boot with the CD override
//! records the image it came from (`Chassis::booted_media`).
//!
//! The image URL is recorded, never fetched (a BMC streams it only as the
//! host reads sectors, and fakedc's hosts read none). It must name a
//! machine fakedc can reach — a loopback address or a machine of the
//! datacenter, by name or address, such as a library server's share or
//! BITS URL — over HTTP or HTTPS; anything else is refused with Base
//! `CouldNotEstablishConnection`, as fakedc never leaves loopback.

use crate::api::{error, malformed, method_not_allowed, not_found, param_error, Reply};
use fakedc_model::{MachineId, Model, VirtualMedia};
use serde_json::{json, Value};
use std::time::Instant;

pub const COLLECTION: &str = "/redfish/v1/Managers/1/VirtualMedia";
pub const CD: &str = "/redfish/v1/Managers/1/VirtualMedia/CD1";
pub const INSERT: &str = "/redfish/v1/Managers/1/VirtualMedia/CD1/Actions/VirtualMedia.InsertMedia";
pub const EJECT: &str = "/redfish/v1/Managers/1/VirtualMedia/CD1/Actions/VirtualMedia.EjectMedia";
/// Longest image URL accepted.
pub const MAX_IMAGE: usize = 2048;

pub fn collection() -> Value {
    json!({
        "@odata.id": COLLECTION,
        "@odata.type": "#VirtualMediaCollection.VirtualMediaCollection",
        "Name": "Virtual Media Services",
        "Members@odata.count": 1,
        "Members": [{ "@odata.id": CD }],
    })
}

pub(crate) fn scheme(image: &str) -> Option<&'static str> {
    let lower = image.get(..8).unwrap_or(image).to_ascii_lowercase();
    if lower.starts_with("https://") {
        Some("HTTPS")
    } else if lower.starts_with("http://") {
        Some("HTTP")
    } else {
        None
    }
}

pub fn resource(model: &Model, bmc: MachineId, now: Instant) -> Value {
    let media = model.with_chassis(model.machine(bmc).chassis, now, |c| c.virtual_media.clone());
    let m = media.as_ref();
    let image = m.map(|m| m.image.clone());
    let name = image
        .as_deref()
        .map(|i| i.rsplit('/').next().unwrap_or(i).to_string());
    json!({
        "@odata.id": CD,
        "@odata.type": "#VirtualMedia.v1_6_5.VirtualMedia",
        "Id": "CD1",
        "Name": "Virtual CD",
        "MediaTypes": ["CD", "DVD"],
        "Image": image,
        "ImageName": name,
        "Inserted": m.is_some_and(|m| m.inserted),
        "WriteProtected": m.is_none_or(|m| m.write_protected),
        "ConnectedVia": if m.is_some() { "URI" } else { "NotConnected" },
        "TransferProtocolType": image.as_deref().and_then(scheme),
        "TransferMethod": "Stream",
        "Actions": {
            "#VirtualMedia.InsertMedia": { "target": INSERT },
            "#VirtualMedia.EjectMedia": { "target": EJECT },
        },
    })
}

fn bad_value(value: &str, param: &str) -> Reply {
    let shown: String = value.chars().take(64).collect();
    param_error(
        "ActionParameterValueFormatError",
        format!("The value '{shown}' for the parameter {param} in the action VirtualMedia.InsertMedia is of a different format than the parameter can accept."),
    )
}

/// The host part of an http(s) URL: `[v6]`, a name or a v4 address,
/// without user info and port.
pub(crate) fn host(image: &str) -> Option<&str> {
    let rest = image.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority.rsplit('@').next()?;
    if let Some(v6) = authority.strip_prefix('[') {
        return v6.split(']').next();
    }
    authority.split(':').next()
}

/// Whether fakedc can reach `host`: loopback, or a datacenter machine.
pub(crate) fn reachable(model: &Model, host: &str) -> bool {
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        return ip.is_loopback();
    }
    // A machine by name, or by its FQDN's first label.
    let short = host.split('.').next().unwrap_or(host);
    model.find(host).is_some() || model.find(short).is_some()
}

/// `VirtualMedia.InsertMedia`.
pub fn insert(model: &Model, bmc: MachineId, now: Instant, body: &[u8]) -> Reply {
    let Ok(Value::Object(v)) = serde_json::from_slice::<Value>(body) else {
        return malformed();
    };
    let mut inserted = true;
    let mut write_protected = true;
    for (k, val) in &v {
        match k.as_str() {
            "Image" => {}
            "Inserted" | "WriteProtected" => {
                let Some(b) = val.as_bool() else {
                    return bad_value(&val.to_string(), k);
                };
                if k == "Inserted" {
                    inserted = b;
                } else {
                    write_protected = b;
                }
            }
            "TransferProtocolType" => match val.as_str() {
                Some("HTTP" | "HTTPS") => {}
                _ => {
                    let shown: String = val.to_string().chars().take(64).collect();
                    return param_error(
                        "ActionParameterValueNotInList",
                        format!("The value '{shown}' for the parameter TransferProtocolType in the action VirtualMedia.InsertMedia is not in the list of acceptable values."),
                    );
                }
            },
            "TransferMethod" => {
                if val.as_str() != Some("Stream") {
                    return param_error(
                        "ActionParameterNotSupported",
                        "The parameter TransferMethod for the action VirtualMedia.InsertMedia is not supported on the target resource.".into(),
                    );
                }
            }
            // Credentials for the image's server: accepted, never kept
            // (the image is not fetched).
            "UserName" | "Password" => {
                if !val.is_string() {
                    return bad_value("(redacted)", k);
                }
            }
            other => {
                let k: String = other.chars().take(64).collect();
                return param_error(
                    "ActionParameterUnknown",
                    format!("The action VirtualMedia.InsertMedia was submitted with the invalid parameter {k}."),
                );
            }
        }
    }
    let Some(image) = v.get("Image") else {
        return error(
            400,
            "ActionParameterMissing",
            "The action VirtualMedia.InsertMedia requires the parameter Image to be present in the request body.".into(),
            "Critical",
            "Supply the action with the required parameter in the request body when the request is resubmitted.",
        );
    };
    let Some(image) = image.as_str().filter(|i| i.len() <= MAX_IMAGE) else {
        return bad_value(&image.to_string(), "Image");
    };
    let Some(proto) = scheme(image) else {
        return bad_value(image, "Image");
    };
    if let Some(t) = v.get("TransferProtocolType").and_then(Value::as_str) {
        if t != proto {
            return error(
                400,
                "ActionParameterValueConflict",
                format!("The parameter 'TransferProtocolType' with value '{t}' conflicts with the parameter 'Image' with value '{proto}'."),
                "Warning",
                "Correct the parameters and resubmit the request if the operation failed.",
            );
        }
    }
    match host(image) {
        Some(h) if !h.is_empty() && reachable(model, h) => {}
        _ => {
            let shown: String = image.chars().take(256).collect();
            return error(
                400,
                "CouldNotEstablishConnection",
                format!("The service failed to establish a connection with the URI '{shown}'."),
                "Critical",
                "Ensure that the URI contains a valid and reachable node name, protocol information and other URI components.",
            );
        }
    }
    let c = model.machine(bmc).chassis;
    let busy = model.with_chassis(c, now, |ch| {
        if ch.virtual_media.is_some() {
            return true;
        }
        ch.set_virtual_media(Some(VirtualMedia {
            image: image.to_string(),
            write_protected,
            inserted,
        }));
        false
    });
    if busy {
        // One image at a time: eject first, as on a real BMC.
        return error(
            409,
            "ResourceInUse",
            "The change to the requested resource failed because the resource is in use or in transition.".into(),
            "Warning",
            "Remove the condition and resubmit the request if the operation failed.",
        );
    }
    Reply::empty(204)
}

/// `VirtualMedia.EjectMedia`: no parameters; ejecting an empty drive is
/// not an error.
pub fn eject(model: &Model, bmc: MachineId, now: Instant, body: &[u8]) -> Reply {
    if !body.iter().all(u8::is_ascii_whitespace) {
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(o)) => {
                if let Some(k) = o.keys().next() {
                    let k: String = k.chars().take(64).collect();
                    return param_error(
                        "ActionParameterUnknown",
                        format!("The action VirtualMedia.EjectMedia was submitted with the invalid parameter {k}."),
                    );
                }
            }
            _ => return malformed(),
        }
    }
    let c = model.machine(bmc).chassis;
    model.with_chassis(c, now, |ch| ch.set_virtual_media(None));
    Reply::empty(204)
}

/// Routes the VirtualMedia URIs; `None` when `path` is not one of them.
pub fn route(
    model: &Model,
    bmc: MachineId,
    now: Instant,
    method: &str,
    path: &str,
    body: &[u8],
    may_write: bool,
) -> Option<Reply> {
    Some(match path {
        COLLECTION => match method {
            "GET" => Reply::resource(&collection()),
            m => method_not_allowed(m, path, "GET"),
        },
        CD => match method {
            "GET" => Reply::resource(&resource(model, bmc, now)),
            m => method_not_allowed(m, path, "GET"),
        },
        INSERT | EJECT => match method {
            "POST" if !may_write => crate::api::insufficient(),
            "POST" if path == INSERT => insert(model, bmc, now, body),
            "POST" => eject(model, bmc, now, body),
            m => method_not_allowed(m, path, "POST"),
        },
        p if p.starts_with(COLLECTION) => not_found(p),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_taken_from_urls() {
        assert_eq!(host("http://127.0.0.1:8080/a.iso"), Some("127.0.0.1"));
        assert_eq!(host("https://u:p@lib01/share/x.iso"), Some("lib01"));
        assert_eq!(host("http://[::1]:80/x"), Some("::1"));
        assert_eq!(host("http:/x"), None);
        assert_eq!(scheme("HTTPS://x"), Some("HTTPS"));
        assert_eq!(scheme("nfs://x"), None);
        assert_eq!(scheme("é"), None);
    }
}
