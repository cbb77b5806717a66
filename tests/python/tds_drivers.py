"""pymssql and the Microsoft ODBC Driver 18 (mssql-python) against fakedc's
SQL Server.

usage: tds_drivers.py DRIVER HOST PORT USER PASSWORD [ENCRYPT]
DRIVER: pymssql (bundled FreeTDS, login-only TLS) or odbc (mssql-python's
libmsodbcsql-18; ENCRYPT no, yes or strict; yes/strict validate the
server certificate against SSL_CERT_FILE with HostNameInCertificate=sql01).
Creates a table, inserts with parameters, reads back (values and the types
the driver reports), updates, deletes, and checks SQL Server's errors
leave the connection usable. Prints KEY VALUE lines.
"""
import datetime
import decimal
import sys

driver, host, port, user, password = sys.argv[1:6]
encrypt = sys.argv[6] if len(sys.argv) > 6 else "no"

if driver == "pymssql":
    import pymssql as db
    conn = db.connect(server=host, port=int(port), user=user, password=password,
                      database="VirtualManagerDB", login_timeout=10, timeout=10,
                      autocommit=True)
    P = "%s"
    table = "pm"

    def error_text(e):
        text = e.args[1].decode(errors="replace").split("DB-Lib error")[0]
        return f"{e.args[0]} {text.strip()}"
else:
    import mssql_python as db
    cs = (f"Server={host},{port};UID={user};PWD={password};Database=VirtualManagerDB;"
          f"Encrypt={encrypt};")
    if encrypt != "no":
        cs += "HostNameInCertificate=sql01;"
    conn = db.connect(cs, autocommit=True)
    P = "?"
    table = "od_" + encrypt

    def error_text(e):
        msg = str(e)
        return msg[msg.rfind("]") + 1:].strip()

c = conn.cursor()
c.execute("SELECT @@VERSION")
print("version", c.fetchone()[0].splitlines()[0])
c.execute(f"""CREATE TABLE {table} (id INT IDENTITY(1,1) PRIMARY KEY, name NVARCHAR(40) NOT NULL,
    mem BIGINT, ok BIT, price DECIMAL(10,2), at DATETIME, load FLOAT, code VARCHAR(8) UNIQUE)""")
c.execute(f"INSERT INTO {table} (name, mem, ok, price, at, load, code) VALUES ({P}, {P}, {P}, {P}, {P}, {P}, {P})",
          ("vm-a", 4096, True, decimal.Decimal("12.50"), datetime.datetime(2024, 2, 29, 1, 2, 3), 0.25, "A1"))
print("inserted", c.rowcount)
c.execute(f"INSERT INTO {table} (name, mem, ok, code) VALUES ({P}, {P}, {P}, {P})", ("vm-b", None, False, "B2"))
c.execute(f"SELECT id, name, mem, ok, price, at, load, code FROM {table} WHERE name = {P}", ("vm-a",))
row = c.fetchone()
print("row", tuple(row))
print("types", ",".join(type(v).__name__ for v in row))
print("described", ",".join(str(d[1]) if driver == "pymssql" else d[1].__name__ for d in c.description))
c.execute(f"SELECT name, mem FROM {table} WHERE id = {P}", (2,))
print("null", tuple(c.fetchone()))
c.execute(f"UPDATE {table} SET mem = {P} WHERE code = {P}", (8192, "B2"))
print("updated", c.rowcount)
c.execute(f"SELECT mem FROM {table} WHERE code = {P}", ("B2",))
print("param", c.fetchone()[0])
for sql, key in [(f"SELECT * FROM {table} WHERE id = = 1", "syntax"),
                 ("SELECT * FROM nowhere", "invalid-object"),
                 (f"INSERT INTO {table} (name, code) VALUES (N'x', 'A1')", "unique"),
                 ("USE nosuchdb", "usedb")]:
    try:
        c.execute(sql)
        print(key, "no error")
    except db.Error as e:
        print(key, error_text(e))
    c.execute(f"SELECT COUNT(*) FROM {table}")
    print(key + "-after", c.fetchone()[0])
c.execute(f"DELETE FROM {table} WHERE name = {P}", ("vm-a",))
print("deleted", c.rowcount)
c.execute(f"SELECT COUNT(*) FROM {table}")
print("left", c.fetchone()[0])
conn.close()
