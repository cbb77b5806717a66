"""pywinrm against a fakedc WinRM endpoint: run_cmd('ipconfig', ['/all'])
and a scripted command, printing what the assertions in
tests/winrm_interop.rs check.

usage: winrm_run_cmd.py ENDPOINT TRANSPORT USER PASSWORD [CA_PEM]
"""
import sys

import winrm

endpoint, transport, user, password = sys.argv[1:5]
kwargs = {}
if len(sys.argv) > 5:
    # pywinrm hands this to requests as `verify`: trust the scenario CA.
    kwargs["ca_trust_path"] = sys.argv[5]
session = winrm.Session(endpoint, auth=(user, password), transport=transport, **kwargs)
try:
    r = session.run_cmd("ipconfig", ["/all"])
except winrm.exceptions.InvalidCredentialsError as e:
    print("INVALID_CREDENTIALS", e)
    sys.exit(0)
print("IPCONFIG_EXIT", r.status_code)
for line in r.std_out.decode().splitlines():
    if "IPv4 Address" in line or "Host Name" in line:
        print("IPCONFIG", line.strip())
r = session.run_cmd("Get-FakeThing", ["-All"])
print("SCRIPTED_EXIT", r.status_code)
print("SCRIPTED_OUT", repr(r.std_out.decode()))
print("SCRIPTED_ERR", repr(r.std_err.decode()))
r = session.run_cmd("nosuchcommand")
print("UNKNOWN_EXIT", r.status_code)
print("UNKNOWN_ERR", repr(r.std_err.decode()))
r = session.run_cmd("hostname")
print("HOSTNAME", r.std_out.decode().strip())
print("DONE")
