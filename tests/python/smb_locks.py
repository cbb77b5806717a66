"""smbprotocol's low-level API against fakedc's byte-range locks that wait
(MS-SMB2 3.3.5.14): a LOCK without FAIL_IMMEDIATELY on a range another
connection holds is answered STATUS_PENDING (0x00000103) and completes
when the range frees (unlock, the holder's CLOSE, the holder's
connection gone), or ends STATUS_CANCELLED (0xc0000120) on CANCEL and
STATUS_RANGE_NOT_LOCKED (0xc000007e) when the waiting handle closes.
With FAIL_IMMEDIATELY the conflict is STATUS_LOCK_NOT_GRANTED
(0xc0000055) at once. The holder's session is encrypted, the waiter's
signed, so both forms of the final async answer are checked.

usage: smb_locks.py HOST PORT USER PASSWORD SHARE
Prints `key value` lines the Rust test asserts on."""
import sys
import time
import uuid

from smbprotocol.connection import Connection
from smbprotocol.exceptions import SMBException, SMBResponseException
from smbprotocol.open import (
    CreateDisposition,
    CreateOptions,
    FileAttributes,
    ImpersonationLevel,
    LockFlags,
    Open,
    ShareAccess,
    SMB2LockElement,
)
from smbprotocol.session import Session
from smbprotocol.tree import TreeConnect

host, port, user, password, share = sys.argv[1:6]
port = int(port)

RW = 0x12019F
ALL = ShareAccess.FILE_SHARE_READ | ShareAccess.FILE_SHARE_WRITE | ShareAccess.FILE_SHARE_DELETE
EXCL = LockFlags.SMB2_LOCKFLAG_EXCLUSIVE_LOCK
NOW = LockFlags.SMB2_LOCKFLAG_FAIL_IMMEDIATELY
UNLOCK = LockFlags.SMB2_LOCKFLAG_UNLOCK


def tree_of(encrypt):
    c = Connection(uuid.uuid4(), host, port, require_signing=True)
    c.connect()
    s = Session(c, user, password, require_encryption=encrypt)
    s.connect()
    t = TreeConnect(s, rf"\\{host}\{share}")
    t.connect()
    return c, t


def open_(tree, disposition=CreateDisposition.FILE_OPEN):
    f = Open(tree, "locked.bin")
    f.create(
        ImpersonationLevel.Impersonation,
        RW,
        FileAttributes.FILE_ATTRIBUTE_NORMAL,
        ALL,
        disposition,
        CreateOptions.FILE_NON_DIRECTORY_FILE,
    )
    return f


def element(offset, length, flags):
    e = SMB2LockElement()
    e["offset"] = offset
    e["length"] = length
    e["flags"] = flags
    return e


def status_of(fn):
    try:
        fn()
        return "ok"
    except SMBResponseException as e:
        return f"{e.status:#010x}"


def start_waiting(f, offset, length):
    """Sends a LOCK that waits; returns its request once the interim
    STATUS_PENDING answer is in (or prints what came instead)."""
    msg, _ = f.lock([element(offset, length, EXCL)], send=False)
    s = f.tree_connect.session
    req = f.connection.send(msg, s.session_id, f.tree_connect.tree_connect_id)
    deadline = time.time() + 10
    while req.response is None and time.time() < deadline:
        time.sleep(0.01)
    if req.response is None:
        return req, "no answer"
    return req, f"{req.response['status'].get_value():#010x}"


def still_waiting(f, req):
    """Whether the final answer stays away for half a second."""
    try:
        f.connection.receive(req, timeout=1)
        return "completed"
    except SMBResponseException as e:
        return f"{e.status:#010x}"
    except SMBException:
        return "pending"


def final(f, req):
    try:
        f.connection.receive(req, timeout=10)
        return "ok"
    except SMBResponseException as e:
        return f"{e.status:#010x}"
    except SMBException as e:
        return f"no final answer ({e})"


c1, t1 = tree_of(True)
c2, t2 = tree_of(False)
a = open_(t1, CreateDisposition.FILE_OVERWRITE_IF)
a.write(b"x" * 100, 0)
b = open_(t2)

a.lock([element(0, 10, EXCL)])
print("fail-immediately", status_of(lambda: b.lock([element(5, 10, EXCL | NOW)])))

req, st = start_waiting(b, 5, 10)
print("interim", st)
print("before-unlock", still_waiting(b, req))
a.lock([element(0, 10, UNLOCK)])
print("after-unlock", final(b, req))
# b holds 5..15 now: a's own attempt fails at once.
print("held-by-waiter", status_of(lambda: a.lock([element(0, 6, EXCL | NOW)])))

a.lock([element(20, 10, EXCL)])
req, st = start_waiting(b, 20, 10)
req.cancel()
print("cancelled", final(b, req))

req, st = start_waiting(b, 20, 10)
a.close()
print("after-holder-close", final(b, req))

# A third connection holds 40..50 and goes away without closing.
c3, t3 = tree_of(False)
h = open_(t3)
h.lock([element(40, 10, EXCL)])
req, st = start_waiting(b, 40, 10)
c3.disconnect(False)  # the socket goes, no LOGOFF or CLOSE
print("after-holder-disconnect", final(b, req))

a = open_(t1)
a.lock([element(60, 10, EXCL)])
req, st = start_waiting(b, 60, 10)
b.close()
print("waiter-closed", final(b, req))
a.close()
