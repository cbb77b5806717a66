//! T-SQL → SQLite, by hand over tokens: the forms drivers send at login
//! and in basic use (see ARCHITECTURE.md, Decisions). Batches are split
//! into statements; each statement is either answered here (`SET`, `USE`,
//! transaction verbs) or rewritten for SQLite: `[names]`, `N'...'`, the
//! `dbo.` schema, `TOP n`, `ISNULL`, `GETDATE()`, `@@VERSION` and friends,
//! `IDENTITY` columns, `(MAX)` lengths.

/// One lexical token; whitespace and comments collapse to `Space`.
#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    Word(String),
    /// `[x]` or `"x"`.
    Quoted(String),
    /// `'x'` (and `N'x'`), unescaped.
    Str(String),
    Num(String),
    /// `@x` or `@@x`.
    Var(String),
    Punct(char),
    Space,
    /// Verbatim SQLite text produced by a rewrite.
    Raw(String),
}

impl Tok {
    fn word(&self) -> Option<String> {
        match self {
            Tok::Word(w) => Some(w.to_ascii_uppercase()),
            _ => None,
        }
    }

    fn is_word(&self, w: &str) -> bool {
        matches!(self, Tok::Word(x) if x.eq_ignore_ascii_case(w))
    }
}

/// Splits T-SQL into tokens. Never fails: an unterminated string or
/// bracket takes the rest of the text (SQLite then reports the error).
pub fn tokenize(s: &str) -> Vec<Tok> {
    let c: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let n = c.len();
    let get = |i: usize| c.get(i).copied().unwrap_or('\0');
    while i < n {
        let ch = get(i);
        if ch.is_whitespace() {
            while i < n && get(i).is_whitespace() {
                i += 1;
            }
            push_space(&mut out);
        } else if ch == '-' && get(i + 1) == '-' {
            while i < n && get(i) != '\n' {
                i += 1;
            }
            push_space(&mut out);
        } else if ch == '/' && get(i + 1) == '*' {
            i += 2;
            while i < n && !(get(i) == '*' && get(i + 1) == '/') {
                i += 1;
            }
            i = (i + 2).min(n);
            push_space(&mut out);
        } else if ch == '\'' || ((ch == 'N' || ch == 'n') && get(i + 1) == '\'') {
            i += if ch == '\'' { 1 } else { 2 };
            let mut v = String::new();
            while i < n {
                if get(i) == '\'' {
                    if get(i + 1) == '\'' {
                        v.push('\'');
                        i += 2;
                        continue;
                    }
                    i += 1;
                    break;
                }
                v.push(get(i));
                i += 1;
            }
            out.push(Tok::Str(v));
        } else if ch == '[' || ch == '"' {
            let close = if ch == '[' { ']' } else { '"' };
            i += 1;
            let mut v = String::new();
            while i < n {
                if get(i) == close {
                    if get(i + 1) == close {
                        v.push(close);
                        i += 2;
                        continue;
                    }
                    i += 1;
                    break;
                }
                v.push(get(i));
                i += 1;
            }
            out.push(Tok::Quoted(v));
        } else if ch == '@' {
            let start = i;
            i += 1;
            while i < n
                && (get(i) == '@'
                    || get(i).is_alphanumeric()
                    || get(i) == '_'
                    || get(i) == '#'
                    || get(i) == '$')
            {
                i += 1;
            }
            out.push(Tok::Var(c[start..i].iter().collect()));
        } else if ch.is_ascii_digit() || (ch == '.' && get(i + 1).is_ascii_digit()) {
            let start = i;
            while i < n && (get(i).is_ascii_alphanumeric() || get(i) == '.') {
                i += 1;
            }
            out.push(Tok::Num(c[start..i].iter().collect()));
        } else if ch.is_alphabetic() || ch == '_' || ch == '#' {
            let start = i;
            while i < n
                && (get(i).is_alphanumeric() || get(i) == '_' || get(i) == '#' || get(i) == '$')
            {
                i += 1;
            }
            out.push(Tok::Word(c[start..i].iter().collect()));
        } else {
            out.push(Tok::Punct(ch));
            i += 1;
        }
    }
    out
}

fn push_space(out: &mut Vec<Tok>) {
    if !matches!(out.last(), Some(Tok::Space) | None) {
        out.push(Tok::Space);
    }
}

/// Tokens back to SQLite text.
pub fn render(toks: &[Tok]) -> String {
    let mut s = String::new();
    for t in toks {
        match t {
            Tok::Word(w) | Tok::Num(w) | Tok::Var(w) | Tok::Raw(w) => s.push_str(w),
            Tok::Quoted(q) => {
                s.push('"');
                s.push_str(&q.replace('"', "\"\""));
                s.push('"');
            }
            Tok::Str(v) => {
                s.push('\'');
                s.push_str(&v.replace('\'', "''"));
                s.push('\'');
            }
            Tok::Punct(c) => s.push(*c),
            Tok::Space => {
                if !s.ends_with(' ') {
                    s.push(' ')
                }
            }
        }
    }
    s.trim().to_string()
}

const STARTERS: &[&str] = &[
    "SELECT", "INSERT", "UPDATE", "DELETE", "CREATE", "DROP", "ALTER", "USE", "SET", "DECLARE",
    "BEGIN", "COMMIT", "ROLLBACK", "PRINT", "EXEC", "EXECUTE", "TRUNCATE", "GO", "IF", "WHILE",
    "ELSE", "END", "BREAK", "CONTINUE", "SAVE",
];

/// Splits a batch into statements: at `;` and before a keyword that
/// starts a statement at nesting depth 0 (T-SQL needs no separator).
pub fn split(toks: Vec<Tok>) -> Vec<Vec<Tok>> {
    let mut out: Vec<Vec<Tok>> = Vec::new();
    let mut cur: Vec<Tok> = Vec::new();
    let mut depth = 0i32;
    // CASE ... END nesting: its ELSE and END start nothing.
    let mut cases = 0i32;
    let significant = |v: &Vec<Tok>| -> Vec<Tok> {
        v.iter()
            .filter(|t| !matches!(t, Tok::Space))
            .cloned()
            .collect()
    };
    for t in toks {
        match &t {
            Tok::Punct('(') => depth += 1,
            Tok::Punct(')') => depth -= 1,
            Tok::Punct(';') if depth <= 0 => {
                if !significant(&cur).is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                cur.clear();
                depth = 0;
                continue;
            }
            _ => {}
        }
        if depth == 0 {
            if let Some(w) = t.word() {
                if w == "CASE" {
                    cases += 1;
                } else if w == "END" && cases > 0 {
                    cases -= 1;
                    cur.push(t);
                    continue;
                } else if w == "ELSE" && cases > 0 {
                    cur.push(t);
                    continue;
                }
                let sig = significant(&cur);
                let first = sig.first().and_then(Tok::word);
                let prev = sig.last();
                let starts = STARTERS.contains(&w.as_str());
                let continues = match (w.as_str(), first.as_deref()) {
                    (_, None) => true,
                    // WITH cte AS (...) SELECT/INSERT/UPDATE/DELETE.
                    ("SELECT" | "INSERT" | "UPDATE" | "DELETE", Some("WITH")) => true,
                    // INSERT ... SELECT, CREATE VIEW ... AS SELECT, UNION.
                    // (INSERT ... VALUES (...) then SELECT: two statements.)
                    ("SELECT", Some("INSERT")) => !sig.iter().any(|x| x.is_word("VALUES")),
                    ("SELECT", Some("CREATE" | "ALTER" | "DECLARE")) => true,
                    ("SELECT", _) => prev.is_some_and(|p| {
                        matches!(p, Tok::Punct('('))
                            || ["UNION", "ALL", "EXCEPT", "INTERSECT", "AS"]
                                .iter()
                                .any(|k| p.is_word(k))
                    }),
                    // DROP TABLE IF EXISTS, CREATE TABLE IF NOT EXISTS.
                    ("IF", Some("DROP" | "CREATE")) => prev.is_some_and(|p| {
                        ["TABLE", "VIEW", "INDEX", "PROCEDURE", "FUNCTION", "TRIGGER"]
                            .iter()
                            .any(|k| p.is_word(k))
                    }),
                    // UPDATE t SET ...
                    ("SET", Some("UPDATE")) => !sig.iter().any(|x| x.is_word("SET")),
                    // (IF/WHILE conditions end at the statement they
                    // govern; ELSE, a bare BEGIN and END stand alone.)
                    // CREATE TRIGGER ... INSERT; DELETE FROM after DELETE.
                    // (Only there: `CREATE TABLE t (...)` then a line
                    // `INSERT ...` are two statements.)
                    ("INSERT" | "UPDATE" | "DELETE", Some("CREATE" | "ALTER" | "DROP")) => {
                        sig.iter().take(4).any(|x| {
                            ["TRIGGER", "PROCEDURE", "PROC", "FUNCTION", "VIEW"]
                                .iter()
                                .any(|k| x.is_word(k))
                        }) || prev.is_some_and(|p| {
                            matches!(p, Tok::Punct(','))
                                || ["AFTER", "FOR", "OF", "INSTEAD"]
                                    .iter()
                                    .any(|k| p.is_word(k))
                        })
                    }
                    _ => false,
                };
                if starts && !continues {
                    out.push(std::mem::take(&mut cur));
                }
            }
        }
        cur.push(t);
    }
    if !significant(&cur).is_empty() {
        out.push(cur);
    }
    out
}

/// A batch as control flow over statements.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Stmt(Vec<Tok>),
    If {
        cond: Vec<Tok>,
        then: Box<Node>,
        otherwise: Option<Box<Node>>,
    },
    While {
        cond: Vec<Tok>,
        body: Box<Node>,
    },
    /// BEGIN ... END.
    Block(Vec<Node>),
    Break,
    Continue,
}

fn first_word(st: &[Tok]) -> String {
    st.iter()
        .find(|t| !matches!(t, Tok::Space))
        .and_then(Tok::word)
        .unwrap_or_default()
}

/// Only this one keyword (`BEGIN`, `END`, `ELSE`...).
fn bare(st: &[Tok], w: &str) -> bool {
    let mut sig = st.iter().filter(|t| !matches!(t, Tok::Space));
    sig.next().is_some_and(|t| t.is_word(w)) && sig.next().is_none()
}

/// The statements of a batch ([`split`]) as control flow: IF [ELSE],
/// WHILE, BEGIN...END, BREAK, CONTINUE. Nesting is limited, as SQL
/// Server limits it.
pub fn parse(stmts: Vec<Vec<Tok>>) -> Result<Vec<Node>, crate::engine::SqlError> {
    let mut i = 0;
    let mut out = Vec::new();
    while i < stmts.len() {
        out.push(parse_one(&stmts, &mut i, 0, 0)?);
    }
    Ok(out)
}

const MAX_NESTING: usize = 128;

fn parse_one(
    stmts: &[Vec<Tok>],
    i: &mut usize,
    loops: usize,
    depth: usize,
) -> Result<Node, crate::engine::SqlError> {
    use crate::engine::SqlError;
    let Some(st) = stmts.get(*i) else {
        return Err(SqlError::syntax(""));
    };
    if depth > MAX_NESTING {
        return Err(SqlError::new(
            191,
            1,
            15,
            "Some part of your SQL statement is nested too deeply. Rewrite the query or break it up into smaller queries.",
        ));
    }
    *i += 1;
    let w = first_word(st);
    let after_keyword = || -> Vec<Tok> {
        let at = st
            .iter()
            .position(|t| !matches!(t, Tok::Space))
            .map_or(st.len(), |p| p + 1);
        st.get(at..).unwrap_or(&[]).to_vec()
    };
    match w.as_str() {
        "IF" | "WHILE" => {
            let cond = after_keyword();
            if cond.iter().all(|t| matches!(t, Tok::Space)) {
                return Err(SqlError::syntax(&w));
            }
            let inner_loops = if w == "WHILE" { loops + 1 } else { loops };
            let body = Box::new(parse_one(stmts, i, inner_loops, depth + 1)?);
            if w == "WHILE" {
                return Ok(Node::While { cond, body });
            }
            let otherwise = if stmts.get(*i).is_some_and(|s| bare(s, "ELSE")) {
                *i += 1;
                Some(Box::new(parse_one(stmts, i, loops, depth + 1)?))
            } else {
                None
            };
            Ok(Node::If {
                cond,
                then: body,
                otherwise,
            })
        }
        "BEGIN" if bare(st, "BEGIN") => {
            let mut body = Vec::new();
            loop {
                match stmts.get(*i) {
                    None => return Err(SqlError::syntax("")),
                    Some(s) if bare(s, "END") => {
                        *i += 1;
                        return Ok(Node::Block(body));
                    }
                    Some(_) => body.push(parse_one(stmts, i, loops, depth + 1)?),
                }
            }
        }
        "END" | "ELSE" => Err(SqlError::syntax(&w)),
        "BREAK" | "CONTINUE" if loops == 0 => Err(SqlError::new(
            135,
            1,
            15,
            format!("Cannot use a {w} statement outside the scope of a WHILE statement."),
        )),
        "BREAK" => Ok(Node::Break),
        "CONTINUE" => Ok(Node::Continue),
        _ => Ok(Node::Stmt(st.clone())),
    }
}

/// An IF/WHILE condition as a query answering 1 or 0.
pub fn condition_sql(cond: &[Tok], ctx: &Ctx) -> String {
    format!(
        "SELECT CASE WHEN {} THEN 1 ELSE 0 END",
        render(&rewrite(cond, ctx, false))
    )
}

/// What the session knows that T-SQL functions return.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub spid: u16,
    pub user: String,
    pub server: String,
    pub database: String,
    /// GETDATE() for this batch, `YYYY-MM-DD HH:MM:SS.fff`.
    pub now: String,
    /// The server's databases, for `sys.databases`.
    pub databases: Vec<String>,
    /// Open BEGIN TRANs (`@@TRANCOUNT`).
    pub trancount: u32,
    /// The datacenter's live tables behind the read-only `fakedc` schema.
    pub live: Option<Live>,
    /// The batch's table variables (`DECLARE @t TABLE`), as declared:
    /// a `@t` naming one is its session-private SQLite table
    /// ([`table_var`]).
    pub table_vars: Vec<String>,
    /// The batch's scalar variables and their declared T-SQL types: `SET
    /// @v = expr` converts to the type as SQL Server does (245, 8114...).
    pub var_types: Vec<(String, String)>,
}

/// The SQLite table behind a table variable: a TEMP table (private to
/// the session's connection), dropped when its batch ends.
pub fn table_var(name: &str) -> String {
    format!(
        "temp.\"{}\"",
        name.to_ascii_lowercase().replace('"', "\"\"")
    )
}

/// Whether a declared type's values are converted (and can fail to
/// convert) when assigned: the numeric, bit, date and time types. Text
/// types are not (any value converts to text; length truncation is left
/// to the client's view).
pub fn converts(ty: &str) -> bool {
    let base = ty
        .split('(')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    matches!(
        base.as_str(),
        "int"
            | "bigint"
            | "smallint"
            | "tinyint"
            | "bit"
            | "decimal"
            | "numeric"
            | "money"
            | "smallmoney"
            | "float"
            | "real"
            | "datetime"
            | "datetime2"
            | "smalldatetime"
            | "date"
            | "time"
    )
}

/// `SELECT expr` converted to a declared type (as an assignment to a
/// variable of that type converts it), or unchanged for other types.
fn assign_sql(expr: &str, ty: Option<&str>) -> String {
    match ty.filter(|t| converts(t)) {
        Some(t) => format!("SELECT tsql_cast(({expr}), '{}')", t.replace('\'', "")),
        None => format!("SELECT {expr}"),
    }
}

/// One of the `fakedc` schema's views, read from the model when a
/// statement names it: column names and rows.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveTable {
    pub columns: Vec<&'static str>,
    pub rows: Vec<Vec<crate::token::Value>>,
}

/// Reads a `fakedc.<view>` (lower-case name) from the model; `None` for
/// an unknown view.
#[derive(Clone)]
pub struct Live(pub std::sync::Arc<LiveFn>);

/// What reads a live table by name.
pub type LiveFn = dyn Fn(&str) -> Option<LiveTable> + Send + Sync;

impl std::fmt::Debug for Live {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Live")
    }
}

/// A value as a SQLite literal.
fn literal(v: &crate::token::Value) -> String {
    use crate::token::Value;
    match v {
        Value::Null => "NULL".into(),
        Value::Int(n) => n.to_string(),
        Value::Float(f) if f.is_finite() => format!("{f:?}"),
        Value::Float(_) => "NULL".into(),
        Value::Text(t) => format!("'{}'", t.replace('\'', "''")),
        Value::Bytes(b) => format!(
            "X'{}'",
            b.iter().map(|x| format!("{x:02X}")).collect::<String>()
        ),
    }
}

/// A live table as a SQLite subquery (an empty one keeps its columns).
fn live_subquery(t: &LiveTable) -> String {
    if t.rows.is_empty() {
        let cols: Vec<String> = t.columns.iter().map(|c| format!("NULL AS {c}")).collect();
        return format!("(SELECT {} WHERE 0)", cols.join(", "));
    }
    let rows: Vec<String> = t
        .rows
        .iter()
        .enumerate()
        .map(|(k, r)| {
            let vals: Vec<String> = r
                .iter()
                .zip(&t.columns)
                .map(|(v, c)| {
                    if k == 0 {
                        format!("{} AS {c}", literal(v))
                    } else {
                        literal(v)
                    }
                })
                .collect();
            format!("SELECT {}", vals.join(", "))
        })
        .collect();
    format!("({})", rows.join(" UNION ALL "))
}

/// SQL Server 2019's `@@VERSION`.
pub const VERSION_STRING: &str = "Microsoft SQL Server 2019 (RTM) - 15.0.2000.5 (X64) \n\tSep 24 2019 13:48:23 \n\tCopyright (C) 2019 Microsoft Corporation\n\tDeveloper Edition (64-bit) on Windows Server 2019 Datacenter 10.0 <X64> (Build 17763: ) (Hypervisor)\n";

/// A statement, classified.
#[derive(Debug, Clone, PartialEq)]
pub enum Stmt {
    /// Answered with DONE alone (SET options, GO, transaction verbs while
    /// transactions are not implemented).
    Done,
    SetNocount(bool),
    /// SET XACT_ABORT ON|OFF.
    SetXactAbort(bool),
    /// SET ARITHABORT ON|OFF.
    SetArithAbort(bool),
    Use(String),
    CreateDatabase(String),
    /// DECLARE: each variable, its declared type, and the `SELECT expr`
    /// giving its value.
    Declare(Vec<(String, String, Option<String>)>),
    /// DECLARE @t TABLE (...): the variable and the SQLite statement
    /// that makes its table.
    DeclareTable(String, String),
    /// SET @v = expr, as `SELECT expr`.
    SetVar(String, String),
    /// BEGIN TRAN[SACTION] [name].
    Begin,
    /// COMMIT [TRAN | TRANSACTION | WORK] [name].
    Commit,
    /// ROLLBACK [TRAN | TRANSACTION | WORK] [name]: the name, which names
    /// a savepoint or the outermost transaction.
    Rollback(Option<String>),
    /// SAVE TRAN[SACTION] name.
    Save(String),
    /// SQLite text and the DONE command code.
    Sql(String, u16),
    /// Refused here, with SQL Server's error.
    Error(crate::engine::SqlError),
}

pub fn classify(stmt: &[Tok], ctx: &Ctx) -> Stmt {
    let sig: Vec<&Tok> = stmt.iter().filter(|t| !matches!(t, Tok::Space)).collect();
    let first = sig.first().and_then(|t| t.word()).unwrap_or_default();
    let second = sig.get(1).and_then(|t| t.word()).unwrap_or_default();
    match first.as_str() {
        "SET" => {
            if let Some(Tok::Var(v)) = sig.get(1) {
                // SET @v = expr (compound assignments are not here yet).
                if sig.get(2) != Some(&&Tok::Punct('=')) {
                    return Stmt::Error(crate::engine::SqlError::unsupported(&format!(
                        "SET {v} <op>"
                    )));
                }
                let at = stmt
                    .iter()
                    .position(|t| *t == Tok::Punct('='))
                    .unwrap_or(stmt.len());
                let expr = render(&rewrite(stmt.get(at + 1..).unwrap_or(&[]), ctx, false));
                let ty = ctx
                    .var_types
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case(v))
                    .map(|(_, t)| t.as_str());
                return Stmt::SetVar(v.clone(), assign_sql(&expr, ty));
            }
            let on = sig.get(2).is_some_and(|t| t.is_word("ON"));
            match second.as_str() {
                "NOCOUNT" => return Stmt::SetNocount(on),
                "XACT_ABORT" => return Stmt::SetXactAbort(on),
                "ARITHABORT" => return Stmt::SetArithAbort(on),
                _ => {}
            }
            Stmt::Done
        }
        "USE" => match sig.get(1) {
            Some(Tok::Word(n) | Tok::Quoted(n)) => Stmt::Use(n.clone()),
            _ => Stmt::Error(crate::engine::SqlError::syntax("USE")),
        },
        "GO" | "PRINT" => Stmt::Done,
        "BEGIN" if matches!(second.as_str(), "TRAN" | "TRANSACTION") => Stmt::Begin,
        "COMMIT" => Stmt::Commit,
        "ROLLBACK" => Stmt::Rollback(tran_name(&sig)),
        "SAVE" => match tran_name(&sig) {
            Some(n) => Stmt::Save(n),
            None => Stmt::Error(crate::engine::SqlError::syntax("TRANSACTION")),
        },
        "DECLARE" => match sig.get(1) {
            Some(Tok::Var(_)) => declare(stmt, ctx),
            _ => Stmt::Error(crate::engine::SqlError::syntax("DECLARE")),
        },
        "INSERT" | "UPDATE" | "DELETE" | "MERGE" | "TRUNCATE" | "DROP" | "ALTER"
            if writes_fakedc(&sig).is_some() =>
        {
            let obj = writes_fakedc(&sig).unwrap_or_default();
            let verb = match first.as_str() {
                "INSERT" | "UPDATE" | "DELETE" => first.as_str(),
                _ => "ALTER",
            };
            Stmt::Error(crate::engine::SqlError::new(
                229,
                5,
                14,
                format!(
                    "The {verb} permission was denied on the object '{obj}', database '{}', schema 'fakedc'.",
                    ctx.database
                ),
            ))
        }
        _ => {
            let cmd = match first.as_str() {
                "SELECT" | "WITH" => crate::token::CMD_SELECT,
                "INSERT" => crate::token::CMD_INSERT,
                "UPDATE" => crate::token::CMD_UPDATE,
                "DELETE" => crate::token::CMD_DELETE,
                _ => 0,
            };
            if first == "CREATE" && second == "DATABASE" {
                return match sig.get(2) {
                    Some(Tok::Word(n) | Tok::Quoted(n)) => Stmt::CreateDatabase(n.clone()),
                    _ => Stmt::Error(crate::engine::SqlError::syntax("DATABASE")),
                };
            }
            if let Some(v) = undeclared_table(&sig, ctx) {
                return Stmt::Error(crate::engine::SqlError::new(
                    1087,
                    1,
                    15,
                    format!("Must declare the table variable \"{v}\"."),
                ));
            }
            let toks = if first == "CREATE" && second == "TABLE" {
                create_table(stmt, ctx)
            } else if (first == "DELETE" && !matches!(second.as_str(), "FROM" | "TOP"))
                || (first == "INSERT" && !matches!(second.as_str(), "INTO" | "TOP"))
            {
                // T-SQL's FROM after DELETE and INTO after INSERT are
                // optional, SQLite's are not.
                let word = if first == "DELETE" { "FROM" } else { "INTO" };
                let at = stmt
                    .iter()
                    .position(|t| t.is_word(&first))
                    .map_or(0, |p| p + 1);
                let mut full = stmt[..at].to_vec();
                full.extend([Tok::Space, Tok::Word(word.into())]);
                full.extend(stmt[at..].iter().cloned());
                rewrite(&full, ctx, false)
            } else {
                rewrite(stmt, ctx, false)
            };
            Stmt::Sql(render(&toks), cmd)
        }
    }
}

/// A variable where a table goes (after FROM, JOIN, INTO, UPDATE, INSERT
/// or DELETE) that is no table variable of the batch.
fn undeclared_table(sig: &[&Tok], ctx: &Ctx) -> Option<String> {
    sig.windows(2).find_map(|w| match w {
        [k, Tok::Var(v)]
            if !v.starts_with("@@")
                && ["FROM", "JOIN", "INTO", "UPDATE", "INSERT", "DELETE"]
                    .iter()
                    .any(|x| k.is_word(x))
                && !ctx.table_vars.iter().any(|n| n.eq_ignore_ascii_case(v)) =>
        {
            Some(v.clone())
        }
        _ => None,
    })
}

/// The name after `COMMIT/ROLLBACK/SAVE [TRAN | TRANSACTION | WORK]`.
fn tran_name(sig: &[&Tok]) -> Option<String> {
    let mut i = 1;
    if sig
        .get(i)
        .is_some_and(|t| t.is_word("TRAN") || t.is_word("TRANSACTION") || t.is_word("WORK"))
    {
        i += 1;
    }
    match sig.get(i) {
        Some(Tok::Word(n) | Tok::Quoted(n)) => Some(n.clone()),
        _ => None,
    }
}

/// The `fakedc.<view>` a write statement names, if any: the schema is
/// read-only (229).
fn writes_fakedc(sig: &[&Tok]) -> Option<String> {
    sig.windows(3).find_map(|w| match w {
        [Tok::Word(s) | Tok::Quoted(s), Tok::Punct('.'), Tok::Word(v) | Tok::Quoted(v)]
            if s.eq_ignore_ascii_case("fakedc") =>
        {
            Some(v.clone())
        }
        _ => None,
    })
}

/// `DECLARE @a INT = 1, @b NVARCHAR(10)`: variables are batch-scoped
/// values (bound by name when statements run); the type is not enforced.
fn declare(stmt: &[Tok], ctx: &Ctx) -> Stmt {
    let Some(start) = stmt.iter().position(|t| t.is_word("DECLARE")) else {
        return Stmt::Error(crate::engine::SqlError::syntax("DECLARE"));
    };
    let mut items: Vec<Vec<Tok>> = vec![Vec::new()];
    let mut depth = 0i32;
    for t in stmt.get(start + 1..).unwrap_or(&[]) {
        match t {
            Tok::Punct('(') => depth += 1,
            Tok::Punct(')') => depth -= 1,
            Tok::Punct(',') if depth == 0 => {
                items.push(Vec::new());
                continue;
            }
            _ => {}
        }
        if let Some(last) = items.last_mut() {
            last.push(t.clone());
        }
    }
    let mut out = Vec::new();
    let stmt_items = items.len();
    for item in items {
        let sig: Vec<&Tok> = item.iter().filter(|t| !matches!(t, Tok::Space)).collect();
        let Some(Tok::Var(name)) = sig.first() else {
            return Stmt::Error(crate::engine::SqlError::syntax(","));
        };
        let kw = if sig.get(1).is_some_and(|t| t.is_word("AS")) {
            2
        } else {
            1
        };
        if sig.get(kw).is_some_and(|t| t.is_word("TABLE")) {
            // A table variable: alone in its DECLARE, as T-SQL wants it.
            if !out.is_empty() || stmt_items > 1 {
                return Stmt::Error(crate::engine::SqlError::syntax("TABLE"));
            }
            let Some(open) = item.iter().position(|t| *t == Tok::Punct('(')) else {
                return Stmt::Error(crate::engine::SqlError::syntax("TABLE"));
            };
            let mut create = vec![
                Tok::Word("CREATE".into()),
                Tok::Space,
                Tok::Word("TEMP".into()),
                Tok::Space,
                Tok::Word("TABLE".into()),
                Tok::Space,
                Tok::Raw(table_var(name)),
                Tok::Space,
            ];
            create.extend(item[open..].iter().cloned());
            return Stmt::DeclareTable(name.clone(), render(&create_table(&create, ctx)));
        }
        if sig.get(kw).is_some_and(|t| t.is_word("CURSOR")) {
            return Stmt::Error(crate::engine::SqlError::unsupported(&format!(
                "DECLARE {name} CURSOR"
            )));
        }
        let eq = item.iter().position(|t| *t == Tok::Punct('='));
        let ty_end = eq.unwrap_or(item.len());
        // The type: what follows the name (and an optional AS).
        let mut first = item
            .iter()
            .position(|t| matches!(t, Tok::Var(_)))
            .map_or(0, |p| p + 1);
        if let Some(a) = next_sig(&item, first).filter(|&a| item[a].is_word("AS")) {
            first = a + 1;
        }
        let ty = render(item.get(first..ty_end).unwrap_or(&[]));
        let expr =
            eq.map(|at| assign_sql(&render(&rewrite(&item[at + 1..], ctx, false)), Some(&ty)));
        out.push((name.clone(), ty, expr));
    }
    Stmt::Declare(out)
}

/// Index of the next non-space token at or after `i`.
fn next_sig(t: &[Tok], mut i: usize) -> Option<usize> {
    while i < t.len() {
        if !matches!(t[i], Tok::Space) {
            return Some(i);
        }
        i += 1;
    }
    None
}

/// The index of the `)` closing the `(` at `open`.
fn matching_paren(t: &[Tok], open: usize) -> Option<usize> {
    let mut depth = 0i32;
    for (k, tok) in t.iter().enumerate().skip(open) {
        match tok {
            Tok::Punct('(') => depth += 1,
            Tok::Punct(')') => {
                depth -= 1;
                if depth == 0 {
                    return Some(k);
                }
            }
            _ => {}
        }
    }
    None
}

/// The operand starting at or after `i`: an optional sign, then a
/// parenthesised group, a function call, a (dotted) name, a number, a
/// string or a variable. Returns its first index and the index after it.
fn operand(t: &[Tok], i: usize) -> Option<(usize, usize)> {
    let a = next_sig(t, i)?;
    let mut p = a;
    if matches!(t[p], Tok::Punct('-' | '+')) {
        p = next_sig(t, p + 1)?;
    }
    let end = match &t[p] {
        Tok::Punct('(') => matching_paren(t, p)? + 1,
        Tok::Word(_) | Tok::Quoted(_) => {
            let mut e = p + 1;
            loop {
                match next_sig(t, e).map(|n| (n, &t[n])) {
                    Some((n, Tok::Punct('('))) if matches!(t[e - 1], Tok::Word(_)) => {
                        e = matching_paren(t, n)? + 1;
                        break;
                    }
                    Some((d, Tok::Punct('.'))) => match next_sig(t, d + 1) {
                        Some(x) if matches!(t[x], Tok::Word(_) | Tok::Quoted(_)) => e = x + 1,
                        _ => break,
                    },
                    _ => break,
                }
            }
            e
        }
        Tok::Num(_) | Tok::Str(_) | Tok::Var(_) => p + 1,
        _ => return None,
    };
    Some((a, end))
}

/// `CAST(expr AS type)`, `CONVERT(type, expr [, style])` and their TRY_
/// forms → fakedc's `tsql_cast(expr, 'type')`, which fails as SQL Server
/// does (245, 8114, 8115, 241) where SQLite's CAST would not.
fn cast(t: &[Tok], i: usize, w: &str, ctx: &Ctx) -> Option<(Tok, usize)> {
    let open = next_sig(t, i + 1).filter(|&a| t[a] == Tok::Punct('('))?;
    let close = matching_paren(t, open)?;
    let inner = &t[open + 1..close];
    // Top-level positions of AS (CAST) or commas (CONVERT).
    let mut depth = 0i32;
    let mut cuts = Vec::new();
    for (k, tok) in inner.iter().enumerate() {
        match tok {
            Tok::Punct('(') => depth += 1,
            Tok::Punct(')') => depth -= 1,
            Tok::Punct(',') if depth == 0 && w.ends_with("CONVERT") => cuts.push(k),
            Tok::Word(x) if depth == 0 && w.ends_with("CAST") && x.eq_ignore_ascii_case("AS") => {
                cuts.push(k)
            }
            _ => {}
        }
    }
    let (expr, ty) = if w.ends_with("CAST") {
        let at = *cuts.last()?;
        (&inner[..at], &inner[at + 1..])
    } else {
        let first = *cuts.first()?;
        let second = cuts.get(1).copied().unwrap_or(inner.len());
        (&inner[first + 1..second], &inner[..first])
    };
    let ty = render(ty);
    if ty.is_empty() || ty.contains('\'') {
        return None;
    }
    let f = if w.starts_with("TRY_") {
        "tsql_try_cast"
    } else {
        "tsql_cast"
    };
    let expr = render(&rewrite(expr, ctx, false));
    Some((Tok::Raw(format!("{f}({expr}, '{ty}')")), close + 1))
}

/// A string literal converted to the type of the numeric literal `num`
/// (int, numeric beyond int or with a point, float with an exponent).
fn literal_as(text: &str, num: &str) -> String {
    let ty = if num.contains(['e', 'E']) {
        "float"
    } else if num.contains('.') {
        "numeric(38,10)"
    } else if num.parse::<i32>().is_ok() {
        "int"
    } else {
        "numeric(38,0)"
    };
    format!(
        "tsql_cast({}, '{ty}')",
        render(&[Tok::Str(text.to_string())])
    )
}

/// Skips `( )` after a function name; returns the index after `)`.
fn empty_call(t: &[Tok], i: usize) -> Option<usize> {
    let a = next_sig(t, i + 1)?;
    if t[a] != Tok::Punct('(') {
        return None;
    }
    let b = next_sig(t, a + 1)?;
    (t[b] == Tok::Punct(')')).then_some(b + 1)
}

fn rewrite(t: &[Tok], ctx: &Ctx, in_create: bool) -> Vec<Tok> {
    let mut out: Vec<Tok> = Vec::with_capacity(t.len());
    let mut limit: Option<String> = None;
    let mut depth = 0i32;
    let mut i = 0;
    while i < t.len() {
        let tok = &t[i];
        match tok {
            Tok::Punct('(') => depth += 1,
            Tok::Punct(')') => depth -= 1,
            _ => {}
        }
        // Catalog views: sys.* and INFORMATION_SCHEMA.* as subqueries.
        if let Tok::Word(w) | Tok::Quoted(w) = tok {
            let schema = w.to_ascii_uppercase();
            if schema == "SYS" || schema == "INFORMATION_SCHEMA" || schema == "FAKEDC" {
                let view = next_sig(t, i + 1)
                    .filter(|&d| t[d] == Tok::Punct('.'))
                    .and_then(|d| next_sig(t, d + 1))
                    .and_then(|n| match &t[n] {
                        Tok::Word(v) | Tok::Quoted(v) => {
                            catalog(&schema, &v.to_ascii_uppercase(), ctx).map(|sql| (sql, n))
                        }
                        _ => None,
                    });
                if let Some((sql, n)) = view {
                    out.push(Tok::Raw(sql));
                    i = n + 1;
                    continue;
                }
            }
        }
        // The `dbo.` schema (and `db.dbo.`): SQLite has one namespace.
        if matches!(tok, Tok::Word(w) | Tok::Quoted(w) if w.eq_ignore_ascii_case("dbo")) {
            if let Some(dot) = next_sig(t, i + 1).filter(|&d| t[d] == Tok::Punct('.')) {
                // Drop a database name before it too.
                if out.last() == Some(&Tok::Punct('.')) {
                    out.pop();
                    if matches!(out.last(), Some(Tok::Word(_) | Tok::Quoted(_))) {
                        out.pop();
                    }
                }
                i = dot + 1;
                continue;
            }
        }
        if let Some(w) = tok.word() {
            let fixed: Option<(Tok, usize)> = match w.as_str() {
                "TOP" if depth == 0
                    && out
                        .iter()
                        .rev()
                        .find(|x| !matches!(x, Tok::Space))
                        .is_some_and(|p| p.is_word("SELECT") || p.is_word("DISTINCT")) =>
                {
                    // TOP n | TOP (n) → LIMIT n at the end.
                    let a = next_sig(t, i + 1);
                    match a.map(|a| (a, &t[a])) {
                        Some((a, Tok::Num(n))) => {
                            limit = Some(n.clone());
                            i = a + 1;
                            continue;
                        }
                        Some((a, Tok::Punct('('))) => {
                            let b = next_sig(t, a + 1);
                            let c = b.and_then(|b| next_sig(t, b + 1));
                            if let (Some(b), Some(c)) = (b, c) {
                                if let (Tok::Num(n), Tok::Punct(')')) = (&t[b], &t[c]) {
                                    limit = Some(n.clone());
                                    i = c + 1;
                                    continue;
                                }
                            }
                            None
                        }
                        _ => None,
                    }
                }
                "ISNULL" => Some((Tok::Word("IFNULL".into()), i + 1)),
                "LEN" => Some((Tok::Word("length".into()), i + 1)),
                "SUBSTRING" => Some((Tok::Word("substr".into()), i + 1)),
                "COUNT_BIG" => Some((Tok::Word("count".into()), i + 1)),
                // SPACE(n): SQLite's printf repeats %c by its precision.
                "SPACE" => next_sig(t, i + 1)
                    .filter(|&a| t[a] == Tok::Punct('('))
                    .and_then(|a| matching_paren(t, a).map(|c| (a, c)))
                    .map(|(a, c)| {
                        let inner = render(&rewrite(&t[a + 1..c], ctx, in_create));
                        (Tok::Raw(format!("printf('%.*c', {inner}, ' ')")), c + 1)
                    }),
                "CURRENT_USER" if !in_create => Some((Tok::Str("dbo".into()), i + 1)),
                "CLUSTERED" | "NONCLUSTERED" => Some((Tok::Space, i + 1)),
                "GETDATE" | "SYSDATETIME" | "GETUTCDATE" | "SYSUTCDATETIME" | "CURRENT_TIMESTAMP" => {
                    let end = empty_call(t, i).unwrap_or(i + 1);
                    if in_create {
                        Some((Tok::Raw("(strftime('%Y-%m-%d %H:%M:%f','now'))".into()), end))
                    } else {
                        Some((Tok::Str(ctx.now.clone()), end))
                    }
                }
                "DB_NAME" => empty_call(t, i).map(|e| (Tok::Str(ctx.database.clone()), e)),
                "SUSER_SNAME" | "SUSER_NAME" | "USER_NAME" | "ORIGINAL_LOGIN" => {
                    empty_call(t, i).map(|e| (Tok::Str(ctx.user.clone()), e))
                }
                "SYSTEM_USER" | "SESSION_USER" => Some((Tok::Str(ctx.user.clone()), i + 1)),
                "SCOPE_IDENTITY" => empty_call(t, i).map(|e| (Tok::Raw("last_insert_rowid()".into()), e)),
                "NEWID" => empty_call(t, i).map(|e| {
                    (
                        Tok::Raw("upper(substr(hex(randomblob(16)),1,8)||'-'||substr(hex(randomblob(2)),1,4)||'-4'||substr(hex(randomblob(2)),2,3)||'-A'||substr(hex(randomblob(2)),2,3)||'-'||hex(randomblob(6)))".into()),
                        e,
                    )
                }),
                "SERVERPROPERTY" => serverproperty(t, i, ctx),
                "CAST" | "TRY_CAST" | "CONVERT" | "TRY_CONVERT" if !in_create => {
                    cast(t, i, &w, ctx)
                }
                "MAX" if out.last() == Some(&Tok::Punct('(')) && in_create => {
                    Some((Tok::Num("-1".into()), i + 1))
                }
                _ => None,
            };
            if let Some((tok, next)) = fixed {
                out.push(tok);
                i = next;
                continue;
            }
        }
        // Arithmetic between a string literal and a number converts the
        // string to the number's type (T-SQL's type precedence), failing
        // as SQL Server does: `1 + 'abc'` is 245, `1.5 * 'x'` 8114, and
        // `1 + '2'` is 3 (not concatenation).
        if matches!(tok, Tok::Punct('+' | '-' | '*' | '/' | '%')) && !in_create {
            let b = out.iter().rposition(|x| !matches!(x, Tok::Space));
            let a = next_sig(t, i + 1);
            let fixed = match (b.map(|b| (b, &out[b])), a.map(|a| (a, &t[a]))) {
                (Some((b, Tok::Str(s))), Some((_, Tok::Num(n)))) => {
                    Some((b, Tok::Raw(literal_as(s, n)), None))
                }
                (Some((_, Tok::Num(n))), Some((a, Tok::Str(s))))
                    if matches!(tok, Tok::Punct('+' | '-' | '*')) =>
                {
                    Some((out.len(), Tok::Raw(literal_as(s, n)), Some(a)))
                }
                _ => None,
            };
            match fixed {
                // The string before the operator, converted in place.
                Some((b, lit, None)) => out[b] = lit,
                // The string after it: the operator, then the string.
                Some((_, lit, Some(a))) => {
                    out.push(tok.clone());
                    out.push(lit);
                    i = a + 1;
                    continue;
                }
                None => {}
            }
        }
        // Division and modulo by zero fail in T-SQL (8134); SQLite gives
        // NULL, so the divisor goes through tsql_nz().
        if matches!(tok, Tok::Punct('/' | '%')) && !in_create {
            if let Some((a, end)) = operand(t, i + 1) {
                out.push(tok.clone());
                let inner = render(&rewrite(&t[a..end], ctx, in_create));
                out.push(Tok::Raw(format!("tsql_nz({inner})")));
                i = end;
                continue;
            }
        }
        // `+` between strings is concatenation in T-SQL, `||` in SQLite:
        // decided when either side is a string literal.
        if *tok == Tok::Punct('+') {
            let before = out.iter().rev().find(|x| !matches!(x, Tok::Space));
            let after = next_sig(t, i + 1).map(|a| &t[a]);
            let stringy_before = match before {
                Some(Tok::Str(_)) => true,
                Some(Tok::Raw(r)) => r.starts_with("printf("),
                _ => false,
            };
            let stringy_after = match after {
                Some(Tok::Str(_)) => true,
                Some(w @ Tok::Word(_)) => ["SYSTEM_USER", "SESSION_USER", "CURRENT_USER", "SPACE"]
                    .iter()
                    .any(|k| w.is_word(k)),
                _ => false,
            };
            if stringy_before || stringy_after {
                out.push(Tok::Raw("||".into()));
                i += 1;
                continue;
            }
        }
        match tok {
            Tok::Var(v) if ctx.table_vars.iter().any(|n| n.eq_ignore_ascii_case(v)) => {
                out.push(Tok::Raw(table_var(v)));
            }
            Tok::Var(v) if v.starts_with("@@") => {
                let up = v.to_ascii_uppercase();
                out.push(match up.as_str() {
                    "@@VERSION" => Tok::Str(VERSION_STRING.into()),
                    "@@SPID" => Tok::Num(ctx.spid.to_string()),
                    "@@SERVERNAME" => Tok::Str(ctx.server.clone()),
                    "@@SERVICENAME" => Tok::Str("MSSQLSERVER".into()),
                    "@@IDENTITY" => Tok::Raw("last_insert_rowid()".into()),
                    "@@ROWCOUNT" => Tok::Raw("changes()".into()),
                    "@@TRANCOUNT" => Tok::Num(ctx.trancount.to_string()),
                    "@@ERROR" | "@@OPTIONS" => Tok::Num("0".into()),
                    "@@LANGUAGE" => Tok::Str("us_english".into()),
                    "@@MAX_PRECISION" => Tok::Num("38".into()),
                    "@@TEXTSIZE" => Tok::Num("2147483647".into()),
                    "@@DATEFIRST" => Tok::Num("7".into()),
                    "@@LOCK_TIMEOUT" => Tok::Num("-1".into()),
                    _ => Tok::Raw("NULL".into()),
                });
            }
            other => out.push(other.clone()),
        }
        i += 1;
    }
    if let Some(n) = limit {
        out.push(Tok::Raw(format!(" LIMIT {n}")));
    }
    out
}

const USER_TABLES: &str =
    "FROM sqlite_master m WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'";

/// The catalog views fakedc answers, as SQLite subqueries over
/// `sqlite_master` and `pragma_table_info`.
/// SQL Server 2019's `sys.types` (system types): name, system_type_id,
/// user_type_id, max_length, precision, scale, has a collation, nullable.
type SysType = (&'static str, u8, u16, i16, u8, u8, bool, bool);
const SYS_TYPES: &[SysType] = &[
    ("image", 34, 34, 16, 0, 0, false, true),
    ("text", 35, 35, 16, 0, 0, true, true),
    ("uniqueidentifier", 36, 36, 16, 0, 0, false, true),
    ("date", 40, 40, 3, 10, 0, false, true),
    ("time", 41, 41, 5, 16, 7, false, true),
    ("datetime2", 42, 42, 8, 27, 7, false, true),
    ("datetimeoffset", 43, 43, 10, 34, 7, false, true),
    ("tinyint", 48, 48, 1, 3, 0, false, true),
    ("smallint", 52, 52, 2, 5, 0, false, true),
    ("int", 56, 56, 4, 10, 0, false, true),
    ("smalldatetime", 58, 58, 4, 16, 0, false, true),
    ("real", 59, 59, 4, 24, 0, false, true),
    ("money", 60, 60, 8, 19, 4, false, true),
    ("datetime", 61, 61, 8, 23, 3, false, true),
    ("float", 62, 62, 8, 53, 0, false, true),
    ("sql_variant", 98, 98, 8016, 0, 0, false, true),
    ("ntext", 99, 99, 16, 0, 0, true, true),
    ("bit", 104, 104, 1, 1, 0, false, true),
    ("decimal", 106, 106, 17, 38, 38, false, true),
    ("numeric", 108, 108, 17, 38, 38, false, true),
    ("smallmoney", 122, 122, 4, 10, 4, false, true),
    ("bigint", 127, 127, 8, 19, 0, false, true),
    ("hierarchyid", 240, 128, 892, 0, 0, false, true),
    ("geometry", 240, 129, -1, 0, 0, false, true),
    ("geography", 240, 130, -1, 0, 0, false, true),
    ("varbinary", 165, 165, 8000, 0, 0, false, true),
    ("varchar", 167, 167, 8000, 0, 0, true, true),
    ("binary", 173, 173, 8000, 0, 0, false, true),
    ("char", 175, 175, 8000, 0, 0, true, true),
    ("timestamp", 189, 189, 8, 0, 0, false, false),
    ("nvarchar", 231, 231, 8000, 0, 0, true, true),
    ("nchar", 239, 239, 8000, 0, 0, true, true),
    ("xml", 241, 241, -1, 0, 0, false, true),
    ("sysname", 231, 256, 256, 0, 0, true, false),
];

/// A column's declared base type in lower case (`integer`, an IDENTITY
/// column's SQLite type, as `int`), from `pragma_table_info` row `p`.
const BASE_TYPE: &str = "CASE lower(trim(CASE WHEN instr(p.type, '(') > 0 THEN substr(p.type, 1, instr(p.type, '(') - 1) ELSE p.type END)) WHEN 'integer' THEN 'int' ELSE lower(trim(CASE WHEN instr(p.type, '(') > 0 THEN substr(p.type, 1, instr(p.type, '(') - 1) ELSE p.type END)) END";

/// `sys.types` as a subquery.
fn sys_types() -> String {
    let rows: Vec<String> = SYS_TYPES
        .iter()
        .map(|(name, sys, user, len, prec, scale, coll, null)| {
            let coll = if *coll { "'SQL_Latin1_General_CP1_CI_AS'" } else { "NULL" };
            format!(
                "SELECT '{name}', {sys}, {user}, 4, 1, {len}, {prec}, {scale}, {coll}, {}, 0, 0, 0, 0",
                u8::from(*null)
            )
        })
        .collect();
    format!(
        "(SELECT column1 AS name, column2 AS system_type_id, column3 AS user_type_id, column4 AS schema_id, column5 AS principal_id, column6 AS max_length, column7 AS precision, column8 AS scale, column9 AS collation_name, column10 AS is_nullable, column11 AS is_user_defined, column12 AS is_assembly_type, column13 AS default_object_id, column14 AS rule_object_id FROM (SELECT NULL AS column1, NULL AS column2, NULL AS column3, NULL AS column4, NULL AS column5, NULL AS column6, NULL AS column7, NULL AS column8, NULL AS column9, NULL AS column10, NULL AS column11, NULL AS column12, NULL AS column13, NULL AS column14 WHERE 0 UNION ALL {}))",
        rows.join(" UNION ALL ")
    )
}

/// `sys.columns`' system_type_id and user_type_id from a declared type.
fn type_ids() -> (String, String) {
    let (mut sys, mut user) = (format!("CASE {BASE_TYPE}"), format!("CASE {BASE_TYPE}"));
    for (name, s, u, ..) in SYS_TYPES {
        sys.push_str(&format!(" WHEN '{name}' THEN {s}"));
        user.push_str(&format!(" WHEN '{name}' THEN {u}"));
    }
    // Types SQLite accepts and SQL Server does not name read back as nvarchar.
    sys.push_str(" ELSE 231 END");
    user.push_str(" ELSE 231 END");
    (sys, user)
}

fn catalog(schema: &str, view: &str, ctx: &Ctx) -> Option<String> {
    if schema == "FAKEDC" {
        let live = ctx.live.as_ref()?;
        return (live.0)(&view.to_ascii_lowercase()).map(|t| live_subquery(&t));
    }
    let db = ctx.database.replace('\'', "''");
    Some(match (schema, view) {
        ("SYS", "DATABASES") => {
            let rows: Vec<String> = ctx
                .databases
                .iter()
                .enumerate()
                .map(|(k, n)| format!("SELECT '{}', {}", n.replace('\'', "''"), k + 1))
                .collect();
            format!(
                "(SELECT column1 AS name, column2 AS database_id, 'SQL_Latin1_General_CP1_CI_AS' AS collation_name, 0 AS state, 'ONLINE' AS state_desc FROM (SELECT 'master' AS column1, 0 AS column2 WHERE 0 UNION ALL {}))",
                rows.join(" UNION ALL ")
            )
        }
        ("SYS", "TABLES") | ("SYS", "OBJECTS") => format!(
            "(SELECT m.name AS name, m.rowid AS object_id, 1 AS schema_id, 'U' AS type, 'USER_TABLE' AS type_desc {USER_TABLES})"
        ),
        ("SYS", "SCHEMAS") => "(SELECT 'dbo' AS name, 1 AS schema_id, 1 AS principal_id UNION ALL SELECT 'INFORMATION_SCHEMA', 3, 3 UNION ALL SELECT 'sys', 4, 4)".into(),
        ("SYS", "COLUMNS") => {
            let (sys, user) = type_ids();
            format!(
                "(SELECT m.rowid AS object_id, p.name AS name, p.cid + 1 AS column_id, {sys} AS system_type_id, {user} AS user_type_id, CASE WHEN p.\"notnull\" OR p.pk THEN 0 ELSE 1 END AS is_nullable {USER_TABLES_P})",
                USER_TABLES_P = "FROM sqlite_master m, pragma_table_info(m.name) p WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'"
            )
        }
        ("SYS", "TYPES") => sys_types(),
        ("INFORMATION_SCHEMA", "TABLES") => format!(
            "(SELECT '{db}' AS TABLE_CATALOG, 'dbo' AS TABLE_SCHEMA, m.name AS TABLE_NAME, 'BASE TABLE' AS TABLE_TYPE {USER_TABLES})"
        ),
        ("INFORMATION_SCHEMA", "COLUMNS") => format!(
            "(SELECT '{db}' AS TABLE_CATALOG, 'dbo' AS TABLE_SCHEMA, m.name AS TABLE_NAME, p.name AS COLUMN_NAME, p.cid + 1 AS ORDINAL_POSITION, CASE WHEN p.\"notnull\" OR p.pk THEN 'NO' ELSE 'YES' END AS IS_NULLABLE, CASE lower(trim(CASE WHEN instr(p.type, '(') > 0 THEN substr(p.type, 1, instr(p.type, '(') - 1) ELSE p.type END)) WHEN 'integer' THEN 'int' ELSE lower(trim(CASE WHEN instr(p.type, '(') > 0 THEN substr(p.type, 1, instr(p.type, '(') - 1) ELSE p.type END)) END AS DATA_TYPE, CASE WHEN instr(p.type, '(') > 0 AND instr(upper(p.type), 'CHAR') > 0 THEN CAST(substr(p.type, instr(p.type, '(') + 1) AS INTEGER) END AS CHARACTER_MAXIMUM_LENGTH FROM sqlite_master m, pragma_table_info(m.name) p WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%')"
        ),
        _ => return None,
    })
}

fn serverproperty(t: &[Tok], i: usize, ctx: &Ctx) -> Option<(Tok, usize)> {
    let a = next_sig(t, i + 1)?;
    let b = next_sig(t, a + 1)?;
    let c = next_sig(t, b + 1)?;
    let (Tok::Punct('('), Tok::Str(name), Tok::Punct(')')) = (&t[a], &t[b], &t[c]) else {
        return None;
    };
    let v = match name.to_ascii_lowercase().as_str() {
        "productversion" => Tok::Str("15.0.2000.5".into()),
        "productlevel" => Tok::Str("RTM".into()),
        "edition" => Tok::Str("Developer Edition (64-bit)".into()),
        "engineedition" => Tok::Num("3".into()),
        "servername" | "machinename" => Tok::Str(ctx.server.clone()),
        "instancename" => Tok::Raw("NULL".into()),
        "collation" => Tok::Str("SQL_Latin1_General_CP1_CI_AS".into()),
        "isclustered" | "isfulltextinstalled" | "ishadrenabled" => Tok::Num("0".into()),
        "isintegratedsecurityonly" => Tok::Num("0".into()),
        _ => Tok::Raw("NULL".into()),
    };
    Some((v, c + 1))
}

/// CREATE TABLE: an `IDENTITY` column becomes SQLite's
/// `INTEGER PRIMARY KEY AUTOINCREMENT` (a primary key constraint naming
/// it alone is dropped); the rest goes through [`rewrite`].
/// A column of a type values convert to on INSERT and UPDATE gets a
/// CHECK calling `tsql_implicit`, which fails as SQL Server's implicit
/// conversion does (245 for 'abc' into an int, 8114 for a decimal or
/// float, 241 for a date, 8115 for an int out of range): SQLite would
/// store the text as it is. `None` for other items (constraints, text
/// columns, computed columns).
fn implicit_check(sig: &[&Tok]) -> Option<String> {
    let col = match sig.first()? {
        Tok::Word(w)
            if [
                "CONSTRAINT",
                "PRIMARY",
                "UNIQUE",
                "FOREIGN",
                "CHECK",
                "INDEX",
                "KEY",
            ]
            .iter()
            .any(|k| w.eq_ignore_ascii_case(k)) =>
        {
            return None
        }
        t @ (Tok::Word(_) | Tok::Quoted(_)) => render(&[(*t).clone()]),
        _ => return None,
    };
    let Tok::Word(base) = sig.get(1)? else {
        return None;
    };
    let mut ty = base.clone();
    if sig.get(2) == Some(&&Tok::Punct('(')) {
        let close = sig.iter().position(|t| **t == Tok::Punct(')'))?;
        ty.push_str(&render(
            &sig[2..=close]
                .iter()
                .map(|t| (*t).clone())
                .collect::<Vec<_>>(),
        ));
    }
    if !converts(&ty) || ty.contains('\'') {
        return None;
    }
    Some(format!("CHECK (tsql_implicit({col}, '{ty}'))"))
}

fn create_table(stmt: &[Tok], ctx: &Ctx) -> Vec<Tok> {
    let Some(open) = stmt.iter().position(|t| *t == Tok::Punct('(')) else {
        return rewrite(stmt, ctx, true);
    };
    // The items of the outer parenthesis, split at depth-1 commas.
    let mut items: Vec<Vec<Tok>> = vec![Vec::new()];
    let mut depth = 1;
    let mut close = stmt.len();
    for (k, t) in stmt.iter().enumerate().skip(open + 1) {
        match t {
            Tok::Punct('(') => depth += 1,
            Tok::Punct(')') => {
                depth -= 1;
                if depth == 0 {
                    close = k;
                    break;
                }
            }
            Tok::Punct(',') if depth == 1 => {
                items.push(Vec::new());
                continue;
            }
            _ => {}
        }
        if let Some(last) = items.last_mut() {
            last.push(t.clone());
        }
    }
    let mut identity_col: Option<String> = None;
    let mut new_items: Vec<Vec<Tok>> = Vec::new();
    for item in &items {
        let sig: Vec<&Tok> = item.iter().filter(|t| !matches!(t, Tok::Space)).collect();
        if sig.iter().any(|t| t.is_word("IDENTITY")) && identity_col.is_none() {
            let name = sig
                .first()
                .map(|t| (*t).clone())
                .unwrap_or(Tok::Word("id".into()));
            if let Tok::Word(n) | Tok::Quoted(n) = &name {
                identity_col = Some(n.clone());
            }
            let mut rebuilt = vec![name, Tok::Raw(" INTEGER PRIMARY KEY AUTOINCREMENT".into())];
            // Keep NOT NULL and the like; drop the type, IDENTITY(...), PRIMARY KEY.
            let mut k = 2;
            // Skip the type's (n) if any.
            if sig.get(2) == Some(&&Tok::Punct('(')) {
                while k < sig.len() && *sig[k] != Tok::Punct(')') {
                    k += 1;
                }
                k += 1;
            }
            while k < sig.len() {
                let t = sig[k];
                if t.is_word("IDENTITY") {
                    if sig.get(k + 1) == Some(&&Tok::Punct('(')) {
                        while k < sig.len() && *sig[k] != Tok::Punct(')') {
                            k += 1;
                        }
                    }
                    k += 1;
                    continue;
                }
                if t.is_word("PRIMARY") && sig.get(k + 1).is_some_and(|x| x.is_word("KEY")) {
                    k += 2;
                    continue;
                }
                if t.is_word("CLUSTERED") || t.is_word("NONCLUSTERED") {
                    k += 1;
                    continue;
                }
                rebuilt.push(Tok::Space);
                rebuilt.push(t.clone());
                k += 1;
            }
            new_items.push(rebuilt);
        } else {
            let mut item = item.clone();
            if let Some(check) = implicit_check(&sig) {
                item.push(Tok::Space);
                item.push(Tok::Raw(check));
            }
            new_items.push(item);
        }
    }
    if let Some(col) = &identity_col {
        // A table-level PRIMARY KEY on the identity column alone is now redundant.
        new_items.retain(|item| {
            let sig: Vec<&Tok> = item.iter().filter(|t| !matches!(t, Tok::Space)).collect();
            let pk = sig.windows(2).any(|w| w[0].is_word("PRIMARY") && w[1].is_word("KEY"));
            let starts_col = matches!(sig.first(), Some(Tok::Word(w)) if !w.eq_ignore_ascii_case("CONSTRAINT") && !w.eq_ignore_ascii_case("PRIMARY"));
            if !pk || starts_col {
                return true;
            }
            let names: Vec<&String> = sig
                .iter()
                .skip_while(|t| !t.is_word("KEY"))
                .filter_map(|t| match t {
                    Tok::Word(w) | Tok::Quoted(w)
                        if !["KEY", "CLUSTERED", "NONCLUSTERED", "ASC", "DESC"]
                            .iter()
                            .any(|k| w.eq_ignore_ascii_case(k)) =>
                    {
                        Some(w)
                    }
                    _ => None,
                })
                .collect();
            !(names.len() == 1 && names[0].eq_ignore_ascii_case(col))
        });
    }
    let mut out: Vec<Tok> = stmt[..=open].to_vec();
    for (k, item) in new_items.iter().enumerate() {
        if k > 0 {
            out.push(Tok::Punct(','));
        }
        out.extend(item.iter().cloned());
    }
    out.extend(stmt.get(close..).unwrap_or(&[]).iter().cloned());
    rewrite(&out, ctx, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> Ctx {
        Ctx {
            spid: 52,
            user: "sa".into(),
            server: "SQL01".into(),
            database: "master".into(),
            now: "2026-01-02 03:04:05.000".into(),
            databases: vec!["master".into(), "app".into()],
            trancount: 0,
            live: None,
            table_vars: Vec::new(),
            var_types: Vec::new(),
        }
    }

    fn one(sql: &str) -> Stmt {
        let stmts = split(tokenize(sql));
        assert_eq!(stmts.len(), 1, "{sql}: {stmts:?}");
        classify(&stmts[0], &ctx())
    }

    #[test]
    fn rewrites_common_forms() {
        assert_eq!(
            one("SELECT TOP 5 [name] FROM [dbo].[t] WHERE n = N'x'"),
            Stmt::Sql(
                "SELECT \"name\" FROM \"t\" WHERE n = 'x' LIMIT 5".into(),
                0xC1
            )
        );
        assert_eq!(
            one("select top (2) ISNULL(a, 0) from master.dbo.t"),
            Stmt::Sql("select IFNULL(a, 0) from t LIMIT 2".into(), 0xC1)
        );
        assert_eq!(
            one("SELECT @@SPID, DB_NAME()"),
            Stmt::Sql("SELECT 52, 'master'".into(), 0xC1)
        );
        assert_eq!(one("SET ANSI_NULLS ON"), Stmt::Done);
        // impacket's first statement.
        assert_eq!(
            one("select system_user + SPACE(2) + current_user as \"username\""),
            Stmt::Sql(
                "select 'sa' || printf('%.*c', 2, ' ') || 'dbo' as \"username\"".into(),
                0xC1
            )
        );
        assert_eq!(
            one("use [VirtualManagerDB]"),
            Stmt::Use("VirtualManagerDB".into())
        );
    }

    #[test]
    fn identity_columns() {
        let Stmt::Sql(s, _) = one(
            "CREATE TABLE dbo.t (id INT IDENTITY(1,1) NOT NULL, name NVARCHAR(MAX), CONSTRAINT pk PRIMARY KEY CLUSTERED (id))",
        ) else {
            panic!("not sql");
        };
        assert_eq!(
            s,
            "CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, name NVARCHAR(-1))"
        );
    }

    #[test]
    fn batches_split_without_semicolons() {
        let b = "set ansi_nulls on\nset quoted_identifier on\nINSERT INTO t SELECT 1 UNION SELECT 2\nUPDATE t SET a = 1 WHERE b IN (SELECT c FROM d) SELECT 1";
        assert_eq!(split(tokenize(b)).len(), 5);
        assert_eq!(split(tokenize("SELECT 1; SELECT 2;;")).len(), 2);
        assert_eq!(
            split(tokenize("DROP TABLE IF EXISTS t CREATE TABLE t (a INT)")).len(),
            2
        );
    }
}
