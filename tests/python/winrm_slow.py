"""pywinrm on a command slower than its OperationTimeout: the server
answers Receive with w:TimedOut (2150858793), pywinrm retries silently,
then gets the output.

usage: winrm_slow.py ENDPOINT USER PASSWORD
"""
import sys
import time

import winrm

endpoint, user, password = sys.argv[1:4]
p = winrm.Protocol(
    endpoint,
    transport="ntlm",
    username=user,
    password=password,
    operation_timeout_sec=1,
    read_timeout_sec=3,
)
shell = p.open_shell()
start = time.time()
cmd = p.run_command(shell, "slow-thing")
out, err, code = p.get_command_output(shell, cmd)
p.cleanup_command(shell, cmd)
p.close_shell(shell)
print("SLOW_EXIT", code)
print("SLOW_OUT", out.decode().strip())
print("SLOW_WAITED", time.time() - start >= 2.0)
