#!/usr/bin/env python3
"""Dumps pyvmomi's type description (_typeinfo_core/_query/_vim.py, Apache-2.0,
Copyright Broadcom) to the compact JSON fakedc-vsphere serialises from:
crates/vsphere/data/vim25-types.json.  Run once per pyvmomi upgrade:

    pip install pyvmomi==9.1.1.0
    python3 crates/vsphere/scripts/extract_typeinfo.py > crates/vsphere/data/vim25-types.json

Names are the WSDL names clients see on the wire (VirtualMachineSummary, not
vim.vm.Summary).  A type reference is written as its WSDL name with these
conventions: primitives as xsd:* names, managed objects as "mor:<Type>",
arrays with a trailing "[]".  Flags: "o" optional.
"""
import json, os, sys
import pyVmomi

HERE = os.path.dirname(pyVmomi.__file__)
F_OPTIONAL = 1

data, managed, enums = {}, {}, {}
wsdl = {}          # vmodl name -> wsdl name
kind = {}          # vmodl name -> 'data' | 'managed' | 'enum'

def CreateDataType(vmodl, name, parent, version, props):
    wsdl[vmodl] = name; kind[vmodl] = 'data'
    data[vmodl] = (parent, props)

def CreateManagedType(vmodl, name, parent, version, props, methods):
    wsdl[vmodl] = name; kind[vmodl] = 'managed'
    managed[vmodl] = (parent, props, methods)

def CreateEnumType(vmodl, name, version, values):
    wsdl[vmodl] = name; kind[vmodl] = 'enum'
    enums[vmodl] = values

def _noop(*a, **k):
    pass

env = dict(CreateDataType=CreateDataType, CreateManagedType=CreateManagedType,
           CreateEnumType=CreateEnumType, AddVersion=_noop, AddVersionParent=_noop,
           AddBreakingChangesInfo=_noop, F_LINK=4, F_LINKABLE=8,
           F_OPTIONAL=F_OPTIONAL, F_SECRET=16)

class _Versions:
    def Add(self, *a):
        pass

for _n in ("newestVersions", "ltsVersions", "oldestVersions", "publicVersions", "dottedVersions"):
    env[_n] = _Versions()
for mod in ("_typeinfo_core.py", "_typeinfo_query.py", "_typeinfo_vim.py"):
    src = open(os.path.join(HERE, mod)).read()
    src = "\n".join(l for l in src.splitlines() if not l.startswith("from "))
    exec(compile(src, mod, "exec"), dict(env))

PRIM = {
    "string": "xsd:string", "boolean": "xsd:boolean", "byte": "xsd:byte",
    "short": "xsd:short", "int": "xsd:int", "long": "xsd:long",
    "float": "xsd:float", "double": "xsd:double", "dateTime": "xsd:dateTime",
    "anyType": "xsd:anyType", "binary": "xsd:base64Binary", "anyURI": "xsd:anyURI",
    "vmodl.TypeName": "xsd:string", "vmodl.MethodName": "xsd:string",
    "vmodl.PropertyPath": "xsd:string", "vmodl.URI": "xsd:anyURI",
    "vmodl.Binary": "xsd:base64Binary", "void": "void", "vmodl.DateTime": "xsd:dateTime",
    "vmodl.MethodFault": "MethodFault",
    "vmodl.ManagedObject": "mor:ManagedObject", "vmodl.DataObject": "DataObject",
}

def ref(t):
    arr = t.endswith("[]")
    base = t[:-2] if arr else t
    if base in PRIM:
        r = PRIM[base]
    elif kind.get(base) == 'managed':
        r = "mor:" + wsdl[base]
    elif base in wsdl:
        r = wsdl[base]
    else:
        r = "xsd:anyType"
    return r + ("[]" if arr else "")

out = {"source": "pyvmomi %s (_typeinfo_core/_query/_vim.py), Apache-2.0, Copyright Broadcom" % getattr(pyVmomi, "__version__", "9.1.1.0"),
       "data": {}, "managed": {}, "enums": {}}
for v, (parent, props) in data.items():
    out["data"][wsdl[v]] = {
        "base": wsdl.get(parent, parent.split(".")[-1]),
        "props": [[p[0], ref(p[1])] + (["o"] if p[3] & F_OPTIONAL else []) for p in (props or [])],
    }
for v, (parent, props, methods) in managed.items():
    out["managed"][wsdl[v]] = {
        "base": wsdl.get(parent, parent.split(".")[-1]),
        "props": [[p[0], ref(p[1])] + (["o"] if p[3] & F_OPTIONAL else []) for p in (props or [])],
        "methods": [m[1] for m in (methods or [])],
    }
for v, values in enums.items():
    out["enums"][wsdl[v]] = list(values)
json.dump(out, sys.stdout, separators=(",", ":"), sort_keys=True)
sys.stdout.write("\n")
