"""pynettcp against fakedc's WCF net.tcp endpoints.

usage: wcf_pynettcp.py HOST PORT USER PASSWORD MODE OUTDIR
MODE: calls   -- generate clients from net.tcp MEX (Management, TimeSync),
                 then call them over application/negotiate (NTLM, sealed);
      badpass -- the negotiate upgrade with these credentials must fail;
      signonly -- right credentials, but no sealing negotiated (encrypt=False).
Prints KEY VALUE lines the Rust test asserts on.
"""
import importlib.util
import subprocess
import sys

host, port, user, password, mode, outdir = sys.argv[1:7]
base = f"net.tcp://{host}:{port}/VirtualManager"


def generate(service):
    out = f"{outdir}/{service.lower()}_client.py"
    r = subprocess.run(
        [sys.executable, "-m", "pynettcp.codegen", f"{base}/{service}/mex", "-o", out],
        capture_output=True, text=True, timeout=60,
    )
    print("codegen", service, r.returncode, r.stderr.strip().replace("\n", " | "))
    if r.returncode != 0:
        sys.exit(1)
    spec = importlib.util.spec_from_file_location(f"{service}_client", out)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


opts = dict(security="transport", username=user, password=password, timeout=10)

if mode in ("badpass", "signonly"):
    from pynettcp import Channel
    if mode == "signonly":
        opts["encrypt"] = False
    try:
        with Channel(f"{base}/Management", **opts) as ch:
            ch.call(action="http://schemas.microsoft.com/VirtualManager/2006/07/IVirtualManagerService/GetServerInfo")
        print("auth ok")
    except Exception as e:  # noqa: BLE001 - the test prints what failed
        print("auth-error", type(e).__name__, str(e).splitlines()[0][:120])
    sys.exit(0)

mgmt = generate("Management")
time_mod = generate("TimeSync")

with mgmt.ManagementClient(f"{base}/Management", **opts) as c:
    info = c.get_server_info()
    print("info", info.ComputerName, info.ProductVersion)
    # pynettcp maps ArrayOfHost to a dataclass holding the list.
    for h in c.get_hosts().Host or []:
        print("host", h.ComputerName, h.HostType, h.PowerState, h.VirtualMachineCount)
    for vm in c.get_virtual_machines().VirtualMachine or []:
        print("vm", vm.Name, vm.Status)
    job = c.start_virtual_machine(name="build01")
    print("job", job.Name, job.Status, job.Progress)
    print("job-again", c.get_job(id=job.Id).Id == job.Id)
    for vm in c.get_virtual_machines().VirtualMachine or []:
        if vm.Name == "build01":
            print("after-start", vm.Status)
    try:
        c.start_virtual_machine(name="nope")
        print("missing ok")
    except mgmt.ServiceFault as e:
        print("missing-fault", e.reason)

with time_mod.TimeSyncClient(f"{base}/TimeSync", **opts) as c:
    t = c.get_time(who="winpe-agent")
    print("time", type(t).__name__, t.isoformat())
