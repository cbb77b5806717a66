//! Sans-IO SOAP for WSUS's web services: which service and operation a
//! request names (by `SOAPAction`, quoted or not, else by the body's
//! element), the typed pieces the operations read (cookies, id arrays,
//! GUIDs), the response envelope as ASP.NET writes it, and the faults:
//! MS-WUSP §2.2.2.4's `ErrorCode` detail and ASP.NET's own `soap:Client`
//! faults for requests it cannot read.
//!
//! Parsing goes through `fakedc-xml`: DTDs are refused (no entity is ever
//! expanded) and depth/element counts are bounded; the service bounds the
//! body size before this sees it.

use base64::Engine as _;
use fakedc_xml::soap::{self, Envelope, Version};
use fakedc_xml::{escape_text, Element, Limits};

pub const NS_CLIENT: &str = "http://www.microsoft.com/SoftwareDistribution/Server/ClientWebService";
pub const NS_AUTH: &str =
    "http://www.microsoft.com/SoftwareDistribution/Server/SimpleAuthWebService";
pub const NS_REPORTING: &str = "http://www.microsoft.com/SoftwareDistribution";
pub const NS_ADMIN: &str =
    "http://www.microsoft.com/SoftwareDistribution/Server/ApiRemotingWebService";

/// Largest SOAP request body read (ASP.NET's default `maxRequestLength`,
/// 4 MiB).
pub const MAX_BODY: usize = 4 << 20;
/// Most ids one array may carry (`InstalledNonLeafUpdateIDs`, ...); more is
/// `InvalidParameters`.
pub const MAX_IDS: usize = 100_000;

/// The parser's limits: deep enough for any WSUS message, and enough
/// elements for a client that has a 100,000-revision cache.
pub const LIMITS: Limits = Limits {
    max_depth: 32,
    max_elements: 250_000,
    max_attributes: 32,
};

/// Which web service a path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    SimpleAuth,
    Client,
    Reporting,
    Admin,
}

impl Service {
    pub fn namespace(self) -> &'static str {
        match self {
            Service::SimpleAuth => NS_AUTH,
            Service::Client => NS_CLIENT,
            Service::Reporting => NS_REPORTING,
            Service::Admin => NS_ADMIN,
        }
    }

    /// The IIS path (matched case-insensitively).
    pub fn path(self) -> &'static str {
        match self {
            Service::SimpleAuth => "/SimpleAuthWebService/SimpleAuth.asmx",
            Service::Client => "/ClientWebService/Client.asmx",
            Service::Reporting => "/ReportingWebService/ReportingWebService.asmx",
            Service::Admin => "/ApiRemoting30/WebService.asmx",
        }
    }

    pub fn from_path(path: &str) -> Option<Service> {
        [
            Service::SimpleAuth,
            Service::Client,
            Service::Reporting,
            Service::Admin,
        ]
        .into_iter()
        .find(|s| s.path().eq_ignore_ascii_case(path))
    }
}

/// A decoded request: the operation's local name and its body element.
#[derive(Debug)]
pub struct Request {
    pub op: String,
    pub body: Element,
}

/// Why a request could not be decoded, as ASP.NET answers it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The XML or the envelope is unreadable.
    #[error("Server was unable to read request. ---> There is an error in XML document. ---> {0}")]
    Unreadable(String),
    /// `SOAPAction` (or the body element) names no operation of the service.
    #[error("Server did not recognize the value of HTTP Header SOAPAction: {0}.")]
    UnknownAction(String),
}

/// Decodes one request for `service`.
pub fn decode(
    service: Service,
    soap_action: Option<&str>,
    bytes: &[u8],
) -> Result<Request, DecodeError> {
    let env: Envelope =
        soap::read(bytes, &LIMITS).map_err(|e| DecodeError::Unreadable(e.to_string()))?;
    if env.version != Version::Soap11 && service != Service::Admin {
        // ASMX answers SOAP 1.2 too; WSUS clients never send it, and the
        // answer is written in 1.1 regardless.
    }
    let payload = env
        .payload()
        .cloned()
        .ok_or_else(|| DecodeError::Unreadable("empty Body".into()))?;
    let ns = service.namespace();
    let action = soap_action
        .map(|a| a.trim().trim_matches('"').to_string())
        .filter(|a| !a.is_empty());
    let op = match &action {
        Some(a) => {
            // Reporting's actions have no "/Server/" segment; the others
            // are the namespace plus "/Op".
            let op = a
                .strip_prefix(ns)
                .and_then(|r| r.strip_prefix('/'))
                .ok_or_else(|| DecodeError::UnknownAction(a.clone()))?;
            if op.is_empty() || op.contains('/') {
                return Err(DecodeError::UnknownAction(a.clone()));
            }
            op.to_string()
        }
        None => payload.name.to_string(),
    };
    if payload.ns != ns || payload.name != op {
        return match action {
            Some(a) => Err(DecodeError::UnknownAction(a)),
            None => Err(DecodeError::UnknownAction(String::new())),
        };
    }
    Ok(Request { op, body: payload })
}

/// MS-WUSP §2.2.2.4 error codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidCookie,
    ConfigChanged,
    CookieExpired,
    InvalidParameters,
    InvalidAuthorizationCookie,
    RegistrationRequired,
    RegistrationNotRequired,
    ServerChanged,
    ServerBusy,
    InternalServerError,
    FileLocationChanged,
}

impl ErrorCode {
    pub fn name(self) -> &'static str {
        match self {
            ErrorCode::InvalidCookie => "InvalidCookie",
            ErrorCode::ConfigChanged => "ConfigChanged",
            ErrorCode::CookieExpired => "CookieExpired",
            ErrorCode::InvalidParameters => "InvalidParameters",
            ErrorCode::InvalidAuthorizationCookie => "InvalidAuthorizationCookie",
            ErrorCode::RegistrationRequired => "RegistrationRequired",
            ErrorCode::RegistrationNotRequired => "RegistrationNotRequired",
            ErrorCode::ServerChanged => "ServerChanged",
            ErrorCode::ServerBusy => "ServerBusy",
            ErrorCode::InternalServerError => "InternalServerError",
            ErrorCode::FileLocationChanged => "FileLocationChanged",
        }
    }
}

/// A WSUS fault: the error code and an optional message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WsusFault {
    pub code: ErrorCode,
    pub message: Option<String>,
}

impl WsusFault {
    pub fn new(code: ErrorCode) -> WsusFault {
        WsusFault {
            code,
            message: None,
        }
    }

    pub fn with(code: ErrorCode, message: impl Into<String>) -> WsusFault {
        WsusFault {
            code,
            message: Some(message.into()),
        }
    }

    /// `InvalidParameters` naming the parameter, as §2.2.2.4 asks.
    pub fn param(name: &str) -> WsusFault {
        WsusFault::with(ErrorCode::InvalidParameters, name)
    }
}

const ENV_OPEN: &str = "<?xml version=\"1.0\" encoding=\"utf-8\"?><soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\"><soap:Body>";
const ENV_CLOSE: &str = "</soap:Body></soap:Envelope>";

/// A response envelope around `body` (already XML).
pub fn envelope(body: &str) -> String {
    let mut s = String::with_capacity(ENV_OPEN.len() + body.len() + ENV_CLOSE.len());
    s.push_str(ENV_OPEN);
    s.push_str(body);
    s.push_str(ENV_CLOSE);
    s
}

/// The fault WSUS writes (ASP.NET's `SoapException` with WSUS's detail):
/// `soap:Client`, "Fault occurred", the service URL as actor, and the
/// detail's ErrorCode, Message, a fresh ID and the Method.
pub fn wsus_fault(f: &WsusFault, actor: &str, method: &str, id: &str) -> String {
    let mut d = String::new();
    d.push_str("<ErrorCode>");
    d.push_str(f.code.name());
    d.push_str("</ErrorCode>");
    if let Some(m) = &f.message {
        d.push_str("<Message>");
        d.push_str(&escape_text(m));
        d.push_str("</Message>");
    }
    d.push_str("<ID>");
    d.push_str(id);
    d.push_str("</ID><Method>\"");
    d.push_str(&escape_text(method));
    d.push_str("\"</Method>");
    fault_xml("soap:Client", "Fault occurred", Some(actor), Some(&d))
}

/// ASP.NET's own fault for a request it could not dispatch.
pub fn asmx_fault(code: &str, reason: &str) -> String {
    fault_xml(code, reason, None, Some(""))
}

fn fault_xml(code: &str, reason: &str, actor: Option<&str>, detail: Option<&str>) -> String {
    let mut s = String::from("<soap:Fault><faultcode>");
    s.push_str(code);
    s.push_str("</faultcode><faultstring>");
    s.push_str(&escape_text(reason));
    s.push_str("</faultstring>");
    if let Some(a) = actor {
        s.push_str("<faultactor>");
        s.push_str(&escape_text(a));
        s.push_str("</faultactor>");
    }
    match detail {
        Some("") => s.push_str("<detail />"),
        Some(d) => {
            s.push_str("<detail>");
            s.push_str(d);
            s.push_str("</detail>");
        }
        None => {}
    }
    s.push_str("</soap:Fault>");
    envelope(&s)
}

// ----- reading typed pieces -----

/// A child's trimmed text, by local name in the element's namespace.
pub fn text<'a>(e: &'a Element, name: &str) -> Option<&'a str> {
    e.children
        .iter()
        .find(|c| c.name == name)
        .map(|c| c.text_trim())
}

pub fn child<'a>(e: &'a Element, name: &str) -> Option<&'a Element> {
    e.children.iter().find(|c| c.name == name)
}

/// A Cookie: its `EncryptedData` bytes (the expiration in clear is the
/// client's copy and not trusted).
pub fn cookie_data(e: &Element, name: &str) -> Result<Vec<u8>, WsusFault> {
    let c = child(e, name).ok_or_else(|| WsusFault::new(ErrorCode::InvalidCookie))?;
    let data = text(c, "EncryptedData").unwrap_or("");
    base64::engine::general_purpose::STANDARD
        .decode(data)
        .map_err(|_| WsusFault::new(ErrorCode::InvalidCookie))
}

/// An `ArrayOfInt` child (absent: empty), at most [`MAX_IDS`].
pub fn int_array(e: &Element, name: &str) -> Result<Vec<i32>, WsusFault> {
    let Some(a) = child(e, name) else {
        return Ok(Vec::new());
    };
    if a.children.len() > MAX_IDS {
        return Err(WsusFault::param(name));
    }
    a.children
        .iter()
        .map(|c| {
            c.text_trim()
                .parse::<i32>()
                .map_err(|_| WsusFault::param(name))
        })
        .collect()
}

/// A boolean child (`true`/`false`/`1`/`0`); absent is `false`.
pub fn boolean(e: &Element, name: &str) -> Result<bool, WsusFault> {
    match text(e, name) {
        None => Ok(false),
        Some("true") | Some("1") => Ok(true),
        Some("false") | Some("0") => Ok(false),
        Some(_) => Err(WsusFault::param(name)),
    }
}

/// A GUID in its canonical 8-4-4-4-12 form, lower-cased.
pub fn guid(s: &str) -> Option<String> {
    let s = s.trim();
    let ok = s.len() == 36
        && s.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        });
    ok.then(|| s.to_ascii_lowercase())
}

pub fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

pub fn unb64(s: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .ok()
}

/// `xsd:dateTime` in UTC with milliseconds, as .NET writes them.
pub fn datetime(unix_millis: u64) -> String {
    let secs = (unix_millis / 1000) as i64;
    let ms = unix_millis % 1000;
    match fakedc_model::timefmt::utc_date_time(secs) {
        Some(t) => format!("{t}.{ms:03}Z"),
        None => "2000-01-01T00:00:00Z".into(),
    }
}

/// Parses `xsd:dateTime` (`YYYY-MM-DDTHH:MM:SS[.fff][Z|±HH:MM]`; no zone
/// is UTC) into Unix milliseconds.
pub fn parse_datetime(s: &str) -> Option<u64> {
    let s = s.trim();
    let num = |a: usize, b: usize| s.get(a..b)?.parse::<u32>().ok();
    if s.len() < 19 || s.as_bytes().get(10) != Some(&b'T') {
        return None;
    }
    let (y, mo, d) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (h, mi, se) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
    let mut rest = &s[19..];
    let mut ms = 0u64;
    if let Some(r) = rest.strip_prefix('.') {
        let digits = r.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let frac = &r[..digits.min(3)];
        ms = frac.parse::<u64>().ok()? * 10u64.pow(3 - frac.len() as u32);
        rest = &r[digits..];
    }
    let offset_min: i64 = match rest {
        "" | "Z" => 0,
        z if z.len() == 6 && (z.starts_with('+') || z.starts_with('-')) => {
            let hh: i64 = z.get(1..3)?.parse().ok()?;
            let mm: i64 = z.get(4..6)?.parse().ok()?;
            let v = hh * 60 + mm;
            if z.starts_with('-') {
                -v
            } else {
                v
            }
        }
        _ => return None,
    };
    let month = time::Month::try_from(u8::try_from(mo).ok()?).ok()?;
    let date = time::Date::from_calendar_date(i32::try_from(y).ok()?, month, u8::try_from(d).ok()?)
        .ok()?;
    let t = time::Time::from_hms(
        u8::try_from(h).ok()?,
        u8::try_from(mi).ok()?,
        u8::try_from(se).ok()?,
    )
    .ok()?;
    let secs = date.with_time(t).assume_utc().unix_timestamp() - offset_min * 60;
    u64::try_from(secs).ok()?.checked_mul(1000)?.checked_add(ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(body: &str) -> String {
        format!("<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body>{body}</s:Body></s:Envelope>")
    }

    #[test]
    fn action_quoted_unquoted_or_absent() {
        let b = req(&format!(
            "<GetConfig xmlns=\"{NS_CLIENT}\"><protocolVersion>1.8</protocolVersion></GetConfig>"
        ));
        let a = format!("\"{NS_CLIENT}/GetConfig\"");
        assert_eq!(
            decode(Service::Client, Some(&a), b.as_bytes()).unwrap().op,
            "GetConfig"
        );
        assert_eq!(
            decode(Service::Client, Some(a.trim_matches('"')), b.as_bytes())
                .unwrap()
                .op,
            "GetConfig"
        );
        assert_eq!(
            decode(Service::Client, None, b.as_bytes()).unwrap().op,
            "GetConfig"
        );
        let wrong = format!("\"{NS_CLIENT}/Nope\"");
        assert!(matches!(
            decode(Service::Client, Some(&wrong), b.as_bytes()),
            Err(DecodeError::UnknownAction(_))
        ));
    }

    #[test]
    fn entities_and_garbage_refused() {
        let bomb = "<?xml version=\"1.0\"?><!DOCTYPE l [<!ENTITY a \"aaaa\"><!ENTITY b \"&a;&a;&a;\">]><s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body>&b;</s:Body></s:Envelope>";
        assert!(matches!(
            decode(Service::Client, None, bomb.as_bytes()),
            Err(DecodeError::Unreadable(_))
        ));
        assert!(decode(Service::Client, None, b"\x00\xff<<").is_err());
    }

    #[test]
    fn fault_has_error_code() {
        let f = wsus_fault(
            &WsusFault::new(ErrorCode::InvalidCookie),
            "http://x/ClientWebService/Client.asmx",
            "http://m",
            "0",
        );
        let env = soap::read(f.as_bytes(), &LIMITS).unwrap();
        assert!(env.is_fault());
        assert!(f.contains("<ErrorCode>InvalidCookie</ErrorCode>"));
    }

    #[test]
    fn datetime_parse() {
        assert_eq!(
            parse_datetime("2023-11-14T22:13:20.123Z"),
            Some(1_700_000_000_123)
        );
        assert_eq!(
            parse_datetime("2023-11-14T22:13:20.123456+00:00"),
            Some(1_700_000_000_123)
        );
        assert_eq!(
            parse_datetime("2023-11-14T23:13:20+01:00"),
            Some(1_700_000_000_000)
        );
        assert_eq!(
            parse_datetime("2023-11-14T22:13:20"),
            Some(1_700_000_000_000)
        );
        assert_eq!(
            parse_datetime(&datetime(1_234_567_890_987)),
            Some(1_234_567_890_987)
        );
        for bad in [
            "",
            "2023-13-01T00:00:00Z",
            "2023-11-14 22:13:20",
            "2023-11-14T22:13:20.Z",
            "1969-12-31T23:59:59Z",
            "x",
        ] {
            assert_eq!(parse_datetime(bad), None, "{bad}");
        }
    }

    #[test]
    fn datetime_format() {
        assert_eq!(datetime(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(datetime(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
    }
}
