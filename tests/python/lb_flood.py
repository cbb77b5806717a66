"""Thousands of objects: POST nodes to fakedc's load balancer until it refuses.

usage: lb_flood.py HOST:PORT USER PASSWORD COUNT
Prints `created N` and `refused STATUS MESSAGE` (the first refusal).
"""
import os
import sys
import warnings

import requests

warnings.filterwarnings("ignore")
for var in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
    os.environ.pop(var, None)

device, user, password, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
s = requests.Session()
s.verify = False
s.auth = (user, password)
created = 0
refused = None
for i in range(count):
    a = 10 + i // 250
    r = s.post(f"https://{device}/mgmt/tm/ltm/node",
               json={"name": f"n{i}", "address": f"127.200.{a}.{i % 250}"})
    if r.status_code == 200:
        created += 1
    elif refused is None:
        refused = f"{r.status_code} {r.json()['message']}"
print("created", created)
print("refused", refused)
