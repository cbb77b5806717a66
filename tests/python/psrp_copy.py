"""pypsrp's Client.copy() of a local file to the host (its copy.ps1 script run
over PSRP: base64 chunks as pipeline input, FileStream writes, SHA-1 check).

usage: psrp_copy.py HOST PORT USER PASSWORD CA_PEM LOCAL REMOTE
"""
import sys

from pypsrp.client import Client

host, port, user, password, ca, local, remote = sys.argv[1:8]
c = Client(host, port=int(port), username=user, password=password, ssl=True,
           auth="basic", cert_validation=ca, operation_timeout=5)
print("COPIED", c.copy(local, remote))
