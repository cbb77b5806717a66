"""pywinrm's run_ps (powershell -encodedcommand) and cmd's environment
against a fakedc WinRM endpoint, printing what tests/winrm_interop.rs checks.

usage: winrm_run_ps.py ENDPOINT TRANSPORT USER PASSWORD
"""
import sys

import winrm

endpoint, transport, user, password = sys.argv[1:5]
session = winrm.Session(endpoint, auth=(user, password), transport=transport)


def show(tag, r):
    print(tag + "_EXIT", r.status_code)
    print(tag + "_OUT", repr(r.std_out.decode()))
    print(tag + "_ERR", repr(r.std_err.decode()))


show("PS", session.run_ps('$ProgressPreference = "SilentlyContinue"\n'
                          '$env:COMPUTERNAME\nwhoami\n'
                          'Write-Output "PS $env:USERNAME" $PSVersionTable.PSVersion.Major'))
show("PSMISSING", session.run_ps("Get-Frobnicator -Name x"))
show("PSEXIT", session.run_ps("exit 7"))
show("PSRULE", session.run_ps("Get-VM -Name db01"))
# ~4,000 characters of script: over cmd.exe's 8,191 once encoded.
show("PSLONG", session.run_ps("Write-Output '" + "x" * 4000 + "'"))
show("ECHOVAR", session.run_cmd("echo %COMPUTERNAME% %USERNAME% %NOSUCHVAR%"))
show("SET", session.run_cmd("set", ["USER"]))
show("SETMISSING", session.run_cmd("set", ["NOSUCHVAR"]))
print("DONE")
