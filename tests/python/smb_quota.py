"""smbprotocol's high-level client (smbclient) against a share with a
3,000,000-byte quota: FileFsFullSizeInformation (stat_volume) reports
the quota as the volume, growing a file with SET_INFO
FileEndOfFileInformation (truncate) past it is STATUS_DISK_FULL
(0xc000007f) and changes nothing, growth within it and truncation move
the free space, a WRITE past it is STATUS_DISK_FULL and delete gives the
room back.

usage: smb_quota.py HOST PORT USER PASSWORD SHARE
Prints `key value` lines the Rust test asserts on."""
import sys

import smbclient
from smbprotocol.exceptions import SMBOSError, SMBResponseException

host, port, user, password, share = sys.argv[1:6]
port = int(port)
K = dict(username=user, password=password, port=port)
smbclient.register_session(host, **K)
base = rf"\\{host}\{share}"
path = base + r"\grow.bin"


def status(fn):
    try:
        fn()
        return "ok"
    except SMBOSError as e:
        return f"{e.ntstatus:#010x}"
    except SMBResponseException as e:
        return f"{e.status:#010x}"


def volume():
    v = smbclient.stat_volume(base, **K)
    return f"{v.total_size} {v.caller_available_size} {v.actual_available_size}"


print("volume-empty", volume())
with smbclient.open_file(path, mode="wb", **K) as f:
    f.write(b"x" * 1000)
print("grow-past", status(lambda: smbclient.truncate(path, 10_000_000, **K)))
print("size-after-refusal", smbclient.stat(path, **K).st_size)
print("grow-within", status(lambda: smbclient.truncate(path, 2_000_000, **K)))
print("volume-grown", volume())
print("shrink", status(lambda: smbclient.truncate(path, 0, **K)))
print("volume-shrunk", volume())


def write_big():
    with smbclient.open_file(base + r"\big.bin", mode="wb", **K) as f:
        f.write(b"y" * 4_000_000)


print("write-past", status(write_big))
smbclient.remove(base + r"\big.bin", **K)
smbclient.remove(path, **K)
print("volume-after-delete", volume())
