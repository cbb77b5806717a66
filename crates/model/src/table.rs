//! The five tables of "Ports and protocols for VMM", row by row, with the
//! role that owns each row's endpoints and the services that serve it. `list`
//! prints them and `check` probes them.

use crate::service::{Role, ServiceKind};

/// One row of the seed's tables.
#[derive(Debug, Clone, Copy)]
pub struct TableRow {
    /// Index into [`TABLES`].
    pub table: usize,
    /// The "Component/device connection target" (or source) column.
    pub peer: &'static str,
    pub ports: &'static str,
    pub protocols: &'static str,
    pub change: &'static str,
    /// The role whose machines hold the row's endpoints; `None` for rows
    /// without a network port (the Storage Management Service's WMI).
    pub target: Option<Role>,
    pub services: &'static [ServiceKind],
}

/// Table titles, in the seed's order.
pub const TABLES: [&str; 5] = [
    "VMM management server - source",
    "VMM management server - target",
    "VMM library server",
    "VMM administrator console",
    "Other",
];

use ServiceKind::*;

const WCF_ALL: &[ServiceKind] = &[WcfTcp8100, WcfHttps8101, WcfNetTcp8102, WcfHttp8103];

/// Every row of every table.
pub const ROWS: &[TableRow] = &[
    TableRow {
        table: 0,
        peer: "Hyper-V Host (VMM agent)",
        ports: "80/135/139/445",
        protocols: "WinRM/RPC/NetBIOS/SMB (over TCP)",
        change: "VMM Setup Wizard",
        target: Some(Role::HypervHost),
        services: &[WinrmHttp80, Rpc, Netbios, Smb],
    },
    TableRow {
        table: 0,
        peer: "Hyper-V Host (file transfer)",
        ports: "443",
        protocols: "HTTPS (using BITS)",
        change: "",
        target: Some(Role::HypervHost),
        services: &[Bits],
    },
    TableRow {
        table: 0,
        peer: "Hyper-V Host (control channel)",
        ports: "5985/5986",
        protocols: "WS-Management",
        change: "VMM Setup Wizard",
        target: Some(Role::HypervHost),
        services: &[WinrmHttp, WinrmHttps],
    },
    TableRow {
        table: 0,
        peer: "VM Guest Agent (file transfer)",
        ports: "443",
        protocols: "HTTPS (using BITS)",
        change: "Windows Registry",
        target: Some(Role::VmGuest),
        services: &[Bits],
    },
    TableRow {
        table: 0,
        peer: "VM Guest Agent (control channel)",
        ports: "5985",
        protocols: "WS-Management",
        change: "",
        target: Some(Role::VmGuest),
        services: &[WinrmHttp],
    },
    TableRow {
        table: 0,
        peer: "VMWare ESX 3.0/3.5 Host (file transfer)",
        ports: "22",
        protocols: "SFTP",
        change: "Windows Registry",
        target: Some(Role::EsxHost),
        services: &[Sftp],
    },
    TableRow {
        table: 0,
        peer: "VMWare ESXi Host (file transfer)",
        ports: "443",
        protocols: "SSH/HTTPS (using BITS)",
        change: "",
        target: Some(Role::EsxiHost),
        services: &[EsxiHttps, Ssh],
    },
    TableRow {
        table: 0,
        peer: "WSUS Server (data channel)",
        ports: "80/443",
        protocols: "HTTP",
        change: "Windows Registry",
        target: Some(Role::Wsus),
        services: &[WsusHttp, WsusHttps],
    },
    TableRow {
        table: 0,
        peer: "WSUS Server (control channel)",
        ports: "8530/8531",
        protocols: "HTTPS",
        change: "Windows Registry",
        target: Some(Role::Wsus),
        services: &[WsusControlHttp, WsusControlHttps],
    },
    TableRow {
        table: 0,
        peer: "SQL Server database (remote)",
        ports: "1433",
        protocols: "TDS",
        change: "",
        target: Some(Role::SqlServer),
        services: &[Tds],
    },
    TableRow {
        table: 0,
        peer: "Load Balancer",
        ports: "80/443",
        protocols: "Load balancer config provider",
        change: "",
        target: Some(Role::LoadBalancer),
        services: &[LbHttp, LbHttps],
    },
    TableRow {
        table: 0,
        peer: "Storage Management Service",
        ports: "n/a",
        protocols: "WMI",
        change: "",
        target: None,
        services: &[],
    },
    TableRow {
        table: 1,
        peer: "Hyper-V host in untrusted domain or perimeter network (File Transfer)",
        ports: "443",
        protocols: "TCP",
        change: "Windows Registry",
        target: Some(Role::VmmServer),
        services: &[Bits],
    },
    TableRow {
        table: 1,
        peer: "VMM Administrator Console",
        ports: "8100, 8101 (HTTPS), 8102 (NET.TCP), 8103 (HTTP)",
        protocols: "WCF",
        change: "VMM Setup Wizard",
        target: Some(Role::VmmServer),
        services: WCF_ALL,
    },
    TableRow {
        table: 1,
        peer: "Windows PE Agent",
        ports: "8101 (control), 8103 (time sync)",
        protocols: "WCF",
        change: "VMM Setup Wizard",
        target: Some(Role::VmmServer),
        services: &[WcfHttps8101, WcfHttp8103],
    },
    TableRow {
        table: 1,
        peer: "WDS PXE Provider",
        ports: "8102",
        protocols: "WCF",
        change: "VMM Setup Wizard",
        target: Some(Role::VmmServer),
        services: &[WcfNetTcp8102],
    },
    TableRow {
        table: 2,
        peer: "Hyper-V Host (file transfer)",
        ports: "443",
        protocols: "BITS",
        change: "VMM Setup Wizard",
        target: Some(Role::HypervHost),
        services: &[Bits],
    },
    TableRow {
        table: 3,
        peer: "VMM management server",
        ports: "8100, 8101 (HTTPS), 8102 (NET.TCP), 8103 (HTTP)",
        protocols: "WCF",
        change: "VMM Setup Wizard",
        target: Some(Role::VmmServer),
        services: WCF_ALL,
    },
    TableRow {
        table: 3,
        peer: "Hyper-V Host",
        ports: "2179",
        protocols: "RDP (using VMConnect)",
        change: "VMM administrator console",
        target: Some(Role::HypervHost),
        services: &[VmConnect],
    },
    TableRow {
        table: 3,
        peer: "VMWare Web Services",
        ports: "443",
        protocols: "WCF",
        change: "VMM administrator console",
        target: Some(Role::Vcenter),
        services: &[VmwareWebServices],
    },
    TableRow {
        table: 4,
        peer: "Baseboard Management Controller",
        ports: "443",
        protocols: "HTTPS (SMASH over WS-Management)",
        change: "On BMC device",
        target: Some(Role::Bmc),
        services: &[Smash],
    },
    TableRow {
        table: 4,
        peer: "Baseboard Management Controller",
        ports: "623",
        protocols: "IPMI",
        change: "On BMC device",
        target: Some(Role::Bmc),
        services: &[Ipmi],
    },
];
