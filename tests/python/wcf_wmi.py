"""After a VM was started through fakedc's WCF management service: its
guest's WinRM answers an anonymous Identify, then the host's WMI
(root/virtualization/v2 over pypsrp, NTLM) shows it running.

usage: wcf_wmi.py HOST PORT USER PASSWORD VM_NAME GUEST_URL
"""
import sys
import time
import xml.etree.ElementTree as ET

import requests
from pypsrp.wsman import NAMESPACES, WSMan

host, port, user, password, vm_name, guest_url = sys.argv[1:7]

identify = (
    '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
    'xmlns:wsmid="http://schemas.dmtf.org/wbem/wsman/identity/1/wsmanidentity.xsd">'
    "<s:Header/><s:Body><wsmid:Identify/></s:Body></s:Envelope>"
)
deadline = time.time() + 20
answered = None
while time.time() < deadline:
    try:
        r = requests.post(guest_url, data=identify, timeout=2,
                          headers={"Content-Type": "application/soap+xml;charset=UTF-8"})
        if r.status_code == 200:
            answered = r.text
            break
    except requests.RequestException:
        pass
    time.sleep(0.05)
print("GUEST_IDENTIFY", "ProductVendor>Microsoft Corporation<" in (answered or ""))

w = WSMan(host, port=int(port), username=user, password=password, ssl=False,
          auth="ntlm", encryption="auto")
VIRT = "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/virtualization/v2/"
WSEN = NAMESPACES["wsen"]
WSMAN = NAMESPACES["wsman"]
body = ET.Element("{%s}Enumerate" % WSEN)
ET.SubElement(body, "{%s}OptimizeEnumeration" % WSMAN)
f = ET.SubElement(body, "{%s}Filter" % WSMAN)
f.set("Dialect", "http://schemas.microsoft.com/wbem/wsman/1/WQL")
f.text = "SELECT * FROM Msvm_ComputerSystem WHERE ElementName = '%s'" % vm_name
res = w.enumerate(VIRT + "*", body)
items = list(res.find("wsen:EnumerateResponse/wsman:Items", NAMESPACES))
state = None
for it in items:
    ns = it.tag.split("}")[0][1:]
    e = it.find("{%s}EnabledState" % ns)
    state = None if e is None else e.text
print("VM_ENABLED_STATE", state)
