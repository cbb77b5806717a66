"""smbprotocol's low-level API against fakedc's share modes (MS-SMB2
3.3.5.9, MS-FSA 2.1.5.1.2): opens on two connections of one machine meet
in one table; each conflict is STATUS_SHARING_VIOLATION (0xc0000043).

usage: smb_sharing.py HOST PORT USER PASSWORD SHARE
Prints `key value` lines the Rust test asserts on."""
import sys
import uuid

from smbprotocol.connection import Connection
from smbprotocol.exceptions import SMBResponseException
from smbprotocol.open import (
    CreateDisposition,
    CreateOptions,
    FileAttributes,
    ImpersonationLevel,
    Open,
    ShareAccess,
)
from smbprotocol.session import Session
from smbprotocol.tree import TreeConnect

host, port, user, password, share = sys.argv[1:6]
port = int(port)

READ = 0x120089  # FILE_GENERIC_READ
RW = 0x12019F  # read and write
ATTRS = 0x80  # FILE_READ_ATTRIBUTES only
DELETE = 0x10000 | 0x80
R, W, D = ShareAccess.FILE_SHARE_READ, ShareAccess.FILE_SHARE_WRITE, ShareAccess.FILE_SHARE_DELETE


def tree_of():
    c = Connection(uuid.uuid4(), host, port, require_signing=False)
    c.connect()
    s = Session(c, user, password, require_encryption=False)
    s.connect()
    t = TreeConnect(s, rf"\\{host}\{share}")
    t.connect()
    return t


t1, t2 = tree_of(), tree_of()


def open_(tree, access, share_access, disposition=CreateDisposition.FILE_OPEN):
    f = Open(tree, "shared.txt")
    f.create(
        ImpersonationLevel.Impersonation,
        access,
        FileAttributes.FILE_ATTRIBUTE_NORMAL,
        share_access,
        disposition,
        CreateOptions.FILE_NON_DIRECTORY_FILE,
    )
    return f


def attempt(key, tree, access, share_access):
    try:
        f = open_(tree, access, share_access)
        print(f"{key} ok")
        return f
    except SMBResponseException as e:
        print(f"{key} {e.status:#010x}")
        return None


a = open_(t1, RW, 0, CreateDisposition.FILE_OVERWRITE_IF)
a.write(b"exclusive", 0)
attempt("exclusive-read", t2, READ, R | W | D)
attempt("exclusive-same-connection", t1, READ, R | W | D)
b = attempt("exclusive-attributes", t2, ATTRS, 0)
if b:
    b.close()
a.close()
attempt("after-close-read", t2, READ, R | W | D).close()

a = open_(t1, RW, R)
b = attempt("shared-read", t2, READ, R | W)
attempt("shared-write", t2, RW, R | W | D)
attempt("shared-delete", t2, DELETE, R | W | D)
# The newcomer's own share mode must admit the writer already there.
attempt("reader-refusing-writers", t2, READ, R)
if b:
    b.close()
a.close()
