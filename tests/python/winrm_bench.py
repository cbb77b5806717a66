"""pywinrm run_cmd round trips for benches/wsman.rs.

usage: winrm_bench.py ENDPOINT RUNS   (Basic over HTTP, AllowUnencrypted)
prints: ELAPSED <seconds for RUNS run_cmd calls>
"""
import sys
import time

import winrm

endpoint, runs = sys.argv[1], int(sys.argv[2])
session = winrm.Session(endpoint, auth=("Administrator", "P@ssw0rd!"), transport="basic")
session.run_cmd("hostname")  # warm up: connection, imports
start = time.perf_counter()
for _ in range(runs):
    r = session.run_cmd("hostname")
    if r.status_code != 0:
        raise SystemExit("run_cmd failed: %r" % (r.std_err,))
print("ELAPSED", time.perf_counter() - start)
