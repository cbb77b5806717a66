//! The vocabulary of roles and services: which machine kinds exist and which
//! ports each one answers on by default. This is product knowledge taken from
//! the VMM port table (`shared/seed/ports-and-protocols-for-vmm.md`), not
//! protocol knowledge: no crate that implements a protocol is needed to plan
//! endpoints, list the table or decide what `check` expects.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The machine kinds of a VMM deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    HypervHost,
    VmGuest,
    VmmServer,
    LibraryServer,
    EsxHost,
    EsxiHost,
    Vcenter,
    Wsus,
    SqlServer,
    LoadBalancer,
    Bmc,
    /// A block storage array managed through its SMI-S provider.
    StorageArray,
}

impl Role {
    pub const ALL: [Role; 12] = [
        Role::HypervHost,
        Role::VmGuest,
        Role::VmmServer,
        Role::LibraryServer,
        Role::EsxHost,
        Role::EsxiHost,
        Role::Vcenter,
        Role::Wsus,
        Role::SqlServer,
        Role::LoadBalancer,
        Role::Bmc,
        Role::StorageArray,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::HypervHost => "hyperv-host",
            Role::VmGuest => "vm-guest",
            Role::VmmServer => "vmm-server",
            Role::LibraryServer => "library-server",
            Role::EsxHost => "esx-host",
            Role::EsxiHost => "esxi-host",
            Role::Vcenter => "vcenter",
            Role::Wsus => "wsus",
            Role::SqlServer => "sql-server",
            Role::LoadBalancer => "load-balancer",
            Role::Bmc => "bmc",
            Role::StorageArray => "storage-array",
        }
    }

    /// The services a machine of this role answers on unless its scenario
    /// entry overrides them; straight from the port table's rows.
    pub fn default_services(self) -> &'static [ServiceKind] {
        use ServiceKind::*;
        match self {
            Role::HypervHost => &[
                WinrmHttp80,
                Rpc,
                Netbios,
                Smb,
                Bits,
                WinrmHttp,
                WinrmHttps,
                VmConnect,
            ],
            Role::VmGuest => &[Bits, WinrmHttp],
            // WinRM too: VMM reads the Storage Management Service's WMI
            // classes on its own server, and remote tools reach them over it.
            Role::VmmServer => &[
                Bits,
                WcfTcp8100,
                WcfHttps8101,
                WcfNetTcp8102,
                WcfHttp8103,
                WinrmHttp,
                WinrmHttps,
            ],
            Role::LibraryServer => &[Bits],
            Role::EsxHost => &[Sftp],
            Role::EsxiHost => &[EsxiHttps, Ssh],
            Role::Vcenter => &[VmwareWebServices],
            Role::Wsus => &[WsusHttp, WsusHttps, WsusControlHttp, WsusControlHttps],
            Role::SqlServer => &[Tds],
            Role::LoadBalancer => &[LbHttp, LbHttps],
            Role::Bmc => &[Ipmi, Smash, Redfish],
            Role::StorageArray => &[SmisHttp, SmisHttps],
        }
    }

    /// Whether the machine runs Windows (account names are
    /// case-insensitive, `DOMAIN\\user` logins). ESX/ESXi, BMCs and the
    /// load balancer do not.
    pub fn is_windows(self) -> bool {
        !matches!(
            self,
            Role::EsxHost
                | Role::EsxiHost
                | Role::Bmc
                | Role::LoadBalancer
                | Role::Vcenter
                | Role::StorageArray
        )
    }

    /// Whether this role is a host whose OS endpoints depend on its power
    /// state (everything but a BMC, which runs on standby power).
    pub fn has_os(self) -> bool {
        self != Role::Bmc
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<_> = Role::ALL.iter().map(|r| r.as_str()).collect();
                format!("unknown role '{s}' (known roles: {})", names.join(", "))
            })
    }
}

/// Transport of an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    Tcp,
    Udp,
}

/// One service a machine can answer on. Each has the table's default port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "kebab-case")]
pub enum ServiceKind {
    /// WinRM listener on 80 (the "VMM agent" row).
    WinrmHttp80,
    Rpc,
    Netbios,
    Smb,
    /// BITS over HTTPS 443 (file transfer rows).
    Bits,
    WinrmHttp,
    WinrmHttps,
    /// VMConnect (RDP) on 2179.
    VmConnect,
    Sftp,
    /// ESXi 443: SDK and BITS over HTTPS.
    EsxiHttps,
    /// SSH on ESXi hosts (port 22).
    Ssh,
    /// VMware Web Services (vCenter SDK) on 443.
    VmwareWebServices,
    WsusHttp,
    WsusHttps,
    WsusControlHttp,
    WsusControlHttps,
    Tds,
    LbHttp,
    LbHttps,
    WcfTcp8100,
    WcfHttps8101,
    WcfNetTcp8102,
    WcfHttp8103,
    Ipmi,
    /// SMASH over WS-Management on HTTPS 443.
    Smash,
    /// Redfish on a BMC's HTTPS 443: the same listener (port, TLS) as
    /// SMASH, routed by path (`/redfish`), as a real BMC has one web
    /// server; its own kind so the journal, fault rules and `check` name it.
    Redfish,
    /// SSH on a BMC (SMASH CLP); not in the table, enabled per scenario.
    BmcSsh,
    /// BITS over plain HTTP on 80. Not in the table (every BITS row there
    /// is HTTPS 443), so no role has it by default; a scenario enables it
    /// per machine, as an IIS BITS virtual directory bound to http:80.
    BitsHttp,
    /// An IIS web site on HTTP 80 (`GET /` names the machine): the
    /// application a load balancer's pool members serve. Not in the table;
    /// opt-in per machine (`services.web = true`) on VM guests and hosts.
    Web,
    /// An array's SMI-S provider, CIM-XML over HTTP 5988.
    SmisHttp,
    /// An array's SMI-S provider, CIM-XML over HTTPS 5989.
    SmisHttps,
}

impl ServiceKind {
    pub const ALL: [ServiceKind; 31] = [
        ServiceKind::WinrmHttp80,
        ServiceKind::Rpc,
        ServiceKind::Netbios,
        ServiceKind::Smb,
        ServiceKind::Bits,
        ServiceKind::WinrmHttp,
        ServiceKind::WinrmHttps,
        ServiceKind::VmConnect,
        ServiceKind::Sftp,
        ServiceKind::EsxiHttps,
        ServiceKind::Ssh,
        ServiceKind::VmwareWebServices,
        ServiceKind::WsusHttp,
        ServiceKind::WsusHttps,
        ServiceKind::WsusControlHttp,
        ServiceKind::WsusControlHttps,
        ServiceKind::Tds,
        ServiceKind::LbHttp,
        ServiceKind::LbHttps,
        ServiceKind::WcfTcp8100,
        ServiceKind::WcfHttps8101,
        ServiceKind::WcfNetTcp8102,
        ServiceKind::WcfHttp8103,
        ServiceKind::Ipmi,
        ServiceKind::Smash,
        ServiceKind::Redfish,
        ServiceKind::BmcSsh,
        ServiceKind::BitsHttp,
        ServiceKind::Web,
        ServiceKind::SmisHttp,
        ServiceKind::SmisHttps,
    ];

    /// The kebab-case name used in scenarios, the journal and the control API.
    pub fn name(self) -> &'static str {
        use ServiceKind::*;
        match self {
            WinrmHttp80 => "winrm-http80",
            Rpc => "rpc",
            Netbios => "netbios",
            Smb => "smb",
            Bits => "bits",
            WinrmHttp => "winrm-http",
            WinrmHttps => "winrm-https",
            VmConnect => "vmconnect",
            Sftp => "sftp",
            EsxiHttps => "esxi-https",
            Ssh => "ssh",
            VmwareWebServices => "vmware-web-services",
            WsusHttp => "wsus-http",
            WsusHttps => "wsus-https",
            WsusControlHttp => "wsus-control-http",
            WsusControlHttps => "wsus-control-https",
            Tds => "tds",
            LbHttp => "lb-http",
            LbHttps => "lb-https",
            WcfTcp8100 => "wcf-8100",
            WcfHttps8101 => "wcf-https-8101",
            WcfNetTcp8102 => "wcf-nettcp-8102",
            WcfHttp8103 => "wcf-http-8103",
            Ipmi => "ipmi",
            Smash => "smash",
            Redfish => "redfish",
            BmcSsh => "bmc-ssh",
            BitsHttp => "bits-http",
            Web => "web",
            SmisHttp => "smis-http",
            SmisHttps => "smis-https",
        }
    }

    /// The table's default port.
    pub fn default_port(self) -> u16 {
        use ServiceKind::*;
        match self {
            WinrmHttp80 | WsusHttp | LbHttp | BitsHttp | Web => 80,
            Rpc => 135,
            Netbios => 139,
            Smb => 445,
            Bits | EsxiHttps | VmwareWebServices | WsusHttps | LbHttps | Smash | Redfish => 443,
            WinrmHttp => 5985,
            WinrmHttps => 5986,
            VmConnect => 2179,
            Sftp | Ssh | BmcSsh => 22,
            WsusControlHttp => 8530,
            WsusControlHttps => 8531,
            Tds => 1433,
            WcfTcp8100 => 8100,
            WcfHttps8101 => 8101,
            WcfNetTcp8102 => 8102,
            WcfHttp8103 => 8103,
            Ipmi => 623,
            SmisHttp => 5988,
            SmisHttps => 5989,
        }
    }

    pub fn transport(self) -> Transport {
        if self == ServiceKind::Ipmi {
            Transport::Udp
        } else {
            Transport::Tcp
        }
    }

    /// Whether the endpoint speaks TLS on accept.
    pub fn tls(self) -> bool {
        use ServiceKind::*;
        matches!(
            self,
            Bits | WinrmHttps
                | EsxiHttps
                | VmwareWebServices
                | WsusHttps
                | WsusControlHttps
                | LbHttps
                | WcfHttps8101
                | Smash
                | Redfish
                | SmisHttps
        )
    }

    /// Whether the endpoint speaks HTTP(S): endpoints of one machine on one
    /// port may share a listener (routed by path) when both are HTTP with
    /// the same TLS setting, as HTTP.sys shares port 80 between WinRM and
    /// IIS on Windows.
    pub fn http(self) -> bool {
        use ServiceKind::*;
        matches!(
            self,
            WinrmHttp80
                | Bits
                | BitsHttp
                | WinrmHttp
                | WinrmHttps
                | EsxiHttps
                | VmwareWebServices
                | WsusHttp
                | WsusHttps
                | WsusControlHttp
                | WsusControlHttps
                | LbHttp
                | LbHttps
                | WcfHttps8101
                | WcfHttp8103
                | Smash
                | Redfish
                | Web
                | SmisHttp
                | SmisHttps
        )
    }

    /// The protocol label shown in tables.
    pub fn protocol(self) -> &'static str {
        use ServiceKind::*;
        match self {
            WinrmHttp80 => "WinRM",
            Rpc => "RPC",
            Netbios => "NetBIOS",
            Smb => "SMB",
            Bits => "HTTPS (BITS)",
            BitsHttp => "HTTP (BITS)",
            Web => "HTTP (IIS web site)",
            WinrmHttp | WinrmHttps => "WS-Management",
            VmConnect => "RDP (VMConnect)",
            Sftp => "SFTP",
            EsxiHttps => "SSH/HTTPS (BITS)",
            Ssh | BmcSsh => "SSH",
            VmwareWebServices => "WCF (VMware Web Services)",
            WsusHttp | WsusHttps => "HTTP",
            WsusControlHttp | WsusControlHttps => "HTTPS",
            Tds => "TDS",
            LbHttp | LbHttps => "Load balancer config provider",
            WcfTcp8100 | WcfHttps8101 | WcfNetTcp8102 | WcfHttp8103 => "WCF",
            Ipmi => "IPMI",
            Smash => "HTTPS (SMASH over WS-Management)",
            Redfish => "HTTPS (Redfish)",
            SmisHttp | SmisHttps => "SMI-S (CIM-XML)",
        }
    }

    /// Whether the service belongs to the host OS (dark while the host is
    /// off) rather than to a BMC (always on, standby power).
    pub fn needs_os(self) -> bool {
        !matches!(
            self,
            ServiceKind::Ipmi | ServiceKind::Smash | ServiceKind::Redfish | ServiceKind::BmcSsh
        )
    }
}

impl fmt::Display for ServiceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ServiceKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        ServiceKind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| format!("unknown service '{s}'"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for k in ServiceKind::ALL {
            assert_eq!(k.name().parse::<ServiceKind>(), Ok(k));
        }
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>(), Ok(r));
        }
        assert!("hyperv".parse::<Role>().is_err());
    }
}
