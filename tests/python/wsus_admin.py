"""The WSUS administration web service (ApiRemoting30) with zeep over
requests-ntlm, as UpdateServices tooling reaches it.

usage:
  wsus_admin.py approve BASE USER PASSWORD COMPUTER GROUP KB
  wsus_admin.py events  BASE USER PASSWORD COMPUTER
  wsus_admin.py denied  BASE USER PASSWORD

approve: server version and status, categories, groups; creates GROUP,
moves COMPUTER into it, finds the update with KB and approves it for the
group. events: what COMPUTER reported. denied: the WSDL and a call with
these (wrong) credentials. Prints KEY VALUE lines.
"""
import datetime
import sys

import requests
import zeep
from requests_ntlm import HttpNtlmAuth
from zeep.transports import Transport

mode, base, user, password = sys.argv[1:5]
url = base + "/ApiRemoting30/WebService.asmx"
ALL = "a0a08746-4dbe-4a37-9adf-9e7652c0b421"

s = requests.Session()
s.trust_env = False
s.auth = HttpNtlmAuth(user, password)

if mode == "denied":
    r = s.get(url + "?wsdl")
    print("wsdl-status", r.status_code)
    r = s.post(url, data=b"<x/>", headers={"Content-Type": "text/xml"})
    print("post-status", r.status_code, r.headers.get("WWW-Authenticate", ""))
    sys.exit(0)

c = zeep.Client(url + "?wsdl", transport=Transport(session=s))
api = c.service


def values(row):
    """A GenericReadableRow's values (a row returned alone is flattened
    by zeep to its ArrayOfAnyType)."""
    try:
        v = row.Values
    except AttributeError:
        v = row
    return list(v.anyType) if v is not None and v.anyType is not None else []


def rows(x):
    """An ArrayOf... result as a list (zeep flattens one-element wrappers)."""
    if x is None:
        return []
    if isinstance(x, list):
        return x
    return list(x.GenericReadableRow or [])


if mode == "approve":
    computer, group, kb = sys.argv[5:8]
    print("version", api.GetServerVersion())
    for r in rows(api.ExecuteSPGetCategories(preferredCulture="en", retrieveUpdateClassifications=True,
                                        fromSyncDate=datetime.datetime(2000, 1, 1),
                                        toSyncDate=datetime.datetime(2100, 1, 1))):
        print("classification", values(r)[2])
    comps = api.ExecuteSPGetAllComputers()
    names = [values(r)[0] for t in rows(comps) for r in rows(t)]
    print("computers", ",".join(names))
    g = api.ExecuteSPCreateTargetGroup1(name=group, parentGroupId=ALL)
    gid = values(g)[0]
    print("group", gid)
    try:
        api.ExecuteSPCreateTargetGroup1(name=group, parentGroupId=ALL)
        print("duplicate accepted")
    except zeep.exceptions.Fault as e:
        print("duplicate-fault", e.message.split("--->")[0].strip())
    print("groups", ",".join(values(r)[1] for r in rows(api.ExecuteSPGetAllTargetGroups())))
    api.ExecuteSPAddComputerToTargetGroupAllowMultipleGroups(targetGroupId=gid, computerId=computer)
    print("member-of", ",".join(values(r)[1] for r in rows(api.ExecuteSPGetTargetGroupsForComputer(computerId=computer))))
    found = api.ExecuteSPSimpleSearchUpdates(preferredCulture="en", searchText="KB" + kb)
    uid, rev, title = values(rows(found.minimalProperties)[0])[:3]
    print("update", uid, rev, title)
    d = api.ExecuteSPDeployUpdate1(updateId={"UpdateId": uid, "RevisionNumber": int(rev)}, deploymentAction=0,
                                   targetGroupId=gid, deadline=datetime.datetime(9999, 12, 31),
                                   adminName="", isAssigned=True)
    print("deployment", values(d)[0])
    deps = api.ExecuteSPGetDeploymentsByUpdate1(id={"UpdateId": uid, "RevisionNumber": int(rev)})
    print("deployed-to", ",".join(values(r)[1] for r in rows(deps)), values(rows(deps)[0])[3])
    st = api.ExecuteSPGetUpdateServerStatus(updateSources=1, includeDownstreamComputers=False,
                                            updateScopeXml=None, computerTargetScopeXml=None,
                                            preferredCulture="en", publicationState=1, propertiesToGet=0)
    print("status", " ".join(str(v) for v in values(rows(rows(st)[0])[0])))
    try:
        api.ExecuteSPDeployUpdate1(updateId={"UpdateId": "00000000-0000-0000-0000-000000000000", "RevisionNumber": 1},
                                   deploymentAction=0, targetGroupId=gid, deadline=datetime.datetime(9999, 12, 31),
                                   adminName="", isAssigned=True)
        print("unknown-update accepted")
    except zeep.exceptions.Fault as e:
        print("unknown-update-fault", "not found" in e.message)
elif mode == "events":
    computer = sys.argv[5]
    found = api.ExecuteSPGetUpdateInstallationInfoForComputer(computerId=computer, updateScopeXml=None,
                                                             preferredCulture="en", publicationState=1)
    for r in rows(found):
        v = values(r)
        print("event", v[0], v[1], v[2], v[3])
    st = api.ExecuteSPGetUpdateServerStatus(updateSources=1, includeDownstreamComputers=False,
                                            updateScopeXml=None, computerTargetScopeXml=None,
                                            preferredCulture="en", publicationState=1, propertiesToGet=0)
    print("status", " ".join(str(v) for v in values(rows(rows(st)[0])[0])))
else:
    raise SystemExit("unknown mode " + mode)
