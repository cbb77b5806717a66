"""smbprotocol's low-level API against fakedc's oplocks (MS-SMB2 3.3.5.9.8,
3.3.4.6, 3.3.5.22.1): a batch oplock is granted to a lone open; an open
from another connection breaks it to level II, pends (STATUS_PENDING)
until the holder acknowledges, then completes; a batch request on a file
others have open gets level II; an overwrite, or a write through another
open, breaks level II to none without acknowledgment; a holder that closes instead of acknowledging
lets the waiting open through. The holder's session is encrypted, so its
break notifications arrive sealed.

smbprotocol has no handler for server-initiated messages: the break
(MessageId 0xFFFFFFFFFFFFFFFF) is caught by registering a request under
that id, which its receive thread then fills in.

usage: smb_oplocks.py HOST PORT USER PASSWORD SHARE
Prints `key value` lines the Rust test asserts on."""
import struct
import sys
import time
import uuid
from collections import OrderedDict

from smbprotocol.connection import Connection, Request
from smbprotocol.exceptions import SMBException, SMBResponseException
from smbprotocol.header import Commands, SMB2HeaderRequest
from smbprotocol.open import (
    CreateDisposition,
    CreateOptions,
    FileAttributes,
    ImpersonationLevel,
    Open,
    RequestedOplockLevel,
    ShareAccess,
)
from smbprotocol.session import Session
from smbprotocol.structure import BytesField, IntField, Structure
from smbprotocol.tree import TreeConnect

host, port, user, password, share = sys.argv[1:6]
port = int(port)

RW = 0x12019F
ALL = ShareAccess.FILE_SHARE_READ | ShareAccess.FILE_SHARE_WRITE | ShareAccess.FILE_SHARE_DELETE
BATCH = RequestedOplockLevel.SMB2_OPLOCK_LEVEL_BATCH
NONE = RequestedOplockLevel.SMB2_OPLOCK_LEVEL_NONE
UNSOLICITED = 0xFFFFFFFFFFFFFFFF


class OplockBreakAck(Structure):
    """MS-SMB2 2.2.24.1 OPLOCK_BREAK Acknowledgment."""

    COMMAND = Commands.SMB2_OPLOCK_BREAK

    def __init__(self):
        self.fields = OrderedDict(
            [
                ("structure_size", IntField(size=2, default=24)),
                ("oplock_level", IntField(size=1)),
                ("reserved", IntField(size=1, default=0)),
                ("reserved2", IntField(size=4, default=0)),
                ("file_id", BytesField(size=16)),
            ]
        )
        super().__init__()


def tree_of(encrypt):
    c = Connection(uuid.uuid4(), host, port, require_signing=True)
    c.connect()
    s = Session(c, user, password, require_encryption=encrypt)
    s.connect()
    t = TreeConnect(s, rf"\\{host}\{share}")
    t.connect()
    return c, t


def catch_break(conn):
    hdr = SMB2HeaderRequest()
    hdr["message_id"] = UNSOLICITED
    r = Request(hdr, None, conn, session_id=None)
    conn.outstanding_requests[UNSOLICITED] = r
    return r


def break_of(catcher):
    """The break notification caught: (level, file id), or None."""
    if not catcher.response_event.wait(10):
        return None
    resp = catcher.response
    if resp["command"].get_value() != Commands.SMB2_OPLOCK_BREAK:
        return None
    data = resp["data"].get_value()
    return data[2], data[8:24]


def open_(tree, name, disposition, oplock, send=True):
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


def start_open(tree, name):
    """Sends a CREATE; returns the open, its request and the first answer's
    status."""
    f, (msg, unpack) = open_(tree, name, CreateDisposition.FILE_OPEN, NONE, send=False)
    s = tree.session
    req = tree.session.connection.send(msg, s.session_id, tree.tree_connect_id)
    deadline = time.time() + 10
    while req.response is None and time.time() < deadline:
        time.sleep(0.01)
    st = "no answer" if req.response is None else f"{req.response['status'].get_value():#010x}"
    return f, unpack, req, st


def final(f, unpack, req):
    try:
        unpack(req)
        return "ok"
    except SMBResponseException as e:
        return f"{e.status:#010x}"
    except SMBException as e:
        return f"no final answer ({e})"


c1, t1 = tree_of(True)
c2, t2 = tree_of(False)

a, _ = open_(t1, "oplocked.bin", CreateDisposition.FILE_OVERWRITE_IF, BATCH)
a.write(b"cached by the holder", 0)
print("granted", f"{a.oplock_level:#04x}")

catcher = catch_break(c1)
b, unpack, req, st = start_open(t2, "oplocked.bin")
print("second-open-interim", st)
got = break_of(catcher)
print("break", "none" if got is None else f"{got[0]:#04x}")
print("break-file-id", "ok" if got is not None and got[1] == a.file_id else "wrong")
try:
    c2.receive(req, timeout=1)
    print("before-ack completed")
except SMBResponseException as e:
    print("before-ack", f"{e.status:#010x}")
except SMBException:
    print("before-ack pending")

ack = OplockBreakAck()
ack["oplock_level"] = 0x01
ack["file_id"] = a.file_id
r = c1.send(ack, t1.session.session_id, t1.tree_connect_id)
resp = c1.receive(r)
print("ack", f"{resp['data'].get_value()[2]:#04x}")
print("second-open", final(b, unpack, req))

# A batch request on a file others have open gets level II.
c, _ = open_(t2, "oplocked.bin", CreateDisposition.FILE_OPEN, BATCH)
print("third-open-level", f"{c.oplock_level:#04x}")
c.close()

# An overwrite breaks level II to none; nothing waits for an ack.
catcher = catch_break(c1)
d, _ = open_(t2, "oplocked.bin", CreateDisposition.FILE_OVERWRITE, NONE)
got = break_of(catcher)
print("overwrite-break", "none" if got is None else f"{got[0]:#04x}")
d.close()

# A write through another open breaks level II to none.
e, _ = open_(t1, "oplocked.bin", CreateDisposition.FILE_OPEN, BATCH)
print("level-ii-again", f"{e.oplock_level:#04x}")
catcher = catch_break(c1)
b.write(b"written elsewhere", 0)
got = break_of(catcher)
print("write-break", "none" if got is None else f"{got[0]:#04x}")
print("write-break-file-id", "ok" if got is not None and got[1] == e.file_id else "wrong")
e.close()
b.close()
a.close()

# The holder closes instead of acknowledging: the waiting open goes ahead.
a, _ = open_(t1, "oplocked2.bin", CreateDisposition.FILE_OVERWRITE_IF, BATCH)
catcher = catch_break(c1)
b, unpack, req, st = start_open(t2, "oplocked2.bin")
got = break_of(catcher)
print("second-break", "none" if got is None else f"{got[0]:#04x}")
a.close()
print("after-holder-close", final(b, unpack, req))
b.close()
