"""pypsrp's RunspacePool/PowerShell API against a fakedc Hyper-V host's PSRP
endpoint (http://schemas.microsoft.com/powershell/Microsoft.PowerShell).
Prints KEY value lines the Rust test asserts on.

usage: psrp_pypsrp.py HOST PORT SSL(0|1) AUTH USER PASSWORD CA_PEM STEPS...
steps: version, getvm, stopvm:NAME, service, error, input, pool, merge,
       unknown_config, stop, stream
"""
import sys
import time

from pypsrp.exceptions import WSManFaultError
from pypsrp.powershell import PowerShell, RunspacePool
from pypsrp.wsman import WSMan

host, port, ssl, auth, user, password, ca = sys.argv[1:8]
steps = sys.argv[8:]
ssl = ssl == "1"


def wsman():
    return WSMan(
        host,
        port=int(port),
        username=user,
        password=password,
        ssl=ssl,
        auth=auth,
        cert_validation=ca if ssl else False,
        encryption="auto",
        operation_timeout=5,
        read_timeout=15,
    )


def typed(o):
    return getattr(o, "types", [type(o).__name__])


def props(o):
    d = {}
    d.update(getattr(o, "adapted_properties", {}) or {})
    d.update(getattr(o, "extended_properties", {}) or {})
    return d


def errors(ps):
    return ["%s|%s" % (e.fq_error, e.message) for e in ps.streams.error]


def show_state(tag, ps):
    print("%s_STATE" % tag, ps.state)
    print("%s_HAD_ERRORS" % tag, ps.had_errors)
    for e in errors(ps):
        print("%s_ERROR" % tag, e.replace("\n", " "))


with RunspacePool(wsman()) as pool:
    print("OPENED", pool.state)
    print("PROTOCOL", pool.protocol_version)
    apd = getattr(pool.application_private_data, "data", None) or {}
    vt = apd.get("PSVersionTable") or {}
    print("APD_PSVERSION", vt.get("PSVersion"))
    for step in steps:
        if step == "version":
            ps = PowerShell(pool)
            ps.add_script("$PSVersionTable.PSVersion.ToString()")
            out = ps.invoke()
            print("VERSION", out)
            show_state("VERSION", ps)
            ps = PowerShell(pool)
            ps.add_script("$env:COMPUTERNAME")
            print("ENV_COMPUTERNAME", ps.invoke())
        elif step == "getvm":
            ps = PowerShell(pool)
            ps.add_cmdlet("Get-VM")
            out = ps.invoke()
            show_state("GETVM", ps)
            print("GETVM_COUNT", len(out))
            for o in out:
                p = props(o)
                print("GETVM_TYPE", typed(o)[0])
                print("GETVM_VM", p.get("Name"), str(p.get("State")))
                st = p.get("State")
                print("GETVM_STATE_ENUM", typed(st)[0], str(st), getattr(st, "property_sets", None))
        elif step.startswith("stopvm:"):
            name = step.split(":", 1)[1]
            ps = PowerShell(pool)
            ps.add_cmdlet("Stop-VM").add_parameter("Name", name).add_parameter("Force", True)
            ps.add_parameter("TurnOff", True)
            out = ps.invoke()
            show_state("STOPVM", ps)
            ps = PowerShell(pool)
            ps.add_cmdlet("Get-VM").add_parameter("Name", name)
            ps.add_cmdlet("Select-Object").add_parameter("ExpandProperty", "State")
            out = ps.invoke()
            print("STOPVM_AFTER", [str(o) for o in out])
        elif step.startswith("checkpoint:"):
            name = step.split(":", 1)[1]
            ps = PowerShell(pool)
            ps.add_cmdlet("Checkpoint-VM").add_parameter("Name", name)
            ps.add_parameter("SnapshotName", "before-patch").add_parameter("Passthru", True)
            out = ps.invoke()
            show_state("CHECKPOINT", ps)
            for o in out:
                p = props(o)
                print("CHECKPOINT_OBJ", typed(o)[0], p.get("VMName"), p.get("Name"), p.get("SnapshotType"))
            ps = PowerShell(pool)
            ps.add_script("Get-VMCheckpoint -VMName %s | Restore-VMSnapshot -Passthru | "
                          "ForEach-Object { $_.Name }; (Get-VM -Name %s).State" % (name, name))
            print("CHECKPOINT_RESTORE", [str(o) for o in ps.invoke()])
            show_state("CHECKPOINT_RESTORE", ps)
        elif step == "service":
            ps = PowerShell(pool)
            ps.add_cmdlet("Get-Service").add_parameter("Name", "WinRM")
            out = ps.invoke()
            show_state("SERVICE", ps)
            for o in out:
                p = props(o)
                print("SERVICE_TYPE", typed(o)[0])
                print("SERVICE", p.get("Name"), str(p.get("Status")))
        elif step == "error":
            ps = PowerShell(pool)
            ps.add_cmdlet("Get-Frobnicator")
            out = ps.invoke()
            print("ERROR_OUT", out)
            show_state("ERROR", ps)
        elif step == "input":
            ps = PowerShell(pool)
            ps.add_script("process { $_ * 2 }")
            out = ps.invoke(["1", "2", "3"])
            print("INPUT", out)
            show_state("INPUT", ps)
        elif step == "pool":
            print("AVAILABLE", pool.get_available_runspaces())
            pool.max_runspaces = 3
            print("MAX", pool.max_runspaces)
            print("AVAILABLE", pool.get_available_runspaces())
            try:
                pool.min_runspaces = 5
                print("MIN", pool.min_runspaces)
            except Exception as e:  # pypsrp refuses on a False answer
                print("MIN_REFUSED", type(e).__name__)
        elif step == "merge":
            ps = PowerShell(pool)
            ps.add_script("Write-Warning 'careful'; Write-Verbose 'chatty' -Verbose; 'out'")
            out = ps.invoke()
            print("MERGE_OUT", out)
            print("MERGE_WARN", [w.message for w in ps.streams.warning])
            print("MERGE_VERBOSE", [v.message for v in ps.streams.verbose])
            show_state("MERGE", ps)
        elif step == "hostile":
            # Garbage on the pool's own stdin: unknown message types, bad
            # fragments, a message for another pool, a huge declared
            # length. Each is a WS-Man fault; the pool keeps serving.
            import struct
            import uuid

            def frag(obj, data, start=True, end=True, fid=0):
                flags = (1 if start else 0) | (2 if end else 0)
                return struct.pack(">QQBI", obj, fid, flags, len(data)) + data

            def msg(mtype, rpid, body=b"<Nil/>"):
                return struct.pack("<II", 2, mtype) + uuid.UUID(rpid).bytes_le + b"\0" * 16 + body

            cases = {
                "unknown_type": frag(900, msg(0x00049999, pool.id)),
                "truncated": frag(901, msg(0x00021007, pool.id))[:30],
                "no_start": frag(902, b"abc", start=False, end=True, fid=3),
                "other_pool": frag(903, msg(0x00021007, str(uuid.uuid4()))),
                "bad_clixml": frag(904, msg(0x00021007, pool.id, b"<Obj><Bogus/></Obj>")),
                "doctype": frag(905, msg(0x00021007, pool.id, b'<!DOCTYPE x [<!ENTITY a "b">]><S>&a;</S>')),
                "huge_length": struct.pack(">QQBI", 906, 0, 3, 0xFFFFFFF0) + b"x",
                "public_key": frag(907, msg(0x00010005, pool.id)),
            }
            for name, data in cases.items():
                try:
                    pool.shell.send("stdin", data)
                    print("HOSTILE", name, "accepted")
                except WSManFaultError as e:
                    print("HOSTILE", name, e.code, (e.reason or "").replace("\n", " ")[:160])
            print("HOSTILE_AFTER", pool.get_available_runspaces())
        elif step.startswith("wmi:"):
            # The same VM through WMI (pypsrp's WSMan client, WQL
            # Enumerate of Msvm_ComputerSystem): its EnabledState.
            import xml.etree.ElementTree as ET
            from pypsrp.wsman import NAMESPACES
            name = step.split(":", 1)[1]
            w = wsman()
            body = ET.Element("{%s}Enumerate" % NAMESPACES["wsen"])
            ET.SubElement(body, "{%s}OptimizeEnumeration" % NAMESPACES["wsman"])
            ET.SubElement(body, "{%s}MaxElements" % NAMESPACES["wsman"]).text = "32"
            f = ET.SubElement(body, "{%s}Filter" % NAMESPACES["wsman"])
            f.set("Dialect", "http://schemas.microsoft.com/wbem/wsman/1/WQL")
            f.text = "SELECT * FROM Msvm_ComputerSystem WHERE ElementName = '%s'" % name
            res = w.enumerate("http://schemas.microsoft.com/wbem/wsman/1/wmi/root/virtualization/v2/*", body)
            for item in res.iter():
                if item.tag.endswith("}EnabledState"):
                    print("WMI_STATE", name, item.text)
        elif step == "timeout":
            # Nothing is queued for the pool: Receive waits OperationTimeout
            # and answers w:TimedOut, which pypsrp's own loops retry.
            import time as _t
            t0 = _t.monotonic()
            try:
                pool.shell.receive("stdout", timeout=1)
                print("TIMEOUT none")
            except WSManFaultError as e:
                print("TIMEOUT", e.code, "%.1f" % (_t.monotonic() - t0))
        elif step == "stop":
            ps = PowerShell(pool)
            ps.add_script("$input | ForEach-Object { $_ }")
            ps.begin_invoke(input=iter([["1"]]) if False else None)
            ps.stop()
            print("STOP_STATE", ps.state)
        elif step == "stream":
            from pypsrp.shell import SignalCode

            # Output while it runs: three items 0.3 s apart, then a long
            # sleep the pipeline never finishes.
            ps = PowerShell(pool)
            ps.add_script("foreach ($i in 1..3) { \"item $i\"; Start-Sleep -Milliseconds 300 }; "
                          "Start-Sleep -Seconds 40; 'never'")
            t0 = time.time()
            ps.begin_invoke()
            print("STREAM_BEGUN", round(time.time() - t0, 2))
            first = None
            while len(ps.output) < 3 and time.time() - t0 < 30:
                ps.poll_invoke(timeout=2)
                if ps.output and first is None:
                    first = round(time.time() - t0, 2)
            print("STREAM_FIRST_AT", first)
            print("STREAM_OUTPUT", ps.output)
            print("STREAM_RUNNING_STATE", ps.state)
            print("STREAM_AT", round(time.time() - t0, 2))
            # Stop (MS-PSRP's signal), then receive to the pipeline's end.
            pool.shell.signal(SignalCode.PS_CTRL_C, str(ps.id).upper())
            ps.end_invoke()
            print("STREAM_STOPPED_STATE", ps.state)
            print("STREAM_FINAL", ps.output)
            for e in errors(ps):
                print("STREAM_ERROR", e)
            print("STREAM_TOTAL", round(time.time() - t0, 2))
            # pypsrp's own stop(), then the pool's one runspace is free.
            ps = PowerShell(pool)
            ps.add_script("Start-Sleep -Seconds 40; 'late'")
            ps.begin_invoke()
            ps.stop()
            print("STREAM_STOP2_STATE", ps.state)
            t1 = time.time()
            ps = PowerShell(pool)
            ps.add_script("'after'")
            print("STREAM_AFTER", ps.invoke())
            print("STREAM_AFTER_SECS", round(time.time() - t1, 2))
print("CLOSED", "ok")

if "unknown_config" in steps:
    try:
        with RunspacePool(wsman(), configuration_name="NoSuch.Config") as p2:
            print("UNKNOWN_CONFIG opened")
    except WSManFaultError as e:
        print("UNKNOWN_CONFIG", e.code)
