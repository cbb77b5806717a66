"""The Windows Update Agent's sequence against fakedc's WSUS, with zeep
loading the published MS-WUSP WSDLs (crates/wsus/wsdl), and curl for the
content downloads.

usage:
  wsus_agent.py agent   WSDL_DIR BASE CLIENT_ID GROUP
  wsus_agent.py cookie  WSDL_DIR BASE CLIENT_ID
  wsus_agent.py expired WSDL_DIR BASE CLIENT_ID COOKIE_DATA EXPIRATION

agent: GetConfig, GetAuthorizationCookie, GetCookie, RegisterComputer,
SyncUpdates until nothing new (then the driver pass), GetExtendedUpdateInfo,
GetFileLocations, downloads each file with curl (HEAD, then ranged GETs),
checks SHA-1 and SHA-256 against the metadata, reports install events.
cookie: registers and prints its cookie. expired: syncs with an old cookie
(expecting a fault), re-authenticates as the agent does, and syncs again.
Prints KEY VALUE lines.
"""
import base64
import datetime
import hashlib
import os
import re
import subprocess
import sys
import uuid

import zeep
from zeep.helpers import serialize_object

mode, wsdl_dir, base, client_id = sys.argv[1:5]

UTC = datetime.timezone.utc


def service(wsdl, ns, binding, path):
    c = zeep.Client(os.path.join(wsdl_dir, wsdl))
    return c, c.create_service("{%s}%s" % (ns, binding), base + path)


_, auth = service("simpleauth.wsdl", "http://www.microsoft.com/SoftwareDistribution/Server/SimpleAuthWebService",
                  "SimpleAuthSoap", "/SimpleAuthWebService/SimpleAuth.asmx")
client, cws = service("client.wsdl", "http://www.microsoft.com/SoftwareDistribution/Server/ClientWebService",
                      "ClientSoap", "/ClientWebService/Client.asmx")
_, rep = service("reporting.wsdl", "http://www.microsoft.com/SoftwareDistribution",
                 "WebServiceSoap", "/ReportingWebService/ReportingWebService.asmx")


def error_code(fault):
    d = fault.detail
    if d is None:
        return "none"
    for e in d.iter():
        if e.tag.split("}")[-1] == "ErrorCode":
            return e.text
    return "none"


def login(group=""):
    cfg = cws.GetConfig(protocolVersion="1.8")
    props = {p.Name: p.Value for p in cfg.Properties.ConfigurationProperty}
    plugin = cfg.AuthInfo.AuthPlugInInfo[0]
    a = auth.GetAuthorizationCookie(clientId=client_id, targetGroupName=group, dnsName=client_id + ".contoso.com")
    cookie = cws.GetCookie(
        authCookies={"AuthorizationCookie": [{"PlugInId": a.PlugInId, "CookieData": a.CookieData}]},
        oldCookie=None,
        lastChange=cfg.LastChange,
        currentTime=datetime.datetime.now(UTC),
        protocolVersion="1.8",
    )
    return cfg, props, plugin, cookie


def register(cookie):
    cws.RegisterComputer(cookie=cookie, computerInfo={
        "DnsName": client_id + ".contoso.com", "OSMajorVersion": 10, "OSMinorVersion": 0,
        "OSBuildNumber": 17763, "OSServicePackMajorNumber": 0, "OSServicePackMinorNumber": 0,
        "OSLocale": "en-US", "ComputerManufacturer": "fakedc", "ComputerModel": "Virtual",
        "BiosVersion": "1.0", "BiosName": "fakedc", "BiosReleaseDate": datetime.datetime(2020, 1, 1, tzinfo=UTC),
        "ProcessorArchitecture": "AMD64", "SuiteMask": 272, "OldProductType": 3, "NewProductType": 7,
        "SystemMetrics": 0, "ClientVersionMajorNumber": 10, "ClientVersionMinorNumber": 0,
        "ClientVersionBuildNumber": 17763, "ClientVersionQfeNumber": 1,
    })


def sync(cookie):
    """The agent's loop: non-leaf revisions are evaluated ('installed'),
    leaves cached, until a pass offers nothing new. Returns (cookie,
    non-leaf ids, leaf updates, passes)."""
    nonleaf, cached, leaves, passes = [], [], [], 0
    while True:
        passes += 1
        r = cws.SyncUpdates(cookie=cookie, parameters={
            "ExpressQuery": False,
            "InstalledNonLeafUpdateIDs": {"int": nonleaf},
            "OtherCachedUpdateIDs": {"int": cached},
            "SkipSoftwareSync": False,
            "NeedTwoGroupOutOfScopeUpdates": True,
        })
        if r.NewCookie is not None:
            cookie = r.NewCookie
        new = r.NewUpdates.UpdateInfo if r.NewUpdates is not None else []
        if not new:
            break
        for u in new:
            if u.IsLeaf:
                cached.append(u.ID)
                leaves.append(u)
            else:
                nonleaf.append(u.ID)
        if passes > 50:
            raise SystemExit("SyncUpdates never converged")
    drv = cws.SyncUpdates(cookie=cookie, parameters={
        "ExpressQuery": False, "InstalledNonLeafUpdateIDs": {"int": nonleaf},
        "OtherCachedUpdateIDs": {"int": cached}, "SkipSoftwareSync": True, "SystemSpec": {"Device": []},
    })
    print("driver-new", len(drv.NewUpdates.UpdateInfo) if drv.NewUpdates is not None else 0)
    return cookie, nonleaf, leaves, passes


def curl(*args):
    return subprocess.run(["curl", "-sS", "--noproxy", "*", *args], check=True, capture_output=True).stdout


if mode == "agent":
    group = sys.argv[5]
    cfg, props, plugin, cookie = login(group)
    print("config-max-extended", props.get("MaxExtendedUpdatesPerRequest"))
    print("config-protocol", props.get("ProtocolVersion"))
    print("config-plugin", plugin.PlugInID, plugin.ServiceUrl)
    print("cookie-expiration", cookie.Expiration.isoformat())
    register(cookie)
    print("registered", client_id)
    cookie, nonleaf, leaves, passes = sync(cookie)
    print("nonleaf", len(nonleaf))
    print("leaf", len(leaves))
    print("passes", passes)
    for u in leaves:
        m = re.search(r'UpdateID="([0-9a-f-]+)" RevisionNumber="(\d+)"', u.Xml)
        print("offered", u.ID, u.Deployment.Action, m.group(1), m.group(2))
    if not leaves:
        sys.exit(0)
    ids = [u.ID for u in leaves]
    info = cws.GetExtendedUpdateInfo(
        cookie=cookie, revisionIDs={"int": ids},
        infoTypes={"XmlUpdateFragmentType": ["Extended", "LocalizedProperties", "FileUrl"]},
        locales={"string": ["en-US", "en"]},
    )
    files = {}
    for d in info.Updates.Update:
        t = re.search(r"<Title>(.*?)</Title>", d.Xml)
        if t:
            print("title", d.ID, t.group(1))
        for f in re.finditer(r'<File Digest="([^"]+)" DigestAlgorithm="SHA1" FileName="([^"]+)" Size="(\d+)"[^>]*>'
                             r'<AdditionalDigest Algorithm="SHA256">([^<]+)</AdditionalDigest>', d.Xml):
            files[f.group(1)] = (f.group(2), int(f.group(3)), f.group(4))
    urls = {base64.b64encode(l.FileDigest).decode(): l.Url for l in info.FileLocations.FileLocation}
    print("files", len(files), "urls", len(urls))
    loc = cws.GetFileLocations(cookie=cookie, fileDigests={"base64Binary": [base64.b64decode(d) for d in files]})
    again = {base64.b64encode(l.FileDigest).decode(): l.Url for l in loc.FileLocations.FileLocation}
    print("locations-agree", again == urls)
    for digest, (name, size, sha256) in sorted(files.items()):
        url = urls[digest]
        head = curl("-I", url).decode()
        length = int(re.search(r"(?im)^content-length:\s*(\d+)", head).group(1))
        ranges = "accept-ranges: bytes" in head.lower()
        # BITS-style: the first range, then the rest in pieces.
        body = b""
        step = max(1, size // 3 + 1)
        statuses = []
        for start in range(0, size, step):
            end = min(size, start + step) - 1
            out = curl("-D", "-", "-r", f"{start}-{end}", url)
            hdr, _, part = out.partition(b"\r\n\r\n")
            statuses.append(hdr.split(b" ")[1].decode())
            body += part
        ok1 = base64.b64encode(hashlib.sha1(body).digest()).decode() == digest
        ok2 = base64.b64encode(hashlib.sha256(body).digest()).decode() == sha256
        print("download", name, length == size, ranges, ",".join(sorted(set(statuses))), ok1, ok2)
        # If-Range: the current validator resumes (206), a stale one gets
        # the whole file (200).
        etag = re.search(r'(?im)^etag:\s*(\S+)', head).group(1)
        same = curl("-s", "-o", "/dev/null", "-w", "%{http_code}", "-r", "10-19", "-H", "If-Range: " + etag, url)
        stale = curl("-s", "-o", "/dev/null", "-w", "%{http_code}", "-r", "10-19", "-H", 'If-Range: "0:0"', url)
        print("if-range", same.decode(), stale.decode())
    events = []
    for i, u in enumerate(leaves):
        m = re.search(r'UpdateID="([0-9a-f-]+)" RevisionNumber="(\d+)"', u.Xml)
        events.append({"BasicData": {
            "TargetID": {"Sid": client_id}, "SequenceNumber": i, "TimeAtTarget": datetime.datetime.now(UTC),
            "EventInstanceID": str(uuid.uuid4()), "NamespaceID": 1, "EventID": 183, "SourceID": 1,
            "UpdateID": {"UpdateID": m.group(1), "RevisionNumber": int(m.group(2))}, "Win32HResult": 0,
            "AppName": "AutomaticUpdates",
        }})
    print("reported", rep.ReportEventBatch(cookie=cookie, clientTime=datetime.datetime.now(UTC),
                                           eventBatch={"ReportingEvent": events}))
elif mode == "cookie":
    _, _, _, cookie = login()
    register(cookie)
    print("cookie-data", base64.b64encode(cookie.EncryptedData).decode())
    print("cookie-expiration", cookie.Expiration.isoformat())
elif mode == "expired":
    data, expiration = sys.argv[5:7]
    old = {"Expiration": datetime.datetime.fromisoformat(expiration), "EncryptedData": base64.b64decode(data)}
    try:
        cws.SyncUpdates(cookie=old, parameters={"ExpressQuery": False, "SkipSoftwareSync": False})
        print("stale-cookie accepted")
    except zeep.exceptions.Fault as e:
        print("stale-fault", error_code(e))
    # A configuration cached before the server's last change: ConfigChanged.
    cfg = cws.GetConfig(protocolVersion="1.8")
    a = auth.GetAuthorizationCookie(clientId=client_id, targetGroupName="", dnsName=client_id)
    try:
        cws.GetCookie(authCookies={"AuthorizationCookie": [{"PlugInId": a.PlugInId, "CookieData": a.CookieData}]},
                      lastChange=cfg.LastChange - datetime.timedelta(days=1),
                      currentTime=datetime.datetime.now(UTC), protocolVersion="1.8")
        print("old-config accepted")
    except zeep.exceptions.Fault as e:
        print("old-config-fault", error_code(e))
    # InvalidCookie: GetConfig, GetAuthorizationCookie, GetCookie, then sync.
    _, _, _, cookie = login()
    cookie, nonleaf, leaves, passes = sync(cookie)
    print("resync-nonleaf", len(nonleaf))
    # A forged cookie is refused the same way.
    forged = {"Expiration": cookie.Expiration, "EncryptedData": b"\x00" * 40}
    try:
        cws.GetFileLocations(cookie=forged, fileDigests={"base64Binary": []})
        print("forged accepted")
    except zeep.exceptions.Fault as e:
        print("forged-fault", error_code(e))
    # Too many revision ids for one GetExtendedUpdateInfo.
    try:
        cws.GetExtendedUpdateInfo(cookie=cookie, revisionIDs={"int": list(range(100000, 100051))},
                                  infoTypes={"XmlUpdateFragmentType": ["Extended"]}, locales={"string": ["en"]})
        print("oversize accepted")
    except zeep.exceptions.Fault as e:
        print("oversize-fault", error_code(e))
elif mode == "reuse":
    # A cookie kept from an earlier run of the server (the agent keeps it
    # across reboots of either side).
    data, expiration = sys.argv[5:7]
    old = {"Expiration": datetime.datetime.fromisoformat(expiration), "EncryptedData": base64.b64decode(data)}
    try:
        r = cws.GetFileLocations(cookie=old, fileDigests={"base64Binary": []})
        print("reuse ok")
    except zeep.exceptions.Fault as e:
        print("reuse-fault", error_code(e))
    # What the agent does on ServerChanged: start over (registration
    # included: registrations are not kept across restarts), and it works.
    _, _, _, cookie = login()
    register(cookie)
    cookie, nonleaf, leaves, passes = sync(cookie)
    print("restart-nonleaf", len(nonleaf))
else:
    raise SystemExit("unknown mode " + mode)
