"""python-tds (pytds) against fakedc's SQL Server.

usage: tds_pytds.py HOST PORT USER PASSWORD MODE [CAFILE]
MODE: crud (create/insert/select/update/delete/parameters/errors),
      badpass (expects 18456).
Prints KEY VALUE lines the Rust test asserts on. With CAFILE the driver
asks for encryption (PRELOGIN ENCRYPT_ON) and validates the certificate.
"""
import datetime
import decimal
import sys

import pytds

host, port, user, password, mode = sys.argv[1:6]
cafile = sys.argv[6] if len(sys.argv) > 6 else None
kw = dict(server=host, port=int(port), user=user, password=password,
          database="master", autocommit=True, login_timeout=10, timeout=10)
if cafile:
    kw["cafile"] = cafile
    kw["validate_host"] = False

if mode == "badpass":
    try:
        pytds.connect(**kw)
        print("login ok")
    except pytds.Error as e:
        print("login-error", getattr(e, "number", "?"), str(e).splitlines()[0])
    sys.exit(0)

if mode == "txn":
    kw["autocommit"] = False
    with pytds.connect(**kw) as conn:
        with conn.cursor() as c:
            c.execute("SELECT 41 + 1")
            print("txn-select", c.fetchone()[0])
        conn.commit()
        print("txn-commit ok")
    sys.exit(0)

with pytds.connect(**kw) as conn:
    with conn.cursor() as c:
        c.execute("SELECT @@VERSION")
        print("version", c.fetchone()[0].splitlines()[0])
        c.execute("SELECT @@SPID, DB_NAME(), SUSER_SNAME(), @@SERVERNAME")
        spid, db, who, srv = c.fetchone()
        print("spid", spid, type(spid).__name__)
        print("db", db)
        print("who", who)
        print("server", srv)
        c.execute("USE VirtualManagerDB")
        c.execute("SELECT DB_NAME()")
        print("db-after-use", c.fetchone()[0])
        c.execute("DROP TABLE IF EXISTS hosts")
        c.execute("""CREATE TABLE [dbo].[hosts] (
            id INT IDENTITY(1,1) PRIMARY KEY,
            name NVARCHAR(64) NOT NULL,
            cores BIGINT NULL,
            enabled BIT,
            price DECIMAL(10,2),
            added DATETIME,
            load FLOAT,
            code VARCHAR(8) UNIQUE)""")
        c.execute("INSERT INTO dbo.hosts (name, cores, enabled, price, added, load, code) "
                  "VALUES (N'hv01', 64, 1, 12.50, '2024-02-29 01:02:03', 0.25, 'A1')")
        print("inserted", c.rowcount)
        c.execute("INSERT INTO hosts (name, cores, enabled, code) VALUES (N'hv02', NULL, 0, 'B2')")
        c.execute("SELECT SCOPE_IDENTITY()")
        print("identity", c.fetchone()[0])
        c.execute("SELECT TOP 1 id, name, cores, enabled, price, added, load, code "
                  "FROM [hosts] ORDER BY id")
        row = c.fetchone()
        print("row", repr(row))
        print("types", ",".join(type(v).__name__ for v in row))
        c.execute("SELECT name, cores FROM hosts WHERE id = 2")
        print("null", repr(c.fetchone()))
        c.execute("UPDATE hosts SET cores = ISNULL(cores, 0) + 8 WHERE name = N'hv02'")
        print("updated", c.rowcount)
        c.execute("SELECT cores FROM hosts WHERE name = %s", ("hv02",))
        print("param", c.fetchone()[0])
        c.execute("SELECT name FROM hosts WHERE cores > %s AND enabled = %s ORDER BY name", (10, True))
        print("param2", [r[0] for r in c.fetchall()])
        for sql, key in [("SELECT * FROM hosts WHERE id = = 1", "syntax"),
                         ("SELECT * FROM nowhere", "invalid-object"),
                         ("INSERT INTO hosts (id, name) VALUES (1, N'dup')", "pk"),
                         ("INSERT INTO hosts (name, code) VALUES (N'x', 'A1')", "unique"),
                         ("INSERT INTO hosts (name) VALUES (NULL)", "notnull"),
                         ("USE nosuchdb", "usedb")]:
            try:
                c.execute(sql)
                print(key, "no error")
            except pytds.Error as e:
                print(key, e.number, str(e).splitlines()[0])
            c.execute("SELECT COUNT(*) FROM hosts")
            print(key + "-after", c.fetchone()[0])
        c.execute("SELECT name FROM sys.databases ORDER BY database_id")
        print("databases", ",".join(r[0] for r in c.fetchall()))
        c.execute("SELECT COLUMN_NAME, DATA_TYPE, IS_NULLABLE FROM INFORMATION_SCHEMA.COLUMNS "
                  "WHERE TABLE_NAME = 'hosts' ORDER BY ORDINAL_POSITION")
        print("columns", ";".join(" ".join(r) for r in c.fetchall()[:2]))
        c.execute("DELETE FROM hosts WHERE name = N'hv01'")
        print("deleted", c.rowcount)
        c.execute("SELECT COUNT(*) FROM hosts")
        print("left", c.fetchone()[0])
        try:
            c.execute("CREATE TABLE hosts (id INT)")
        except pytds.Error as e:
            print("exists", e.number, str(e).splitlines()[0])
        c.execute("SET NOCOUNT ON; SET ANSI_NULLS ON; SELECT GETDATE()")
        print("getdate-type", type(c.fetchone()[0]).__name__)
