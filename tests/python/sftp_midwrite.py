"""An SFTP upload seen while it is written, with paramiko (an SFTP client
independent of OpenSSH and of fakedc's own codec): open a file for writing,
write part of it, then from a second SFTP session on its own connection
stat it, list its directory and open it for reading, then write the rest and
read it again. OpenSSH's sftp-server, which ESXi runs, shows the name from
OPEN; a server that publishes at CLOSE answers "no such file" mid-write.
Prints one `key value` line per fact the test checks.

usage: sftp_midwrite.py HOST PORT USER PASSWORD DIRECTORY
"""

import sys

import paramiko


def session(host, port, user, password):
    t = paramiko.Transport((host, port))
    t.connect(username=user, password=password)
    return t, paramiko.SFTPClient.from_transport(t)


def main():
    host, port, user, password, directory = sys.argv[1:6]
    port = int(port)
    path = directory.rstrip("/") + "/midwrite.bin"
    first = bytes(range(256)) * 64  # 16 KiB
    rest = b"the rest of the file\n" * 100

    t1, writer = session(host, port, user, password)
    t2, reader = session(host, port, user, password)
    try:
        f = writer.open(path, "wb")
        f.write(first)
        f.flush()

        # Mid-write, from the other session.
        st = reader.stat(path)
        print("midwrite_size", st.st_size)
        print("midwrite_listed", "midwrite.bin" in reader.listdir(directory))
        with reader.open(path, "rb") as r:
            got = r.read()
        print("midwrite_read_matches", got == first)
        # And from the writer's own session.
        print("writer_stat_size", writer.stat(path).st_size)

        f.write(rest)
        f.close()

        st = reader.stat(path)
        print("final_size", st.st_size)
        with reader.open(path, "rb") as r:
            print("final_read_matches", r.read() == first + rest)
    finally:
        writer.close()
        reader.close()
        t1.close()
        t2.close()


if __name__ == "__main__":
    main()
