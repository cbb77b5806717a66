"""The net.tcp `application/ssl-tls` upgrade (MC-NMF 2.2.3.5, MS-NMFTB)
with Python's OpenSSL as the TLS client, validating the server's
certificate against the scenario CA.

usage: wcf_ssl_tls.py HOST PORT CAFILE
Prints KEY VALUE lines: the upgrade response, the TLS version, the
certificate's subject, the preamble ack inside TLS, the End exchange.
"""
import socket
import ssl
import sys

host, port, cafile = sys.argv[1], int(sys.argv[2]), sys.argv[3]
via = f"net.tcp://{host}:{port}/VirtualManager/Management".encode()
proto = b"application/ssl-tls"
pre = bytes([0, 1, 0, 1, 2, 2, len(via)]) + via + bytes([3, 8, 9, len(proto)]) + proto

s = socket.create_connection((host, port), timeout=10)
s.sendall(pre)
print("upgrade-response", s.recv(1).hex())
ctx = ssl.create_default_context(cafile=cafile)
ctx.check_hostname = False
t = ctx.wrap_socket(s)
print("tls", t.version())
cert = t.getpeercert()
print("subject", dict(x[0] for x in cert["subject"]).get("commonName"))
t.sendall(b"\x0c")
print("preamble-ack", t.recv(1).hex())
t.sendall(b"\x07")
print("end", t.recv(1).hex())
