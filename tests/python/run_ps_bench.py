"""pywinrm run_ps round trips for benches/psrp.rs: each is a cmd shell
(Create), powershell -encodedcommand (Command), Receive to Done, Signal and
Delete, and the script's output checked.

usage: run_ps_bench.py ENDPOINT RUNS   (Basic over HTTP, AllowUnencrypted)
prints: ELAPSED <seconds for RUNS run_ps calls>, OUTPUT <last stdout>
"""
import sys
import time

import winrm

endpoint, runs = sys.argv[1], int(sys.argv[2])
session = winrm.Session(endpoint, auth=("Administrator", "P@ssw0rd!"), transport="basic")
SCRIPT = "$x = 20 + 22; \"answer $x on PowerShell $($PSVersionTable.PSVersion.Major)\""


def once():
    r = session.run_ps(SCRIPT)
    out = r.std_out.decode().strip()
    if r.status_code != 0 or out != "answer 42 on PowerShell 5":
        raise SystemExit("run_ps failed: %r %r %r" % (r.status_code, out, r.std_err))
    return out


once()  # warm up: connection, imports
start = time.perf_counter()
for _ in range(runs):
    out = once()
print("ELAPSED", time.perf_counter() - start)
print("OUTPUT", out)
