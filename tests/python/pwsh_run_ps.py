"""pywinrm's run_ps over each script in a JSON list, printing one JSON line
per script with its exit code, stdout and the stderr pywinrm decoded from
CLIXML; tests/interop/pwsh.rs checks them.

usage: pwsh_run_ps.py ENDPOINT TRANSPORT USER PASSWORD SCRIPTS_JSON_FILE
"""
import json
import sys

import winrm

endpoint, transport, user, password, path = sys.argv[1:6]
session = winrm.Session(endpoint, auth=(user, password), transport=transport)
with open(path, encoding="utf-8") as f:
    scripts = json.load(f)
for tag, script in scripts:
    r = session.run_ps(script)
    print(json.dumps({
        "tag": tag,
        "exit": r.status_code,
        "out": r.std_out.decode("utf-8", "replace"),
        "err": r.std_err.decode("utf-8", "replace"),
    }))
print("DONE")
