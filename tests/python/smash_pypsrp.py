"""pypsrp's WSMan client (HTTPS, Basic) against a fakedc BMC's SMASH
endpoint: profile discovery through CIM_RegisteredProfile and association
filters, inventory, sensors, the record log, power and boot changes.

usage: smash_pypsrp.py HOST PORT USER PASSWORD CA_PEM ACTION [ARGS...]
ACTION: discover | power STATE | powerstate | boot | changeboot BOOTSTRING ROLE | faults

Prints KEY value lines the Rust test asserts on; a WSManFault prints
FAULT <code> <reason> and exits 0 (the test decides whether it was wanted).
"""
import sys
import xml.etree.ElementTree as ET

from pypsrp.exceptions import WSManFaultError
from pypsrp.wsman import NAMESPACES, SelectorSet, WSMan

host, port, user, password, ca, action = sys.argv[1:7]
args = sys.argv[7:]

CIM = "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/"
ALL = "http://schemas.dmtf.org/wbem/wscim/1/*"
WSA = NAMESPACES["wsa"]
WSMAN = NAMESPACES["wsman"]
WSEN = NAMESPACES["wsen"]
B = "http://schemas.dmtf.org/wbem/wsman/1/cimbinding.xsd"
ASSOC_DIALECT = "http://schemas.dmtf.org/wbem/wsman/1/cimbinding/associationFilter"
ANON = "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous"

w = WSMan(
    host,
    port=int(port),
    username=user,
    password=password,
    ssl=True,
    auth="basic",
    cert_validation=ca,
    encryption="never",
)


def enumerate_all(uri, filt=None, selectors=None):
    body = ET.Element("{%s}Enumerate" % WSEN)
    ET.SubElement(body, "{%s}OptimizeEnumeration" % WSMAN)
    ET.SubElement(body, "{%s}MaxElements" % WSMAN).text = "5"
    if filt is not None:
        body.append(filt)
    sel = None
    if selectors:
        sel = SelectorSet()
        for k, v in selectors:
            sel.add_option(k, v)
    res = w.enumerate(uri, body, selector_set=sel)
    items_el = res.find("wsen:EnumerateResponse/wsman:Items", NAMESPACES)
    items = list(items_el) if items_el is not None else []
    ctx = res.find("wsen:EnumerateResponse/wsen:EnumerationContext", NAMESPACES)
    while ctx is not None:
        pull = ET.Element("{%s}Pull" % WSEN)
        ET.SubElement(pull, "{%s}EnumerationContext" % WSEN).text = ctx.text
        ET.SubElement(pull, "{%s}MaxElements" % WSEN).text = "5"
        res = w.pull(uri, pull)
        items += list(res.find("wsen:PullResponse/wsen:Items", NAMESPACES))
        ctx = res.find("wsen:PullResponse/wsen:EnumerationContext", NAMESPACES)
    return items


def epr(tag, cls, selectors):
    e = ET.Element(tag)
    ET.SubElement(e, "{%s}Address" % WSA).text = ANON
    rp = ET.SubElement(e, "{%s}ReferenceParameters" % WSA)
    ET.SubElement(rp, "{%s}ResourceURI" % WSMAN).text = CIM + cls
    ss = ET.SubElement(rp, "{%s}SelectorSet" % WSMAN)
    for k, v in selectors:
        ET.SubElement(ss, "{%s}Selector" % WSMAN, Name=k).text = v
    return e


def assoc(cls, selectors, references=False, **kw):
    """Association-filter Enumerate from one object (DSP0227 8.2/8.3)."""
    f = ET.Element("{%s}Filter" % WSMAN, Dialect=ASSOC_DIALECT)
    spec = ET.SubElement(f, "{%s}%s" % (B, "AssociationInstances" if references else "AssociatedInstances"))
    spec.append(epr("{%s}Object" % B, cls, selectors))
    for k in ("AssociationClassName", "Role", "ResultClassName", "ResultRole"):
        if k in kw:
            ET.SubElement(spec, "{%s}%s" % (B, k)).text = kw[k]
    return enumerate_all(ALL, f)


def cls_of(item):
    return item.tag.split("}")[1]


def prop(item, name):
    e = item.find("{%s}%s" % (item.tag.split("}")[0][1:], name))
    return None if e is None else e.text


def props(item, name):
    return [e.text for e in item.findall("{%s}%s" % (item.tag.split("}")[0][1:], name))]


def ref_selector(item, role, name):
    e = item.find("{%s}%s" % (item.tag.split("}")[0][1:], role))
    s = e.find(".//{%s}Selector[@Name='%s']" % (WSMAN, name))
    return s.text


def cs_keys(cs):
    return [("CreationClassName", prop(cs, "CreationClassName")), ("Name", prop(cs, "Name"))]


def svc_keys(s):
    return [(k, prop(s, k)) for k in ("SystemCreationClassName", "SystemName", "CreationClassName", "Name")]


def profile(name):
    for p in enumerate_all(CIM + "CIM_RegisteredProfile", selectors=[("__cimnamespace", "root/interop")]):
        if prop(p, "RegisteredName") == name:
            return p
    raise SystemExit("no profile %s" % name)


def central(name, result_class):
    p = profile(name)
    return assoc(
        "CIM_RegisteredProfile",
        [("InstanceID", prop(p, "InstanceID")), ("__cimnamespace", "root/interop")],
        AssociationClassName="CIM_ElementConformsToProfile",
        ResultClassName=result_class,
    )


def computer_system():
    (cs,) = central("Base Server", "CIM_ComputerSystem")
    return cs


def power_state():
    cs = computer_system()
    (apms,) = assoc(
        "CIM_ComputerSystem", cs_keys(cs), references=True, ResultClassName="CIM_AssociatedPowerManagementService"
    )
    print("POWER_STATE", prop(apms, "PowerState"))
    print("AVAILABLE", " ".join(props(apms, "AvailableRequestedPowerStates")))
    print("ENABLED_STATE", prop(cs, "EnabledState"))


def invoke(cls, method, selectors, params):
    uri = CIM + cls
    inp = ET.Element("{%s}%s_INPUT" % (uri, method))
    for p in params:
        if isinstance(p[1], ET.Element):
            inp.append(p[1])
        else:
            ET.SubElement(inp, "{%s}%s" % (uri, p[0])).text = p[1]
    sel = SelectorSet()
    for k, v in selectors:
        sel.add_option(k, v)
    out = w.invoke(uri + "/" + method, uri, inp, selector_set=sel)
    return out.find(".//{%s}ReturnValue" % uri).text


def discover():
    profiles = enumerate_all(CIM + "CIM_RegisteredProfile", selectors=[("__cimnamespace", "root/interop")])
    for p in profiles:
        print("PROFILE", prop(p, "RegisteredName"), prop(p, "RegisteredVersion"), prop(p, "RegisteredOrganization"))
    cs = computer_system()
    print("CS", prop(cs, "Name"), prop(cs, "EnabledState"))
    refs = assoc("CIM_ComputerSystem", cs_keys(cs), references=True, ResultClassName="CIM_ComputerSystemPackage")
    print("PLATFORM_GUID", prop(refs[0], "PlatformGUID"))
    (chassis,) = assoc("CIM_ComputerSystem", cs_keys(cs), AssociationClassName="CIM_ComputerSystemPackage")
    print("CHASSIS", "|".join(prop(chassis, k) for k in ("Manufacturer", "Model", "SerialNumber", "PartNumber")))
    for s in assoc("CIM_ComputerSystem", cs_keys(cs), AssociationClassName="CIM_ElementSoftwareIdentity"):
        print("SOFTWARE", props(s, "Classifications")[0], prop(s, "VersionString"))
    print("CPUS", len(central("CPU", "CIM_Processor")))
    (mem,) = central("System Memory", "CIM_Memory")
    print("MEMORY_BLOCKS", prop(mem, "NumberOfBlocks"), prop(mem, "BlockSize"))
    sensors = central("Sensors", "CIM_NumericSensor")
    for s in sensors:
        print(
            "SENSOR",
            "%s=%se%s" % (prop(s, "ElementName").replace(" ", "_"), prop(s, "CurrentReading"), prop(s, "UnitModifier")),
            prop(s, "CurrentState"),
        )
    # The same sensors reached from the system by CIM_SystemDevice.
    via_system = assoc(
        "CIM_ComputerSystem", cs_keys(cs), AssociationClassName="CIM_SystemDevice", ResultClassName="CIM_NumericSensor"
    )
    print("SENSORS_VIA_SYSTEM", len(via_system))
    (log,) = central("Record Log", "CIM_RecordLog")
    entries = assoc("CIM_RecordLog", [("InstanceID", prop(log, "InstanceID"))], AssociationClassName="CIM_LogManagesRecord")
    print("LOG_COUNT", len(entries), prop(log, "CurrentNumberOfRecords"))
    for e in entries:
        print("LOG", prop(e, "RecordID"), prop(e, "ElementName"))
    (pms,) = central("Power State Management", "CIM_PowerManagementService")
    print("PMS", prop(pms, "Name"))
    (caps,) = assoc("CIM_PowerManagementService", svc_keys(pms), AssociationClassName="CIM_ElementCapabilities")
    print("POWER_STATES_SUPPORTED", " ".join(props(caps, "PowerStatesSupported")))
    power_state()
    print("DONE")


def power(state):
    cs = computer_system()
    (pms,) = central("Power State Management", "CIM_PowerManagementService")
    rv = invoke(
        "CIM_PowerManagementService",
        "RequestPowerStateChange",
        svc_keys(pms),
        [
            ("PowerState", state),
            ("ManagedElement", epr("{%sCIM_PowerManagementService}ManagedElement" % CIM, "CIM_ComputerSystem", cs_keys(cs))),
        ],
    )
    print("RETURN", rv)


def boot():
    cs = computer_system()
    (esd,) = assoc("CIM_ComputerSystem", cs_keys(cs), references=True, ResultClassName="CIM_ElementSettingData")
    print("IS_NEXT", prop(esd, "IsNext"))
    cfg_id = ref_selector(esd, "SettingData", "InstanceID")
    ordered = assoc("CIM_BootConfigSetting", [("InstanceID", cfg_id)], references=True, ResultClassName="CIM_OrderedComponent")
    first = [o for o in ordered if prop(o, "AssignedSequence") == "1"][0]
    src_id = ref_selector(first, "PartComponent", "InstanceID")
    sel = SelectorSet()
    sel.add_option("InstanceID", src_id)
    src = w.get(CIM + "CIM_BootSourceSetting", selector_set=sel)[0]
    print("FIRST_SOURCE", prop(src, "StructuredBootString"))


def changeboot(structured, role):
    sources = enumerate_all(CIM + "CIM_BootSourceSetting")
    src = [s for s in sources if prop(s, "StructuredBootString") == structured][0]
    (cfg,) = enumerate_all(CIM + "CIM_BootConfigSetting")
    cfg_keys = [("InstanceID", prop(cfg, "InstanceID"))]
    uri = CIM + "CIM_BootConfigSetting"
    rv = invoke(
        "CIM_BootConfigSetting",
        "ChangeBootOrder",
        cfg_keys,
        [("Source", epr("{%s}Source" % uri, "CIM_BootSourceSetting", [("InstanceID", prop(src, "InstanceID"))]))],
    )
    print("CHANGE_RETURN", rv)
    (svc,) = central("Boot Control", "CIM_BootService")
    rv = invoke(
        "CIM_BootService",
        "SetBootConfigRole",
        svc_keys(svc),
        [
            ("BootConfigSetting", epr("{%sCIM_BootService}BootConfigSetting" % CIM, "CIM_BootConfigSetting", cfg_keys)),
            ("Role", role),
        ],
    )
    print("ROLE_RETURN", rv)


def faults():
    try:
        enumerate_all(CIM + "CIM_NoSuchClass")
        print("UNKNOWN_CLASS no fault")
    except WSManFaultError as e:
        print("UNKNOWN_CLASS_FAULT", e.code, e.reason)
    cs = computer_system()
    try:
        invoke("CIM_ComputerSystem", "SelfDestruct", cs_keys(cs), [])
        print("UNKNOWN_METHOD no fault")
    except WSManFaultError as e:
        print("UNKNOWN_METHOD_FAULT", e.code, e.reason)


try:
    if action == "discover":
        discover()
    elif action == "power":
        power(args[0])
    elif action == "powerstate":
        power_state()
    elif action == "boot":
        boot()
    elif action == "changeboot":
        changeboot(args[0], args[1])
    elif action == "faults":
        faults()
    else:
        raise SystemExit("unknown action %s" % action)
except WSManFaultError as e:
    print("FAULT", e.code, e.reason)
