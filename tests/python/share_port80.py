"""One requests session (one keep-alive connection) to a Windows host's
port 80, where WinRM (/wsman) and BITS (/) share HTTP.sys's listener:
a BITS Create-Session, a WinRM Enumerate, then a second Create-Session, each through
requests_ntlm (what pywinrm's ntlm transport uses). Prints each status and
the local port, which tests/interop/bits.rs checks.

usage: share_port80.py HOST:PORT USER PASSWORD ENUMERATE_XML_FILE
"""
import sys

import requests
from requests_ntlm import HttpNtlmAuth

addr, user, password, body_file = sys.argv[1:5]
body = open(body_file, "rb").read()
s = requests.Session()
s.auth = HttpNtlmAuth(user, password)


def port(r):
    # The socket the answer came on (requests keeps it in the pool).
    try:
        return r.raw._connection.sock.getsockname()[1]
    except Exception:
        return "?"


for step in ("bits", "wsman", "bits-again"):
    if step.startswith("bits"):
        r = s.request(
            "BITS_POST",
            f"http://{addr}/upload/x",
            headers={
                "BITS-Packet-Type": "Create-Session",
                "BITS-Supported-Protocols": "{7df0354d-249b-430f-820d-3d2a9bef4931}",
                "Content-Length": "0",
            },
        )
        print(step, r.status_code, r.headers.get("BITS-Packet-Type"))
    else:
        r = s.post(
            f"http://{addr}/wsman",
            data=body,
            headers={"Content-Type": "application/soap+xml;charset=UTF-8"},
        )
        print(step, r.status_code, "OperatingSystem" in r.text)
