"""smbprotocol against fakedc's SMB: the high-level client (list, open,
read, write, rename, remove) with and without encryption, and the
low-level API with its defaults (signing and encryption required).

usage: smb_smbprotocol.py HOST PORT USER PASSWORD SHARE
Prints `key value` lines the Rust test asserts on.
"""
import sys
import uuid

import smbclient
from smbprotocol.connection import Connection
from smbprotocol.session import Session
from smbprotocol.tree import TreeConnect
from smbprotocol.open import (
    CreateDisposition,
    CreateOptions,
    FileAttributes,
    ImpersonationLevel,
    Open,
    ShareAccess,
)
from smbprotocol.exceptions import SMBResponseException

host, port, user, password, share = sys.argv[1:6]
port = int(port)

for encrypt in (False, True):
    tag = "enc" if encrypt else "plain"
    smbclient.reset_connection_cache()
    smbclient.register_session(host, username=user, password=password, port=port, encrypt=encrypt)
    base = rf"\\{host}\{share}"
    d = rf"{base}\sp-{tag}"
    smbclient.makedirs(d, exist_ok=True, port=port)
    data = bytes(range(256)) * 4096
    with smbclient.open_file(rf"{d}\a.bin", mode="wb", port=port) as f:
        f.write(data)
    with smbclient.open_file(rf"{d}\a.bin", mode="rb", port=port) as f:
        back = f.read()
    print(f"{tag}-roundtrip {back == data} {len(back)}")
    smbclient.rename(rf"{d}\a.bin", rf"{d}\b.bin", port=port)
    print(f"{tag}-list {sorted(smbclient.listdir(d, port=port))}")
    st = smbclient.stat(rf"{d}\b.bin", port=port)
    print(f"{tag}-size {st.st_size}")
    smbclient.remove(rf"{d}\b.bin", port=port)
    smbclient.rmdir(d, port=port)
    print(f"{tag}-gone {'sp-' + tag not in smbclient.listdir(base, port=port)}")

# Low-level defaults: Connection(require_signing=True), Session(require_encryption=True).
conn = Connection(uuid.uuid4(), host, port)
conn.connect()
sess = Session(conn, user, password)
sess.connect()
print(f"lowlevel-dialect {conn.dialect:#06x} encrypt {sess.encrypt_data}")
tree = TreeConnect(sess, rf"\\{host}\{share}")
tree.connect()
f = Open(tree, "lowlevel.txt")
f.create(
    ImpersonationLevel.Impersonation,
    0x12019F,
    FileAttributes.FILE_ATTRIBUTE_NORMAL,
    # Shared for writing too: the second handle below writes.
    ShareAccess.FILE_SHARE_READ | ShareAccess.FILE_SHARE_WRITE,
    CreateDisposition.FILE_OVERWRITE_IF,
    CreateOptions.FILE_NON_DIRECTORY_FILE,
)
f.write(b"low level hello", 0)
print(f"lowlevel-read {f.read(0, 15)!r}")
# Byte-range locks: an exclusive lock on one handle refuses another
# handle's lock and read of that range until it is unlocked.
from smbprotocol.open import LockFlags, SMB2LockElement


def element(offset, length, flags):
    e = SMB2LockElement()
    e["offset"] = offset
    e["length"] = length
    e["flags"] = flags
    return e


f2 = Open(tree, "lowlevel.txt")
f2.create(
    ImpersonationLevel.Impersonation,
    0x12019F,
    FileAttributes.FILE_ATTRIBUTE_NORMAL,
    ShareAccess.FILE_SHARE_READ | ShareAccess.FILE_SHARE_WRITE,
    CreateDisposition.FILE_OPEN,
    CreateOptions.FILE_NON_DIRECTORY_FILE,
)
f.lock([element(0, 5, LockFlags.SMB2_LOCKFLAG_EXCLUSIVE_LOCK | LockFlags.SMB2_LOCKFLAG_FAIL_IMMEDIATELY)])
for what, call in [
    ("lock", lambda: f2.lock([element(2, 2, LockFlags.SMB2_LOCKFLAG_SHARED_LOCK | LockFlags.SMB2_LOCKFLAG_FAIL_IMMEDIATELY)])),
    ("read", lambda: f2.read(0, 4)),
]:
    try:
        call()
        print(f"conflict-{what} none")
    except SMBResponseException as e:
        print(f"conflict-{what} {e.status:#010x}")
print(f"outside-read {f2.read(6, 3)!r}")
f.lock([element(0, 5, LockFlags.SMB2_LOCKFLAG_UNLOCK)])
print(f"after-unlock {f2.read(0, 4)!r}")
try:
    f.lock([element(0, 5, LockFlags.SMB2_LOCKFLAG_UNLOCK)])
except SMBResponseException as e:
    print(f"unlock-again {e.status:#010x}")
f2.close()
f.close()
# A path escape through the raw API: Windows refuses `..` above the share.
g = Open(tree, r"..\..\etc\passwd")
try:
    g.create(
        ImpersonationLevel.Impersonation,
        0x80,
        FileAttributes.FILE_ATTRIBUTE_NORMAL,
        ShareAccess.FILE_SHARE_READ,
        CreateDisposition.FILE_OPEN,
        CreateOptions.FILE_NON_DIRECTORY_FILE,
    )
    print("escape opened")
except SMBResponseException as e:
    print(f"escape {e.status:#010x}")
# CHANGE_NOTIFY pends until CANCEL, whose answer is STATUS_CANCELLED.
from smbprotocol.change_notify import CompletionFilter, FileSystemWatcher
from smbprotocol.open import DirectoryAccessMask

d = Open(tree, "")
d.create(
    ImpersonationLevel.Impersonation,
    DirectoryAccessMask.FILE_LIST_DIRECTORY,
    FileAttributes.FILE_ATTRIBUTE_DIRECTORY,
    ShareAccess.FILE_SHARE_READ | ShareAccess.FILE_SHARE_WRITE,
    CreateDisposition.FILE_OPEN,
    CreateOptions.FILE_DIRECTORY_FILE,
)
w = FileSystemWatcher(d)
w.start(CompletionFilter.FILE_NOTIFY_CHANGE_FILE_NAME)
w.cancel()
w.wait()
print(f"notify-cancelled {w.cancelled}")
d.close()
tree.disconnect()
sess.disconnect()
conn.disconnect()
