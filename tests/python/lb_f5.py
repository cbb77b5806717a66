"""F5 iControl REST clients (bigrest, f5-sdk) against fakedc's load balancer.

usage: lb_f5.py MODE HOST:PORT USER PASSWORD [ARGS...]
MODE:
  bigrest-setup VIP M1 M2  create an http monitor, a pool of members M1 and
                           M2 (address:port) and a virtual server on VIP
                           (address:port) with bigrest; read them back
  f5sdk-read               f5-sdk: version, load pool/members/virtual, exists()
  f5sdk-stats              f5-sdk: each member's monitor status and connections
  bigrest-delete-vs        delete the virtual server with bigrest
  errors                   bad token (401), unknown object (404), duplicate (409)
  bigrest-tx VIP M1        bigrest transaction: a virtual server naming a pool
                           created later fails the commit (nothing applied);
                           pool then virtual server on VIP commits
  f5sdk-tx VIP M1 M2       f5-sdk TransactionContextManager: pool + virtual
                           server on VIP in one transaction
  f5sdk-tls VIP SNAT       f5-sdk: client-ssl profile, SNAT pool of SNAT, a
                           virtual server on VIP with both over web_pool
  f5sdk-irule VIP VIP2 M1  f5-sdk: iRules: one steering HTTP_REQUEST rule on a
                           virtual server on VIP (http profile), a pool of M1
                           it names, a CLIENT_ACCEPTED reject rule on VIP2;
                           rules outside the subset and misuse refused
Prints KEY VALUE lines the Rust test asserts on.
"""
import os
import sys
import warnings

warnings.filterwarnings("ignore")
# requests lets these override a session's verify=False (bigrest and f5-sdk
# both turn verification off: the device's certificate is self-signed).
for var in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
    os.environ.pop(var, None)

mode, device, user, password = sys.argv[1:5]
args = sys.argv[5:]
host, port = device.rsplit(":", 1)

if mode.startswith("bigrest") or mode == "errors":
    from bigrest.bigip import BIGIP
    from bigrest.common.exceptions import RESTAPIError

    b = BIGIP(device, user, password, request_token=True, session_verify=False)

if mode == "bigrest-setup":
    vip, m1, m2 = args
    mon = b.create("/mgmt/tm/ltm/monitor/http", {
        "name": "web_mon", "interval": 1, "timeout": 3,
        "send": "GET / HTTP/1.0\\r\\n\\r\\n", "recv": "200 OK"})
    print("monitor", mon.properties["fullPath"], mon.properties["kind"])
    pool = b.create("/mgmt/tm/ltm/pool", {
        "name": "web_pool", "partition": "Common", "monitor": "/Common/web_mon",
        "loadBalancingMode": "round-robin"})
    print("pool", pool.properties["fullPath"], pool.properties["selfLink"])
    for m in (m1, m2):
        r = b.create("/mgmt/tm/ltm/pool/~Common~web_pool/members",
                     {"name": m, "partition": "Common"})
        print("member-created", r.properties["name"], r.properties["address"])
    vs = b.create("/mgmt/tm/ltm/virtual", {
        "name": "web_vs", "destination": f"/Common/{vip}",
        "pool": "/Common/web_pool", "ipProtocol": "tcp",
        "sourceAddressTranslation": {"type": "automap"}})
    print("virtual", vs.properties["fullPath"], vs.properties["destination"])
    print("exists-pool", b.exist("/mgmt/tm/ltm/pool/~Common~web_pool"))
    print("exists-missing", b.exist("/mgmt/tm/ltm/pool/~Common~nope"))
    for m in b.load("/mgmt/tm/ltm/pool/~Common~web_pool/members"):
        print("member", m.properties["name"], m.properties["address"], m.properties["kind"])
    p = b.load("/mgmt/tm/ltm/pool/~Common~web_pool")
    print("loaded-pool", p.properties["name"], p.properties["monitor"])
    p.properties["description"] = "balanced by fakedc"
    p = b.save(p)
    print("saved-pool", p.properties["description"])
    sys.exit(0)

if mode == "bigrest-delete-vs":
    b.delete("/mgmt/tm/ltm/virtual/~Common~web_vs")
    print("deleted", not b.exist("/mgmt/tm/ltm/virtual/~Common~web_vs"))
    sys.exit(0)

if mode == "errors":
    import requests
    r = requests.get(f"https://{device}/mgmt/tm/ltm/pool",
                     headers={"X-F5-Auth-Token": "NOTATOKEN"}, verify=False)
    print("bad-token", r.status_code, r.json()["code"], r.json()["message"])
    import json

    def parts(e):
        # bigrest puts "Status:\nN\nResponse Body:\n{json}" in the message.
        text = str(e)
        status = text.split("Status:\n", 1)[1].split("\n", 1)[0]
        return int(status), json.loads(text.split("Response Body:\n", 1)[1])

    try:
        b.load("/mgmt/tm/ltm/pool/~Common~nope")
        print("unknown no-error")
    except RESTAPIError as e:
        status, body = parts(e)
        print("unknown", status, body["code"], body["apiError"], body["message"])
    try:
        b.create("/mgmt/tm/ltm/pool", {"name": "web_pool"})
        print("duplicate no-error")
    except RESTAPIError as e:
        status, body = parts(e)
        print("duplicate", status, body["message"])
    sys.exit(0)

if mode == "bigrest-tx":
    vip, m1 = args
    import json
    # A failing transaction: the virtual server names a pool nobody made.
    with b:
        r = b.create("/mgmt/tm/ltm/virtual", {
            "name": "tx_bad_vs", "destination": f"/Common/{vip}",
            "pool": "/Common/tx_missing"})
        print("queued", r.properties["kind"], r.properties["commandId"])
        try:
            b.transaction_commit()
            print("commit no-error")
        except RESTAPIError as e:
            body = json.loads(str(e).split("Response Body:\n", 1)[1])
            print("commit-failed", body["code"], body["message"])
        # bigrest's __exit__ commits again; open a fresh one for it.
        b.transaction_create()
        b.create("/mgmt/tm/ltm/pool", {"name": "tx_pool", "members": [m1]})
    print("exists-bad-vs", b.exist("/mgmt/tm/ltm/virtual/~Common~tx_bad_vs"))
    print("exists-tx-pool", b.exist("/mgmt/tm/ltm/pool/~Common~tx_pool"))
    # Pool and virtual server together.
    tx = b.transaction_create()
    print("tx-state", tx.properties["state"], tx.properties["kind"])
    b.create("/mgmt/tm/ltm/pool", {"name": "tx_pool2", "members": [m1]})
    b.create("/mgmt/tm/ltm/virtual", {
        "name": "tx_vs", "destination": f"/Common/{vip}", "pool": "/Common/tx_pool2"})
    print("before-commit", b.exist("/mgmt/tm/ltm/virtual/~Common~tx_vs"))
    done = b.transaction_commit()
    print("committed", done.properties["state"])
    vs = b.load("/mgmt/tm/ltm/virtual/~Common~tx_vs")
    print("tx-vs", vs.properties["destination"], vs.properties["pool"])
    sys.exit(0)

from f5.bigip import ManagementRoot
from f5.bigip.resource import Stats

mgmt = ManagementRoot(host, user, password, port=int(port), token=True, verify=False)

if mode == "f5sdk-read":
    print("tmos-version", mgmt.tmos_version)
    print("pool-exists", mgmt.tm.ltm.pools.pool.exists(name="web_pool", partition="Common"))
    print("nope-exists", mgmt.tm.ltm.pools.pool.exists(name="nope", partition="Common"))
    pool = mgmt.tm.ltm.pools.pool.load(name="web_pool", partition="Common")
    print("pool", pool.fullPath, pool.loadBalancingMode, pool.monitor)
    for m in pool.members_s.get_collection():
        print("member", m.name, m.address, m.state)
    vs = mgmt.tm.ltm.virtuals.virtual.load(name="web_vs", partition="Common")
    print("virtual", vs.destination, vs.pool)
    print("virtuals", len(mgmt.tm.ltm.virtuals.get_collection()))
    sys.exit(0)

if mode == "f5sdk-stats":
    pool = mgmt.tm.ltm.pools.pool.load(name="web_pool", partition="Common")
    for m in pool.members_s.get_collection():
        st = Stats(m).load()
        e = list(st.entries.values())[0]["nestedStats"]["entries"]
        print("stat", m.name, e["monitorStatus"]["description"],
              e["status.availabilityState"]["description"],
              e["serverside.totConns"]["value"], m.state)
    sys.exit(0)

if mode == "f5sdk-tx":
    from f5.bigip.contexts import TransactionContextManager
    vip, m1, m2 = args
    tx = mgmt.tm.transactions.transaction
    with TransactionContextManager(tx) as api:
        p = api.tm.ltm.pools.pool.create(
            name="sdk_pool", partition="Common",
            members=[{"name": m1}, {"name": m2}])
        print("queued", p.kind)
        api.tm.ltm.virtuals.virtual.create(
            name="sdk_vs", partition="Common", destination=f"/Common/{vip}",
            pool="/Common/sdk_pool")
    print("sdk-pool-exists", mgmt.tm.ltm.pools.pool.exists(name="sdk_pool", partition="Common"))
    vs = mgmt.tm.ltm.virtuals.virtual.load(name="sdk_vs", partition="Common")
    print("sdk-vs", vs.destination, vs.pool)
    sys.exit(0)

if mode == "f5sdk-tls":
    vip, snat = args
    prof = mgmt.tm.ltm.profile.client_ssls.client_ssl.create(
        name="vip_ssl", partition="Common", defaultsFrom="/Common/clientssl",
        cert="/Common/default.crt", key="/Common/default.key")
    print("profile", prof.fullPath, prof.kind)
    sp = mgmt.tm.ltm.snatpools.snatpool.create(
        name="vip_snat", partition="Common", members=[snat])
    print("snatpool", sp.fullPath, sp.members)
    vs = mgmt.tm.ltm.virtuals.virtual.create(
        name="tls_vs", partition="Common", destination=f"/Common/{vip}",
        pool="/Common/web_pool", ipProtocol="tcp",
        profiles=[{"name": "tcp"}, {"name": "vip_ssl", "context": "clientside"}],
        sourceAddressTranslation={"type": "snat", "pool": "/Common/vip_snat"})
    print("virtual", vs.destination, vs.sourceAddressTranslation["type"])
    for p in vs.profiles_s.get_collection():
        print("vs-profile", p.name, p.context)
    sys.exit(0)

if mode == "f5sdk-irule":
    vip, vip2, m1 = args

    def refused(what, fn):
        try:
            fn()
            print("refused", what, "no")
        except Exception as e:  # icontrol's iControlUnexpectedHTTPError
            r = getattr(e, "response", None)
            body = r.json() if r is not None else {}
            print("refused", what, getattr(r, "status_code", "?"), body.get("message", e))

    one = mgmt.tm.ltm.pools.pool.create(name="one_pool", partition="Common", members=[{"name": m1}])
    print("pool", one.fullPath)
    steer = (
        "# steering by path\n"
        "when HTTP_REQUEST {\n"
        "    if { [HTTP::uri] starts_with \"/old\" } {\n"
        "        HTTP::redirect \"http://[HTTP::host]/new[HTTP::path]\"\n"
        "    } elseif { [HTTP::path] eq \"/hello\" } {\n"
        "        HTTP::respond 200 content \"hello [IP::client_addr] [string tolower [HTTP::method]]\" Content-Type text/plain\n"
        "    } elseif { [HTTP::uri] starts_with \"/one\" } {\n"
        "        HTTP::uri \"/\"\n"
        "        pool one_pool\n"
        "        log local0. \"steered [HTTP::host] to one_pool\"\n"
        "    }\n"
        "    HTTP::header insert X-Steered-By fakedc\n"
        "}\n")
    r = mgmt.tm.ltm.rules.rule.create(name="steer", partition="Common", apiAnonymous=steer)
    print("rule", r.fullPath, r.kind)
    loaded = mgmt.tm.ltm.rules.rule.load(name="steer", partition="Common")
    print("rule-text-same", loaded.apiAnonymous == steer)
    refused("switch", lambda: mgmt.tm.ltm.rules.rule.create(
        name="bad_switch", partition="Common",
        apiAnonymous="when HTTP_REQUEST {\n  switch [HTTP::uri] {\n    /a { pool one_pool }\n  }\n}"))
    refused("undefined", lambda: mgmt.tm.ltm.rules.rule.create(
        name="bad_proc", partition="Common",
        apiAnonymous="when HTTP_REQUEST {\n  frobnicate now\n}"))
    refused("nopool", lambda: mgmt.tm.ltm.rules.rule.create(
        name="bad_pool", partition="Common",
        apiAnonymous="when HTTP_REQUEST {\n  pool missing_pool\n}"))
    refused("no-http-profile", lambda: mgmt.tm.ltm.virtuals.virtual.create(
        name="bare_vs", partition="Common", destination=f"/Common/{vip}",
        pool="/Common/web_pool", rules=["/Common/steer"]))
    vs = mgmt.tm.ltm.virtuals.virtual.create(
        name="rule_vs", partition="Common", destination=f"/Common/{vip}",
        pool="/Common/web_pool", profiles=[{"name": "tcp"}, {"name": "http"}],
        rules=["/Common/steer"])
    print("virtual-rules", vs.rules)
    gate = mgmt.tm.ltm.rules.rule.create(
        name="gate", partition="Common",
        apiAnonymous="when CLIENT_ACCEPTED {\n  if { [IP::client_addr] eq \"127.0.0.1\" } {\n    log local0. \"gate: [IP::client_addr] rejected\"\n    reject\n  }\n}")
    vs2 = mgmt.tm.ltm.virtuals.virtual.create(
        name="gate_vs", partition="Common", destination=f"/Common/{vip2}",
        pool="/Common/web_pool", rules=[gate.fullPath])
    print("gate-rules", vs2.rules)
    refused("in-use", lambda: r.delete())
    sys.exit(0)

print("unknown mode", mode)
sys.exit(2)
