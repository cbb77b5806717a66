"""pywbem enumerating every CIM_StorageVolume of a fakedc array in one
classic EnumerateInstances (the benchmark's client), ROUNDS times.

usage: smis_bench.py URL USER PASSWORD ROUNDS
Prints `ROUND count seconds` per round.
"""
import sys
import time

import pywbem

url, user, password, rounds = sys.argv[1:5]
conn = pywbem.WBEMConnection(url, (user, password), default_namespace="root/cimv2",
                             use_pull_operations=False, timeout=300)
for _ in range(int(rounds)):
    t = time.perf_counter()
    vols = conn.EnumerateInstances("CIM_StorageVolume")
    print("ROUND", len(vols), "%.4f" % (time.perf_counter() - t), flush=True)
