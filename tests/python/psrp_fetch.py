"""pypsrp's Client.fetch() of a file on the host (its fetch.ps1 script run
over PSRP: FileStream reads, SHA-1, base64 chunks).

usage: psrp_fetch.py HOST PORT USER PASSWORD CA_PEM REMOTE LOCAL
"""
import sys

from pypsrp.client import Client

host, port, user, password, ca, remote, local = sys.argv[1:8]
c = Client(host, port=int(port), username=user, password=password, ssl=True,
           auth="basic", cert_validation=ca, operation_timeout=5)
c.fetch(remote, local)
print("FETCHED", local)
