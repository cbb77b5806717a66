"""DMTF's `redfish` Python library (python-redfish-library) against a fakedc
BMC's /redfish on HTTPS, verifying the scenario CA.

usage: redfish_lib.py HOST PORT USER PASSWORD CA_PEM AUTH ACTION [ARGS...]
AUTH: session | basic
ACTION: system | reset TYPE | boot TARGET ENABLED | password USERNAME NEW
        | bad-reset TYPE | sessions | sel | inventory
        | update IMAGE_URI [TARGET] | environment

Prints KEY value lines the Rust test asserts on; every HTTP answer prints
STATUS <code>. Logs out at the end (session auth) and prints LOGOUT.
"""
import json
import sys

import redfish

host, port, user, password, ca, auth, action = sys.argv[1:8]
args = sys.argv[8:]

c = redfish.redfish_client(
    base_url=f"https://{host}:{port}",
    username=user,
    password=password,
    cafile=ca,
    default_prefix="/redfish/v1/",
    timeout=10,
    max_retry=1,
)
c.login(auth=auth)
if auth == "session":
    print("TOKEN", "yes" if c.get_session_key() else "no")
    print("LOCATION", c.get_session_location())

SYSTEM = "/redfish/v1/Systems/1"


def show(r):
    print("STATUS", r.status)
    if r.status >= 400 and r.text:
        err = json.loads(r.text).get("error", {})
        for m in err.get("@Message.ExtendedInfo", []):
            print("MESSAGEID", m.get("MessageId"))


if action == "system":
    root = c.get("/redfish/v1/")
    print("REDFISH_VERSION", root.dict.get("RedfishVersion"))
    systems = c.get("/redfish/v1/Systems")
    for m in systems.dict["Members"]:
        print("MEMBER", m["@odata.id"])
    r = c.get(SYSTEM)
    show(r)
    d = r.dict
    print("ETAG", r.getheader("ETag"))
    print("TYPE", d["@odata.type"])
    print("MANUFACTURER", d.get("Manufacturer"))
    print("MODEL", d.get("Model"))
    print("SERIAL", d.get("SerialNumber"))
    print("UUID", d.get("UUID"))
    print("POWER", d.get("PowerState"))
    b = d.get("Boot", {})
    print("BOOT", b.get("BootSourceOverrideTarget"), b.get("BootSourceOverrideEnabled"))
    for t in d["Actions"]["#ComputerSystem.Reset"]["ResetType@Redfish.AllowableValues"]:
        print("RESET_TYPE", t)
elif action in ("reset", "bad-reset"):
    r = c.post(SYSTEM + "/Actions/ComputerSystem.Reset", body={"ResetType": args[0]})
    show(r)
elif action == "boot":
    etag = c.get(SYSTEM).getheader("ETag")
    body = {"Boot": {"BootSourceOverrideTarget": args[0], "BootSourceOverrideEnabled": args[1]}}
    r = c.patch(SYSTEM, body=body, headers={"If-Match": etag})
    show(r)
    # A stale ETag is refused.
    r = c.patch(SYSTEM, body=body, headers={"If-Match": 'W/"0000000000000000"'})
    print("STALE", r.status)
elif action == "password":
    accounts = c.get("/redfish/v1/AccountService/Accounts").dict["Members"]
    uri = None
    for m in accounts:
        a = c.get(m["@odata.id"]).dict
        if a.get("UserName") == args[0]:
            uri = m["@odata.id"]
            print("ACCOUNT", uri, a.get("RoleId"))
    r = c.patch(uri, body={"Password": args[1]})
    show(r)
elif action == "sel":
    sel = c.get(SYSTEM + "/LogServices/SEL/Entries")
    show(sel)
    print("COUNT", sel.dict.get("Members@odata.count"))
    for m in sel.dict["Members"]:
        e = c.get(m["@odata.id"]).dict
        print("ENTRY", e["Id"], e["Severity"], e["Message"])
    for m in c.get("/redfish/v1/Chassis/1/Sensors").dict["Members"]:
        d = c.get(m["@odata.id"]).dict
        print("SENSOR", d["Name"], "=", d["Reading"], d["ReadingUnits"])
elif action == "create-account":
    r = c.post("/redfish/v1/AccountService/Accounts",
               body={"UserName": args[0], "Password": args[1], "RoleId": args[2]})
    show(r)
    print("LOCATION", r.getheader("Location"))
    print("ROLE", r.dict.get("RoleId"))
    r = c.post("/redfish/v1/AccountService/Accounts",
               body={"UserName": args[0], "Password": args[1], "RoleId": args[2]})
    print("AGAIN", r.status)
elif action == "delete-account":
    for m in c.get("/redfish/v1/AccountService/Accounts").dict["Members"]:
        if c.get(m["@odata.id"]).dict.get("UserName") == args[0]:
            r = c.delete(m["@odata.id"])
            show(r)
elif action == "media":
    mgr = c.get("/redfish/v1/Managers/1").dict
    vm = c.get(mgr["VirtualMedia"]["@odata.id"]).dict
    cd = vm["Members"][0]["@odata.id"]
    d = c.get(cd).dict
    print("MEDIA_TYPES", ",".join(d["MediaTypes"]))
    insert = d["Actions"]["#VirtualMedia.InsertMedia"]["target"]
    eject = d["Actions"]["#VirtualMedia.EjectMedia"]["target"]
    if args[0] == "insert":
        r = c.post(insert, body={"Image": args[1], "Inserted": True, "WriteProtected": True})
        show(r)
        d = c.get(cd).dict
        print("IMAGE", d.get("Image"))
        print("INSERTED", d.get("Inserted"))
        print("CONNECTED_VIA", d.get("ConnectedVia"))
    else:
        r = c.post(eject, body={})
        show(r)
        d = c.get(cd).dict
        print("IMAGE", d.get("Image"))
        print("INSERTED", d.get("Inserted"))
elif action == "subscribe":
    es = c.get("/redfish/v1/").dict["EventService"]["@odata.id"]
    subs = c.get(es).dict["Subscriptions"]["@odata.id"]
    r = c.post(subs, body={"Destination": args[0], "Protocol": "Redfish",
                           "Context": args[1], "EventFormatType": "Event"})
    show(r)
    print("SUBSCRIPTION", r.getheader("Location"))
elif action == "test-event":
    es = c.get("/redfish/v1/").dict["EventService"]["@odata.id"]
    target = c.get(es).dict["Actions"]["#EventService.SubmitTestEvent"]["target"]
    r = c.post(target, body={"MessageId": args[0], "Message": "fakedc test event",
                             "MessageSeverity": "OK"})
    show(r)
elif action == "get":
    r = c.get(args[0])
    show(r)
    print("BODY", json.dumps(r.dict, sort_keys=True))
elif action == "inventory":
    # What an inspection reads (Ironic's through sushy): the summaries,
    # then every member of each inventory collection, found by links.
    d = c.get(SYSTEM).dict
    ps, ms = d["ProcessorSummary"], d["MemorySummary"]
    print("SUMMARY", ps["Count"], ps["LogicalProcessorCount"], ms["TotalSystemMemoryGiB"])
    print("CPU_MODEL", ps["Model"])
    for m in c.get(d["Processors"]["@odata.id"]).dict["Members"]:
        p = c.get(m["@odata.id"]).dict
        print("PROCESSOR", p["Id"], p["TotalCores"], p["TotalThreads"], p["MaxSpeedMHz"],
              p["OperatingSpeedMHz"], p["ProcessorArchitecture"], p["InstructionSet"])
    total = 0
    mem = c.get(d["Memory"]["@odata.id"]).dict
    for m in mem["Members"]:
        total += c.get(m["@odata.id"]).dict["CapacityMiB"]
    print("DIMMS", mem["Members@odata.count"], total)
    for m in c.get(d["EthernetInterfaces"]["@odata.id"]).dict["Members"]:
        n = c.get(m["@odata.id"]).dict
        print("NIC", n["Id"], n["MACAddress"], n["LinkStatus"], n["Status"]["State"])
    for m in c.get(d["Storage"]["@odata.id"]).dict["Members"]:
        st = c.get(m["@odata.id"]).dict
        for dr in st["Drives"]:
            r = c.get(dr["@odata.id"])
            x = r.dict
            print("DRIVE", x["Id"], x["CapacityBytes"], x["MediaType"], x["Protocol"], x["SerialNumber"])
    for m in c.get(d["SimpleStorage"]["@odata.id"]).dict["Members"]:
        for dev in c.get(m["@odata.id"]).dict["Devices"]:
            print("DEVICE", dev["Name"], dev["CapacityBytes"])
    bios = c.get(d["Bios"]["@odata.id"])
    show(bios)
    print("BIOS", bios.dict["Attributes"]["BootMode"])
    # The attribute registry the Bios names, found as sushy finds it.
    reg_id = bios.dict["AttributeRegistry"]
    for m in c.get(c.get("/redfish/v1/").dict["Registries"]["@odata.id"]).dict["Members"]:
        f = c.get(m["@odata.id"]).dict
        if reg_id.startswith(f["Registry"]):
            reg = c.get(f["Location"][0]["Uri"]).dict
            for a in reg["RegistryEntries"]["Attributes"]:
                print("BIOS_ATTR", a["AttributeName"], a["Type"], a["ReadOnly"],
                      ",".join(v["ValueName"] for v in a.get("Value", [])))
    r = c.patch(d["Bios"]["@odata.id"], body={"Attributes": {"BootMode": "Bios"}})
    print("BIOS_PATCH", r.status)
    r = c.get(d["Processors"]["@odata.id"] + "/CPU99")
    print("MISSING", r.status)
elif action == "update":
    # SimpleUpdate as Ironic's firmware step does it: the action's target
    # from UpdateService, then the task monitor polled until it is done.
    import time
    us = c.get(c.get("/redfish/v1/").dict["UpdateService"]["@odata.id"]).dict
    target = us["Actions"]["#UpdateService.SimpleUpdate"]["target"]
    body = {"ImageURI": args[0], "TransferProtocol": "HTTP"}
    if len(args) > 1:
        body["Targets"] = [args[1]]
    r = c.post(target, body=body)
    show(r)
    print("MONITOR", r.task_location)
    polls = 0
    while r.is_processing and polls < 200:
        if polls == 0:
            print("RUNNING", r.dict.get("TaskState"), r.dict.get("PercentComplete"))
        time.sleep(0.1)
        r = r.monitor(c)
        polls += 1
    print("FINAL", r.status)
    if r.status >= 400:
        show(r)
    tasks = c.get(c.get("/redfish/v1/").dict["Tasks"]["@odata.id"]).dict["Tasks"]["@odata.id"]
    last = c.get(tasks).dict["Members"][-1]["@odata.id"]
    t = c.get(last).dict
    print("TASK", t["TaskState"], t["PercentComplete"])
    for m in t["Messages"]:
        print("TASK_MESSAGE", m["MessageId"])
    for m in c.get(us["FirmwareInventory"]["@odata.id"]).dict["Members"]:
        fw = c.get(m["@odata.id"]).dict
        print("FIRMWARE", fw["Id"], fw["Version"])
elif action == "environment":
    # The modern chassis views, then the deprecated one older clients read.
    ch = c.get(c.get("/redfish/v1/Chassis").dict["Members"][0]["@odata.id"]).dict
    ps = c.get(ch["PowerSubsystem"]["@odata.id"])
    show(ps)
    print("CAPACITY", ps.dict.get("CapacityWatts"))
    ts = c.get(ch["ThermalSubsystem"]["@odata.id"]).dict
    for m in c.get(ts["Fans"]["@odata.id"]).dict["Members"]:
        f = c.get(m["@odata.id"]).dict
        print("FAN", f["Name"], "=", f["SpeedPercent"].get("SpeedRPM"), f["Status"]["State"])
    for t in c.get(ts["ThermalMetrics"]["@odata.id"]).dict["TemperatureReadingsCelsius"]:
        s = c.get(t["DataSourceUri"]).dict
        print("TEMP", s["Name"], "=", t["Reading"], s["Reading"])
    em = c.get(ch["EnvironmentMetrics"]["@odata.id"]).dict
    print("POWER_WATTS", em["PowerWatts"]["Reading"])
    for v in c.get(ch["Power"]["@odata.id"]).dict["Voltages"]:
        print("VOLTS", v["Name"], "=", v["ReadingVolts"])
elif action == "sessions":
    r = c.get("/redfish/v1/SessionService/Sessions")
    show(r)
    print("COUNT", r.dict.get("Members@odata.count"))
else:
    sys.exit(f"unknown action {action}")

if auth == "session":
    c.logout()
    print("LOGOUT")
    # The token no longer works.
    r = c.get(SYSTEM)
    print("AFTER_LOGOUT", r.status)
print("DONE")
