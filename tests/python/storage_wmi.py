"""pypsrp's WSMan Enumerate of the Windows storage classes
(root/microsoft/windows/storage) on a fakedc machine, optionally following
an association from the first instance.

usage: storage_wmi.py HOST PORT USER PASSWORD CLASS
       storage_wmi.py HOST PORT USER PASSWORD create POOL NAME SIZE
       storage_wmi.py HOST PORT USER PASSWORD delete NAME
       storage_wmi.py HOST PORT USER PASSWORD assoc CLASS NAME ASSOC_CLASS RESULT_CLASS
Prints `ITEM FriendlyName|UniqueId|Size` per instance, or `CREATE rv` /
`DELETE rv` after MSFT_StoragePool.CreateVirtualDisk /
MSFT_VirtualDisk.DeleteObject.
"""
import sys
import xml.etree.ElementTree as ET

from pypsrp.wsman import NAMESPACES, SelectorSet, WSMan

host, port, user, password, cls = sys.argv[1:6]
w = WSMan(host, port=int(port), username=user, password=password, ssl=False,
          auth="ntlm", encryption="auto")
NS = "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/microsoft/windows/storage/"
WSEN = NAMESPACES["wsen"]
WSMAN = NAMESPACES["wsman"]


def enumerate_all(uri, filt=None):
    body = ET.Element("{%s}Enumerate" % WSEN)
    ET.SubElement(body, "{%s}OptimizeEnumeration" % WSMAN)
    ET.SubElement(body, "{%s}MaxElements" % WSMAN).text = "50"
    if filt is not None:
        body.append(filt)
    res = w.enumerate(uri, body)
    items = list(res.find("wsen:EnumerateResponse/wsman:Items", NAMESPACES))
    ctx = res.find("wsen:EnumerateResponse/wsen:EnumerationContext", NAMESPACES)
    while ctx is not None:
        pull = ET.Element("{%s}Pull" % WSEN)
        ET.SubElement(pull, "{%s}EnumerationContext" % WSEN).text = ctx.text
        ET.SubElement(pull, "{%s}MaxElements" % WSEN).text = "50"
        res = w.pull(uri, pull)
        items += list(res.find("wsen:PullResponse/wsen:Items", NAMESPACES))
        ctx = res.find("wsen:PullResponse/wsen:EnumerationContext", NAMESPACES)
    return items


def prop(item, name):
    e = item.find("{%s}%s" % (item.tag.split("}")[0][1:], name))
    return None if e is None else e.text


def invoke(cls, name, method, params):
    uri = NS + cls
    target = [i for i in enumerate_all(uri) if prop(i, "FriendlyName") == name][0]
    sel = SelectorSet()
    sel.add_option("ObjectId", prop(target, "ObjectId"))
    inp = ET.Element("{%s}%s_INPUT" % (uri, method))
    for k, v in params:
        ET.SubElement(inp, "{%s}%s" % (uri, k)).text = v
    out = w.invoke(uri + "/" + method, uri, inp, selector_set=sel)
    return out.find(".//{%s}ReturnValue" % uri).text


if cls == "create":
    pool, name, size = sys.argv[6:9]
    print("CREATE", invoke("MSFT_StoragePool", pool, "CreateVirtualDisk",
                           [("FriendlyName", name), ("Size", size)]))
elif cls == "assoc":
    # DSP0227 association filter from one object, as WinRM clients follow
    # MSFT_StoragePoolToVirtualDisk and friends.
    src, name, assoc_class, result_class = sys.argv[6:10]
    B = "http://schemas.dmtf.org/wbem/wsman/1/cimbinding.xsd"
    WSA = NAMESPACES["wsa"]
    obj = [i for i in enumerate_all(NS + src) if prop(i, "FriendlyName") == name][0]
    f = ET.Element("{%s}Filter" % WSMAN,
                   Dialect="http://schemas.dmtf.org/wbem/wsman/1/cimbinding/associationFilter")
    spec = ET.SubElement(f, "{%s}AssociatedInstances" % B)
    o = ET.SubElement(spec, "{%s}Object" % B)
    ET.SubElement(o, "{%s}Address" % WSA).text = \
        "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous"
    rp = ET.SubElement(o, "{%s}ReferenceParameters" % WSA)
    ET.SubElement(rp, "{%s}ResourceURI" % WSMAN).text = NS + src
    ss = ET.SubElement(rp, "{%s}SelectorSet" % WSMAN)
    ET.SubElement(ss, "{%s}Selector" % WSMAN, Name="ObjectId").text = prop(obj, "ObjectId")
    ET.SubElement(spec, "{%s}AssociationClassName" % B).text = assoc_class
    ET.SubElement(spec, "{%s}ResultClassName" % B).text = result_class
    for i in enumerate_all(NS + "*", f):
        print("ITEM", "|".join(str(prop(i, n)) for n in ("FriendlyName", "UniqueId", "Size")))
elif cls == "delete":
    print("DELETE", invoke("MSFT_VirtualDisk", sys.argv[6], "DeleteObject", []))
else:
    for i in enumerate_all(NS + cls):
        print("ITEM", "|".join(str(prop(i, n)) for n in ("FriendlyName", "UniqueId", "Size")))
