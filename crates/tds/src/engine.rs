//! The SQL engine behind TDS: SQLite (rusqlite, bundled), one database per
//! SQL Server database, SQLite's answers turned into SQL Server's result
//! shapes, types and error numbers.

use crate::token::{Cell, Column, SqlType, Tokens, Value};
use rusqlite::types::ValueRef;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

/// The system databases every SQL Server has.
pub const SYSTEM_DATABASES: &[&str] = &["master", "tempdb", "model", "msdb"];
/// Rows one result set may hold before the statement fails.
pub const MAX_ROWS: usize = 1_000_000;
/// Bytes of values one result set may hold.
pub const MAX_RESULT_BYTES: usize = 256 << 20;

/// A SQL Server error: number, state, class (severity) and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlError {
    pub number: i32,
    pub state: u8,
    pub class: u8,
    pub text: String,
}

impl SqlError {
    pub fn new(number: i32, state: u8, class: u8, text: impl Into<String>) -> SqlError {
        SqlError {
            number,
            state,
            class,
            text: text.into(),
        }
    }

    pub fn syntax(near: &str) -> SqlError {
        if KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(near)) {
            SqlError::new(
                156,
                1,
                15,
                format!(
                    "Incorrect syntax near the keyword '{}'.",
                    near.to_ascii_lowercase()
                ),
            )
        } else {
            SqlError::new(102, 1, 15, format!("Incorrect syntax near '{near}'."))
        }
    }

    pub fn undeclared(var: &str) -> SqlError {
        SqlError::new(
            137,
            2,
            15,
            format!("Must declare the scalar variable \"{var}\"."),
        )
    }

    pub fn unsupported(what: &str) -> SqlError {
        SqlError::new(
            40000,
            1,
            16,
            format!("fakedc: '{what}' is not implemented yet."),
        )
    }

    pub fn unknown_database(name: &str) -> SqlError {
        SqlError::new(
            911,
            1,
            16,
            format!(
                "Database '{name}' does not exist. Make sure that the name is entered correctly."
            ),
        )
    }
}

const KEYWORDS: &[&str] = &[
    "SELECT", "FROM", "WHERE", "INSERT", "INTO", "VALUES", "UPDATE", "SET", "DELETE", "CREATE",
    "TABLE", "DROP", "ORDER", "GROUP", "BY", "HAVING", "AND", "OR", "NOT", "NULL", "JOIN", "ON",
    "AS", "UNION", "TOP", "DISTINCT", "IS", "IN", "PRIMARY", "KEY", "DEFAULT", "END", "BEGIN",
    "ELSE", "IF", "WHILE",
];

/// Where one database lives: its SQL Server name and its SQLite file.
#[derive(Debug, Clone)]
struct DbFile {
    name: String,
    path: PathBuf,
}

/// The databases of one SQL Server machine: SQLite files in WAL mode,
/// one connection per session and database ([`Engine::open`]), so each
/// TDS session has its own transactions, readers never block writers, and
/// an open transaction dies with its connection (or with the process:
/// WAL frames without a commit record are not replayed).
///
/// With a share, the files are `<share>/mssql/<name>.sqlite`, opened with
/// `synchronous=FULL` (a commit is on disk when it is acknowledged, as
/// SQL Server's log flush). Without one they live in a private temporary
/// directory removed with the engine (`synchronous=OFF`: nothing of them
/// outlives the process anyway); SQLite's in-memory databases cannot be
/// shared by several connections with WAL semantics.
pub struct Engine {
    root: PathBuf,
    temporary: bool,
    dbs: Mutex<HashMap<String, DbFile>>,
}

/// How long a statement waits for another session's write lock before
/// failing with 1222 (SQL Server waits for ever by default; a client
/// would time out and cancel instead).
pub const LOCK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

impl Drop for Engine {
    fn drop(&mut self) {
        if self.temporary {
            let _ = std::fs::remove_dir_all(&self.root);
        }
    }
}

/// The `mssql` directory under a share, made and entered through the
/// share's capability handle (as BITS and SFTP open theirs): a `mssql`
/// that is a symlink out of the share is refused. SQLite itself needs a
/// path, so the files are then opened by path with `SQLITE_OPEN_NOFOLLOW`
/// (a database file that is a symlink is refused by SQLite).
fn share_dir(share: &std::path::Path) -> Result<(PathBuf, Vec<String>), String> {
    let err = |e: std::io::Error| format!("{}: {e}", share.display());
    std::fs::create_dir_all(share).map_err(err)?;
    let dir =
        cap_std::fs::Dir::open_ambient_dir(share, cap_std::ambient_authority()).map_err(err)?;
    dir.create_dir_all("mssql").map_err(err)?;
    let meta = dir.symlink_metadata("mssql").map_err(err)?;
    if !meta.is_dir() {
        return Err(format!(
            "{}: 'mssql' must be a directory inside the share",
            share.display()
        ));
    }
    let sub = dir.open_dir("mssql").map_err(err)?;
    let mut found = Vec::new();
    for entry in sub.entries().map_err(err)?.flatten() {
        let file = entry.file_name().to_string_lossy().into_owned();
        if let Some(n) = file.strip_suffix(".sqlite").filter(|n| valid_name(n)) {
            found.push(n.to_string());
        }
    }
    Ok((share.join("mssql"), found))
}

static TEMP_SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

impl Engine {
    /// The system databases plus `extra`; files under `<share>/mssql` when
    /// a share is given, else in a private temporary directory.
    pub fn new(share: Option<PathBuf>, extra: &[String]) -> Result<Engine, String> {
        let (root, temporary, mut found) = match &share {
            Some(s) => {
                let (root, found) = share_dir(s)?;
                (root, false, found)
            }
            None => {
                let n = TEMP_SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let root =
                    std::env::temp_dir().join(format!("fakedc-tds-{}-{n}", std::process::id()));
                let _ = std::fs::remove_dir_all(&root);
                std::fs::create_dir_all(&root).map_err(|e| format!("{}: {e}", root.display()))?;
                (root, true, Vec::new())
            }
        };
        let e = Engine {
            root,
            temporary,
            dbs: Mutex::new(HashMap::new()),
        };
        // Databases made by CREATE DATABASE in an earlier run come back.
        found.sort();
        for name in SYSTEM_DATABASES
            .iter()
            .map(|s| s.to_string())
            .chain(extra.iter().cloned())
            .chain(found)
        {
            e.register(&name, false)?;
        }
        Ok(e)
    }

    /// Creates a database (CREATE DATABASE: its file exists at once, so
    /// it comes back after a restart); `false` when one of that name exists.
    pub fn create(&self, name: &str) -> Result<bool, String> {
        self.register(name, true)
    }

    /// Names a database; its file is made on first use unless `now`
    /// (start-up touches no file: a SQL Server machine is ready sooner).
    fn register(&self, name: &str, now: bool) -> Result<bool, String> {
        if !valid_name(name) {
            return Err(format!("invalid database name '{name}'"));
        }
        if self.file(name).is_some() {
            return Ok(false);
        }
        let f = DbFile {
            name: name.to_string(),
            path: self.root.join(format!("{name}.sqlite")),
        };
        if now {
            drop(
                self.connect(&f)
                    .map_err(|e| format!("database '{name}': {e}"))?,
            );
        }
        let mut dbs = self
            .dbs
            .lock()
            .map_err(|_| "engine lock poisoned".to_string())?;
        dbs.entry(name.to_ascii_lowercase()).or_insert(f);
        Ok(true)
    }

    fn connect(&self, f: &DbFile) -> rusqlite::Result<rusqlite::Connection> {
        use rusqlite::OpenFlags as F;
        let c = rusqlite::Connection::open_with_flags(
            &f.path,
            F::SQLITE_OPEN_READ_WRITE
                | F::SQLITE_OPEN_CREATE
                | F::SQLITE_OPEN_NO_MUTEX
                | F::SQLITE_OPEN_NOFOLLOW,
        )?;
        c.busy_timeout(LOCK_TIMEOUT)?;
        // WAL is a property of the file: the first connection sets it, the
        // others find it (the pragma then only reads it).
        let mode: String = c.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CANTOPEN),
                Some(format!("journal mode {mode}, not WAL")),
            ));
        }
        c.set_prepared_statement_cache_capacity(64);
        functions::register(&c)?;
        c.pragma_update(
            None,
            "synchronous",
            if self.temporary { "OFF" } else { "FULL" },
        )?;
        Ok(c)
    }

    fn file(&self, name: &str) -> Option<DbFile> {
        self.dbs
            .lock()
            .ok()?
            .get(&name.to_ascii_lowercase())
            .cloned()
    }

    /// Every database's name: the system ones first, then by name.
    pub fn names(&self) -> Vec<String> {
        let Ok(dbs) = self.dbs.lock() else {
            return Vec::new();
        };
        let mut v: Vec<String> = dbs.values().map(|d| d.name.clone()).collect();
        v.sort_by_key(|n| {
            (
                SYSTEM_DATABASES
                    .iter()
                    .position(|s| s.eq_ignore_ascii_case(n))
                    .unwrap_or(SYSTEM_DATABASES.len()),
                n.to_ascii_lowercase(),
            )
        });
        v
    }

    /// A database's name as created, looked up in any case.
    pub fn canonical(&self, name: &str) -> Option<String> {
        self.file(name).map(|f| f.name)
    }

    /// A new connection to a database (one per session and database);
    /// `None` when there is no such database.
    pub fn open(&self, name: &str) -> Option<Result<Database, SqlError>> {
        let f = self.file(name)?;
        Some(
            self.connect(&f)
                .map(|conn| {
                    let budget = Arc::new(AtomicU32::new(0));
                    let tripped = Arc::new(AtomicBool::new(false));
                    let (b, t) = (budget.clone(), tripped.clone());
                    conn.progress_handler(
                        INLINE_TICK,
                        Some(move || match b.load(Ordering::Relaxed) {
                            0 => false,
                            1 => {
                                t.store(true, Ordering::Relaxed);
                                true
                            }
                            n => {
                                b.store(n - 1, Ordering::Relaxed);
                                false
                            }
                        }),
                    );
                    Database {
                        name: f.name.clone(),
                        conn,
                        budget,
                        tripped,
                    }
                })
                .map_err(|e| {
                    SqlError::new(
                        945,
                        2,
                        14,
                        format!(
                            "Database '{}' cannot be opened due to inaccessible files or insufficient memory or disk space. ({e})",
                            f.name
                        ),
                    )
                }),
        )
    }
}

/// SQLite virtual-machine steps between progress callbacks, and the
/// callbacks a statement run in place may use: about a quarter of a
/// millisecond of work (see [`Database::set_inline`]). A statement that
/// runs out is run again on the blocking pool, so what it did in place is
/// lost: the budget is what a long SELECT wastes the first time the
/// session sends it (the session then remembers it as slow).
const INLINE_TICK: i32 = 1_000;
const INLINE_TICKS: u32 = 50;

/// One session's connection to one database.
pub struct Database {
    pub name: String,
    conn: rusqlite::Connection,
    /// Progress callbacks left while running in place (0: no limit).
    budget: Arc<AtomicU32>,
    /// Set when the budget ran out and the statement was interrupted.
    tripped: Arc<AtomicBool>,
}

/// SQL functions fakedc adds to SQLite so T-SQL's errors happen where
/// SQL Server raises them: division by zero (8134; SQLite gives NULL) and
/// CAST/CONVERT (245 and friends; SQLite's CAST never fails).
mod functions {
    use super::SqlError;
    use rusqlite::functions::{Context, FunctionFlags};
    use rusqlite::types::{Value as V, ValueRef};

    const TAG: &str = "fakedc-error:";

    /// An error a function raises, carried through SQLite's message.
    fn raise(number: i32, state: u8, class: u8, text: &str) -> rusqlite::Error {
        rusqlite::Error::UserFunctionError(format!("{TAG}{number}:{state}:{class}:{text}").into())
    }

    /// The SqlError a function raised, from SQLite's message.
    pub fn decode(msg: &str) -> Option<SqlError> {
        let rest = &msg[msg.find(TAG)? + TAG.len()..];
        let mut parts = rest.splitn(4, ':');
        let number = parts.next()?.parse().ok()?;
        let state = parts.next()?.parse().ok()?;
        let class = parts.next()?.parse().ok()?;
        Some(SqlError::new(number, state, class, parts.next()?))
    }

    pub fn register(c: &rusqlite::Connection) -> rusqlite::Result<()> {
        let flags = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC;
        c.create_scalar_function("tsql_nz", 1, flags, |ctx| {
            let v: V = ctx.get(0)?;
            match v {
                V::Integer(0) => Err(divide_by_zero()),
                V::Real(0.0) => Err(divide_by_zero()),
                other => Ok(other),
            }
        })?;
        c.create_scalar_function("tsql_cast", 2, flags, |ctx| cast(ctx, false))?;
        c.create_scalar_function("tsql_try_cast", 2, flags, |ctx| cast(ctx, true))?;
        // In CHECK constraints (see translate's `implicit_check`): no
        // side effects, so SQLite may run it from a schema.
        c.create_scalar_function(
            "tsql_implicit",
            2,
            flags | FunctionFlags::SQLITE_INNOCUOUS,
            |ctx| {
                let ty: String = ctx.get(1)?;
                implicit(ctx.get_raw(0), &ty).map(|()| true)
            },
        )?;
        Ok(())
    }

    /// Whether a value stored into a column of type `ty` converts as SQL
    /// Server's implicit conversion would: text must read as the type
    /// (245, 8114, 241), an integer must fit an integer type (8115).
    /// Other values (NULL, reals, blobs) are stored as they are.
    fn implicit(v: ValueRef<'_>, ty: &str) -> rusqlite::Result<()> {
        let base = ty
            .split('(')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        match (v, base.as_str()) {
            (ValueRef::Text(t), "datetime" | "datetime2" | "smalldatetime" | "date" | "time") => {
                let t = String::from_utf8_lossy(t);
                if crate::token::DateTime2Parts::parse(&t).is_some()
                    || crate::token::datetime_parts(&t).is_some()
                {
                    Ok(())
                } else {
                    Err(raise(
                        241,
                        1,
                        16,
                        "Conversion failed when converting date and/or time from character string.",
                    ))
                }
            }
            (ValueRef::Text(_), _) => convert(v, ty).map(drop),
            (ValueRef::Integer(_), "int" | "smallint" | "tinyint") => convert(v, ty).map(drop),
            _ => Ok(()),
        }
    }

    fn divide_by_zero() -> rusqlite::Error {
        raise(8134, 1, 16, "Divide by zero error encountered.")
    }

    fn cast(ctx: &Context<'_>, try_: bool) -> rusqlite::Result<V> {
        let ty: String = ctx.get(1)?;
        let r = convert(ctx.get_raw(0), &ty);
        match r {
            Ok(v) => Ok(v),
            Err(_) if try_ => Ok(V::Null),
            Err(e) => Err(e),
        }
    }

    /// A value converted to a T-SQL type, as CAST does it.
    pub fn convert(v: ValueRef<'_>, ty: &str) -> rusqlite::Result<V> {
        let d: String = ty
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .to_ascii_lowercase();
        let (base, args) = match d.split_once('(') {
            Some((b, a)) => (b.to_string(), a.trim_end_matches(')').to_string()),
            None => (d.clone(), String::new()),
        };
        let n1: Option<i64> = args.split(',').next().and_then(|a| a.parse().ok());
        let n2: Option<i64> = args.split(',').nth(1).and_then(|a| a.parse().ok());
        let text = |v: &ValueRef<'_>| -> Option<String> {
            match v {
                ValueRef::Text(t) => Some(String::from_utf8_lossy(t).into_owned()),
                _ => None,
            }
        };
        let failed = |what: &str| {
            raise(
                245,
                1,
                16,
                &format!("Conversion failed when converting the varchar value '{what}' to data type {base}."),
            )
        };
        if matches!(v, ValueRef::Null) {
            return Ok(V::Null);
        }
        Ok(match base.as_str() {
            "int" | "bigint" | "smallint" | "tinyint" => {
                let (lo, hi) = match base.as_str() {
                    "int" => (i64::from(i32::MIN), i64::from(i32::MAX)),
                    "smallint" => (i64::from(i16::MIN), i64::from(i16::MAX)),
                    "tinyint" => (0, 255),
                    _ => (i64::MIN, i64::MAX),
                };
                let n = match v {
                    ValueRef::Integer(n) => n,
                    ValueRef::Real(f)
                        if f.is_finite() && f.trunc() >= -9.2e18 && f.trunc() <= 9.2e18 =>
                    {
                        f.trunc() as i64
                    }
                    ValueRef::Text(_) => {
                        let t = text(&v).unwrap_or_default();
                        t.trim().parse::<i64>().map_err(|_| failed(&t))?
                    }
                    _ => return Err(failed("")),
                };
                if n < lo || n > hi {
                    return Err(raise(
                        8115,
                        2,
                        16,
                        &format!(
                            "Arithmetic overflow error converting expression to data type {base}."
                        ),
                    ));
                }
                V::Integer(n)
            }
            "bit" => match v {
                ValueRef::Integer(n) => V::Integer(i64::from(n != 0)),
                ValueRef::Real(f) => V::Integer(i64::from(f != 0.0)),
                _ => {
                    let t = text(&v).unwrap_or_default();
                    match t.trim().to_ascii_lowercase().as_str() {
                        "1" | "true" => V::Integer(1),
                        "0" | "false" => V::Integer(0),
                        _ => return Err(failed(&t)),
                    }
                }
            },
            "float" | "real" | "decimal" | "numeric" | "money" | "smallmoney" => {
                let f = match v {
                    ValueRef::Integer(n) => n as f64,
                    ValueRef::Real(f) => f,
                    _ => {
                        let t = text(&v).unwrap_or_default();
                        t.trim().parse::<f64>().map_err(|_| {
                            let to = if base == "float" || base == "real" {
                                "float"
                            } else {
                                "numeric"
                            };
                            raise(
                                8114,
                                5,
                                16,
                                &format!("Error converting data type varchar to {to}."),
                            )
                        })?
                    }
                };
                let scale = match base.as_str() {
                    "decimal" | "numeric" => Some(n2.unwrap_or(0).clamp(0, 38)),
                    "money" | "smallmoney" => Some(4),
                    _ => None,
                };
                match scale {
                    Some(sc) => {
                        let m = 10f64.powi(sc as i32);
                        V::Real((f * m).round() / m)
                    }
                    None => V::Real(f),
                }
            }
            "varchar" | "nvarchar" | "char" | "nchar" | "text" | "ntext" | "sysname" => {
                let s = match v {
                    ValueRef::Integer(n) => n.to_string(),
                    ValueRef::Real(f) => f.to_string(),
                    ValueRef::Blob(b) => String::from_utf8_lossy(b).into_owned(),
                    _ => text(&v).unwrap_or_default(),
                };
                // CAST truncates to the declared length (30 without one).
                let max = match n1 {
                    Some(n) if n > 0 => n as usize,
                    _ if args.eq_ignore_ascii_case("max") => usize::MAX,
                    _ => 30,
                };
                V::Text(s.chars().take(max).collect())
            }
            "datetime" | "datetime2" | "smalldatetime" | "date" | "time" => match v {
                ValueRef::Text(_) => {
                    let t = text(&v).unwrap_or_default();
                    let ok = crate::token::datetime_parts(t.trim()).is_some()
                        || (t.trim().len() == 10
                            && crate::token::datetime_parts(&format!("{} 00:00:00", t.trim()))
                                .is_some());
                    if !ok {
                        return Err(raise(
                            241,
                            1,
                            16,
                            "Conversion failed when converting date and/or time from character string.",
                        ));
                    }
                    let t = t.trim().to_string();
                    V::Text(if base == "date" {
                        t.chars().take(10).collect()
                    } else {
                        t
                    })
                }
                other => V::from(other.to_owned()),
            },
            "uniqueidentifier" => {
                let t = text(&v).unwrap_or_default();
                let hex = t.trim().trim_matches(['{', '}']);
                let shape = hex.len() == 36
                    && hex.char_indices().all(|(i, c)| match i {
                        8 | 13 | 18 | 23 => c == '-',
                        _ => c.is_ascii_hexdigit(),
                    });
                if !shape {
                    return Err(raise(
                        8169,
                        2,
                        16,
                        "Conversion failed when converting from a character string to uniqueidentifier.",
                    ));
                }
                V::Text(hex.to_ascii_uppercase())
            }
            _ => V::from(v.to_owned()),
        })
    }
}

/// Database names SQL Server would accept and a file system too.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '$')
}

/// What one statement produced.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    Rows {
        cols: Vec<Column>,
        rows: Vec<Vec<Value>>,
    },
    Count(u64),
}

impl Database {
    /// A request running in place on an async worker (not on the blocking
    /// pool) gets a budget of SQLite steps: past it the statement is
    /// interrupted and [`Database::take_tripped`] says so, and the service
    /// runs the request again on the blocking pool.
    pub fn set_inline(&self, on: bool) {
        self.tripped.store(false, Ordering::Relaxed);
        self.budget
            .store(if on { INLINE_TICKS } else { 0 }, Ordering::Relaxed);
    }

    /// Whether the in-place budget interrupted a statement (cleared).
    pub fn take_tripped(&self) -> bool {
        self.tripped.swap(false, Ordering::Relaxed)
    }

    /// Whether `sql` is one statement that cannot write (SQLite's own
    /// answer, `sqlite3_stmt_readonly`); `false` when it does not prepare.
    pub fn readonly(&self, sql: &str) -> bool {
        self.conn.prepare_cached(sql).is_ok_and(|s| s.readonly())
    }

    /// Runs statements that return nothing (BEGIN, COMMIT, SAVEPOINT...).
    pub fn exec(&self, sql: &str) -> Result<(), SqlError> {
        self.conn
            .execute_batch(sql)
            .map_err(|e| map_error(&self.conn, &self.name, e))
    }

    /// Whether this connection holds an open SQLite transaction.
    pub fn in_transaction(&self) -> bool {
        !self.conn.is_autocommit()
    }

    /// Whether the open transaction has written (holds the write lock).
    pub fn has_written(&self) -> bool {
        matches!(
            self.conn.transaction_state(None),
            Ok(rusqlite::TransactionState::Write)
        )
    }

    /// A handle that cancels this connection's running statement from
    /// another thread (Attention).
    pub fn interrupt_handle(&self) -> rusqlite::InterruptHandle {
        self.conn.get_interrupt_handle()
    }

    /// A statement prepared (SQLite's prepared form is kept: drivers
    /// repeat their statements) with named parameters (`@name`) bound; a
    /// parameter it names that `params` lacks is 137.
    fn bound(
        &self,
        sql: &str,
        params: &[(String, Value)],
    ) -> Result<rusqlite::CachedStatement<'_>, SqlError> {
        let conn = &self.conn;
        let mut stmt = conn
            .prepare_cached(sql)
            .map_err(|e| map_error(conn, &self.name, e))?;
        for (name, v) in params {
            let idx = stmt
                .parameter_index(name)
                .map_err(|e| map_error(conn, &self.name, e))?;
            if let Some(idx) = idx {
                let r = match v {
                    Value::Null => stmt.raw_bind_parameter(idx, rusqlite::types::Null),
                    Value::Int(n) => stmt.raw_bind_parameter(idx, n),
                    Value::Float(f) => stmt.raw_bind_parameter(idx, f),
                    Value::Text(t) => stmt.raw_bind_parameter(idx, t),
                    Value::Bytes(b) => stmt.raw_bind_parameter(idx, b),
                };
                r.map_err(|e| map_error(conn, &self.name, e))?;
            }
        }
        for i in 1..=stmt.parameter_count() {
            if let Some(name) = stmt.parameter_name(i) {
                if !params.iter().any(|(n, _)| n.eq_ignore_ascii_case(name)) {
                    return Err(SqlError::undeclared(name));
                }
            }
        }
        Ok(stmt)
    }

    /// Runs one SQLite statement with named parameters (`@name`), its
    /// rows collected as values.
    pub fn run(
        &self,
        sql: &str,
        params: &[(String, Value)],
        v71: bool,
    ) -> Result<Output, SqlError> {
        let stmt = self.bound(sql, params)?;
        self.collect(stmt, v71)
    }

    /// [`Database::run`] with the rows encoded straight into `t`
    /// (COLMETADATA, then ROW/NBCROW per row as SQLite steps, with no copy
    /// of a row's values) when every column has a declared type; a
    /// computed column's type comes from its values, so such a result is
    /// collected first. Rows sent before a runtime error stay sent, as
    /// SQL Server's do.
    pub fn run_into(
        &self,
        sql: &str,
        params: &[(String, Value)],
        v71: bool,
        t: &mut Tokens,
    ) -> Result<Ran, SqlError> {
        let conn = &self.conn;
        let mut stmt = self.bound(sql, params)?;
        let ncols = stmt.column_count();
        let cols: Option<Vec<Column>> = stmt
            .columns()
            .iter()
            .map(|c| {
                c.decl_type().map(|d| Column {
                    name: c.name().to_string(),
                    ty: from_decl(d, v71),
                    nullable: true,
                    identity: false,
                })
            })
            .collect();
        let cols = match cols {
            Some(cols) if ncols > 0 => cols,
            _ => {
                return Ok(match self.collect(stmt, v71)? {
                    Output::Rows { cols, rows } => {
                        t.colmetadata(&cols);
                        for r in &rows {
                            t.row(&cols, r);
                            t.row_done();
                        }
                        Ran::Rows(rows.len() as u64)
                    }
                    Output::Count(c) => Ran::Count(c),
                })
            }
        };
        t.colmetadata(&cols);
        let (mut n, mut bytes) = (0usize, 0usize);
        let mut q = stmt.raw_query();
        while let Some(row) = q.next().map_err(|e| map_error(conn, &self.name, e))? {
            // A row's cells: on the stack for up to 32 columns.
            let mut small = [Cell::Null; 32];
            let mut large = Vec::new();
            let cells: &mut [Cell<'_>] = if ncols <= small.len() {
                &mut small[..ncols]
            } else {
                large.resize(ncols, Cell::Null);
                &mut large
            };
            let mut lossy = false;
            for (i, cell) in cells.iter_mut().enumerate() {
                *cell = match row.get_ref(i).map_err(|e| map_error(conn, &self.name, e))? {
                    ValueRef::Null => Cell::Null,
                    ValueRef::Integer(n) => Cell::Int(n),
                    ValueRef::Real(f) => Cell::Float(f),
                    ValueRef::Text(t) => {
                        bytes += t.len();
                        match std::str::from_utf8(t) {
                            Ok(s) => Cell::Text(s),
                            Err(_) => {
                                lossy = true;
                                Cell::Null
                            }
                        }
                    }
                    ValueRef::Blob(b) => {
                        bytes += b.len();
                        Cell::Bytes(b)
                    }
                };
            }
            if lossy {
                // Text SQLite holds that is not UTF-8: replaced characters.
                let vals = (0..ncols)
                    .map(|i| row.get_ref(i).map(value_of))
                    .collect::<rusqlite::Result<Vec<Value>>>()
                    .map_err(|e| map_error(conn, &self.name, e))?;
                t.row(&cols, &vals);
            } else {
                t.row_cells(&cols, cells);
            }
            t.row_done();
            n += 1;
            if n > MAX_ROWS || bytes > MAX_RESULT_BYTES {
                return Err(SqlError::new(
                    701,
                    1,
                    17,
                    "There is insufficient system memory in resource pool 'default' to run this query.",
                ));
            }
        }
        Ok(Ran::Rows(n as u64))
    }

    /// Steps a bound statement to its end: rows as values, or the count
    /// of rows it changed.
    fn collect(
        &self,
        mut stmt: rusqlite::CachedStatement<'_>,
        v71: bool,
    ) -> Result<Output, SqlError> {
        let conn = &self.conn;
        let ncols = stmt.column_count();
        if ncols == 0 {
            stmt.raw_execute()
                .map_err(|e| map_error(conn, &self.name, e))?;
            return Ok(Output::Count(conn.changes()));
        }
        let decl: Vec<(String, Option<String>)> = stmt
            .columns()
            .iter()
            .map(|c| (c.name().to_string(), c.decl_type().map(str::to_string)))
            .collect();
        let mut rows: Vec<Vec<Value>> = Vec::new();
        let mut bytes = 0usize;
        let mut q = stmt.raw_query();
        while let Some(row) = q.next().map_err(|e| map_error(conn, &self.name, e))? {
            let mut vals = Vec::with_capacity(ncols);
            for i in 0..ncols {
                let v = row.get_ref(i).map_err(|e| map_error(conn, &self.name, e))?;
                if let ValueRef::Text(b) | ValueRef::Blob(b) = v {
                    bytes += b.len();
                }
                vals.push(value_of(v));
            }
            rows.push(vals);
            if rows.len() > MAX_ROWS || bytes > MAX_RESULT_BYTES {
                return Err(SqlError::new(
                    701,
                    1,
                    17,
                    "There is insufficient system memory in resource pool 'default' to run this query.",
                ));
            }
        }
        let cols = decl
            .into_iter()
            .enumerate()
            .map(|(i, (name, decl))| {
                let ty = match &decl {
                    Some(d) => from_decl(d, v71),
                    None => infer(rows.iter().filter_map(|r| r.get(i)), v71),
                };
                let name = if decl.is_none() && !plain_identifier(&name) {
                    String::new()
                } else {
                    name
                };
                Column {
                    name,
                    ty,
                    nullable: true,
                    identity: false,
                }
            })
            .collect();
        Ok(Output::Rows { cols, rows })
    }
}

/// What [`Database::run_into`] did: rows sent, or rows changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ran {
    Rows(u64),
    Count(u64),
}

/// An engine value as fakedc's (text that is not UTF-8 with replaced
/// characters).
fn value_of(v: ValueRef<'_>) -> Value {
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(n) => Value::Int(n),
        ValueRef::Real(f) => Value::Float(f),
        ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Value::Bytes(b.to_vec()),
    }
}

fn plain_identifier(s: &str) -> bool {
    let mut c = s.chars();
    c.next().is_some_and(|f| f.is_alphabetic() || f == '_')
        && c.all(|x| x.is_alphanumeric() || x == '_' || x == '$' || x == '#')
}

/// A declared column type (as written in CREATE TABLE) to SQL Server's.
pub fn from_decl(decl: &str, v71: bool) -> SqlType {
    let d: String = decl
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_uppercase();
    let (base, args) = match d.split_once('(') {
        Some((b, rest)) => (b.to_string(), rest.trim_end_matches(')').to_string()),
        None => (d.clone(), String::new()),
    };
    let mut nums = args.split(',').map(|a| a.parse::<i64>().ok());
    let n1 = nums.next().flatten();
    let n2 = nums.next().flatten();
    // time/datetime2/datetimeoffset: fractional digits, 7 when not given.
    let scale7 = || n1.map_or(7, |n| n.clamp(0, 7) as u8);
    let len = |limit: u16| -> Option<u16> {
        match n1 {
            Some(n) if n > 0 && n <= i64::from(limit) => Some(n as u16),
            Some(_) if v71 => Some(limit),
            None if args.is_empty() => Some(1),
            _ if v71 => Some(limit),
            _ => None,
        }
    };
    match base.as_str() {
        "INT" | "INTEGER" => SqlType::Int,
        "BIGINT" => SqlType::BigInt,
        "SMALLINT" => SqlType::SmallInt,
        "TINYINT" => SqlType::TinyInt,
        "BIT" | "BOOLEAN" => SqlType::Bit,
        "FLOAT" | "DOUBLE" => SqlType::Float,
        "REAL" => SqlType::Real,
        "MONEY" => SqlType::Decimal(19, 4),
        "SMALLMONEY" => SqlType::Decimal(10, 4),
        "DECIMAL" | "NUMERIC" => {
            let p = n1.unwrap_or(18).clamp(1, 38) as u8;
            let s = n2.unwrap_or(0).clamp(0, i64::from(p)) as u8;
            SqlType::Decimal(p, s)
        }
        "DATETIME" | "SMALLDATETIME" => SqlType::DateTime,
        // The 7.3 types; a 7.1 client (no such types) gets datetime for
        // the dates and nvarchar text for the others, as SQL Server sends
        // them to down-level clients.
        "DATE" | "DATETIME2" if v71 => SqlType::DateTime,
        "TIME" | "DATETIMEOFFSET" if v71 => SqlType::NVarChar(Some(34)),
        "DATE" => SqlType::Date,
        "TIME" => SqlType::Time(scale7()),
        "DATETIME2" => SqlType::DateTime2(scale7()),
        "DATETIMEOFFSET" => SqlType::DateTimeOffset(scale7()),
        "NVARCHAR" | "NCHAR" => SqlType::NVarChar(len(4000)),
        "NTEXT" | "XML" => SqlType::NVarChar(if v71 { Some(4000) } else { None }),
        "VARCHAR" | "CHAR" => SqlType::VarChar(len(8000)),
        "TEXT" => SqlType::VarChar(if v71 { Some(8000) } else { None }),
        "VARBINARY" | "BINARY" => SqlType::VarBinary(len(8000)),
        "BLOB" | "IMAGE" => SqlType::VarBinary(if v71 { Some(8000) } else { None }),
        "UNIQUEIDENTIFIER" => SqlType::NVarChar(Some(36)),
        _ => SqlType::NVarChar(Some(4000)),
    }
}

/// The type of a computed column, from its values (SQL Server types
/// expressions; SQLite does not): integers are `int` unless one needs
/// `bigint`, text written as GETDATE() writes it is `datetime`.
fn infer<'a>(vals: impl Iterator<Item = &'a Value>, v71: bool) -> SqlType {
    let (mut ints, mut big, mut floats, mut texts, mut blobs, mut dates, mut long) =
        (0, false, 0, 0, 0, 0, false);
    for v in vals {
        match v {
            Value::Null => {}
            Value::Int(n) => {
                ints += 1;
                big |= i32::try_from(*n).is_err();
            }
            Value::Float(_) => floats += 1,
            Value::Text(t) => {
                texts += 1;
                long |= t.chars().count() > 4000;
                if looks_like_datetime(t) {
                    dates += 1;
                }
            }
            Value::Bytes(b) => {
                blobs += 1;
                long |= b.len() > 8000;
            }
        }
    }
    let max = if long && !v71 { None } else { Some(4000) };
    if texts > 0 {
        if dates == texts && ints + floats + blobs == 0 {
            SqlType::DateTime
        } else {
            SqlType::NVarChar(max)
        }
    } else if blobs > 0 {
        SqlType::VarBinary(max.map(|_| 8000))
    } else if floats > 0 {
        SqlType::Float
    } else if big {
        SqlType::BigInt
    } else {
        let _ = ints;
        SqlType::Int
    }
}

/// `YYYY-MM-DD HH:MM:SS.fff`, exactly as GETDATE() is rendered here.
fn looks_like_datetime(t: &str) -> bool {
    let b = t.as_bytes();
    b.len() == 23
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b' ',
            13 | 16 => *c == b':',
            19 => *c == b'.',
            _ => c.is_ascii_digit(),
        })
}

/// SQLite's error as SQL Server's.
fn map_error(conn: &rusqlite::Connection, db: &str, e: rusqlite::Error) -> SqlError {
    let msg = e.to_string();
    let code = match &e {
        rusqlite::Error::SqliteFailure(f, _) => Some(f.extended_code),
        _ => None,
    };
    // T-SQL's own errors raised inside SQLite by fakedc's functions.
    if let Some(e) = functions::decode(&msg) {
        return e;
    }
    // 517 = SQLITE_BUSY_SNAPSHOT: this transaction read a snapshot that
    // another session's commit made stale, and now wants to write. SQLite
    // cannot wait that out; SQL Server's nearest answer is to make the
    // session a deadlock victim (its transaction is rolled back).
    if code == Some(517) {
        return SqlError::new(
            1205,
            51,
            13,
            "Transaction (Process ID) was deadlocked on lock resources with another process and has been chosen as the deadlock victim. Rerun the transaction.",
        );
    }
    if code.is_some_and(|c| c & 0xFF == 5 || c & 0xFF == 6) {
        return SqlError::new(1222, 51, 16, "Lock request time out period exceeded.");
    }
    if let Some(rest) = msg.strip_prefix("no such table: ") {
        let name = rest.rsplit('.').next().unwrap_or(rest);
        return SqlError::new(208, 1, 16, format!("Invalid object name '{name}'."));
    }
    if let Some(rest) = msg.strip_prefix("no such column: ") {
        let name = rest.rsplit('.').next().unwrap_or(rest);
        return SqlError::new(207, 1, 16, format!("Invalid column name '{name}'."));
    }
    if let Some(rest) = msg.strip_prefix("NOT NULL constraint failed: ") {
        let (table, col) = rest.split_once('.').unwrap_or(("", rest));
        return SqlError::new(
            515,
            2,
            16,
            format!("Cannot insert the value NULL into column '{col}', table '{db}.dbo.{table}'; column does not allow nulls. INSERT fails."),
        );
    }
    if let Some(rest) = msg.strip_prefix("UNIQUE constraint failed: ") {
        let (table, cols) = rest.split_once('.').unwrap_or(("", rest));
        let cols = cols.replace(&format!(", {table}."), ", ");
        // 1555 = SQLITE_CONSTRAINT_PRIMARYKEY; a user-made unique index is 2601.
        if code == Some(1555) {
            return SqlError::new(
                2627,
                1,
                14,
                format!("Violation of PRIMARY KEY constraint 'PK__{table}'. Cannot insert duplicate key in object 'dbo.{table}'."),
            );
        }
        let index: Option<String> = conn
            .query_row(
                "SELECT name FROM sqlite_master WHERE type='index' AND tbl_name=?1 AND sql IS NOT NULL AND upper(sql) LIKE 'CREATE UNIQUE%'",
                [table],
                |r| r.get(0),
            )
            .ok();
        return match index {
            Some(ix) => SqlError::new(
                2601,
                1,
                14,
                format!("Cannot insert duplicate key row in object 'dbo.{table}' with unique index '{ix}'."),
            ),
            None => SqlError::new(
                2627,
                1,
                14,
                format!("Violation of UNIQUE KEY constraint 'UQ__{table}__{cols}'. Cannot insert duplicate key in object 'dbo.{table}'."),
            ),
        };
    }
    if let Some(rest) = msg.strip_prefix("near \"") {
        let near = rest.split('"').next().unwrap_or("");
        return SqlError::syntax(near);
    }
    if msg.contains("incomplete input") || msg.contains("syntax error") {
        return SqlError::syntax("");
    }
    if let Some(rest) = msg.strip_prefix("table ") {
        if let Some((name, _)) = rest.split_once(" already exists") {
            let name = name.trim_matches('"');
            return SqlError::new(
                2714,
                6,
                16,
                format!("There is already an object named '{name}' in the database."),
            );
        }
    }
    if let Some(rest) = msg.strip_prefix("no such function: ") {
        return SqlError::new(
            195,
            10,
            15,
            format!("'{rest}' is not a recognized built-in function name."),
        );
    }
    SqlError::new(50000, 1, 16, msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> (Engine, Database) {
        let e = Engine::new(None, &["app".into()]).expect("engine");
        let d = e.open("APP").expect("declared database").expect("opens");
        (e, d)
    }

    #[test]
    fn types_and_errors() {
        let (_e, d) = db();
        d.run(
            "CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT, name NVARCHAR(20) NOT NULL, big BIGINT, ok BIT, price DECIMAL(10,2), at DATETIME, f FLOAT, code VARCHAR(5) UNIQUE)",
            &[],
            false,
        )
        .expect("create");
        assert_eq!(
            d.run("INSERT INTO t (name, big, ok, price, at, f, code) VALUES ('a', 5000000000, 1, 12.5, '2024-01-01 00:00:00', 1.5, 'x')", &[], false),
            Ok(Output::Count(1))
        );
        let Ok(Output::Rows { cols, rows }) = d.run("SELECT * FROM t", &[], false) else {
            panic!("rows");
        };
        let types: Vec<SqlType> = cols.iter().map(|c| c.ty).collect();
        assert_eq!(
            types,
            vec![
                SqlType::Int,
                SqlType::NVarChar(Some(20)),
                SqlType::BigInt,
                SqlType::Bit,
                SqlType::Decimal(10, 2),
                SqlType::DateTime,
                SqlType::Float,
                SqlType::VarChar(Some(5))
            ]
        );
        assert_eq!(rows[0][0], Value::Int(1));
        let err = |sql: &str| d.run(sql, &[], false).expect_err(sql).number;
        assert_eq!(err("SELECT * FROM nope"), 208);
        assert_eq!(err("SELECT * FROM t WHERE id = = 1"), 102);
        assert_eq!(err("INSERT INTO t (id, name) VALUES (1, 'b')"), 2627);
        assert_eq!(err("INSERT INTO t (name, code) VALUES ('b', 'x')"), 2627);
        assert_eq!(err("INSERT INTO t (name) VALUES (NULL)"), 515);
        assert_eq!(err("SELECT @x"), 137);
        let Ok(Output::Rows { cols, .. }) = d.run("SELECT 1, 'x' AS y", &[], false) else {
            panic!("rows");
        };
        assert_eq!((cols[0].name.as_str(), cols[0].ty), ("", SqlType::Int));
        assert_eq!(cols[1].name, "y");
    }
}
