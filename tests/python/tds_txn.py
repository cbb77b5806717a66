"""Transactions through python-tds (pytds) against fakedc's SQL Server.

usage: tds_txn.py HOST PORT USER PASSWORD MODE
MODE: isolation (two sessions: uncommitted rows stay private, rollback
      and commit, T-SQL BEGIN/COMMIT/ROLLBACK TRAN, @@TRANCOUNT, 3902),
      open (commits row 1, inserts row 2, prints "open" and waits with
      the transaction open until killed),
      read (prints the ids in kept),
      cancel (a long query cancelled by pytds's timeout, which sends
      Attention; then the session answers again),
      tsql (control flow, CAST/CONVERT, 245/8134/229, the fakedc schema),
      implicit (implicit conversions into typed columns, variables and
      arithmetic: 245/8114/241/8115, each leaving the session usable),
      tablevar (DECLARE @t TABLE: INSERT/UPDATE/DELETE/SELECT in one
      batch, its scope ends with the batch: 1087 after it).
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
elif mode == "tsql":
    b = connect(True)
    c = b.cursor()
    c.execute("""DECLARE @i INT = 0, @sum INT = 0
WHILE @i < 10
BEGIN
    SET @i = @i + 1
    IF @i = 3 CONTINUE
    IF @i > 5 BREAK
    SET @sum = @sum + @i
END
IF @sum > 10 SELECT @sum AS total, N'big' AS size ELSE SELECT @sum, N'small'""")
    print("loop", tuple(c.fetchone()))
    c.execute("SELECT CONVERT(INT, N'41') + 1, CAST(7 AS NVARCHAR(5)) + N'x', TRY_CAST('x' AS INT)")
    print("convert", tuple(c.fetchone()))
    for sql, key in [("SELECT CAST(N'abc' AS INT)", "e245"),
                     ("SELECT 1 / 0", "e8134"),
                     ("INSERT INTO fakedc.machines (name) VALUES (N'x')", "e229")]:
        try:
            c.execute(sql)
            print(key, "no error", c.fetchall())
        except pytds.Error as e:
            print(key, e.number, e.args[0])
        print(key + "-after", one(c, "SELECT 5"))
    c.execute("SELECT name, role, power_state, os_up FROM fakedc.machines ORDER BY name")
    print("machines", ";".join(",".join(str(v) for v in r) for r in c.fetchall()))
    c.execute("SELECT COUNT(*) FROM fakedc.journal WHERE service = 'tds' AND operation = 'login' AND outcome = 'ok'")
    print("journal-logins", c.fetchone()[0])
elif mode == "implicit":
    b = connect(True)
    c = b.cursor()
    c.execute("CREATE TABLE conv (id INT PRIMARY KEY, n INT, d DECIMAL(10,2), f FLOAT, "
              "at DATETIME, ok BIT, s NVARCHAR(10))")
    # Conversions that succeed store the converted value.
    c.execute("INSERT INTO conv (id, n, d, f, at, ok, s) "
              "VALUES (10, '42', '12.5', '0.25', '2024-02-29 01:02:03', '1', 7)")
    c.execute("SELECT n, d, f, at, ok, s FROM conv WHERE id = 10")
    print("stored", tuple(c.fetchone()))
    c.execute("DECLARE @i INT = '41'; SELECT @i + 1, 1 + '2', '3' * 2")
    print("converted", tuple(c.fetchone()))
    for sql, key in [("INSERT INTO conv (id, n) VALUES (1, 'abc')", "insert-int"),
                     ("INSERT INTO conv (id, d) VALUES (2, 'x1')", "insert-decimal"),
                     ("INSERT INTO conv (id, f) VALUES (3, 'x2')", "insert-float"),
                     ("INSERT INTO conv (id, at) VALUES (4, '2024-13-45')", "insert-date"),
                     ("INSERT INTO conv (id, n) VALUES (5, 5000000000)", "insert-overflow"),
                     ("UPDATE conv SET ok = 'maybe' WHERE id = 10", "update-bit"),
                     ("SELECT 1 + 'abc'", "arith"),
                     ("SELECT 1.5 * 'x'", "arith-numeric"),
                     ("DECLARE @i INT = 'abc'", "declare"),
                     ("DECLARE @d DATETIME; SET @d = 'not a date'", "set-date")]:
        try:
            c.execute(sql)
            print(key, "no error", c.fetchall() if c.description else "")
        except pytds.Error as e:
            print(key, e.number, e.args[0])
        print(key + "-after", one(c, "SELECT 5"))
    print("rows", one(c, "SELECT COUNT(*) FROM conv"))
elif mode == "tablevar":
    b = connect(True)
    c = b.cursor()
    # Row counts of the DML would each be a result before the SELECT's.
    c.execute("SET NOCOUNT ON")
    c.execute("""DECLARE @t TABLE (id INT IDENTITY(1,1) PRIMARY KEY, name NVARCHAR(20) NOT NULL, qty INT)
INSERT INTO @t (name, qty) VALUES (N'a', 1), (N'b', 2), (N'c', 3)
UPDATE @t SET qty = qty * 10 WHERE name = N'b'
DELETE FROM @t WHERE name = N'c'
SELECT t.id, t.name, t.qty FROM @t AS t ORDER BY t.id""")
    rows = c.fetchall()
    print("rows", ";".join(",".join(str(v) for v in r) for r in rows))
    print("types", ",".join(type(v).__name__ for v in rows[0]))
    # Joined with a real table, and read by IF EXISTS.
    c.execute("CREATE TABLE hosts (name NVARCHAR(20) PRIMARY KEY, cpus INT)")
    c.execute("INSERT INTO hosts VALUES (N'hv01', 16), (N'hv02', 32)")
    c.execute("""DECLARE @pick TABLE (name NVARCHAR(20))
INSERT INTO @pick SELECT name FROM hosts WHERE cpus > 20
IF EXISTS (SELECT * FROM @pick) SELECT h.name, h.cpus FROM hosts h JOIN @pick p ON p.name = h.name
ELSE SELECT N'none', 0""")
    print("join", tuple(c.fetchone()))
    # Through sp_executesql with a parameter.
    c.execute("DECLARE @v TABLE (x INT); INSERT INTO @v VALUES (%s); SELECT x * 2 FROM @v", (21,))
    print("rpc", c.fetchone()[0])
    # The scope is the batch: the next one does not know @t.
    try:
        c.execute("SELECT * FROM @t")
        print("scope no error", c.fetchall())
    except pytds.Error as e:
        print("scope", e.number, e.args[0])
    print("scope-after", one(c, "SELECT 5"))
    # Declared twice in a batch: 134; the same name again in a new batch.
    try:
        c.execute("DECLARE @t TABLE (a INT); DECLARE @t TABLE (b INT)")
        print("twice no error")
    except pytds.Error as e:
        print("twice", e.number)
    c.execute("DECLARE @t TABLE (a INT); INSERT INTO @t VALUES (7); SELECT COUNT(*), MAX(a) FROM @t")
    print("again", tuple(c.fetchone()))
    # No table of the database's catalog, even while it exists.
    c.execute("DECLARE @t TABLE (a INT); INSERT @t VALUES (1); "
              "SELECT COUNT(*) FROM sys.tables WHERE name LIKE '%@%'")
    print("catalog", c.fetchone()[0])
