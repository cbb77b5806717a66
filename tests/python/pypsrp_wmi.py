"""pypsrp's WSMan client against a fakedc Hyper-V host: config, Enumerate of
Win32_OperatingSystem, Get of one Win32_Service by selector, WQL Enumerate
of Msvm_ComputerSystem, Invoke of RequestStateChange that starts a VM, then
an anonymous Identify of the VM's guest until it answers.

usage: pypsrp_wmi.py HOST PORT SSL(0|1) AUTH USER PASSWORD CA_PEM GUEST_URL VM_NAME
"""
import sys
import time
import xml.etree.ElementTree as ET

import requests
from pypsrp.wsman import NAMESPACES, WSMan, SelectorSet

host, port, ssl, auth, user, password, ca, guest_url, vm_name = sys.argv[1:10]
ssl = ssl == "1"
w = WSMan(
    host,
    port=int(port),
    username=user,
    password=password,
    ssl=ssl,
    auth=auth,
    cert_validation=ca if ssl else False,
    encryption="auto",
)
w.update_max_payload_size()
print("MAX_ENVELOPE", w.max_envelope_size)

WSEN = NAMESPACES["wsen"]
WSMAN = NAMESPACES["wsman"]
CIMV2 = "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/"
VIRT = "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/virtualization/v2/"


def enumerate_all(uri, wql=None):
    body = ET.Element("{%s}Enumerate" % WSEN)
    ET.SubElement(body, "{%s}OptimizeEnumeration" % WSMAN)
    ET.SubElement(body, "{%s}MaxElements" % WSMAN).text = "1"
    if wql:
        f = ET.SubElement(body, "{%s}Filter" % WSMAN)
        f.set("Dialect", "http://schemas.microsoft.com/wbem/wsman/1/WQL")
        f.text = wql
    res = w.enumerate(uri, body)
    items = list(res.find("wsen:EnumerateResponse/wsman:Items", NAMESPACES))
    ctx = res.find("wsen:EnumerateResponse/wsen:EnumerationContext", NAMESPACES)
    while ctx is not None:
        pull = ET.Element("{%s}Pull" % WSEN)
        ET.SubElement(pull, "{%s}EnumerationContext" % WSEN).text = ctx.text
        ET.SubElement(pull, "{%s}MaxElements" % WSEN).text = "1"
        res = w.pull(uri, pull)
        items += list(res.find("wsen:PullResponse/wsen:Items", NAMESPACES))
        ctx = res.find("wsen:PullResponse/wsen:EnumerationContext", NAMESPACES)
    return items


def prop(item, name):
    e = item.find("{%s}%s" % (item.tag.split("}")[0][1:], name))
    return None if e is None else e.text


os_items = enumerate_all(CIMV2 + "Win32_OperatingSystem")
print("OS_COUNT", len(os_items))
print("OS_CAPTION", prop(os_items[0], "Caption"))

sel = SelectorSet()
sel.add_option("Name", "WinRM")
svc = w.get(CIMV2 + "Win32_Service", selector_set=sel)
item = svc[0]
print("SERVICE", prop(item, "Name"), prop(item, "State"), prop(item, "StartMode"))

vms = enumerate_all(VIRT + "*", "SELECT * FROM Msvm_ComputerSystem WHERE ElementName = '%s'" % vm_name)
print("VM_COUNT", len(vms))
vm_id = prop(vms[0], "Name")
print("VM_STATE_BEFORE", prop(vms[0], "EnabledState"))
every = enumerate_all(VIRT + "Msvm_ComputerSystem")
print("MSVM_ALL", len(every))

sel = SelectorSet()
sel.add_option("CreationClassName", "Msvm_ComputerSystem")
sel.add_option("Name", vm_id)
uri = VIRT + "Msvm_ComputerSystem"
inp = ET.Element("{%s}RequestStateChange_INPUT" % uri)
ET.SubElement(inp, "{%s}RequestedState" % uri).text = "2"
out = w.invoke(uri + "/RequestStateChange", uri, inp, selector_set=sel)
rv = out.find(".//{%s}ReturnValue" % uri)
print("RSC_RETURN", rv.text)
job = out.find(".//{%s}Job" % uri)
job_id = job.find(".//wsman:Selector[@Name='InstanceID']", NAMESPACES).text
print("JOB", bool(job_id))

# The guest's WinRM answers an anonymous Identify once the VM has booted.
identify = (
    '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
    'xmlns:wsmid="http://schemas.dmtf.org/wbem/wsman/identity/1/wsmanidentity.xsd">'
    "<s:Header/><s:Body><wsmid:Identify/></s:Body></s:Envelope>"
)
deadline = time.time() + 20
answered = None
while time.time() < deadline:
    try:
        r = requests.post(
            guest_url,
            data=identify,
            headers={"Content-Type": "application/soap+xml;charset=UTF-8"},
            timeout=2,
        )
        if r.status_code == 200:
            answered = r.text
            break
    except requests.RequestException:
        pass
    time.sleep(0.05)
print("GUEST_IDENTIFY", "ProductVendor>Microsoft Corporation<" in (answered or ""))

# The job completes once the VM is up.
sel = SelectorSet()
sel.add_option("InstanceID", job_id)
jobs = w.get(VIRT + "Msvm_ConcreteJob", selector_set=sel)
print("JOB_STATE", prop(jobs[0], "JobState"))
vms = enumerate_all(VIRT + "*", "SELECT * FROM Msvm_ComputerSystem WHERE ElementName = '%s'" % vm_name)
print("VM_STATE_AFTER", prop(vms[0], "EnabledState"))
print("DONE")
