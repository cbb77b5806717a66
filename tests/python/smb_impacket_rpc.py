"""impacket against fakedc's IPC$ pipes and port 135: wkssvc
NetrWkstaGetInfo over SMB as an administrator and as a null session, and
DCOM's IObjectExporter::ServerAlive2 on the endpoint mapper's port (what
IOXIDResolver-style scanners use to list a host's addresses).

Usage: smb_impacket_rpc.py HOST SMB_PORT EPM_PORT USER PASSWORD
Prints `key value` lines for the Rust test to assert on."""

import sys

from impacket.dcerpc.v5 import transport, wkst
from impacket.dcerpc.v5.dcomrt import IObjectExporter
from impacket.dcerpc.v5.rpcrt import RPC_C_AUTHN_LEVEL_NONE

host, smb_port, epm_port, user, password = sys.argv[1:6]


def wkssvc(u, p):
    t = transport.SMBTransport(host, int(smb_port), r"\wkssvc", username=u, password=p)
    dce = t.get_dce_rpc()
    dce.connect()
    dce.bind(wkst.MSRPC_UUID_WKST)
    return dce


try:
    dce = wkssvc(user, password)
    r = wkst.hNetrWkstaGetInfo(dce, 100)
    i = r["WkstaInfo"]["WkstaInfo100"]
    print("wksta-100", i["wki100_platform_id"], i["wki100_computername"][:-1],
          i["wki100_langroup"][:-1], i["wki100_ver_major"], i["wki100_ver_minor"])
    r = wkst.hNetrWkstaGetInfo(dce, 101)
    i = r["WkstaInfo"]["WkstaInfo101"]
    print("wksta-101", i["wki101_computername"][:-1], i["wki101_ver_major"])
    try:
        wkst.hNetrWkstaGetInfo(dce, 502)
        print("wksta-502 ok")
    except Exception as e:  # noqa: BLE001 - the error is what is asserted
        print("wksta-502", getattr(e, "error_code", e))
    dce.disconnect()
except Exception as e:  # noqa: BLE001
    print("wksta-error", repr(e))

try:
    wkssvc("", "")
    print("anonymous-wkssvc opened")
except Exception as e:  # noqa: BLE001
    code = e.getErrorCode() if hasattr(e, "getErrorCode") else None
    print("anonymous-wkssvc", f"{code:#010x}" if code is not None else repr(e))

try:
    t = transport.DCERPCTransportFactory("ncacn_ip_tcp:%s[%s]" % (host, epm_port))
    dce = t.get_dce_rpc()
    dce.set_auth_level(RPC_C_AUTHN_LEVEL_NONE)
    dce.connect()
    for b in IObjectExporter(dce).ServerAlive2():
        print("binding", b["wTowerId"], b["aNetworkAddr"].rstrip("\x00"))
except Exception as e:  # noqa: BLE001
    print("serveralive2-error", repr(e))
