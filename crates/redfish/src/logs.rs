//! `Systems/1/LogServices/SEL` and `Chassis/1/Sensors`: the chassis's event
//! log (the one `ipmitool sel list` reads) and its sensors (the ones
//! `ipmitool sdr` reads), rendered from a chassis snapshot per request.

use fakedc_model::timefmt::utc_date_time_or_epoch;
use fakedc_model::{Chassis, EventKind, SensorKind};
use serde_json::{json, Value};

pub const LOGS: &str = "/redfish/v1/Systems/1/LogServices";
pub const SEL: &str = "/redfish/v1/Systems/1/LogServices/SEL";
pub const ENTRIES: &str = "/redfish/v1/Systems/1/LogServices/SEL/Entries";
pub const CLEAR: &str = "/redfish/v1/Systems/1/LogServices/SEL/Actions/LogService.ClearLog";
pub const SENSORS: &str = "/redfish/v1/Chassis/1/Sensors";

fn link(id: &str) -> Value {
    json!({ "@odata.id": id })
}

/// `YYYY-MM-DDTHH:MM:SS+00:00` (Edm.DateTimeOffset).
fn datetime(unix: u64) -> String {
    let secs = i64::try_from(unix).unwrap_or(i64::MAX);
    format!("{}+00:00", utc_date_time_or_epoch(secs))
}

/// Message and Redfish severity of an event (the texts SMASH's
/// CIM_LogEntry uses).
fn event_text(k: &EventKind) -> (String, &'static str) {
    match k {
        EventKind::PowerOn => ("System power on".into(), "OK"),
        EventKind::PowerOff { soft: false } => ("System power off (hard)".into(), "OK"),
        EventKind::PowerOff { soft: true } => ("System power off (soft, S5)".into(), "OK"),
        EventKind::SoftShutdownRequested => ("Soft shutdown requested (power button)".into(), "OK"),
        EventKind::Reset => ("System reset".into(), "Warning"),
        EventKind::Nmi => ("Diagnostic interrupt (NMI)".into(), "Critical"),
        EventKind::BootStarted { device } => {
            (format!("Boot started from {}", device.label()), "OK")
        }
        EventKind::OsBooted => ("Operating system booted".into(), "OK"),
        EventKind::LogCleared => ("Log cleared".into(), "OK"),
        EventKind::Raw { record_type, .. } => {
            (format!("SEL record of type 0x{record_type:02X}"), "OK")
        }
    }
}

pub fn log_services() -> Value {
    json!({
        "@odata.id": LOGS,
        "@odata.type": "#LogServiceCollection.LogServiceCollection",
        "Name": "Log Service Collection",
        "Members@odata.count": 1,
        "Members": [link(SEL)],
    })
}

pub fn sel(c: &Chassis) -> Value {
    json!({
        "@odata.id": SEL,
        "@odata.type": "#LogService.v1_5_0.LogService",
        "Id": "SEL",
        "Name": "System Event Log",
        "MaxNumberOfRecords": c.log.capacity(),
        "OverWritePolicy": "WrapsWhenFull",
        "ServiceEnabled": true,
        "LogEntryType": "SEL",
        "Status": { "State": "Enabled", "Health": "OK" },
        "Entries": link(ENTRIES),
        "Actions": { "#LogService.ClearLog": { "target": CLEAR } },
    })
}

pub fn entries(c: &Chassis) -> Value {
    let members: Vec<Value> = c
        .log
        .entries()
        .iter()
        .map(|e| link(&format!("{ENTRIES}/{}", e.id)))
        .collect();
    json!({
        "@odata.id": ENTRIES,
        "@odata.type": "#LogEntryCollection.LogEntryCollection",
        "Name": "SEL Entries",
        "Members@odata.count": members.len(),
        "Members": members,
    })
}

pub fn entry(c: &Chassis, id: &str) -> Option<Value> {
    let id: u16 = id.parse().ok()?;
    let e = c.log.get(id)?;
    let (message, severity) = event_text(&e.kind);
    Some(json!({
        "@odata.id": format!("{ENTRIES}/{id}"),
        "@odata.type": "#LogEntry.v1_15_0.LogEntry",
        "Id": id.to_string(),
        "Name": format!("SEL Entry {id}"),
        "EntryType": "SEL",
        "Created": datetime(e.timestamp),
        "Message": message,
        "Severity": severity,
    }))
}

/// A sensor's id in its URI: its name with anything but letters and
/// digits dropped.
pub(crate) fn sensor_id(name: &str) -> String {
    name.chars().filter(char::is_ascii_alphanumeric).collect()
}

pub fn sensors(c: &Chassis) -> Value {
    let members: Vec<Value> = c
        .sensors
        .iter()
        .map(|s| link(&format!("{SENSORS}/{}", sensor_id(&s.name))))
        .collect();
    json!({
        "@odata.id": SENSORS,
        "@odata.type": "#SensorCollection.SensorCollection",
        "Name": "Sensors",
        "Members@odata.count": members.len(),
        "Members": members,
    })
}

pub fn sensor(c: &Chassis, id: &str) -> Option<Value> {
    let s = c.sensors.iter().find(|s| sensor_id(&s.name) == id)?;
    let (ty, units) = match s.kind {
        SensorKind::Temperature => ("Temperature", "Cel"),
        SensorKind::Fan => ("Rotational", "{rev}/min"),
        SensorKind::Voltage => ("Voltage", "V"),
        SensorKind::Current => ("Current", "A"),
        SensorKind::Power => ("Power", "W"),
    };
    let mut thresholds = serde_json::Map::new();
    for (k, v) in [
        ("LowerCritical", s.lower_critical),
        ("LowerCaution", s.lower_non_critical),
        ("UpperCaution", s.upper_non_critical),
        ("UpperCritical", s.upper_critical),
    ] {
        if let Some(v) = v {
            thresholds.insert(k.into(), json!({ "Reading": v }));
        }
    }
    // The reading and health every view of this sensor shows (`environment`).
    let reading = crate::environment::reading(s, c.power.power_on());
    Some(json!({
        "@odata.id": format!("{SENSORS}/{id}"),
        "@odata.type": "#Sensor.v1_9_0.Sensor",
        "Id": id,
        "Name": s.name,
        "ReadingType": ty,
        "ReadingUnits": units,
        "Reading": reading,
        "Thresholds": thresholds,
        "Status": crate::environment::status(s, reading),
    }))
}
