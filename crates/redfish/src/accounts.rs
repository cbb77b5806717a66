//! AccountService accounts over the BMC's user table — the one IPMI and
//! SMASH log in with — so an account created here logs in with ipmitool at
//! once, and one deleted here is gone for IPMI too.
//!
//! Limits are IPMI's: user ids 2..=[`MAX_USER_ID`] (slot 1 is the
//! anonymous user on real BMCs), names of at most 16 bytes, passwords of at
//! most 20 (RMCP+ pads the key to 20 bytes).
//!
//! `PasswordChangeRequired` (DSP0266 "Password change required handling")
//! is Redfish's alone: a flagged account may log in, read its own account
//! and PATCH its password; every other request is 403 with the Base
//! `PasswordChangeRequired` message. IPMI has no such notion, so the flag
//! lives in the Redfish [`crate::api::Api`], keyed by account name.

use crate::api::{error, etag_matches, insufficient, malformed, not_found, Caller, Reply};
use fakedc_model::{MachineId, Model, Privilege, User};
use serde_json::{json, Value};

pub const ACCOUNTS: &str = "/redfish/v1/AccountService/Accounts";
pub const ROLES: &str = "/redfish/v1/AccountService/Roles";
/// Highest IPMI user id an account can take (16 slots, as most BMCs).
pub const MAX_USER_ID: u8 = 16;
/// IPMI's user name limit.
pub const MAX_NAME: usize = 16;
/// RMCP+'s password limit.
pub const MAX_PASSWORD: usize = 20;

pub fn role_id(p: Privilege) -> &'static str {
    match p {
        Privilege::Admin => "Administrator",
        Privilege::Operator => "Operator",
        Privilege::User | Privilege::Callback => "ReadOnly",
    }
}

fn role_privilege(role: &str) -> Option<Privilege> {
    Some(match role {
        "Administrator" => Privilege::Admin,
        "Operator" => Privilege::Operator,
        "ReadOnly" => Privilege::User,
        _ => return None,
    })
}

/// The account's representation.
pub fn view(u: &User, pw_change: bool) -> Value {
    let path = format!("{ACCOUNTS}/{}", u.id);
    json!({
        "@odata.id": path,
        "@odata.type": "#ManagerAccount.v1_10_0.ManagerAccount",
        "Id": u.id.to_string(),
        "Name": "User Account",
        "UserName": u.name,
        "RoleId": role_id(u.privilege),
        // One account table for both: the same login works over IPMI.
        "AccountTypes": ["Redfish", "IPMI"],
        "Links": { "Role": { "@odata.id": format!("{ROLES}/{}", role_id(u.privilege)) } },
        "Enabled": u.enabled,
        "Locked": false,
        "PasswordChangeRequired": pw_change,
        "Password": Value::Null,
    })
}

pub fn collection(model: &Model, bmc: MachineId) -> Value {
    let members: Vec<Value> = model
        .users(bmc)
        .iter()
        .map(|u| json!({ "@odata.id": format!("{ACCOUNTS}/{}", u.id) }))
        .collect();
    json!({
        "@odata.id": ACCOUNTS,
        "@odata.type": "#ManagerAccountCollection.ManagerAccountCollection",
        "Name": "Accounts Collection",
        "Members@odata.count": members.len(),
        "Members": members,
    })
}

fn format_error(shown: &str, prop: &str) -> Reply {
    error(
        400,
        "PropertyValueFormatError",
        format!("The value '{shown}' for the property {prop} is of a different format than the property can accept."),
        "Warning",
        "Correct the value for the property in the request body and resubmit the request if the operation failed.",
    )
}

fn not_in_list(value: &str, prop: &str) -> Reply {
    error(
        400,
        "PropertyValueNotInList",
        format!("The value '{value}' for the property {prop} is not in the list of acceptable values."),
        "Warning",
        "Choose a value from the enumeration list that the implementation can support and resubmit the request if the operation failed.",
    )
}

fn shown(v: &Value) -> String {
    let s = v.as_str().map_or_else(|| v.to_string(), str::to_string);
    s.chars().take(64).collect()
}

/// A user name IPMI can carry: 1..=16 printable ASCII bytes, no `:` (a
/// Basic credential separator) and no spaces.
fn valid_name(n: &str) -> bool {
    !n.is_empty() && n.len() <= MAX_NAME && n.bytes().all(|b| b.is_ascii_graphic() && b != b':')
}

fn valid_password(p: &str) -> bool {
    !p.is_empty() && p.len() <= MAX_PASSWORD
}

/// The checked changes of a POST or PATCH body.
#[derive(Default)]
struct Changes {
    name: Option<String>,
    password: Option<String>,
    privilege: Option<Privilege>,
    enabled: Option<bool>,
    pw_change: Option<bool>,
}

/// Reads a POST/PATCH body's properties; `Err` is the Base error to send.
/// OData annotations are ignored; an unknown property is refused by name.
fn changes(v: &serde_json::Map<String, Value>) -> Result<Changes, Reply> {
    let mut c = Changes::default();
    for (k, val) in v {
        match k.as_str() {
            "UserName" => match val.as_str() {
                Some(n) if valid_name(n) => c.name = Some(n.into()),
                _ => return Err(format_error(&shown(val), "UserName")),
            },
            "Password" => match val.as_str() {
                Some(p) if valid_password(p) => c.password = Some(p.into()),
                // The value is never echoed back.
                _ => return Err(format_error("(redacted)", "Password")),
            },
            "RoleId" => match val.as_str().and_then(role_privilege) {
                Some(p) => c.privilege = Some(p),
                None => return Err(not_in_list(&shown(val), "RoleId")),
            },
            "Enabled" => match val.as_bool() {
                Some(b) => c.enabled = Some(b),
                None => return Err(format_error(&shown(val), "Enabled")),
            },
            "PasswordChangeRequired" => match val.as_bool() {
                Some(b) => c.pw_change = Some(b),
                None => return Err(format_error(&shown(val), "PasswordChangeRequired")),
            },
            k if k.starts_with('@') => {}
            "Id" | "Name" | "Locked" | "AccountTypes" | "Links" => {
                return Err(error(
                    400,
                    "PropertyNotWritable",
                    format!("The property {k} is a read only property and cannot be assigned a value."),
                    "Warning",
                    "Remove the property from the request body and resubmit the request if the operation failed.",
                ))
            }
            other => {
                let k: String = other.chars().take(64).collect();
                return Err(error(
                    400,
                    "PropertyUnknown",
                    format!("The property {k} is not in the list of valid properties for the resource."),
                    "Warning",
                    "Remove the unknown property from the request body and resubmit the request if the operation failed.",
                ));
            }
        }
    }
    Ok(c)
}

fn exists(name: &str) -> Reply {
    error(
        409,
        "ResourceAlreadyExists",
        format!("The requested resource of type ManagerAccount with the property UserName with the value '{name}' already exists."),
        "Critical",
        "Do not repeat the create operation as the resource has already been created.",
    )
}

/// What a create or delete did, for the caller to update the Redfish-only
/// state (password-change flags, sessions).
pub enum Effect {
    None,
    /// Account `name` was created; flag it if `pw_change`.
    Created {
        name: String,
        pw_change: bool,
    },
    /// Account `old` is gone (deleted or renamed): its sessions end.
    Gone {
        old: String,
    },
}

/// POST to Accounts: a new user in the first free IPMI slot.
pub fn create(model: &Model, bmc: MachineId, body: &[u8], caller: &Caller) -> (Reply, Effect) {
    if caller.privilege < Privilege::Admin {
        return (insufficient(), Effect::None);
    }
    let Ok(Value::Object(v)) = serde_json::from_slice::<Value>(body) else {
        return (malformed(), Effect::None);
    };
    let c = match changes(&v) {
        Ok(c) => c,
        Err(r) => return (r, Effect::None),
    };
    for (have, prop) in [
        (c.name.is_some(), "UserName"),
        (c.password.is_some(), "Password"),
        (c.privilege.is_some(), "RoleId"),
    ] {
        if !have {
            return (
                error(
                    400,
                    "CreateFailedMissingReqProperties",
                    format!("The create operation failed because the required property {prop} was missing from the request."),
                    "Critical",
                    "Correct the body to include the required property with a valid value and resubmit the request if the operation failed.",
                ),
                Effect::None,
            );
        }
    }
    let (Some(name), Some(password), Some(privilege)) = (c.name, c.password, c.privilege) else {
        return (malformed(), Effect::None);
    };
    let mut users = model.users(bmc);
    if users.iter().any(|u| u.name == name) {
        return (exists(&name), Effect::None);
    }
    let Some(id) = (2..=MAX_USER_ID).find(|i| users.iter().all(|u| u.id != *i)) else {
        return (
            error(
                400,
                "CreateLimitReachedForResource",
                "The create operation failed because the resource has reached the limit of possible resources.".into(),
                "Critical",
                "Either delete resources and resubmit the request if the operation failed or do not resubmit the request.",
            ),
            Effect::None,
        );
    };
    let user = User {
        id,
        name: name.clone(),
        password,
        privilege,
        enabled: c.enabled.unwrap_or(true),
        authorized_keys: Vec::new(),
    };
    let pw_change = c.pw_change.unwrap_or(false);
    let body = view(&user, pw_change);
    users.push(user);
    users.sort_by_key(|u| u.id);
    drop(users);
    let mut r = Reply::json(201, &body);
    r.headers.push(("Location", format!("{ACCOUNTS}/{id}")));
    r.headers.push(("ETag", crate::api::etag(&body)));
    (r, Effect::Created { name, pw_change })
}

/// GET, PATCH and DELETE of one account. `pw_change` is the account's
/// password-change flag; a PATCH that sets a password clears it (the
/// returned flag is the new value).
pub fn item(
    model: &Model,
    bmc: MachineId,
    req: &crate::api::Request<'_>,
    path: &str,
    id: &str,
    caller: &Caller,
    pw_change: &dyn Fn(&str) -> bool,
) -> (Reply, Effect, Option<(String, bool)>) {
    let none = |r| (r, Effect::None, None);
    let Ok(id) = id.parse::<u8>() else {
        return none(not_found(path));
    };
    let Some(user) = model.users(bmc).iter().find(|u| u.id == id).cloned() else {
        return none(not_found(path));
    };
    let flag = pw_change(&user.name);
    let own = caller.user == user.name;
    match req.method {
        "GET" => none(Reply::resource(&view(&user, flag))),
        "DELETE" => {
            if caller.privilege < Privilege::Admin {
                return none(insufficient());
            }
            if own {
                // Deleting the account in use would lock the caller out
                // mid-request; another administrator can do it.
                return none(error(
                    409,
                    "ResourceInUse",
                    "The change to the requested resource failed because the resource is in use or in transition.".into(),
                    "Warning",
                    "Remove the condition and resubmit the request if the operation failed.",
                ));
            }
            model.users(bmc).retain(|u| u.id != id);
            (Reply::empty(204), Effect::Gone { old: user.name }, None)
        }
        "PATCH" => {
            // ConfigureUsers for any account, ConfigureSelf for one's own.
            if caller.privilege < Privilege::Admin && !own {
                return none(insufficient());
            }
            if !etag_matches(req.if_match, &view(&user, flag)) {
                return none(crate::api::precondition_failed());
            }
            let Ok(Value::Object(v)) = serde_json::from_slice::<Value>(req.body) else {
                return none(malformed());
            };
            let c = match changes(&v) {
                Ok(c) => c,
                Err(r) => return none(r),
            };
            let admin_only = c.name.is_some()
                || c.privilege.is_some()
                || c.enabled.is_some()
                || c.pw_change.is_some();
            if admin_only && caller.privilege < Privilege::Admin {
                return none(insufficient());
            }
            if c.name.is_none()
                && c.password.is_none()
                && c.privilege.is_none()
                && c.enabled.is_none()
                && c.pw_change.is_none()
            {
                return none(error(
                    400,
                    "NoOperation",
                    "The request body submitted contain no data to act upon and no changes to the resource took place.".into(),
                    "Warning",
                    "Add properties in the JSON object and resubmit the request.",
                ));
            }
            let mut users = model.users(bmc);
            if let Some(n) = &c.name {
                if *n != user.name && users.iter().any(|u| u.name == *n) {
                    return none(exists(n));
                }
            }
            let Some(u) = users.iter_mut().find(|u| u.id == id) else {
                return none(not_found(path));
            };
            // The precondition again, under the lock the write holds: two
            // PATCHes with the same If-Match must not both pass the check
            // above on the same snapshot (the account must change
            // atomically, as the protocol validator's ETag test requires).
            if !etag_matches(req.if_match, &view(u, flag)) {
                return none(crate::api::precondition_failed());
            }
            if let Some(p) = c.password.clone() {
                u.password = p;
            }
            if let Some(p) = c.privilege {
                u.privilege = p;
            }
            if let Some(e) = c.enabled {
                u.enabled = e;
            }
            let renamed = c.name.as_ref().filter(|n| **n != user.name).cloned();
            if let Some(n) = &renamed {
                u.name = n.clone();
            }
            // A new password answers the change requirement; an
            // administrator may set or clear the flag explicitly.
            let new_flag = match (c.pw_change, c.password.is_some()) {
                (Some(f), _) => f,
                (None, true) => false,
                (None, false) => flag,
            };
            let body = view(u, new_flag);
            let name = u.name.clone();
            drop(users);
            let effect = match renamed {
                Some(_) => Effect::Gone { old: user.name },
                None => Effect::None,
            };
            (Reply::resource(&body), effect, Some((name, new_flag)))
        }
        m => none(crate::api::method_not_allowed(
            m,
            path,
            "GET, PATCH, DELETE",
        )),
    }
}

/// The Base `PasswordChangeRequired` message for the account at `uri`.
pub fn password_change_message(uri: &str) -> Value {
    json!({
        "@odata.type": "#Message.v1_1_1.Message",
        "MessageId": format!("{}.PasswordChangeRequired", crate::api::BASE),
        "Message": format!("The password provided for this account must be changed before access is granted.  PATCH the Password property for this account located at the target URI '{uri}' to complete this process."),
        "MessageArgs": [uri],
        "Severity": "Critical",
        "MessageSeverity": "Critical",
        "Resolution": "Change the password for this account using a PATCH to the Password property at the URI provided.",
    })
}

/// 403 with `PasswordChangeRequired`: what a flagged account gets for
/// anything but its own account and its session.
pub fn password_change_required(uri: &str) -> Reply {
    let m = password_change_message(uri);
    let v = json!({
        "error": {
            "code": m["MessageId"],
            "message": m["Message"],
            "@Message.ExtendedInfo": [m],
        }
    });
    Reply::json(403, &v)
}
