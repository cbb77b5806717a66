//! UpdateService: `FirmwareInventory` (the BMC's firmware and the host's
//! BIOS, the versions in the chassis's hardware identity) and
//! `UpdateService.SimpleUpdate`, which runs as a task (`tasks`).
//!
//! The image is fetched for real by the HTTP glue, from the BMC's own
//! address, over HTTP or HTTPS, from a loopback address or a machine of the
//! datacenter (a library server's share or BITS URL): anything else is
//! refused at once with Base `CouldNotEstablishConnection`, and an answer
//! other than 200 fails the task with Update `TransferFailed`. The version
//! an image carries is read from its file name (`bmc-7.20.00.bin` is
//! 7.20.00), as firmware packages are named; an image whose name carries
//! none fails verification (`VerificationFailed`).

use crate::api::{error, malformed, method_not_allowed, not_found, param_error, Reply};
use crate::tasks::{NewUpdate, Target, Tasks};
use fakedc_model::{MachineId, Model};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

pub const SERVICE: &str = "/redfish/v1/UpdateService";
pub const INVENTORY: &str = "/redfish/v1/UpdateService/FirmwareInventory";
pub const SIMPLE_UPDATE: &str = "/redfish/v1/UpdateService/Actions/UpdateService.SimpleUpdate";
const ACTION: &str = "UpdateService.SimpleUpdate";
/// Longest ImageURI accepted.
const MAX_URI: usize = 2048;
/// Longest version string taken from a file name.
const MAX_VERSION: usize = 32;

const TARGETS: &[Target] = &[Target::Bmc, Target::Bios];

fn target_uri(t: Target) -> String {
    format!("{INVENTORY}/{}", t.id())
}

pub fn service() -> Value {
    json!({
        "@odata.id": SERVICE,
        "@odata.type": "#UpdateService.v1_11_0.UpdateService",
        "Id": "UpdateService",
        "Name": "Update Service",
        "ServiceEnabled": true,
        "Status": { "State": "Enabled", "Health": "OK" },
        "FirmwareInventory": { "@odata.id": INVENTORY },
        "Actions": {
            "#UpdateService.SimpleUpdate": {
                "target": SIMPLE_UPDATE,
                "TransferProtocol@Redfish.AllowableValues": ["HTTP", "HTTPS"],
            }
        },
    })
}

fn inventory_collection() -> Value {
    let members: Vec<Value> = TARGETS
        .iter()
        .map(|t| json!({ "@odata.id": target_uri(*t) }))
        .collect();
    json!({
        "@odata.id": INVENTORY,
        "@odata.type": "#SoftwareInventoryCollection.SoftwareInventoryCollection",
        "Name": "Firmware Inventory Collection",
        "Members@odata.count": members.len(),
        "Members": members,
    })
}

fn inventory_item(model: &Model, bmc: MachineId, now: Instant, t: Target) -> Value {
    let hw = model.with_chassis(model.machine(bmc).chassis, now, |c| c.hardware.clone());
    let (name, version, related) = match t {
        Target::Bmc => ("BMC Firmware", hw.bmc_firmware, "/redfish/v1/Managers/1"),
        Target::Bios => ("BIOS", hw.bios_version, crate::api::SYSTEM),
    };
    json!({
        "@odata.id": target_uri(t),
        "@odata.type": "#SoftwareInventory.v1_10_0.SoftwareInventory",
        "Id": t.id(),
        "Name": name,
        "Version": version,
        "Updateable": true,
        "Manufacturer": hw.vendor,
        "Status": { "State": "Enabled", "Health": "OK" },
        "RelatedItem": [{ "@odata.id": related }],
        "RelatedItem@odata.count": 1,
    })
}

/// The first `digits(.digits)+` run in the image's file name.
pub fn version_of(uri: &str) -> Option<String> {
    let path = uri.split(['?', '#']).next().unwrap_or(uri);
    let name = path.rsplit('/').next().unwrap_or(path);
    let b = name.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_digit() && (i == 0 || !b[i - 1].is_ascii_digit()) {
            let mut j = i;
            let mut dots = 0;
            loop {
                while j < b.len() && b[j].is_ascii_digit() {
                    j += 1;
                }
                if j + 1 < b.len() && b[j] == b'.' && b[j + 1].is_ascii_digit() {
                    dots += 1;
                    j += 1;
                } else {
                    break;
                }
            }
            if dots > 0 && j - i <= MAX_VERSION {
                return Some(name[i..j].to_string());
            }
            i = j.max(i + 1);
        } else {
            i += 1;
        }
    }
    None
}

fn shown(v: &str) -> String {
    v.chars().take(64).collect()
}

/// What a SimpleUpdate body asks for, checked; `Err` is the 400.
fn parse(model: &Model, body: &[u8], install: Duration) -> Result<NewUpdate, Reply> {
    let Ok(Value::Object(v)) = serde_json::from_slice::<Value>(body) else {
        return Err(malformed());
    };
    let not_string = |k: &str, val: &Value| {
        param_error(
            "ActionParameterValueTypeError",
            format!(
                "The value '{}' for the parameter {k} in the action {ACTION} is of a different type than the parameter can accept.",
                if k == "Password" { "(redacted)".into() } else { shown(&val.to_string()) }
            ),
        )
    };
    let mut protocol = None;
    let mut targets = Vec::new();
    for (k, val) in &v {
        match k.as_str() {
            "ImageURI" | "Username" | "Password" => {
                if !val.is_string() {
                    return Err(not_string(k, val));
                }
            }
            "TransferProtocol" => match val.as_str() {
                Some(p @ ("HTTP" | "HTTPS")) => protocol = Some(p),
                Some(
                    "CIFS" | "FTP" | "SFTP" | "TFTP" | "OEM" | "NFS" | "SCP" | "NSF" | "FILE",
                ) => {
                    return Err(param_error(
                        "ActionParameterNotSupported",
                        format!("The parameter TransferProtocol for the action {ACTION} is not supported on the target resource."),
                    ))
                }
                _ => {
                    return Err(param_error(
                        "ActionParameterValueNotInList",
                        format!("The value '{}' for the parameter TransferProtocol in the action {ACTION} is not in the list of acceptable values.", shown(&val.to_string())),
                    ))
                }
            },
            "Targets" => {
                let Some(list) = val.as_array().filter(|l| l.len() <= TARGETS.len()) else {
                    return Err(not_string(k, val));
                };
                for t in list {
                    let Some(t) = t
                        .as_str()
                        .and_then(|s| TARGETS.iter().find(|x| target_uri(**x) == s.trim_end_matches('/')))
                    else {
                        return Err(param_error(
                            "ActionParameterValueNotInList",
                            format!("The value '{}' for the parameter Targets in the action {ACTION} is not in the list of acceptable values.", shown(&t.to_string())),
                        ));
                    };
                    if !targets.contains(t) {
                        targets.push(*t);
                    }
                }
            }
            // Accepted and honoured as a real BMC does for an image it
            // applies at once.
            "ForceUpdate" => {
                if !val.is_boolean() {
                    return Err(not_string(k, val));
                }
            }
            other => {
                return Err(param_error(
                    "ActionParameterUnknown",
                    format!("The action {ACTION} was submitted with the invalid parameter {}.", shown(other)),
                ))
            }
        }
    }
    let Some(uri) = v.get("ImageURI").and_then(Value::as_str) else {
        return Err(error(
            400,
            "ActionParameterMissing",
            format!("The action {ACTION} requires the parameter ImageURI to be present in the request body."),
            "Critical",
            "Supply the action with the required parameter in the request body when the request is resubmitted.",
        ));
    };
    if uri.len() > MAX_URI {
        return Err(param_error(
            "ActionParameterValueFormatError",
            format!("The value '{}' for the parameter ImageURI in the action {ACTION} is of a different format than the parameter can accept.", shown(uri)),
        ));
    }
    // DSP0266: an ImageURI without a scheme takes TransferProtocol's.
    let image = match (crate::media::scheme(uri), protocol) {
        (Some(s), Some(p)) if s != p => {
            return Err(error(
                400,
                "ActionParameterValueConflict",
                format!("The parameter 'TransferProtocol' with value '{p}' conflicts with the parameter 'ImageURI' with value '{s}'."),
                "Warning",
                "Correct the parameters and resubmit the request if the operation failed.",
            ))
        }
        (Some(_), _) => uri.to_string(),
        (None, Some(p)) if !uri.contains("://") => format!("{}://{uri}", p.to_ascii_lowercase()),
        (None, _) => {
            return Err(param_error(
                "ActionParameterValueFormatError",
                format!("The value '{}' for the parameter ImageURI in the action {ACTION} is of a different format than the parameter can accept.", shown(uri)),
            ))
        }
    };
    if crate::media::host(&image).is_none_or(|h| h.is_empty())
        || crate::events::destination_addr(model, &image).is_none()
    {
        // Not http(s) to loopback or a datacenter machine, or with user
        // info in the URI (credentials go in Username and Password).
        let s: String = image.chars().take(256).collect();
        return Err(error(
            400,
            "CouldNotEstablishConnection",
            format!("The service failed to establish a connection with the URI '{s}'."),
            "Critical",
            "Ensure that the URI contains a valid and reachable node name, protocol information and other URI components.",
        ));
    }
    if targets.is_empty() {
        // No Targets: the service picks, by the package's name.
        let name = image
            .rsplit('/')
            .next()
            .unwrap_or(&image)
            .to_ascii_lowercase();
        targets.push(if name.contains("bios") {
            Target::Bios
        } else {
            Target::Bmc
        });
    }
    let credentials = match (v.get("Username"), v.get("Password")) {
        (Some(Value::String(u)), Some(Value::String(p))) => Some((u.clone(), p.clone())),
        _ => None,
    };
    Ok(NewUpdate {
        version: version_of(&image),
        image,
        targets,
        install,
        credentials,
    })
}

/// Routes the UpdateService URIs; `None` when `path` is none of them.
/// `Some(fetch)` in the second place is the transfer the glue must make.
#[allow(clippy::too_many_arguments)]
pub fn route(
    tasks: &Tasks,
    model: &Model,
    bmc: MachineId,
    now: Instant,
    m: &str,
    path: &str,
    body: &[u8],
    may_write: bool,
) -> Option<(Reply, Option<crate::tasks::Fetch>)> {
    let r = match path {
        SERVICE => match m {
            "GET" => Reply::resource(&service()),
            _ => method_not_allowed(m, path, "GET"),
        },
        INVENTORY => match m {
            "GET" => Reply::resource(&inventory_collection()),
            _ => method_not_allowed(m, path, "GET"),
        },
        SIMPLE_UPDATE => match m {
            "POST" if !may_write => crate::api::insufficient(),
            "POST" => {
                let install = Duration::from_millis(
                    crate::inventory::Inventory::serving(model, bmc).update_ms,
                );
                let started =
                    parse(model, body, install).and_then(|u| tasks.start_update(model, bmc, u));
                return Some(match started {
                    Ok((r, f)) => (r, Some(f)),
                    Err(r) => (r, None),
                });
            }
            _ => method_not_allowed(m, path, "POST"),
        },
        p => {
            let id = p.strip_prefix(INVENTORY)?.strip_prefix('/')?;
            match TARGETS.iter().find(|t| t.id() == id) {
                Some(t) => match m {
                    "GET" => Reply::resource(&inventory_item(model, bmc, now, *t)),
                    _ => method_not_allowed(m, path, "GET"),
                },
                None => not_found(path),
            }
        }
    };
    Some((r, None))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_come_from_file_names() {
        assert_eq!(
            version_of("http://h/fw/bmc-7.20.00.bin").as_deref(),
            Some("7.20.00")
        );
        assert_eq!(
            version_of("http://h/BIOS_2.20.1.exe?x=1.2").as_deref(),
            Some("2.20.1")
        );
        assert_eq!(version_of("http://h/v3.1/fw.bin"), None);
        assert_eq!(version_of("http://h/fw2.bin"), None);
        assert_eq!(version_of("http://h/fwv2.5"), Some("2.5".into()));
        assert_eq!(version_of("http://h/é1.2"), Some("1.2".into()));
        assert_eq!(version_of(""), None);
    }
}
