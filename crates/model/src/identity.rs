//! Who a machine's web server says it is: the `Server` header and the
//! error pages of the product that really answers on that endpoint. This
//! is product knowledge like the port table's default ports (no protocol
//! crate needed): `nmap -sV` and inventory scripts identify a host by it,
//! so a BMC must not claim to be IIS and ESXi must not claim to be Windows.

use crate::service::{Role, ServiceKind};

/// The web server behind an HTTP endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebServer {
    /// Windows' kernel HTTP stack answering for itself (WinRM, WCF
    /// self-hosted services): `Microsoft-HTTPAPI/2.0`, HTTP.sys error pages.
    HttpSys,
    /// IIS 10 on Windows Server 2016-2022 (BITS, WSUS): `Microsoft-IIS/10.0`.
    Iis,
    /// A BMC's embedded web server (AMI MegaRAC-style firmware serves
    /// lighttpd; the exact product varies by vendor).
    Bmc,
    /// VMware's reverse proxy on ESXi and vCenter: no `Server` header.
    Vmware,
    /// The load balancer's management plane (BIG-IP's httpd).
    LoadBalancer,
    /// An array's CIM object manager (SMI-S provider): no `Server` header,
    /// as OpenPegasus-based providers send none.
    Cimom,
}

impl WebServer {
    /// The web server of an endpoint of a machine of `role`.
    pub fn of(role: Role, kind: ServiceKind) -> WebServer {
        use ServiceKind::*;
        match role {
            Role::Bmc => WebServer::Bmc,
            Role::EsxHost | Role::EsxiHost | Role::Vcenter => WebServer::Vmware,
            Role::LoadBalancer => WebServer::LoadBalancer,
            Role::StorageArray => WebServer::Cimom,
            _ => match kind {
                Bits | BitsHttp | Web | WsusHttp | WsusHttps | WsusControlHttp
                | WsusControlHttps => WebServer::Iis,
                _ => WebServer::HttpSys,
            },
        }
    }

    /// The `Server` header value, if the product sends one.
    pub fn server_header(self) -> Option<&'static str> {
        match self {
            WebServer::HttpSys => Some("Microsoft-HTTPAPI/2.0"),
            WebServer::Iis => Some("Microsoft-IIS/10.0"),
            WebServer::Bmc => Some("lighttpd/1.4.59"),
            WebServer::Vmware | WebServer::Cimom => None,
            WebServer::LoadBalancer => Some("Apache"),
        }
    }

    /// Whether the product's HTTP authentication offers NTLM/Negotiate
    /// (Windows does; ESXi, BMCs and the load balancer never do).
    pub fn offers_ntlm(self) -> bool {
        matches!(self, WebServer::HttpSys | WebServer::Iis)
    }

    /// The error page the product sends for `status` when nothing more
    /// specific applies (no route, a refused method, the busy fault):
    /// (content type, body).
    pub fn error_page(self, status: u16) -> (&'static str, String) {
        let reason = reason(status);
        match self {
            WebServer::HttpSys => (
                "text/html; charset=us-ascii",
                format!(
                    concat!(
                        "<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 4.01//EN\"\"http://www.w3.org/TR/html4/strict.dtd\">\r\n",
                        "<HTML><HEAD><TITLE>{reason}</TITLE>\r\n",
                        "<META HTTP-EQUIV=\"Content-Type\" Content=\"text/html; charset=us-ascii\"></HEAD>\r\n",
                        "<BODY><h2>{reason}</h2>\r\n",
                        "<hr><p>HTTP Error {status}. {text}</p>\r\n",
                        "</BODY></HTML>\r\n"
                    ),
                    reason = reason,
                    status = status,
                    text = httpsys_text(status)
                ),
            ),
            WebServer::Iis => (
                "text/html",
                format!(
                    concat!(
                        "<!DOCTYPE html PUBLIC \"-//W3C//DTD XHTML 1.0 Strict//EN\" \"http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd\">\r\n",
                        "<html xmlns=\"http://www.w3.org/1999/xhtml\">\r\n",
                        "<head>\r\n<meta http-equiv=\"Content-Type\" content=\"text/html; charset=iso-8859-1\"/>\r\n",
                        "<title>{status} - {title}</title>\r\n</head>\r\n",
                        "<body>\r\n<div id=\"header\"><h1>Server Error</h1></div>\r\n",
                        "<div id=\"content\">\r\n <div class=\"content-container\"><fieldset>\r\n",
                        "  <h2>{status} - {title}</h2>\r\n  <h3>{text}</h3>\r\n",
                        " </fieldset></div>\r\n</div>\r\n</body>\r\n</html>\r\n"
                    ),
                    status = status,
                    title = iis_title(status),
                    text = iis_text(status)
                ),
            ),
            WebServer::Bmc => (
                "text/html",
                format!(
                    concat!(
                        "<?xml version=\"1.0\" encoding=\"iso-8859-1\"?>\n",
                        "<!DOCTYPE html PUBLIC \"-//W3C//DTD XHTML 1.0 Transitional//EN\"\n",
                        "         \"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd\">\n",
                        "<html xmlns=\"http://www.w3.org/1999/xhtml\" xml:lang=\"en\" lang=\"en\">\n",
                        " <head>\n  <title>{status} - {reason}</title>\n </head>\n",
                        " <body>\n  <h1>{status} - {reason}</h1>\n </body>\n</html>\n"
                    ),
                    status = status,
                    reason = reason
                ),
            ),
            WebServer::Vmware | WebServer::LoadBalancer | WebServer::Cimom => {
                ("text/plain", String::new())
            }
        }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        411 => "Length Required",
        413 => "Request Entity Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        _ => "Error",
    }
}

/// HTTP.sys's one-line explanations (its built-in error responses).
fn httpsys_text(status: u16) -> &'static str {
    match status {
        400 => "The request is badly formed.",
        404 => "The requested resource is not found.",
        405 => "The request verb is invalid.",
        411 => "The request must be chunked or have a content length.",
        413 => "The request entity is too large.",
        503 => "The service is unavailable.",
        _ => "The request could not be processed.",
    }
}

fn iis_title(status: u16) -> &'static str {
    match status {
        404 => "File or directory not found.",
        405 => "HTTP verb used to access this page is not allowed.",
        503 => "Service unavailable.",
        _ => "Server error.",
    }
}

fn iis_text(status: u16) -> &'static str {
    match status {
        404 => "The resource you are looking for might have been removed, had its name changed, or is temporarily unavailable.",
        405 => "The page you are looking for cannot be displayed because an invalid method (HTTP verb) was used to attempt access.",
        503 => "The service is temporarily unavailable.",
        _ => "There is a problem with the resource you are looking for, and it cannot be displayed.",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_machine_kind_names_its_own_server() {
        let hv = Role::HypervHost;
        assert_eq!(
            WebServer::of(hv, ServiceKind::WinrmHttp).server_header(),
            Some("Microsoft-HTTPAPI/2.0")
        );
        assert_eq!(
            WebServer::of(hv, ServiceKind::Bits).server_header(),
            Some("Microsoft-IIS/10.0")
        );
        let bmc = WebServer::of(Role::Bmc, ServiceKind::Smash);
        assert!(!bmc.server_header().unwrap_or("").contains("Microsoft"));
        assert!(!bmc.offers_ntlm());
        let esxi = WebServer::of(Role::EsxiHost, ServiceKind::EsxiHttps);
        assert_eq!(esxi.server_header(), None);
        assert!(!esxi.offers_ntlm());
        let (ct, body) = WebServer::HttpSys.error_page(404);
        assert!(ct.starts_with("text/html"));
        assert!(body.contains("HTTP Error 404. The requested resource is not found."));
    }
}
