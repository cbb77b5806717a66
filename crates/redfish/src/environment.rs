//! The chassis's environment as Redfish shows it, all views of the
//! chassis's sensors (the ones `ipmitool sdr` reads, and
//! `Chassis/1/Sensors` serves one by one): `PowerSubsystem`,
//! `ThermalSubsystem` with its `Fans` and `ThermalMetrics`,
//! `EnvironmentMetrics`, and for older clients the deprecated `Power` and
//! `Thermal` (Chassis v1_15_0 replaced them; sushy and many scripts still
//! read them). Readings follow the chassis's power, and a main-power
//! sensor has none while the chassis is off, as IPMI reports it.

use crate::api::{method_not_allowed, Reply};
use crate::logs::{sensor_id, SENSORS};
use fakedc_model::{Chassis, MachineId, Model, Sensor, SensorKind};
use serde_json::{json, Map, Value};
use std::time::Instant;

const CHASSIS: &str = "/redfish/v1/Chassis/1";
pub const POWER_SUBSYSTEM: &str = "/redfish/v1/Chassis/1/PowerSubsystem";
pub const THERMAL_SUBSYSTEM: &str = "/redfish/v1/Chassis/1/ThermalSubsystem";
pub const FANS: &str = "/redfish/v1/Chassis/1/ThermalSubsystem/Fans";
pub const THERMAL_METRICS: &str = "/redfish/v1/Chassis/1/ThermalSubsystem/ThermalMetrics";
pub const ENVIRONMENT: &str = "/redfish/v1/Chassis/1/EnvironmentMetrics";
pub const POWER: &str = "/redfish/v1/Chassis/1/Power";
pub const THERMAL: &str = "/redfish/v1/Chassis/1/Thermal";

/// A sensor's reading now, or `None` for a main-power sensor while the
/// chassis is off: the model's "reading unavailable" rule
/// ([`Sensor::current`]), the one IPMI's SDR answers with too.
pub(crate) fn reading(s: &Sensor, power_on: bool) -> Option<f64> {
    s.current(power_on)
}

/// `Status` of a sensor-backed resource: its health from the thresholds.
pub(crate) fn status(s: &Sensor, r: Option<f64>) -> Value {
    let Some(r) = r else {
        return json!({ "State": "StandbyOffline" });
    };
    let beyond =
        |lo: Option<f64>, hi: Option<f64>| lo.is_some_and(|l| r <= l) || hi.is_some_and(|h| r >= h);
    let health = if beyond(s.lower_critical, s.upper_critical) {
        "Critical"
    } else if beyond(s.lower_non_critical, s.upper_non_critical) {
        "Warning"
    } else {
        "OK"
    };
    json!({ "State": "Enabled", "Health": health })
}

fn sensor_uri(s: &Sensor) -> String {
    format!("{SENSORS}/{}", sensor_id(&s.name))
}

fn of_kind(c: &Chassis, k: SensorKind) -> impl Iterator<Item = &Sensor> {
    c.sensors.iter().filter(move |s| s.kind == k)
}

/// A Sensor excerpt (DSP0268 `Redfish.ExcerptCopy`): where the reading
/// comes from and what it is.
fn excerpt(s: &Sensor, on: bool) -> Value {
    json!({ "DataSourceUri": sensor_uri(s), "Reading": reading(s, on) })
}

fn power_subsystem(c: &Chassis) -> Value {
    let mut v = json!({
        "@odata.id": POWER_SUBSYSTEM,
        "@odata.type": "#PowerSubsystem.v1_1_3.PowerSubsystem",
        "Id": "PowerSubsystem",
        "Name": "Power Subsystem",
        "Status": { "State": "Enabled", "Health": "OK" },
    });
    // The power sensor's critical threshold is the most the chassis may draw.
    if let Some(cap) = of_kind(c, SensorKind::Power).find_map(|s| s.upper_critical) {
        v["CapacityWatts"] = json!(cap);
    }
    v
}

fn thermal_subsystem() -> Value {
    json!({
        "@odata.id": THERMAL_SUBSYSTEM,
        "@odata.type": "#ThermalSubsystem.v1_5_0.ThermalSubsystem",
        "Id": "ThermalSubsystem",
        "Name": "Thermal Subsystem",
        "Status": { "State": "Enabled", "Health": "OK" },
        "Fans": { "@odata.id": FANS },
        "ThermalMetrics": { "@odata.id": THERMAL_METRICS },
    })
}

fn fans(c: &Chassis) -> Value {
    let members: Vec<Value> = of_kind(c, SensorKind::Fan)
        .map(|s| json!({ "@odata.id": format!("{FANS}/{}", sensor_id(&s.name)) }))
        .collect();
    json!({
        "@odata.id": FANS,
        "@odata.type": "#FanCollection.FanCollection",
        "Name": "Fan Collection",
        "Members@odata.count": members.len(),
        "Members": members,
    })
}

fn fan(c: &Chassis, id: &str) -> Option<Value> {
    let on = c.power.power_on();
    let s = of_kind(c, SensorKind::Fan).find(|s| sensor_id(&s.name) == id)?;
    let r = reading(s, on);
    Some(json!({
        "@odata.id": format!("{FANS}/{id}"),
        "@odata.type": "#Fan.v1_6_0.Fan",
        "Id": id,
        "Name": s.name,
        "PhysicalContext": "Chassis",
        "Status": status(s, r),
        // The sensor reads RPM; the percentage of full speed is not known.
        "SpeedPercent": { "DataSourceUri": sensor_uri(s), "SpeedRPM": r },
    }))
}

fn thermal_metrics(c: &Chassis) -> Value {
    let on = c.power.power_on();
    let temps: Vec<Value> = of_kind(c, SensorKind::Temperature)
        .map(|s| {
            let mut e = excerpt(s, on);
            e["DeviceName"] = json!(s.name);
            e
        })
        .collect();
    json!({
        "@odata.id": THERMAL_METRICS,
        "@odata.type": "#ThermalMetrics.v1_3_2.ThermalMetrics",
        "Id": "ThermalMetrics",
        "Name": "Chassis Thermal Metrics",
        "TemperatureReadingsCelsius": temps,
        "TemperatureReadingsCelsius@odata.count": temps.len(),
    })
}

fn environment(c: &Chassis) -> Value {
    let on = c.power.power_on();
    let mut m = Map::new();
    m.insert("@odata.id".into(), json!(ENVIRONMENT));
    m.insert(
        "@odata.type".into(),
        json!("#EnvironmentMetrics.v1_5_0.EnvironmentMetrics"),
    );
    m.insert("Id".into(), json!("EnvironmentMetrics"));
    m.insert("Name".into(), json!("Chassis Environment Metrics"));
    // The first temperature sensor is the inlet on the default set.
    if let Some(s) = of_kind(c, SensorKind::Temperature).next() {
        m.insert("TemperatureCelsius".into(), excerpt(s, on));
    }
    if let Some(s) = of_kind(c, SensorKind::Power).next() {
        m.insert("PowerWatts".into(), excerpt(s, on));
    }
    Value::Object(m)
}

/// A number as a deprecated schema types it: Thermal's fan readings and
/// thresholds are `Edm.Int64`, the rest `Edm.Decimal`.
fn number(v: f64, integer: bool) -> Value {
    if integer {
        // RPM readings are whole numbers; the cast saturates.
        #[allow(clippy::cast_possible_truncation)]
        let n = v.round() as i64;
        json!(n)
    } else {
        json!(v)
    }
}

/// Thresholds in the deprecated schemas' flat form.
fn flat_thresholds(s: &Sensor, o: &mut Map<String, Value>, integer: bool) {
    for (k, v) in [
        ("LowerThresholdCritical", s.lower_critical),
        ("LowerThresholdNonCritical", s.lower_non_critical),
        ("UpperThresholdNonCritical", s.upper_non_critical),
        ("UpperThresholdCritical", s.upper_critical),
    ] {
        if let Some(v) = v {
            o.insert(k.into(), number(v, integer));
        }
    }
}

/// One member of a deprecated array: `@odata.id` is a JSON pointer into
/// the resource.
fn member(base: &str, array: &str, n: usize, s: &Sensor, reading_key: &str, on: bool) -> Value {
    let r = reading(s, on);
    let integer = s.kind == SensorKind::Fan;
    let mut o = Map::new();
    o.insert("@odata.id".into(), json!(format!("{base}#/{array}/{n}")));
    o.insert("MemberId".into(), json!(n.to_string()));
    o.insert("Name".into(), json!(s.name));
    o.insert(
        reading_key.into(),
        r.map_or(Value::Null, |r| number(r, integer)),
    );
    o.insert("Status".into(), status(s, r));
    o.insert("RelatedItem".into(), json!([{ "@odata.id": CHASSIS }]));
    flat_thresholds(s, &mut o, integer);
    Value::Object(o)
}

fn thermal(c: &Chassis) -> Value {
    let on = c.power.power_on();
    let temps: Vec<Value> = of_kind(c, SensorKind::Temperature)
        .enumerate()
        .map(|(n, s)| member(THERMAL, "Temperatures", n, s, "ReadingCelsius", on))
        .collect();
    let fans: Vec<Value> = of_kind(c, SensorKind::Fan)
        .enumerate()
        .map(|(n, s)| {
            let mut f = member(THERMAL, "Fans", n, s, "Reading", on);
            f["ReadingUnits"] = json!("RPM");
            f
        })
        .collect();
    json!({
        "@odata.id": THERMAL,
        "@odata.type": "#Thermal.v1_7_3.Thermal",
        "Id": "Thermal",
        "Name": "Thermal",
        "Temperatures": temps,
        "Temperatures@odata.count": temps.len(),
        "Fans": fans,
        "Fans@odata.count": fans.len(),
    })
}

fn power(c: &Chassis) -> Value {
    let on = c.power.power_on();
    let volts: Vec<Value> = of_kind(c, SensorKind::Voltage)
        .enumerate()
        .map(|(n, s)| member(POWER, "Voltages", n, s, "ReadingVolts", on))
        .collect();
    let control: Vec<Value> = of_kind(c, SensorKind::Power)
        .enumerate()
        .map(|(n, s)| {
            json!({
                "@odata.id": format!("{POWER}#/PowerControl/{n}"),
                "MemberId": n.to_string(),
                "Name": s.name,
                "PowerConsumedWatts": reading(s, on),
                "PowerCapacityWatts": s.upper_critical,
                "Status": status(s, reading(s, on)),
                "RelatedItem": [{ "@odata.id": CHASSIS }],
            })
        })
        .collect();
    json!({
        "@odata.id": POWER,
        "@odata.type": "#Power.v1_7_3.Power",
        "Id": "Power",
        "Name": "Power",
        "Voltages": volts,
        "Voltages@odata.count": volts.len(),
        "PowerControl": control,
        "PowerControl@odata.count": control.len(),
    })
}

/// Routes the environment URIs (read-only); `None` when `path` is none of
/// them.
pub fn route(model: &Model, bmc: MachineId, now: Instant, m: &str, path: &str) -> Option<Reply> {
    let known = matches!(
        path,
        POWER_SUBSYSTEM
            | THERMAL_SUBSYSTEM
            | FANS
            | THERMAL_METRICS
            | ENVIRONMENT
            | POWER
            | THERMAL
    ) || path.strip_prefix(FANS).is_some_and(|r| r.starts_with('/'));
    if !known {
        return None;
    }
    if m != "GET" {
        return Some(method_not_allowed(m, path, "GET"));
    }
    let c = model.chassis(model.machine(bmc).chassis, now);
    let v = match path {
        POWER_SUBSYSTEM => power_subsystem(&c),
        THERMAL_SUBSYSTEM => thermal_subsystem(),
        FANS => fans(&c),
        THERMAL_METRICS => thermal_metrics(&c),
        ENVIRONMENT => environment(&c),
        POWER => power(&c),
        THERMAL => thermal(&c),
        p => {
            let id = p
                .strip_prefix(FANS)
                .unwrap_or_default()
                .trim_start_matches('/');
            match fan(&c, id) {
                Some(v) => v,
                None => return Some(crate::api::not_found(path)),
            }
        }
    };
    Some(Reply::resource(&v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn main_power_sensors_have_no_reading_when_off() {
        let set = Sensor::default_set();
        let fan = set
            .iter()
            .find(|s| s.kind == SensorKind::Fan)
            .unwrap_or(&set[0]);
        assert_eq!(reading(fan, false), None);
        assert_eq!(status(fan, None)["State"], "StandbyOffline");
        assert_eq!(reading(fan, true), Some(fan.on_value));
        assert_eq!(status(fan, Some(fan.on_value))["Health"], "OK");
        let standby = set
            .iter()
            .find(|s| s.name == "3.3V Standby")
            .unwrap_or(&set[0]);
        assert_eq!(reading(standby, false), Some(standby.off_value));
        assert_eq!(status(standby, Some(1.0))["Health"], "Critical");
        assert_eq!(status(standby, Some(3.05))["Health"], "Warning");
    }
}
