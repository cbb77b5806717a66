"""zeep against fakedc's WCF BasicHttpBinding endpoints.

usage: wcf_zeep.py HTTP_BASE HTTPS_BASE CAFILE GUID USER PASSWORD
Loads each endpoint's ?wsdl and calls TimeSync (8103) and the Windows PE
agent (8101, HTTPS with the scenario CA, Basic with a Windows account;
without credentials a call gets 401). Prints KEY VALUE lines.
"""
import sys

import requests
import zeep
from zeep.transports import Transport

http_base, https_base, cafile, guid, user, password = sys.argv[1:7]

t = zeep.Client(f"{http_base}/VirtualManager/TimeSync?wsdl")
now = t.service.GetTime(who="winpe-agent")
print("time", type(now).__name__, now.isoformat())

s = requests.Session()
s.verify = cafile
s.trust_env = False  # an environment CA bundle would override verify
a = zeep.Client(f"{https_base}/VirtualManager/WinPEAgent?wsdl", transport=Transport(session=s))
try:
    a.service.GetCommand(smbiosGuid=guid)
    print("anonymous ok")
except zeep.exceptions.TransportError as e:
    print("anonymous-status", e.status_code)
s.auth = requests.auth.HTTPBasicAuth(user, password)
print("command-before", a.service.GetCommand(smbiosGuid=guid))
print("register", a.service.RegisterMachine(smbiosGuid=guid))
print("progress", a.service.ReportProgress(smbiosGuid=guid, percent=100, message="applied image"))
print("command-after", a.service.GetCommand(smbiosGuid=guid))
try:
    a.service.RegisterMachine(smbiosGuid="00000000-0000-0000-0000-000000000000")
    print("unknown ok")
except zeep.exceptions.Fault as e:
    print("unknown-fault", e.message)
