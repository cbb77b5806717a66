"""pywbem against a fakedc storage array's SMI-S provider: registered
profiles in root/interop, the array through CIM_ElementConformsToProfile,
its pools and volumes through associations, a volume made with
CreateOrModifyElementFromStoragePool and its job polled to the end,
ExposePaths to a host's initiator, a pool too small (job in error), a size
over the pool (4097), an unknown class and a wrong password.

usage: smis_pywbem.py URL USER PASSWORD CA_PEM USE_PULL(yes|no|either) HOST_IQN VOLUME_NAME
Prints KEY value lines.
"""
import os
import sys
import time

import pywbem

# requests lets CURL_CA_BUNDLE override the session's CA file; the test
# trusts the scenario CA only.
os.environ.pop("CURL_CA_BUNDLE", None)
os.environ.pop("REQUESTS_CA_BUNDLE", None)

url, user, password, ca, use_pull, iqn, vol_name = sys.argv[1:8]
pull = {"yes": True, "no": False, "either": None}[use_pull]
GIB = 1 << 30


def connect(pw):
    return pywbem.WBEMConnection(
        url,
        (user, pw),
        default_namespace="root/interop",
        ca_certs=ca if url.startswith("https") else None,
        use_pull_operations=pull,
        timeout=30,
    )


conn = connect(password)
# pywbemcli's way: the Iter operations try Open/Pull first unless
# use_pull_operations is False, and fall back on CIM_ERR_NOT_SUPPORTED.
profiles = list(conn.IterEnumerateInstances("CIM_RegisteredProfile", MaxObjectCount=2))
for p in sorted(profiles, key=lambda p: p["RegisteredName"]):
    print("PROFILE", p["RegisteredName"], p["RegisteredVersion"], p["RegisteredOrganization"])
array_prof = [p for p in profiles if p["RegisteredName"] == "Array"][0]
subs = conn.AssociatorNames(
    array_prof.path, AssocClass="CIM_ReferencedProfile", ResultRole="Antecedent"
)
print("SUBPROFILES", len(subs))
systems = conn.Associators(
    array_prof.path,
    AssocClass="CIM_ElementConformsToProfile",
    ResultClass="CIM_ComputerSystem",
)
system = systems[0]
print("SYSTEM", system["ElementName"], system.path.namespace)
pools = conn.Associators(
    system.path, AssocClass="CIM_HostedStoragePool", ResultClass="CIM_StoragePool"
)
for p in sorted(pools, key=lambda p: p["ElementName"]):
    print("POOL", p["ElementName"], p["Primordial"], p["TotalManagedSpace"], p["RemainingManagedSpace"])
vols = list(conn.IterEnumerateInstances("CIM_StorageVolume", namespace="root/cimv2"))
for v in vols:
    print("VOLUME", v["ElementName"], v["NumberOfBlocks"] * v["BlockSize"], v["Name"])
names = conn.EnumerateInstanceNames("CIM_StorageVolume", namespace="root/cimv2")
print("VOLUME_NAMES", len(names))
gold = [p for p in pools if p["ElementName"] == "Gold"][0]
tiny = [p for p in pools if p["ElementName"] == "Tiny"][0]
print("GOLD_VOLUMES", len(conn.AssociatorNames(gold.path, AssocClass="CIM_AllocatedFromStoragePool", ResultClass="CIM_StorageVolume")))
print("REFS", len(conn.ReferenceNames(system.path, ResultClass="CIM_HostedStoragePool")))

scs = conn.AssociatorNames(
    system.path, AssocClass="CIM_HostedService", ResultClass="CIM_StorageConfigurationService"
)[0]
ccs = conn.AssociatorNames(
    system.path, AssocClass="CIM_HostedService", ResultClass="CIM_ControllerConfigurationService"
)[0]


def create(pool, size, name):
    return conn.InvokeMethod(
        "CreateOrModifyElementFromStoragePool",
        scs,
        ElementName=name,
        ElementType=pywbem.Uint16(2),
        InPool=pool.path,
        Size=pywbem.Uint64(size),
    )


def wait(job):
    for _ in range(200):
        j = conn.GetInstance(job)
        if j["JobState"] not in (3, 4, 5):
            return j
        time.sleep(0.05)
    raise SystemExit("job never finished")


rv, out = create(gold, 10 * GIB, vol_name)
print("CREATE", rv)
job = wait(out["Job"])
print("JOB", job["JobState"], job["PercentComplete"])
made = conn.AssociatorNames(job.path, AssocClass="CIM_AffectedJobElement", ResultClass="CIM_StorageVolume")
vol = conn.GetInstance(made[0])
print("NEWVOLUME", vol["ElementName"], vol["NumberOfBlocks"] * vol["BlockSize"], vol["Name"])

rv, out = conn.InvokeMethod(
    "ExposePaths",
    ccs,
    LUNames=[vol["DeviceID"]],
    InitiatorPortIDs=[iqn],
    DeviceAccesses=[pywbem.Uint16(2)],
)
print("EXPOSE", rv, len(out["ProtocolControllers"]))
for spc in conn.Associators(vol.path, AssocClass="CIM_ProtocolControllerForUnit"):
    print("VIEW", spc["Name"])

# A second volume: exposed, refused while exposed, hidden, returned.
rv, out = create(gold, GIB, vol_name + "-tmp")
tmp = conn.GetInstance(conn.AssociatorNames(wait(out["Job"]).path, AssocClass="CIM_AffectedJobElement")[0])
conn.InvokeMethod("ExposePaths", ccs, LUNames=[tmp["DeviceID"]], InitiatorPortIDs=[iqn])
rv_busy, _ = conn.InvokeMethod("ReturnToStoragePool", scs, TheElement=tmp.path)
rv_hide, _ = conn.InvokeMethod("HidePaths", ccs, LUNames=[tmp["DeviceID"]], InitiatorPortIDs=[iqn])
rv_ret, _ = conn.InvokeMethod("ReturnToStoragePool", scs, TheElement=tmp.path)
try:
    conn.GetInstance(tmp.path)
    gone = "still there"
except pywbem.CIMError as e:
    gone = e.status_code_name
print("RETURN", rv_busy, rv_hide, rv_ret, gone)

# Tiny has 10 GiB with 8 GiB used: 5 GiB starts a job that fails.
rv, out = create(tiny, 5 * GIB, "too-big")
print("SMALLPOOL_CREATE", rv)
job = wait(out["Job"])
print("SMALLPOOL_JOB", job["JobState"], job["ErrorDescription"])
rv, out = create(tiny, 50 * GIB, "way-too-big")
print("OVERSIZE", rv, out["Size"])

try:
    conn.EnumerateInstances("CIM_NoSuchClass", namespace="root/cimv2")
    print("UNKNOWN_CLASS none")
except pywbem.CIMError as e:
    print("UNKNOWN_CLASS", e.status_code, e.status_code_name)
try:
    conn.EnumerateInstances("CIM_StorageVolume", namespace="root/nowhere")
except pywbem.CIMError as e:
    print("BAD_NAMESPACE", e.status_code_name)
try:
    connect("wrong-password").EnumerateInstances("CIM_RegisteredProfile")
    print("WRONG_PASSWORD accepted")
except pywbem.AuthError as e:
    print("WRONG_PASSWORD AuthError", e.status_code if hasattr(e, "status_code") else "")
