"""pypsrp PowerShell.invoke() round trips for benches/psrp.rs: one runspace
pool, then RUNS pipelines each created, received to completion and closed
(Command, Receive until PIPELINE_STATE, Signal terminate).

usage: psrp_bench.py HOST PORT AUTH RUNS   (HTTP; Basic needs AllowUnencrypted)
prints: ELAPSED <seconds for RUNS invokes>, STATE <last pipeline state>,
        OUTPUT <last output>
"""
import sys
import time

from pypsrp.powershell import PowerShell, RunspacePool
from pypsrp.wsman import WSMan

host, port, auth, runs = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
w = WSMan(host, port=port, username="Administrator", password="P@ssw0rd!", ssl=False,
          auth=auth, encryption="auto" if auth != "basic" else "never")
with RunspacePool(w) as pool:
    def once():
        ps = PowerShell(pool)
        ps.add_script("1 + 1")
        out = ps.invoke()
        ps.close()
        return ps, out
    once()  # warm up: connection, imports
    start = time.perf_counter()
    for _ in range(runs):
        ps, out = once()
    print("ELAPSED", time.perf_counter() - start)
    print("STATE", ps.state)
    print("OUTPUT", out)
