//! The RPC endpoint mapper on 135 (C706 appendix O, MS-RPCE 2.2.1.2):
//! `ept_lookup` (opnum 2) and `ept_map` (opnum 3) over the towers of the
//! interfaces the machine really serves — srvsvc on `\PIPE\srvsvc` over
//! SMB (ncacn_np) — and nothing invented. The DCE/RPC connection codec is
//! [`crate::rpc`]'s, shared with the named pipes on IPC$.

use crate::rpc::{self, Interface, NDR20, SRVSVC};
use fakedc_wire::Reader;

/// EPM interface e1af8308-5d1f-11c9-91a4-08002b14a0fa v3.0.
pub const EPM: ([u8; 16], u32) = (rpc::uuid("e1af8308-5d1f-11c9-91a4-08002b14a0fa"), 3);
/// DCOM's IObjectExporter (the OXID resolver, MS-DCOM 3.1.2.5.1)
/// 99fcfec4-5260-101b-bbcb-00aa0021347a v0.0, served on 135 beside the
/// endpoint mapper.
pub const IOBJECT_EXPORTER: ([u8; 16], u32) =
    (rpc::uuid("99fcfec4-5260-101b-bbcb-00aa0021347a"), 0);
/// RPC_C_AUTHN_WINNT and RPC_C_AUTHN_GSS_NEGOTIATE: the security bindings
/// ServerAlive2 lists (the authentication fakedc speaks).
const AUTHN_SERVICES: [u16; 2] = [0x0A, 0x09];
/// EPT_S_NOT_REGISTERED.
pub const EPT_S_NOT_REGISTERED: u32 = 0x16C9_A0D6;
/// Towers a tower or entry list may carry at most in one answer.
pub const MAX_ENTS: u32 = 500;

/// Protocol identifiers of tower floors.
const FLOOR_UUID: u8 = 0x0D;
const FLOOR_RPC_CO: u8 = 0x0B;
const FLOOR_TCP: u8 = 0x07;
const FLOOR_IP: u8 = 0x09;
const FLOOR_NP: u8 = 0x0F;
const FLOOR_NB: u8 = 0x11;

/// One registered endpoint.
#[derive(Debug, Clone)]
pub struct Registration {
    pub interface: ([u8; 16], u32),
    pub annotation: String,
    pub tower: Vec<u8>,
}

fn floor(out: &mut Vec<u8>, lhs: &[u8], rhs: &[u8]) {
    out.extend_from_slice(&(lhs.len() as u16).to_le_bytes());
    out.extend_from_slice(lhs);
    out.extend_from_slice(&(rhs.len() as u16).to_le_bytes());
    out.extend_from_slice(rhs);
}

fn syntax_floor(out: &mut Vec<u8>, s: ([u8; 16], u32)) {
    let mut lhs = vec![FLOOR_UUID];
    lhs.extend_from_slice(&s.0);
    lhs.extend_from_slice(&((s.1 & 0xFFFF) as u16).to_le_bytes());
    floor(out, &lhs, &((s.1 >> 16) as u16).to_le_bytes());
}

/// A named-pipe tower (ncacn_np:\\HOST[\PIPE\name]).
pub fn np_tower(interface: ([u8; 16], u32), pipe: &str, host: &str) -> Vec<u8> {
    let mut t = 5u16.to_le_bytes().to_vec();
    syntax_floor(&mut t, interface);
    syntax_floor(&mut t, NDR20);
    floor(&mut t, &[FLOOR_RPC_CO], &[0, 0]);
    floor(&mut t, &[FLOOR_NP], format!("{pipe}\0").as_bytes());
    floor(&mut t, &[FLOOR_NB], format!("\\\\{host}\0").as_bytes());
    t
}

/// A TCP tower (ncacn_ip_tcp:ADDR[port]).
pub fn tcp_tower(interface: ([u8; 16], u32), port: u16, ip: [u8; 4]) -> Vec<u8> {
    let mut t = 5u16.to_le_bytes().to_vec();
    syntax_floor(&mut t, interface);
    syntax_floor(&mut t, NDR20);
    floor(&mut t, &[FLOOR_RPC_CO], &[0, 0]);
    floor(&mut t, &[FLOOR_TCP], &port.to_be_bytes());
    floor(&mut t, &[FLOOR_IP], &ip);
    t
}

/// The interface and transport floor a tower names.
fn tower_key(t: &[u8]) -> Option<(([u8; 16], u32), u8)> {
    let mut r = Reader::new(t);
    let n = r.u16_le().ok()?;
    let mut iface = None;
    let mut transport = None;
    for i in 0..n.min(16) {
        let l = usize::from(r.u16_le().ok()?);
        let lhs = r.bytes(l).ok()?;
        let rl = usize::from(r.u16_le().ok()?);
        let rhs = r.bytes(rl).ok()?;
        match (i, lhs.first()) {
            (0, Some(&FLOOR_UUID)) if lhs.len() == 19 && rhs.len() == 2 => {
                let uuid: [u8; 16] = lhs.get(1..17)?.try_into().ok()?;
                let major = u16::from_le_bytes([lhs[17], lhs[18]]);
                let minor = u16::from_le_bytes([rhs[0], rhs[1]]);
                iface = Some((uuid, u32::from(major) | (u32::from(minor) << 16)));
            }
            (3, Some(&p)) => transport = Some(p),
            _ => {}
        }
    }
    Some((iface?, transport?))
}

/// The endpoint mapper over a machine's registrations.
pub struct Epm {
    pub entries: Vec<Registration>,
    /// The machine's network addresses as ServerAlive2 lists them: its
    /// host name, then its IP address.
    pub addresses: Vec<String>,
}

fn handle(out: &mut Vec<u8>, done: bool, cursor: u32) {
    out.extend_from_slice(&0u32.to_le_bytes());
    let mut uuid = [0u8; 16];
    if !done {
        uuid[..4].copy_from_slice(&cursor.to_le_bytes());
        uuid[4] = 0xEB;
    }
    out.extend_from_slice(&uuid);
}

fn tower_body(out: &mut Vec<u8>, t: &[u8]) {
    let n = t.len() as u32;
    out.extend_from_slice(&n.to_le_bytes());
    out.extend_from_slice(&n.to_le_bytes());
    out.extend_from_slice(t);
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
}

impl Epm {
    fn lookup(&self, stub: &[u8]) -> Result<Vec<u8>, rpc::RpcError> {
        let mut r = Reader::new(stub);
        let _inquiry = r.u32_le()?;
        if r.u32_le()? != 0 {
            r.skip(16)?;
        }
        let want = if r.u32_le()? != 0 {
            let uuid = r.array::<16>()?;
            let major = r.u16_le()?;
            let minor = r.u16_le()?;
            Some((uuid, u32::from(major) | (u32::from(minor) << 16)))
        } else {
            None
        };
        let _vers_option = r.u32_le()?;
        let _attrs = r.u32_le()?;
        let h = r.array::<16>()?;
        let max = r.u32_le()?.min(MAX_ENTS);
        let start = if h == [0; 16] {
            0
        } else {
            u32::from_le_bytes([h[0], h[1], h[2], h[3]]) as usize
        };
        let matching: Vec<&Registration> = self
            .entries
            .iter()
            .filter(|e| want.is_none_or(|w| w.0 == e.interface.0))
            .collect();
        let page: Vec<&&Registration> = matching.iter().skip(start).take(max as usize).collect();
        let done = start + page.len() >= matching.len();
        let mut out = Vec::new();
        handle(&mut out, done, (start + page.len()) as u32);
        out.extend_from_slice(&(page.len() as u32).to_le_bytes());
        out.extend_from_slice(&max.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&(page.len() as u32).to_le_bytes());
        for (i, e) in page.iter().enumerate() {
            out.extend_from_slice(&[0u8; 16]);
            out.extend_from_slice(&(0x0002_0000u32 + 4 * i as u32).to_le_bytes());
            let ann: Vec<u8> = e.annotation.bytes().chain([0]).collect();
            out.extend_from_slice(&0u32.to_le_bytes());
            out.extend_from_slice(&(ann.len() as u32).to_le_bytes());
            out.extend_from_slice(&ann);
            while !out.len().is_multiple_of(4) {
                out.push(0);
            }
        }
        for e in &page {
            tower_body(&mut out, &e.tower);
        }
        let status = if page.is_empty() {
            EPT_S_NOT_REGISTERED
        } else {
            0
        };
        out.extend_from_slice(&status.to_le_bytes());
        Ok(out)
    }

    fn map(&self, stub: &[u8]) -> Result<Vec<u8>, rpc::RpcError> {
        let mut r = Reader::new(stub);
        if r.u32_le()? != 0 {
            r.skip(16)?;
        }
        let tower = if r.u32_le()? != 0 {
            let _max = r.u32_le()?;
            let len = r.u32_le()? as usize;
            let t = r.bytes(len)?.to_vec();
            r.align(4)?;
            t
        } else {
            Vec::new()
        };
        let _attrs = r.u32_le()?;
        let _h = r.array::<16>()?;
        let max = r.u32_le()?.min(MAX_ENTS);
        let key = tower_key(&tower);
        let found: Vec<&Registration> = self
            .entries
            .iter()
            .filter(|e| {
                key.is_some_and(|(iface, transport)| {
                    iface.0 == e.interface.0
                        && (iface.1 & 0xFFFF) == (e.interface.1 & 0xFFFF)
                        && tower_key(&e.tower).is_some_and(|(_, t)| t == transport)
                })
            })
            .take(max as usize)
            .collect();
        let mut out = Vec::new();
        handle(&mut out, true, 0);
        out.extend_from_slice(&(found.len() as u32).to_le_bytes());
        out.extend_from_slice(&max.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&(found.len() as u32).to_le_bytes());
        for i in 0..found.len() {
            out.extend_from_slice(&(0x0002_0000u32 + 4 * i as u32).to_le_bytes());
        }
        for e in &found {
            tower_body(&mut out, &e.tower);
        }
        let status = if found.is_empty() {
            EPT_S_NOT_REGISTERED
        } else {
            0
        };
        out.extend_from_slice(&status.to_le_bytes());
        Ok(out)
    }
}

impl Epm {
    /// ServerAlive2's reply (MS-DCOM 3.1.2.5.1.6): COM version 5.7, the
    /// DUALSTRINGARRAY of string bindings (ncacn_ip_tcp, one per address)
    /// and security bindings, pReserved 0, status 0.
    fn server_alive2(&self) -> Vec<u8> {
        let mut arr: Vec<u16> = Vec::new();
        for a in &self.addresses {
            arr.push(0x0007); // ncacn_ip_tcp
            arr.extend(a.encode_utf16());
            arr.push(0);
        }
        arr.push(0);
        let security_offset = u16::try_from(arr.len()).unwrap_or(0);
        for svc in AUTHN_SERVICES {
            arr.push(svc);
            arr.push(0xFFFF); // wAuthzSvc: reserved
            arr.push(0); // aPrincName: empty
        }
        arr.push(0);
        let n = u16::try_from(arr.len()).unwrap_or(0);
        let mut out = Vec::with_capacity(24 + arr.len() * 2);
        out.extend_from_slice(&5u16.to_le_bytes());
        out.extend_from_slice(&7u16.to_le_bytes());
        out.extend_from_slice(&0x0002_0000u32.to_le_bytes());
        out.extend_from_slice(&u32::from(n).to_le_bytes());
        out.extend_from_slice(&n.to_le_bytes());
        out.extend_from_slice(&security_offset.to_le_bytes());
        for u in arr {
            out.extend_from_slice(&u.to_le_bytes());
        }
        while !out.len().is_multiple_of(4) {
            out.push(0);
        }
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out
    }
}

impl Interface for Epm {
    fn syntaxes(&self) -> Vec<([u8; 16], u32)> {
        vec![EPM, IOBJECT_EXPORTER]
    }

    fn sec_addr(&self) -> &str {
        "135"
    }

    fn call(&self, syntax: usize, opnum: u16, stub: &[u8]) -> Result<Vec<u8>, u32> {
        match (syntax, opnum) {
            (0, 2) => self.lookup(stub).map_err(|_| rpc::FAULT_NDR),
            (0, 3) => self.map(stub).map_err(|_| rpc::FAULT_NDR),
            // ServerAlive: no parameters, status 0.
            (1, 3) => Ok(0u32.to_le_bytes().to_vec()),
            (1, 5) => Ok(self.server_alive2()),
            // ResolveOxid, pings and ResolveOxid2 need DCOM objects, which
            // are not built.
            _ => Err(rpc::FAULT_OP_RNG),
        }
    }
}

/// What a machine registers: srvsvc on its named pipe.
pub fn registrations(host: &str) -> Vec<Registration> {
    vec![Registration {
        interface: SRVSVC,
        annotation: String::new(),
        tower: np_tower(SRVSVC, "\\PIPE\\srvsvc", host),
    }]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_pages_and_map_finds() {
        let epm = Epm {
            entries: registrations("HV01"),
            addresses: vec!["HV01".into(), "127.0.0.1".into()],
        };
        let mut stub = Vec::new();
        for v in [0u32, 0, 0, 1] {
            stub.extend_from_slice(&v.to_le_bytes());
        }
        stub.extend_from_slice(&[0; 20]);
        stub.extend_from_slice(&500u32.to_le_bytes());
        let out = epm.call(0, 2, &stub).unwrap();
        assert_eq!(&out[4..20], &[0; 16], "one page: null handle");
        assert_eq!(u32::from_le_bytes(out[20..24].try_into().unwrap()), 1);
        assert_eq!(&out[out.len() - 4..], &[0, 0, 0, 0]);
        // ept_map with srvsvc over np
        let tower = np_tower(SRVSVC, "\\PIPE\\srvsvc", "x");
        let mut m = vec![0u8; 4];
        m.extend_from_slice(&1u32.to_le_bytes());
        m.extend_from_slice(&(tower.len() as u32).to_le_bytes());
        m.extend_from_slice(&(tower.len() as u32).to_le_bytes());
        m.extend_from_slice(&tower);
        while !m.len().is_multiple_of(4) {
            m.push(0);
        }
        m.extend_from_slice(&[0; 20]);
        m.extend_from_slice(&4u32.to_le_bytes());
        let out = epm.call(0, 3, &m).unwrap();
        assert_eq!(u32::from_le_bytes(out[20..24].try_into().unwrap()), 1);
        // over TCP it is not registered
        let tcp = tcp_tower(SRVSVC, 49664, [127, 0, 0, 1]);
        let mut m2 = vec![0u8; 4];
        m2.extend_from_slice(&1u32.to_le_bytes());
        m2.extend_from_slice(&(tcp.len() as u32).to_le_bytes());
        m2.extend_from_slice(&(tcp.len() as u32).to_le_bytes());
        m2.extend_from_slice(&tcp);
        while !m2.len().is_multiple_of(4) {
            m2.push(0);
        }
        m2.extend_from_slice(&[0; 20]);
        m2.extend_from_slice(&4u32.to_le_bytes());
        let out = epm.call(0, 3, &m2).unwrap();
        assert_eq!(&out[out.len() - 4..], &EPT_S_NOT_REGISTERED.to_le_bytes());
        for n in 0..stub.len() {
            let _ = epm.call(0, 2, &stub[..n]);
        }
        assert_eq!(epm.call(0, 9, &[]), Err(rpc::FAULT_OP_RNG));
    }
}
