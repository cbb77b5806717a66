"""Transactions through python-tds (pytds) against fakedc's SQL Server.

usage: tds_txn.py HOST PORT USER PASSWORD MODE
MODE: isolation (two sessions: uncommitted rows stay private, rollback
      and commit, T-SQL BEGIN/COMMIT/ROLLBACK TRAN, @@TRANCOUNT, 3902),
      open (commits row 1, inserts row 2, prints "open" and waits with
      the transaction open until killed),
      read (prints the ids in kept),
      cancel (a long query cancelled by pytds's timeout, which sends
      Attention; then the session answers again).
Prints KEY VALUE lines the Rust test asserts on.
"""
import sys
import time

import pytds

host, port, user, password, mode = sys.argv[1:6]


def connect(autocommit, timeout=20):
    return pytds.connect(server=host, port=int(port), user=user, password=password,
                         database="VirtualManagerDB", autocommit=autocommit,
                         login_timeout=10, timeout=timeout)


def one(cur, sql):
    cur.execute(sql)
    return cur.fetchone()[0]


if mode == "isolation":
    a = connect(False)
    b = connect(True)
    ca, cb = a.cursor(), b.cursor()
    cb.execute("CREATE TABLE t (id INT PRIMARY KEY, note NVARCHAR(20))")
    ca.execute("INSERT INTO t VALUES (1, N'first')")
    print("a-trancount", one(ca, "SELECT @@TRANCOUNT"))
    print("a-sees", one(ca, "SELECT COUNT(*) FROM t"))
    print("b-sees-uncommitted", one(cb, "SELECT COUNT(*) FROM t"))
    a.rollback()
    print("after-rollback", one(cb, "SELECT COUNT(*) FROM t"))
    ca.execute("INSERT INTO t VALUES (2, N'second')")
    a.commit()
    print("after-commit", one(cb, "SELECT COUNT(*) FROM t"))
    # A's next transaction reads B's later commits (read committed).
    cb.execute("INSERT INTO t VALUES (3, N'third')")
    print("a-sees-new-commit", one(ca, "SELECT COUNT(*) FROM t"))
    a.commit()
    # T-SQL transactions on an autocommit session.
    print("b-trancount-0", one(cb, "SELECT @@TRANCOUNT"))
    cb.execute("BEGIN TRAN")
    cb.execute("BEGIN TRANSACTION")
    cb.execute("INSERT INTO t VALUES (4, N'fourth')")
    print("b-trancount-2", one(cb, "SELECT @@TRANCOUNT"))
    cb.execute("COMMIT")
    print("b-trancount-1", one(cb, "SELECT @@TRANCOUNT"))
    cb.execute("ROLLBACK TRAN")
    print("after-tsql-rollback", one(cb, "SELECT COUNT(*) FROM t"))
    cb.execute("BEGIN TRAN; INSERT INTO t VALUES (5, N'fifth'); SAVE TRAN sp1; "
               "INSERT INTO t VALUES (6, N'sixth'); ROLLBACK TRAN sp1; COMMIT TRAN")
    cb.execute("SELECT id FROM t ORDER BY id")
    print("ids", ",".join(str(r[0]) for r in cb.fetchall()))
    try:
        cb.execute("COMMIT TRAN")
        print("commit-without-begin no error")
    except pytds.Error as e:
        print("commit-without-begin", e.number, e.args[0])
    print("still-usable", one(cb, "SELECT 7"))
    a.close()
    b.close()
elif mode == "open":
    a = connect(False)
    c = a.cursor()
    c.execute("CREATE TABLE kept (id INT PRIMARY KEY)")
    c.execute("INSERT INTO kept VALUES (1)")
    a.commit()
    c.execute("INSERT INTO kept VALUES (2)")
    print("open", one(c, "SELECT COUNT(*) FROM kept"), flush=True)
    time.sleep(120)
elif mode == "read":
    b = connect(True)
    c = b.cursor()
    c.execute("SELECT id FROM kept ORDER BY id")
    print("ids", ",".join(str(r[0]) for r in c.fetchall()))
elif mode == "cancel":
    b = connect(True, timeout=1)
    c = b.cursor()
    started = time.monotonic()
    try:
        c.execute("WITH c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 2000000000) "
                  "SELECT COUNT(*) FROM c")
        print("cancel no timeout", c.fetchone())
    except pytds.TimeoutError as e:
        print("cancel timeout", type(e).__name__)
    c.execute("SELECT 7")
    print("after-cancel", c.fetchone()[0])
    print("seconds", round(time.monotonic() - started))
