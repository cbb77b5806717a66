"""smbprotocol's low-level API against fakedc's one limit on requests
waiting for their final answer (MS-SMB2 3.3.4.2): CHANGE_NOTIFYs, LOCKs
on a held range and CREATEs held up by an oplock break count together, up
to 256 per connection; one more, of any kind, is answered
STATUS_INSUFFICIENT_RESOURCES (0xc000009a) at once, and a CANCEL makes
room again.

The waiting connection holds one LOCK waiting on another connection's
range and 255 CHANGE_NOTIFYs: the 257th request (a CHANGE_NOTIFY, a
LOCK, a CREATE on a batch-oplocked file) is refused; after one CANCEL a
CHANGE_NOTIFY pends again. Another connection is not limited by it.

usage: smb_pending.py HOST PORT USER PASSWORD SHARE
Prints `key value` lines the Rust test asserts on."""
import sys
import time
import uuid

from smbprotocol.change_notify import CompletionFilter, SMB2ChangeNotifyRequest
from smbprotocol.connection import Connection
from smbprotocol.exceptions import SMBException, SMBResponseException
from smbprotocol.open import (
    CreateDisposition,
    CreateOptions,
    DirectoryAccessMask,
    FileAttributes,
    ImpersonationLevel,
    LockFlags,
    Open,
    RequestedOplockLevel,
    ShareAccess,
    SMB2LockElement,
)
from smbprotocol.session import Session
from smbprotocol.tree import TreeConnect

host, port, user, password, share = sys.argv[1:6]
port = int(port)

LIMIT = 256
RW = 0x12019F
ALL = ShareAccess.FILE_SHARE_READ | ShareAccess.FILE_SHARE_WRITE | ShareAccess.FILE_SHARE_DELETE
EXCL = LockFlags.SMB2_LOCKFLAG_EXCLUSIVE_LOCK
BATCH = RequestedOplockLevel.SMB2_OPLOCK_LEVEL_BATCH
NONE = RequestedOplockLevel.SMB2_OPLOCK_LEVEL_NONE


def tree_of():
    c = Connection(uuid.uuid4(), host, port, require_signing=True)
    c.connect()
    s = Session(c, user, password, require_encryption=False)
    s.connect()
    t = TreeConnect(s, rf"\\{host}\{share}")
    t.connect()
    return c, t


def open_file(tree, name, disposition=CreateDisposition.FILE_OPEN, oplock=NONE, send=True):
    f = Open(tree, name)
    r = f.create(
        ImpersonationLevel.Impersonation,
        RW,
        FileAttributes.FILE_ATTRIBUTE_NORMAL,
        ALL,
        disposition,
        CreateOptions.FILE_NON_DIRECTORY_FILE,
        oplock_level=oplock,
        send=send,
    )
    return f, r


def open_dir(tree):
    d = Open(tree, "")
    d.create(
        ImpersonationLevel.Impersonation,
        DirectoryAccessMask.FILE_LIST_DIRECTORY | DirectoryAccessMask.SYNCHRONIZE,
        FileAttributes.FILE_ATTRIBUTE_DIRECTORY,
        ALL,
        CreateDisposition.FILE_OPEN,
        CreateOptions.FILE_DIRECTORY_FILE,
    )
    return d


def first_answer(tree, msg, credits=1):
    """Sends `msg`; returns its request and the status of its first
    answer (the interim STATUS_PENDING, or the final answer)."""
    s = tree.session
    req = s.connection.send(msg, s.session_id, tree.tree_connect_id, credit_request=credits)
    deadline = time.time() + 10
    while req.response is None and time.time() < deadline:
        time.sleep(0.002)
    if req.response is None:
        return req, "no answer"
    return req, f"{req.response['status'].get_value():#010x}"


def notify(tree, d, credits=1):
    n = SMB2ChangeNotifyRequest()
    n["flags"] = 0
    n["output_buffer_length"] = 4096
    n["file_id"] = d.file_id
    n["completion_filter"] = CompletionFilter.FILE_NOTIFY_CHANGE_FILE_NAME
    return first_answer(tree, n, credits)


def element(offset, length, flags):
    e = SMB2LockElement()
    e["offset"] = offset
    e["length"] = length
    e["flags"] = flags
    return e


def final(conn, req):
    try:
        conn.receive(req, timeout=10)
        return "ok"
    except SMBResponseException as e:
        return f"{e.status:#010x}"
    except SMBException as e:
        return f"no final answer ({e})"


c1, t1 = tree_of()
c2, t2 = tree_of()

# The holder: a range of locked.bin and a batch oplock on batch.bin.
a, _ = open_file(t1, "locked.bin", CreateDisposition.FILE_OVERWRITE_IF)
a.write(b"x" * 100, 0)
a.lock([element(0, 10, EXCL)])
o, _ = open_file(t1, "batch.bin", CreateDisposition.FILE_OVERWRITE_IF, BATCH)
print("batch-granted", f"{o.oplock_level:#04x}")

# The waiter: one LOCK waiting on the holder's range...
b, _ = open_file(t2, "locked.bin")
msg, _ = b.lock([element(0, 10, EXCL)], send=False)
lock_req, st = first_answer(t2, msg)
print("lock-interim", st)

# ... and CHANGE_NOTIFYs up to the limit (credits asked as we go).
d = open_dir(t2)
waiting = []
statuses = set()
for i in range(LIMIT - 1):
    req, st = notify(t2, d, credits=2)
    statuses.add(st)
    if st == "0x00000103":
        waiting.append(req)
print("notifies-pending", len(waiting), ",".join(sorted(statuses)))

# Full: one more of any kind is refused at once.
req, st = notify(t2, d)
print("over-notify", st)
msg, _ = b.lock([element(0, 10, EXCL)], send=False)
req, st = first_answer(t2, msg)
print("over-lock", st)
f, (msg, unpack) = open_file(t2, "batch.bin", send=False)
req, st = first_answer(t2, msg)
print("over-create", st)

# Another connection has its own room.
d1 = open_dir(t1)
other_req, st = notify(t1, d1)
print("other-connection", st)
other_req.cancel()
print("other-cancelled", final(c1, other_req))

# A CANCEL makes room: a CHANGE_NOTIFY pends again.
gone = waiting.pop()
gone.cancel()
print("cancelled", final(c2, gone))
req, st = notify(t2, d)
print("after-cancel", st)
waiting.append(req)

# The waiting LOCK still completes when the range frees.
a.lock([element(0, 10, LockFlags.SMB2_LOCKFLAG_UNLOCK)])
print("lock-final", final(c2, lock_req))
for r in waiting:
    r.cancel()
print("all-cancelled", all(final(c2, r) == "0xc0000120" for r in waiting))
c2.disconnect(True)
c1.disconnect(True)
