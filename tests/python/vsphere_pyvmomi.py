"""pyvmomi (the real client) against a fakedc vSphere SDK endpoint.

usage: vsphere_pyvmomi.py HOST PORT USER PASSWORD CA_PEM COMMAND [ARGS...]

Commands print `key value` lines the assertions in tests/interop/vsphere.rs
read:
  about                      SmartConnect verifying the CA, about, session
  vms                        container view of all VMs: name, power, guest IP
  page N                     RetrievePropertiesEx with maxObjects=N + continue
  power NAME on|off          Power{On,Off}VM_Task + WaitForTask
  find PATH                  SearchIndex.FindByInventoryPath
  browse DIR PATTERN         HostDatastoreBrowser.SearchDatastore_Task
  put DS REMOTE LOCAL        /folder PUT with the session cookie
  get DS REMOTE LOCAL        /folder GET with the session cookie
  anon DS REMOTE             /folder GET without credentials
  basic|head|delete DS REMOTE   /folder GET with Basic, HEAD, DELETE
  unimplemented NAME         a method fakedc does not implement
  badprop                    a PropertyCollector read of a path that does not exist
"""
import ssl
import sys
import urllib.parse

import requests
from pyVim.connect import SmartConnect, Disconnect
from pyVim.task import WaitForTask
from pyVmomi import vim, vmodl

host, port, user, password, ca, cmd = sys.argv[1:7]
args = sys.argv[7:]
ctx = ssl.create_default_context(cafile=ca)

if cmd == "hostile":
    # Raw bodies a hostile or broken client sends; each must get vSphere's
    # own fault, and the service must keep serving pyvmomi afterwards.
    url = "https://%s:%s/sdk" % (host, port)
    env = ('<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope '
           'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
           'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>%s</soapenv:Body></soapenv:Envelope>')
    si = SmartConnect(host=host, port=int(port), user=user, pwd=password, sslContext=ctx)
    cookie = si._stub.cookie.split(";")[0]
    name, value = cookie.split("=", 1)
    cases = {
        "malformed": "<soapenv:Envelope xmlns:soapenv=",
        "entity": '<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
                  '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>' + (env % '<Login xmlns="urn:vim25"><_this type="SessionManager">ha-sessionmgr</_this><userName>&c;</userName></Login>'),
        "external": '<?xml version="1.0"?><!DOCTYPE l [<!ENTITY x SYSTEM "file:///etc/passwd">]>' + (env % '<Login xmlns="urn:vim25"><_this type="SessionManager">ha-sessionmgr</_this><userName>&x;</userName></Login>'),
        "huge": env % ('<Fetch xmlns="urn:vim25"><_this type="Folder">ha-folder-root</_this><prop>' + "x" * (5 * 1024 * 1024) + '</prop></Fetch>'),
        "deep": env % ('<Fetch xmlns="urn:vim25"><_this type="Folder">ha-folder-root</_this>' + "<a>" * 5000 + "</a>" * 5000 + '</Fetch>'),
        "soap12": '<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope"><e:Body><RetrieveServiceContent xmlns="urn:vim25"><_this type="ServiceInstance">ServiceInstance</_this></RetrieveServiceContent></e:Body></e:Envelope>',
        "no-this": env % '<RetrieveServiceContent xmlns="urn:vim25"/>',
        "other-ns": env % '<RetrieveServiceContent xmlns="urn:evil"><_this type="ServiceInstance">ServiceInstance</_this></RetrieveServiceContent>',
        "unknown-object": env % '<Fetch xmlns="urn:vim25"><_this type="VirtualMachine">vm-999999</_this><prop>name</prop></Fetch>',
        "unknown-method": env % '<FrobnicateVM_Task xmlns="urn:vim25"><_this type="VirtualMachine">1</_this></FrobnicateVM_Task>',
        "unknown-type": env % ('<RetrievePropertiesEx xmlns="urn:vim25"><_this type="PropertyCollector">ha-property-collector</_this>'
                               '<specSet><propSet><type>NoSuchType</type><pathSet>name</pathSet></propSet>'
                               '<objectSet><obj type="Folder">ha-folder-root</obj></objectSet></specSet><options/></RetrievePropertiesEx>'),
        "bad-path": env % '<Fetch xmlns="urn:vim25"><_this type="VirtualMachine">1</_this><prop>runtime.noSuchThing</prop></Fetch>',
        "bad-view-type": env % ('<CreateContainerView xmlns="urn:vim25"><_this type="ViewManager">ViewManager</_this>'
                                '<container type="Folder">ha-folder-root</container><type>Nope</type><recursive>true</recursive></CreateContainerView>'),
        "spec-bomb": env % ('<RetrievePropertiesEx xmlns="urn:vim25"><_this type="PropertyCollector">ha-property-collector</_this><specSet>'
                            '<propSet><type>Folder</type><pathSet>name</pathSet></propSet>'
                            + '<objectSet><obj type="Folder">ha-folder-root</obj></objectSet>' * 20000 + '</specSet><options/></RetrievePropertiesEx>'),
    }
    for case, body in cases.items():
        r = requests.post(url, data=body.encode(), headers={"Content-Type": "text/xml"},
                          cookies={name: value}, verify=ca)
        kind = None
        if "xsi:type=\"" in r.text and "<detail>" in r.text:
            kind = r.text.split("<detail>")[1].split('xsi:type="')[1].split('"')[0]
        print("case", case, r.status_code, kind, "root" if "/etc/passwd" in body and "root:" in r.text else "")
    print("still-serving", si.RetrieveContent().rootFolder.name)
    Disconnect(si)
    sys.exit(0)

if cmd == "badlogin":
    try:
        SmartConnect(host=host, port=int(port), user=user, pwd=password, sslContext=ctx)
        print("login-ok")
    except vim.fault.InvalidLogin as e:
        print("fault InvalidLogin", e.msg)
    sys.exit(0)

si = SmartConnect(host=host, port=int(port), user=user, pwd=password, sslContext=ctx)
content = si.RetrieveContent()


def all_vms():
    view = content.viewManager.CreateContainerView(content.rootFolder, [vim.VirtualMachine], True)
    vms = list(view.view)
    view.Destroy()
    return vms


def by_name(name):
    for vm in all_vms():
        if vm.name == name:
            return vm
    raise SystemExit("no VM " + name)


def dc_name():
    return content.rootFolder.childEntity[0].name


if cmd == "about":
    a = content.about
    print("apiType", a.apiType)
    print("apiVersion", a.apiVersion)
    print("fullName", a.fullName)
    print("stub-version", si._stub.version)
    s = content.sessionManager.currentSession
    print("session-user", s.userName)
    print("active", content.sessionManager.SessionIsActive(s.key, s.userName))
    print("clock", si.CurrentTime().year > 2000)
    print("root", content.rootFolder.name)
    Disconnect(si)
    try:
        content.rootFolder.name
        print("after-logout readable")
    except vim.fault.NotAuthenticated:
        print("after-logout NotAuthenticated")
elif cmd == "vms":
    for vm in sorted(all_vms(), key=lambda v: v.name):
        print("vm", vm.name, vm.runtime.powerState, vm.guest.ipAddress, vm.guest.toolsStatus,
              vm.summary.config.vmPathName, vm.runtime.host.name)
    print("datacenter", dc_name())
    hosts = content.viewManager.CreateContainerView(content.rootFolder, [vim.HostSystem], True)
    for h in hosts.view:
        print("host", h.name, h.summary.runtime.connectionState, len(h.vm))
    for ds in content.rootFolder.childEntity[0].datastore:
        print("datastore", ds.name, ds.summary.type)
    print("snapshot", by_name(all_vms()[0].name).snapshot)
    Disconnect(si)
elif cmd == "page":
    n = int(args[0])
    pc = content.propertyCollector
    view = content.viewManager.CreateContainerView(content.rootFolder, [vim.VirtualMachine], True)
    spec = vmodl.query.PropertyCollector.FilterSpec(
        objectSet=[vmodl.query.PropertyCollector.ObjectSpec(
            obj=view, skip=True,
            selectSet=[vmodl.query.PropertyCollector.TraversalSpec(
                name="v", path="view", skip=False, type=vim.view.ContainerView)])],
        propSet=[vmodl.query.PropertyCollector.PropertySpec(
            type=vim.VirtualMachine, pathSet=["name", "runtime.powerState"])])
    r = pc.RetrievePropertiesEx([spec], vmodl.query.PropertyCollector.RetrieveOptions(maxObjects=n))
    pages = 0
    names = []
    while r is not None:
        pages += 1
        print("page", pages, len(r.objects), "token" if r.token else "last")
        for o in r.objects:
            props = {p.name: p.val for p in o.propSet}
            names.append("%s=%s" % (props["name"], props["runtime.powerState"]))
        if not r.token:
            break
        r = pc.ContinueRetrievePropertiesEx(r.token)
    print("objects", ",".join(sorted(names)))
    legacy = pc.RetrieveProperties([spec])
    print("legacy", len(legacy))
    Disconnect(si)
elif cmd == "power":
    name, what = args
    vm = by_name(name)
    task = vm.PowerOnVM_Task() if what == "on" else vm.PowerOffVM_Task()
    state = WaitForTask(task)
    print("task", state, task.info.descriptionId, task.info.entityName)
    print("power", vm.runtime.powerState)
    try:
        t2 = vm.PowerOnVM_Task() if what == "on" else vm.PowerOffVM_Task()
        WaitForTask(t2)
        print("again ok")
    except vim.fault.InvalidPowerState as e:
        print("again InvalidPowerState", e.existingState)
    events = content.eventManager.QueryEvents(vim.event.EventFilterSpec(
        entity=vim.event.EventFilterSpec.ByEntity(entity=vm, recursion="self")))
    print("event", type(events[0]).__name__ if events else None)
    Disconnect(si)
elif cmd == "updates":
    # govmomi's way to watch: its own collector, a filter over a view,
    # WaitForUpdatesEx with maxObjectUpdates and maxWaitSeconds.
    pc = content.propertyCollector.CreatePropertyCollector()
    view = content.viewManager.CreateContainerView(content.rootFolder, [vim.VirtualMachine], True)
    spec = vmodl.query.PropertyCollector.FilterSpec(
        objectSet=[vmodl.query.PropertyCollector.ObjectSpec(
            obj=view, skip=True,
            selectSet=[vmodl.query.PropertyCollector.TraversalSpec(
                name="v", path="view", skip=False, type=vim.view.ContainerView)])],
        propSet=[vmodl.query.PropertyCollector.PropertySpec(
            type=vim.VirtualMachine, pathSet=["name", "runtime.powerState"])])
    pc.CreateFilter(spec, True)
    version = ""
    while True:
        u = pc.WaitForUpdatesEx(version, vmodl.query.PropertyCollector.WaitOptions(maxObjectUpdates=2))
        version = u.version
        n = sum(len(f.objectSet) for f in u.filterSet)
        print("batch", n, "truncated" if u.truncated else "complete",
              ",".join(sorted(o.kind for f in u.filterSet for o in f.objectSet)))
        if not u.truncated:
            break
    u = pc.WaitForUpdatesEx(version, vmodl.query.PropertyCollector.WaitOptions(maxWaitSeconds=0))
    print("idle", u)
    vm = by_name(args[0])
    WaitForTask(vm.PowerOffVM_Task())
    u = pc.WaitForUpdatesEx(version, vmodl.query.PropertyCollector.WaitOptions(maxWaitSeconds=5))
    for f in u.filterSet:
        for o in f.objectSet:
            for c in o.changeSet:
                print("change", o.kind, o.obj.name, c.name, c.val)
    pc.Destroy()
    Disconnect(si)
elif cmd == "lifecycle":
    # A task seen as vCenter shows it: queued, then running with
    # progress, then success, through WaitForUpdatesEx on its info.
    vm = by_name("app01")
    task = vm.PowerOffVM_Task()
    print("first", task.info.state)
    pc = content.propertyCollector.CreatePropertyCollector()
    pc.CreateFilter(vmodl.query.PropertyCollector.FilterSpec(
        objectSet=[vmodl.query.PropertyCollector.ObjectSpec(obj=task)],
        propSet=[vmodl.query.PropertyCollector.PropertySpec(
            type=vim.Task, pathSet=["info.state", "info.progress"])]), True)
    version, states, progress = "", [], []
    while True:
        u = pc.WaitForUpdatesEx(version, vmodl.query.PropertyCollector.WaitOptions(maxWaitSeconds=10))
        if u is None:
            break
        version = u.version
        for f in u.filterSet:
            for o in f.objectSet:
                for c in o.changeSet:
                    if c.name == "info.state" and (not states or states[-1] != c.val):
                        states.append(c.val)
                    if c.name == "info.progress" and c.val is not None:
                        progress.append(c.val)
        if states and states[-1] in ("success", "error"):
            break
    pc.Destroy()
    print("states", ",".join(states))
    print("progress-rises", len(progress) > 1 and progress == sorted(progress))
    print("times", task.info.startTime is not None and task.info.completeTime >= task.info.startTime)
    print("power", vm.runtime.powerState)
    # Destroy_Task: powered-off only.
    web = by_name("web01")
    try:
        WaitForTask(web.Destroy_Task())
        print("destroy-on ok")
    except vim.fault.InvalidPowerState as e:
        print("destroy-on InvalidPowerState", e.existingState)
    host = content.viewManager.CreateContainerView(content.rootFolder, [vim.HostSystem], True).view[0]
    # A host with a running VM does not enter maintenance before its timeout.
    try:
        WaitForTask(host.EnterMaintenanceMode_Task(timeout=1))
        print("enter-busy ok")
    except vim.fault.Timedout:
        print("enter-busy Timedout")
    WaitForTask(web.PowerOffVM_Task())
    print("enter", WaitForTask(host.EnterMaintenanceMode_Task(timeout=0)), host.runtime.inMaintenanceMode)
    db = by_name("db01")
    try:
        WaitForTask(db.PowerOnVM_Task())
        print("poweron-in-maintenance ok")
    except vim.fault.InvalidHostState:
        print("poweron-in-maintenance InvalidHostState")
    print("exit", WaitForTask(host.ExitMaintenanceMode_Task(timeout=0)), host.runtime.inMaintenanceMode)
    try:
        WaitForTask(host.ExitMaintenanceMode_Task(timeout=0))
        print("exit-again ok")
    except vim.fault.InvalidState:
        print("exit-again InvalidState")
    print("destroy", WaitForTask(db.Destroy_Task()))
    print("left", ",".join(sorted(v.name for v in all_vms())), len(host.vm))
    try:
        db.name
        print("destroyed readable")
    except vmodl.fault.ManagedObjectNotFound:
        print("destroyed ManagedObjectNotFound")
    events = content.eventManager.QueryEvents(vim.event.EventFilterSpec())
    print("events", ",".join(sorted({type(e).__name__.split(".")[-1] for e in events})))
    Disconnect(si)
elif cmd == "find":
    e = content.searchIndex.FindByInventoryPath(args[0])
    print("found", None if e is None else "%s:%s:%s" % (type(e).__name__, e._moId, e.name))
    Disconnect(si)
elif cmd == "browse":
    ds = content.rootFolder.childEntity[0].datastore[0]
    host_obj = ds.host[0].key
    browser = host_obj.datastoreBrowser
    spec = vim.host.DatastoreBrowser.SearchSpec(matchPattern=[args[1]])
    path = "[%s] %s" % (ds.name, args[0]) if args[0] else "[%s]" % ds.name
    task = browser.SearchDatastore_Task(path, spec)
    WaitForTask(task)
    res = task.info.result
    print("folder", res.folderPath)
    for f in sorted(res.file, key=lambda f: f.path):
        print("file", f.path, f.fileSize)
    Disconnect(si)
elif cmd in ("put", "get", "anon", "basic", "head", "delete"):
    ds, remote = args[0], args[1]
    # "raw:" sends the path as given (escapes a client would normalise).
    path = remote[4:] if remote.startswith("raw:") else urllib.parse.quote(remote)
    url = "https://%s:%s/folder/%s?dcPath=%s&dsName=%s" % (
        host, port, path, urllib.parse.quote(dc_name()), urllib.parse.quote(ds))
    cookie = si._stub.cookie
    name, value = cookie.split(";")[0].split("=", 1)
    if cmd == "put":
        with open(args[2], "rb") as f:
            r = requests.put(url, data=f, cookies={name: value}, verify=ca)
        print("status", r.status_code)
    elif cmd == "get":
        r = requests.get(url, cookies={name: value}, verify=ca)
        print("status", r.status_code)
        with open(args[2], "wb") as f:
            f.write(r.content)
    elif cmd == "head":
        r = requests.head(url, cookies={name: value}, verify=ca)
        print("status", r.status_code, r.headers.get("Content-Length"))
    elif cmd == "delete":
        r = requests.delete(url, cookies={name: value}, verify=ca)
        print("status", r.status_code)
    elif cmd == "basic":
        r = requests.get(url, auth=(user, password), verify=ca)
        print("status", r.status_code, len(r.content))
    else:
        r = requests.get(url, verify=ca)
        print("status", r.status_code, r.headers.get("WWW-Authenticate"))
    Disconnect(si)
elif cmd == "unimplemented":
    vm = all_vms()[0]
    try:
        vm.AcquireMksTicket()
        print("unexpected success")
    except vmodl.fault.MethodNotFound as e:
        print("fault MethodNotFound", e.method)
    print("still-serving", content.rootFolder.name)
    Disconnect(si)
elif cmd == "badprop":
    pc = content.propertyCollector
    spec = vmodl.query.PropertyCollector.FilterSpec(
        objectSet=[vmodl.query.PropertyCollector.ObjectSpec(obj=content.rootFolder)],
        propSet=[vmodl.query.PropertyCollector.PropertySpec(type=vim.Folder, pathSet=["no.such.path"])])
    try:
        pc.RetrieveProperties([spec])
        print("unexpected success")
    except vmodl.query.InvalidProperty as e:
        print("fault InvalidProperty", e.name)
    print("still-serving", content.rootFolder.name)
    Disconnect(si)
else:
    raise SystemExit("unknown command " + cmd)
