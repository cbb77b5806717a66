"""BITS over `Authorization: Negotiate` with pyspnego (NTLM inside SPNEGO,
the way a Windows client without Kerberos answers IIS), on one connection:
Ping with the NegTokenInit -> 401 with the server's token -> Ping with the
next token -> 200 (+ the server's closing token), then Create-Session on
the same connection without any Authorization header (the connection is
authenticated). Prints one `key: value` line per fact the test checks.

usage: bits_negotiate.py URL CAFILE USER PASSWORD
"""

import base64
import http.client
import ssl
import sys
import urllib.parse

import spnego

PROTO = "{7df0354d-249b-430f-820d-3d2a9bef4931}"


def main():
    url, cafile, user, password = sys.argv[1:5]
    u = urllib.parse.urlsplit(url)
    if u.scheme == "https":
        ctx = ssl.create_default_context(cafile=cafile)
        ctx.check_hostname = False
        conn = http.client.HTTPSConnection(u.hostname, u.port, context=ctx, timeout=10)
    else:
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    ctx = spnego.client(
        user, password, hostname=u.hostname, service="HTTP", protocol="negotiate"
    )
    token = ctx.step()
    print("wrapped:", token[:1] == b"\x60")
    status = None
    for _ in range(3):
        conn.request(
            "BITS_POST",
            u.path,
            headers={
                "BITS-Packet-Type": "Ping",
                "Authorization": "Negotiate " + base64.b64encode(token).decode(),
                "Content-Length": "0",
            },
        )
        r = conn.getresponse()
        r.read()
        status = r.status
        print("status:", status)
        h = r.getheader("WWW-Authenticate") or ""
        if status != 401 or not h.startswith("Negotiate "):
            if h.startswith("Negotiate "):
                ctx.step(base64.b64decode(h.split(" ", 1)[1]))
                print("final token: yes")
            break
        token = ctx.step(base64.b64decode(h.split(" ", 1)[1]))
        if token is None:
            break
    print("ping:", status)
    print("complete:", ctx.complete)
    conn.request(
        "BITS_POST",
        u.path,
        headers={
            "BITS-Packet-Type": "Create-Session",
            "BITS-Supported-Protocols": PROTO,
            "Content-Length": "0",
        },
    )
    r = conn.getresponse()
    r.read()
    print("create:", r.status, r.getheader("BITS-Session-Id") or "-")


if __name__ == "__main__":
    main()
