//! One connection's state after PRELOGIN: LOGIN7 → the login response,
//! then SQLBatch, RPC sp_executesql, Transaction Manager requests and
//! Attention → token streams. Sans-IO: bytes in, bytes out, time passed
//! in as text.

use crate::engine::{Database, Engine, Output, Ran, SqlError};
use crate::login7::{self, Login7};
use crate::token::{self, Message, SqlType, Tokens, Value};
use crate::translate::{self, Ctx, Node, Stmt};
use crate::TdsError;
use fakedc_wire::Reader;
use std::collections::HashMap;
use std::sync::Arc;

/// Parameters one RPC may carry (SQL Server's limit).
const MAX_PARAMS: usize = 2100;
/// Prepared statements one session may hold, and their text in bytes.
const MAX_PREPARED: usize = 65_536;
const MAX_PREPARED_BYTES: usize = 64 << 20;
/// Bytes of tokens one request's reply may grow to.
const MAX_REPLY: usize = 512 << 20;
/// Slow SELECTs one session remembers ([`Session::batch_inline`]).
const MAX_SLOW: usize = 256;
const MAX_SLOW_TEXT: usize = 4096;
/// Savepoints one transaction may hold.
const MAX_SAVEPOINTS: usize = 1_000;

/// A statement sp_prepare or sp_prepexec kept: its text and declared
/// parameters (name, type) in order.
#[derive(Clone)]
struct Prepared {
    sql: String,
    decl: Vec<(String, String)>,
}

fn out_of_memory() -> SqlError {
    SqlError::new(
        701,
        1,
        17,
        "There is insufficient system memory in resource pool 'default' to run this query.",
    )
}

fn unknown_handle(h: Option<i32>) -> SqlError {
    SqlError::new(
        8179,
        4,
        16,
        format!(
            "Could not find prepared statement with handle {}.",
            h.unwrap_or(0)
        ),
    )
}

/// `@P1 int, @P2 nvarchar(10) OUTPUT` → [("@P1", "int"), ("@P2",
/// "nvarchar(10)")]: the names positional values bind to, and the types
/// OUTPUT values are returned as.
fn parse_decl(decl: &str) -> Vec<(String, String)> {
    let mut items = Vec::new();
    let mut depth = 0i32;
    let mut cur = String::new();
    for c in decl.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth <= 0 => {
                items.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    items.push(cur);
    items
        .iter()
        .filter_map(|item| {
            let item = item.trim();
            let (name, rest) = item.split_once(char::is_whitespace)?;
            if !name.starts_with('@') {
                return None;
            }
            let mut ty = rest.trim().to_string();
            for kw in [" OUTPUT", " OUT", " READONLY"] {
                if ty.to_ascii_uppercase().ends_with(kw) {
                    ty.truncate(ty.len() - kw.len());
                }
            }
            Some((name.to_string(), ty.trim().to_string()))
        })
        .collect()
}

/// Values to variables: named ones by their name, unnamed ones by their
/// position in the declaration.
fn bind(decl: &[(String, String)], params: &[(String, u8, Value)]) -> Vec<(String, Value)> {
    params
        .iter()
        .enumerate()
        .filter_map(|(k, (name, _, v))| {
            let name = if name.is_empty() {
                decl.get(k)?.0.clone()
            } else {
                name.clone()
            };
            Some((name, v.clone()))
        })
        .collect()
}

/// How a block ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    Normal,
    Break,
    Continue,
}

/// What a login came to.
pub enum LoginOutcome {
    Ok(Box<Session>),
    /// The error reply; the connection closes after it.
    Failed {
        reply: Vec<u8>,
        number: i32,
    },
}

pub struct Session {
    engine: Arc<Engine>,
    pub ctx: Ctx,
    pub v71: bool,
    pub nocount: bool,
    /// SET XACT_ABORT ON: every runtime error ends the batch and rolls
    /// the transaction back.
    xact_abort: bool,
    /// SET ARITHABORT ON: arithmetic errors (8134, 8115) end the batch
    /// instead of only their statement.
    arithabort: bool,
    /// The first error of the batch running (a batch goes on after a
    /// statement-terminating error; its journal entry names the first).
    first_error: Option<i32>,
    pub packet_size: usize,
    login_database: String,
    /// This session's own SQLite connections, one per database it has
    /// used (keyed in lower case): its transactions are its own, and they
    /// roll back when the session is dropped.
    dbs: HashMap<String, Database>,
    /// The open transaction's descriptor (ENVCHANGE 8); `ctx.trancount`
    /// counts its nested BEGIN TRANs.
    txn: Option<u64>,
    next_txn: u64,
    /// SAVE TRAN names of the open transaction, oldest first.
    savepoints: Vec<String>,
    /// Set by the service when an Attention arrives: loops and statement
    /// sequences stop (SQLite's own interrupt stops a running statement).
    pub cancel: Arc<std::sync::atomic::AtomicBool>,
    /// sp_prepare/sp_prepexec handles of this session.
    prepared: HashMap<i32, Prepared>,
    next_handle: i32,
    /// A reply made and not yet sent (the login response).
    pending: Vec<u8>,
    /// SELECTs that ran out of the in-place budget: drivers repeat their
    /// statements, and these go straight to the blocking pool next time.
    slow: std::collections::HashSet<String>,
    /// The running batch's table variables: the database (key of
    /// `dbs`) whose connection holds each one's TEMP table.
    table_var_dbs: Vec<(String, String)>,
}

fn redeclared(name: &str) -> SqlError {
    SqlError::new(
        134,
        1,
        15,
        format!("The variable name '{name}' has already been declared. Variable names must be unique within a query batch or stored procedure."),
    )
}

fn msg<'a>(number: i32, state: u8, class: u8, text: &'a str, server: &'a str) -> Message<'a> {
    Message {
        number,
        state,
        class,
        text,
        server,
        proc_name: "",
        line: 1,
    }
}

/// Who a login is, when the service has already decided it.
pub enum Identity {
    /// A SQL login: LOGIN7's user name and password, checked by `auth`.
    Sql,
    /// A Windows login the SSPI exchange authenticated (`MACHINE\user`),
    /// with SPNEGO's final token to send before LOGINACK (none for raw
    /// NTLMSSP).
    Windows {
        name: String,
        final_token: Option<Vec<u8>>,
    },
    /// The SSPI exchange failed: 18452.
    Untrusted,
}

/// The 18452 reply for a refused Windows login.
pub fn untrusted_reply(v71: bool, server: &str) -> Vec<u8> {
    let mut t = Tokens::new(v71);
    t.error(&msg(
        18452,
        1,
        14,
        "Login failed. The login is from an untrusted domain and cannot be used with Integrated authentication.",
        server,
    ));
    t.done(token::DONE, token::DONE_ERROR, 0, 0);
    t.into_vec()
}

/// The SSPI token (0xED) carrying an NTLM CHALLENGE during login.
pub fn sspi_reply(v71: bool, challenge: &[u8]) -> Vec<u8> {
    let mut t = Tokens::new(v71);
    t.sspi(challenge);
    t.into_vec()
}

/// Checks a login against the user table: `auth(name, password)` returns
/// the account's canonical name (SQL logins); a Windows login arrives
/// already authenticated ([`Identity::Windows`]).
pub fn login(
    engine: Arc<Engine>,
    l: &Login7,
    identity: Identity,
    auth: impl Fn(&str, &str) -> Option<String>,
    spid: u16,
    server: &str,
) -> LoginOutcome {
    let (version, v71) = login7::agreed_version(l.tds_version);
    let fail = |number: i32, text: &str, extra: Option<(i32, u8, &str)>| {
        let mut t = Tokens::new(v71);
        if let Some((n, class, x)) = extra {
            t.error(&msg(n, 1, class, x, server));
        }
        t.error(&msg(number, 1, 14, text, server));
        t.done(token::DONE, token::DONE_ERROR, 0, 0);
        LoginOutcome::Failed {
            reply: t.into_vec(),
            number: extra.map_or(number, |e| e.0),
        }
    };
    let (user, final_token) = match identity {
        Identity::Windows { name, final_token } => (name, final_token),
        Identity::Untrusted => {
            return LoginOutcome::Failed {
                reply: untrusted_reply(v71, server),
                number: 18452,
            }
        }
        Identity::Sql if l.option_flags2 & login7::OPTION2_INTEGRATED != 0 => {
            return LoginOutcome::Failed {
                reply: untrusted_reply(v71, server),
                number: 18452,
            }
        }
        Identity::Sql => match auth(&l.username, &l.password) {
            Some(u) => (u, None),
            None => {
                let failed = format!("Login failed for user '{}'.", l.username);
                return fail(18456, &failed, None);
            }
        },
    };
    let failed = format!("Login failed for user '{user}'.");
    let wanted = if l.database.is_empty() {
        "master"
    } else {
        l.database.as_str()
    };
    let db = match engine.open(wanted) {
        Some(Ok(db)) => db,
        Some(Err(e)) => return fail(18456, &failed, Some((e.number, e.class, &e.text))),
        None => {
            let text = format!(
                "Cannot open database \"{wanted}\" requested by the login. The login failed."
            );
            return fail(18456, &failed, Some((4060, 11, &text)));
        }
    };
    let packet_size = match l.packet_size {
        0 => crate::packet::DEFAULT_PACKET_SIZE,
        n => (n as usize).clamp(
            crate::packet::MIN_PACKET_SIZE,
            crate::packet::MAX_PACKET_SIZE,
        ),
    };
    let mut t = Tokens::new(v71);
    if let Some(ft) = &final_token {
        t.sspi(ft);
    }
    t.env_string(token::ENV_DATABASE, &db.name, "master");
    let text = format!("Changed database context to '{}'.", db.name);
    t.info(&msg(5701, 2, 0, &text, server));
    t.env_bytes(token::ENV_COLLATION, &token::COLLATION, &[]);
    t.env_string(token::ENV_LANGUAGE, "us_english", "");
    t.info(&msg(
        5703,
        1,
        0,
        "Changed language setting to us_english.",
        server,
    ));
    t.loginack(version);
    t.env_string(token::ENV_PACKET_SIZE, &packet_size.to_string(), "4096");
    if !v71 && l.option_flags3 & login7::OPTION3_EXTENSION != 0 {
        t.feature_ext_ack_none();
    }
    t.done(token::DONE, token::DONE_FINAL, 0, 0);
    let session = Session {
        engine,
        ctx: Ctx {
            spid,
            user,
            server: server.to_string(),
            database: db.name.clone(),
            now: String::new(),
            databases: Vec::new(),
            trancount: 0,
            live: None,
            table_vars: Vec::new(),
            var_types: Vec::new(),
        },
        v71,
        nocount: false,
        xact_abort: false,
        arithabort: false,
        first_error: None,
        packet_size,
        login_database: db.name.clone(),
        dbs: HashMap::new(),
        txn: None,
        next_txn: 1,
        savepoints: Vec::new(),
        cancel: Arc::default(),
        prepared: HashMap::new(),
        next_handle: 1,
        pending: t.into_vec(),
        table_var_dbs: Vec::new(),
        slow: Default::default(),
    };
    let mut session = session;
    session.dbs.insert(db.name.to_ascii_lowercase(), db);
    LoginOutcome::Ok(Box::new(session))
}

/// ALL_HEADERS (7.2+) before a request's body: skipped after checking
/// its length.
fn skip_all_headers<'a>(r: &mut Reader<'a>, v71: bool) -> Result<(), TdsError> {
    if v71 {
        // 7.1 clients send none; a 7.2 driver that said 7.1 might.
        let Ok(total) = Reader::new(r.peek_rest()).u32_le() else {
            return Ok(());
        };
        if !(4..=r.remaining() as u32).contains(&total) || total > 1024 {
            return Ok(());
        }
        r.skip(total as usize)?;
        return Ok(());
    }
    let total = r.u32_le()? as usize;
    if total < 4 {
        return Err(TdsError::Protocol(
            "ALL_HEADERS shorter than its length".into(),
        ));
    }
    r.skip(total - 4)?;
    Ok(())
}

/// The text of an SQLBatch payload.
pub fn batch_text(payload: &[u8], v71: bool) -> Result<String, TdsError> {
    let mut r = Reader::new(payload);
    skip_all_headers(&mut r, v71)?;
    let units = r.remaining() / 2;
    Ok(r.utf16le_lossy(units)?)
}

impl Session {
    /// The last reply made and not yet taken (the login response).
    pub fn take_pending(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.pending)
    }

    pub fn attention(&self) -> Vec<u8> {
        let mut t = Tokens::new(self.v71);
        t.done(token::DONE, token::DONE_ATTN, 0, 0);
        t.into_vec()
    }

    /// An error reply for a whole request (a fault, an unsupported request).
    pub fn error_reply(&self, e: &SqlError, done_token: u8) -> Vec<u8> {
        let mut t = Tokens::new(self.v71);
        self.error(&mut t, e);
        t.done(done_token, token::DONE_ERROR, 0, 0);
        t.into_vec()
    }

    fn error(&self, t: &mut Tokens, e: &SqlError) {
        t.error(&Message {
            number: e.number,
            state: e.state,
            class: e.class,
            text: &e.text,
            server: &self.ctx.server,
            proc_name: "",
            line: 1,
        });
    }

    /// RESETCONNECTION: back to the login's state, and ENVCHANGE 18; an
    /// open transaction is rolled back unless the client asked to keep it
    /// (RESETCONNECTIONSKIPTRAN).
    pub fn reset(&mut self, t: &mut Tokens, keep_tran: bool) {
        if !keep_tran && self.txn.is_some() {
            self.rollback_all(t);
        }
        self.nocount = false;
        self.xact_abort = false;
        self.arithabort = false;
        self.ctx.database = self.login_database.clone();
        t.env_bytes(18, &[], &[]);
    }

    /// Handles that interrupt this session's running SQLite statements
    /// from another thread (Attention).
    pub fn interrupt_handles(&self) -> Vec<rusqlite::InterruptHandle> {
        self.dbs.values().map(Database::interrupt_handle).collect()
    }

    /// The open transaction's descriptor (0 when none).
    pub fn transaction(&self) -> u64 {
        self.txn.unwrap_or(0)
    }

    /// This session's connection to its current database, opened on first
    /// use. Inside a transaction it is joined to it: a SQLite transaction
    /// that has not written yet is restarted before every statement, so
    /// each statement reads the latest commits (SQL Server's READ
    /// COMMITTED); one that has written holds the database's write lock,
    /// so nobody else can commit under it and its view stays current.
    fn db(&mut self) -> Result<&Database, SqlError> {
        let key = self.ctx.database.to_ascii_lowercase();
        if !self.dbs.contains_key(&key) {
            let db = self
                .engine
                .open(&self.ctx.database)
                .ok_or_else(|| SqlError::unknown_database(&self.ctx.database))??;
            self.dbs.insert(key.clone(), db);
        }
        let db = self
            .dbs
            .get(&key)
            .ok_or_else(|| SqlError::unknown_database(&self.ctx.database))?;
        if self.txn.is_some() {
            if !db.in_transaction() {
                db.exec("BEGIN")?;
            } else if !db.has_written() {
                db.exec("COMMIT; BEGIN")?;
            } else {
                return Ok(db);
            }
            for sp in &self.savepoints {
                db.exec(&format!("SAVEPOINT \"{}\"", sp.replace('"', "\"\"")))?;
            }
        }
        Ok(db)
    }

    /// BEGIN TRAN / TM BEGIN: the outermost one starts a transaction and
    /// announces its descriptor (ENVCHANGE 8, 7.2+); SQLite's transactions
    /// start lazily on each database the session touches.
    fn begin(&mut self, t: &mut Tokens) {
        self.ctx.trancount = self.ctx.trancount.saturating_add(1);
        if self.txn.is_none() {
            let d = self.next_txn;
            self.next_txn = self.next_txn.wrapping_add(1).max(1);
            self.txn = Some(d);
            if !self.v71 {
                t.env_bytes(token::ENV_BEGIN_TRAN, &d.to_le_bytes(), &[]);
            }
        }
    }

    /// Commits every database this session's transaction touched.
    fn commit_all(&mut self, t: &mut Tokens) -> Result<(), SqlError> {
        let mut failed = None;
        for db in self.dbs.values() {
            if db.in_transaction() {
                if let Err(e) = db.exec("COMMIT") {
                    failed = Some(e);
                    break;
                }
            }
        }
        if let Some(e) = failed {
            self.rollback_all(t);
            return Err(e);
        }
        let old = self.txn.take().unwrap_or(0);
        self.ctx.trancount = 0;
        self.savepoints.clear();
        if !self.v71 {
            t.env_bytes(token::ENV_COMMIT_TRAN, &[], &old.to_le_bytes());
        }
        Ok(())
    }

    /// Rolls the whole transaction back (ENVCHANGE 10).
    fn rollback_all(&mut self, t: &mut Tokens) {
        for db in self.dbs.values() {
            if db.in_transaction() {
                let _ = db.exec("ROLLBACK");
            }
        }
        let old = self.txn.take().unwrap_or(0);
        self.ctx.trancount = 0;
        self.savepoints.clear();
        if !self.v71 {
            t.env_bytes(token::ENV_ROLLBACK_TRAN, &[], &old.to_le_bytes());
        }
    }

    /// After an error: SQLite may have ended the transaction on its own
    /// (and a deadlock victim's is rolled back here), so the client hears
    /// of the rollback.
    fn after_error(&mut self, t: &mut Tokens, e: &SqlError) {
        if self.txn.is_none() {
            return;
        }
        let key = self.ctx.database.to_ascii_lowercase();
        let lost = self
            .dbs
            .get(&key)
            .is_some_and(|db| db.has_written() && !db.in_transaction());
        if e.number == 1205 || lost || self.xact_abort {
            self.rollback_all(t);
        }
    }

    /// Runs a batch; returns the token stream and the first error number
    /// (0 when none).
    /// `reset`: RESETCONNECTION on this request (`Some(keep_tran)`).
    pub fn batch(&mut self, text: &str, now: &str, reset: Option<bool>) -> (Vec<u8>, i32) {
        let (t, err) = self.batch_into(Tokens::new(self.v71), text, now, reset);
        (t.into_vec(), err)
    }

    /// [`Session::batch`] into a token stream the caller made (one that
    /// streams its rows, [`Tokens::stream_to`]).
    pub fn batch_into(
        &mut self,
        mut t: Tokens,
        text: &str,
        now: &str,
        reset: Option<bool>,
    ) -> (Tokens, i32) {
        if let Some(keep_tran) = reset {
            self.reset(&mut t, keep_tran);
        }
        let err = self.run(&mut t, text, &mut Vec::new(), now, token::DONE);
        (t, err)
    }

    /// Runs a batch in place, on the async worker that read it, when it
    /// can neither block nor take long: one statement, a SELECT that
    /// SQLite calls read-only, on a database this session already has
    /// open, with its SQLite steps capped ([`Database::set_inline`]). A
    /// round trip then needs no thread hand-off. `None`: run it on the
    /// blocking pool instead (nothing it did is kept, and it wrote
    /// nothing).
    pub fn batch_inline(&mut self, text: &str, now: &str) -> Option<(Vec<u8>, i32)> {
        if self.xact_abort {
            // An interrupted statement would end the transaction.
            return None;
        }
        let key = self.ctx.database.to_ascii_lowercase();
        let stmts = translate::split(translate::tokenize(text));
        let [one] = stmts.as_slice() else {
            return None;
        };
        self.before_batch(text, now);
        // Classified once: what runs here is what was checked.
        let stmt = translate::classify(one, &self.ctx);
        let Stmt::Sql(sql, token::CMD_SELECT) = &stmt else {
            return None;
        };
        if self.slow.contains(sql.as_str()) {
            return None;
        }
        let db = self.dbs.get(&key)?;
        if !db.readonly(sql) {
            return None;
        }
        db.set_inline(true);
        self.cancel
            .store(false, std::sync::atomic::Ordering::Relaxed);
        let mut t = Tokens::new(self.v71);
        let outer = self.first_error.take();
        let err = match self.exec_classified(&mut t, stmt, &mut Vec::new(), token::DONE) {
            Ok(()) => 0,
            Err(n) => n,
        };
        let err = self.after_batch(&mut t, outer, err, token::DONE);
        let db = self.dbs.get(&key)?;
        let tripped = db.take_tripped();
        db.set_inline(false);
        if tripped {
            if self.slow.len() >= MAX_SLOW {
                self.slow.clear();
            }
            match translate::classify(one, &self.ctx) {
                // Statements a peer makes long are not kept (memory).
                Stmt::Sql(sql, _) if sql.len() <= MAX_SLOW_TEXT => {
                    self.slow.insert(sql);
                }
                _ => {}
            }
            return None;
        }
        Some((t.into_vec(), err))
    }

    /// The statements of `text` into `t`, each closed by `done` (DONE for
    /// a batch, DONEINPROC inside an RPC). Goes on after a
    /// statement-terminating error and stops at a batch-aborting one, as
    /// SQL Server does ([`Session::aborts_batch`]); returns the first
    /// error's number.
    fn run(
        &mut self,
        t: &mut Tokens,
        text: &str,
        vars: &mut Vec<(String, Value)>,
        now: &str,
        done: u8,
    ) -> i32 {
        self.before_batch(text, now);
        // `vars`: the RPC's parameters; DECLAREs add batch-scoped ones.
        let stmts = translate::split(translate::tokenize(text));
        if stmts.is_empty() {
            if done == token::DONE {
                t.done(token::DONE, token::DONE_FINAL, 0, 0);
            }
            return 0;
        }
        let outer = self.first_error.take();
        let err = match translate::parse(stmts) {
            Ok(nodes) => match self.exec_nodes(t, &nodes, vars, done) {
                Ok(_) => 0,
                Err(n) => n,
            },
            Err(e) => {
                self.error(t, &e);
                t.done(done, token::DONE_ERROR | token::DONE_MORE, 0, 0);
                e.number
            }
        };
        self.after_batch(t, outer, err, done)
    }

    /// What a batch's statements see: GETDATE() and the databases.
    fn before_batch(&mut self, text: &str, now: &str) {
        now.clone_into(&mut self.ctx.now);
        // sys.databases is the only reader of the list.
        if text.to_ascii_lowercase().contains("databases") {
            self.ctx.databases = self.engine.names();
        }
    }

    /// The end of a batch run by [`Session::run`]: its variables' scope
    /// ends, a batch's last DONE is final; the first error's number.
    fn after_batch(&mut self, t: &mut Tokens, outer: Option<i32>, err: i32, done: u8) -> i32 {
        self.end_scope();
        if done == token::DONE && !t.end_batch() {
            t.done(token::DONE, token::DONE_FINAL, 0, 0);
        }
        let first = std::mem::replace(&mut self.first_error, outer);
        first.unwrap_or(err)
    }

    /// Whether an error ends the batch or only its statement. SQL Server
    /// terminates just the statement for constraint violations, NULL
    /// into NOT NULL, permission, lock time-outs, transaction-verb
    /// mistakes and existing or missing objects in DDL, and (with
    /// ARITHABORT OFF, the drivers' default) arithmetic errors; conversion
    /// errors, deadlocks, name resolution and syntax errors abort the
    /// batch, and with XACT_ABORT ON every error does.
    fn aborts_batch(&self, e: &SqlError) -> bool {
        if self.xact_abort {
            return true;
        }
        match e.number {
            2627 | 2601 | 515 | 547 | 229 | 230 | 1222 | 3902 | 3903 | 628 | 2714 | 3701 | 1801
            | 8152 | 2628 | 134 => false,
            8134 | 8115 | 220 | 232 => self.arithabort,
            _ => true,
        }
    }

    /// After [`Session::fail`]: `Err` when the error ends the batch.
    fn went_on(&mut self, e: &SqlError) -> Result<(), i32> {
        self.first_error.get_or_insert(e.number);
        if self.aborts_batch(e) {
            Err(e.number)
        } else {
            Ok(())
        }
    }

    /// Runs control flow: IF/ELSE, WHILE with BREAK/CONTINUE, BEGIN...END
    /// blocks. A condition is `SELECT CASE WHEN cond THEN 1 ELSE 0 END` on
    /// the engine. Stops at the first error (its number); a cancelled
    /// request (Attention) stops at the next statement or iteration.
    fn exec_nodes(
        &mut self,
        t: &mut Tokens,
        nodes: &[Node],
        vars: &mut Vec<(String, Value)>,
        done: u8,
    ) -> Result<Flow, i32> {
        for node in nodes {
            if self.cancel.load(std::sync::atomic::Ordering::Relaxed) {
                return Err(0);
            }
            self.within_limits(t, done)?;
            let flow = match node {
                Node::Stmt(st) => self.exec_stmt(t, st, vars, done).map(|()| Flow::Normal)?,
                Node::Block(inner) => self.exec_nodes(t, inner, vars, done)?,
                Node::Break => Flow::Break,
                Node::Continue => Flow::Continue,
                Node::If {
                    cond,
                    then,
                    otherwise,
                } => {
                    if self.condition(t, cond, vars, done)? {
                        self.exec_nodes(t, std::slice::from_ref(then), vars, done)?
                    } else if let Some(o) = otherwise {
                        self.exec_nodes(t, std::slice::from_ref(o), vars, done)?
                    } else {
                        Flow::Normal
                    }
                }
                Node::While { cond, body } => {
                    while self.condition(t, cond, vars, done)? {
                        if self.cancel.load(std::sync::atomic::Ordering::Relaxed) {
                            return Err(0);
                        }
                        self.within_limits(t, done)?;
                        match self.exec_nodes(t, std::slice::from_ref(body), vars, done)? {
                            Flow::Break => break,
                            Flow::Normal | Flow::Continue => {}
                        }
                    }
                    Flow::Normal
                }
            };
            if flow != Flow::Normal {
                return Ok(flow);
            }
        }
        Ok(Flow::Normal)
    }

    /// A reply is held until its request ends (only rows stream out in
    /// parts, and only on the blocking pool), so a batch that loops over
    /// small SELECTs (or SAVE TRANs) must stop somewhere: SQL Server's
    /// out-of-memory error (701) once it holds too much.
    fn within_limits(&mut self, t: &mut Tokens, done: u8) -> Result<(), i32> {
        if t.w.position() > MAX_REPLY {
            let e = out_of_memory();
            self.fail(t, &e, done);
            return Err(e.number);
        }
        Ok(())
    }

    /// An IF/WHILE condition's truth (NULL is false, as in T-SQL).
    fn condition(
        &mut self,
        t: &mut Tokens,
        cond: &[translate::Tok],
        vars: &[(String, Value)],
        done: u8,
    ) -> Result<bool, i32> {
        let sql = translate::condition_sql(cond, &self.ctx);
        match self.scalar(&sql, vars) {
            Ok(v) => Ok(matches!(v, Value::Int(n) if n != 0)),
            Err(e) => {
                // A condition that fails with a statement-terminating
                // error skips its IF or ends its WHILE.
                self.fail(t, &e, done);
                self.went_on(&e).map(|()| false)
            }
        }
    }

    fn fail(&mut self, t: &mut Tokens, e: &SqlError, done: u8) {
        self.error(t, e);
        self.after_error(t, e);
        t.done(done, token::DONE_ERROR | token::DONE_MORE, 0, 0);
    }

    /// One statement: answered here or run on the engine, closed by `done`.
    fn exec_stmt(
        &mut self,
        t: &mut Tokens,
        st: &[translate::Tok],
        vars: &mut Vec<(String, Value)>,
        done: u8,
    ) -> Result<(), i32> {
        let stmt = translate::classify(st, &self.ctx);
        self.exec_classified(t, stmt, vars, done)
    }

    /// [`Session::exec_stmt`] once the statement is classified.
    fn exec_classified(
        &mut self,
        t: &mut Tokens,
        stmt: Stmt,
        vars: &mut Vec<(String, Value)>,
        done: u8,
    ) -> Result<(), i32> {
        let count = |nocount: bool| if nocount { 0 } else { token::DONE_COUNT };
        // Every DONE says MORE; the batch's last one is cleared at its end.
        let more = token::DONE_MORE;
        let result = match stmt {
            Stmt::Done => {
                t.done(done, more, 0, 0);
                Ok(())
            }
            Stmt::SetNocount(on) => {
                self.nocount = on;
                t.done(done, more, 0, 0);
                Ok(())
            }
            Stmt::SetXactAbort(on) => {
                self.xact_abort = on;
                t.done(done, more, 0, 0);
                Ok(())
            }
            Stmt::SetArithAbort(on) => {
                self.arithabort = on;
                t.done(done, more, 0, 0);
                Ok(())
            }
            Stmt::Begin => {
                self.begin(t);
                t.done(done, more, 0, 0);
                Ok(())
            }
            Stmt::Commit => {
                if self.txn.is_none() {
                    Err(SqlError::new(
                        3902,
                        1,
                        16,
                        "The COMMIT TRANSACTION request has no corresponding BEGIN TRANSACTION.",
                    ))
                } else if self.ctx.trancount > 1 {
                    self.ctx.trancount -= 1;
                    t.done(done, more, 0, 0);
                    Ok(())
                } else {
                    self.commit_all(t).map(|()| t.done(done, more, 0, 0))
                }
            }
            Stmt::Rollback(name) => {
                let sp = name.filter(|n| self.savepoints.iter().any(|s| s == n));
                if self.txn.is_none() {
                    Err(SqlError::new(
                        3903,
                        1,
                        16,
                        "The ROLLBACK TRANSACTION request has no corresponding BEGIN TRANSACTION.",
                    ))
                } else if let Some(sp) = sp {
                    // To a savepoint: the transaction stays open.
                    let q = format!("ROLLBACK TO \"{}\"", sp.replace('"', "\"\""));
                    let mut r = Ok(());
                    for db in self.dbs.values() {
                        if db.in_transaction() {
                            r = r.and(db.exec(&q));
                        }
                    }
                    if let Some(at) = self.savepoints.iter().rposition(|s| *s == sp) {
                        self.savepoints.truncate(at + 1);
                    }
                    r.map(|()| t.done(done, more, 0, 0))
                } else {
                    self.rollback_all(t);
                    t.done(done, more, 0, 0);
                    Ok(())
                }
            }
            Stmt::Save(_) if self.savepoints.len() >= MAX_SAVEPOINTS => Err(out_of_memory()),
            Stmt::Save(name) => {
                if self.txn.is_none() {
                    Err(SqlError::new(
                        628,
                        0,
                        16,
                        "Cannot issue SAVE TRANSACTION when there is no active transaction.",
                    ))
                } else {
                    let q = format!("SAVEPOINT \"{}\"", name.replace('"', "\"\""));
                    let mut r = Ok(());
                    for db in self.dbs.values() {
                        if db.in_transaction() {
                            r = r.and(db.exec(&q));
                        }
                    }
                    self.savepoints.push(name);
                    r.map(|()| t.done(done, more, 0, 0))
                }
            }
            Stmt::Use(name) => match self.engine.canonical(&name) {
                Some(canon) => {
                    let old = std::mem::replace(&mut self.ctx.database, canon.clone());
                    t.env_string(token::ENV_DATABASE, &canon, &old);
                    let text = format!("Changed database context to '{canon}'.");
                    t.info(&msg(5701, 1, 0, &text, &self.ctx.server));
                    t.done(done, more, 0, 0);
                    Ok(())
                }
                None => Err(SqlError::unknown_database(&name)),
            },
            Stmt::CreateDatabase(name) => match self.engine.create(&name) {
                Ok(true) => {
                    t.done(done, more, 0, 0);
                    Ok(())
                }
                Ok(false) => Err(SqlError::new(
                    1801,
                    3,
                    16,
                    format!("Database '{name}' already exists. Choose a different database name."),
                )),
                Err(e) => Err(SqlError::new(
                    1802,
                    1,
                    16,
                    format!("CREATE DATABASE failed. {e}"),
                )),
            },
            Stmt::Declare(list) => {
                let mut r = Ok(());
                for (name, ty, expr) in list {
                    if self.declared(vars, &name) {
                        r = Err(redeclared(&name));
                        break;
                    }
                    let v = match expr {
                        None => Ok(Value::Null),
                        Some(sql) => self.scalar(&sql, vars),
                    };
                    match v {
                        Ok(v) => {
                            self.ctx.var_types.push((name.clone(), ty));
                            vars.push((name, v));
                        }
                        Err(e) => {
                            r = Err(e);
                            break;
                        }
                    }
                }
                if r.is_ok() {
                    t.done(done, more, 0, 0);
                }
                r
            }
            Stmt::DeclareTable(name, sql) => {
                let v71 = self.v71;
                if self.declared(vars, &name) {
                    Err(redeclared(&name))
                } else {
                    // A table left by a rolled-back DROP is replaced.
                    let drop = format!("DROP TABLE IF EXISTS {}", translate::table_var(&name));
                    match self.db().and_then(|db| {
                        db.exec(&drop)?;
                        db.run(&sql, &[], v71)
                    }) {
                        Ok(_) => {
                            let key = self.ctx.database.to_ascii_lowercase();
                            self.ctx.table_vars.push(name.clone());
                            self.table_var_dbs.push((key, name));
                            t.done(done, more, 0, 0);
                            Ok(())
                        }
                        Err(e) => Err(e),
                    }
                }
            }
            Stmt::SetVar(name, sql) => {
                if !vars.iter().any(|(n, _)| n.eq_ignore_ascii_case(&name)) {
                    Err(SqlError::undeclared(&name))
                } else {
                    match self.scalar(&sql, vars) {
                        Ok(v) => {
                            for (n, old) in vars.iter_mut() {
                                if n.eq_ignore_ascii_case(&name) {
                                    *old = v.clone();
                                }
                            }
                            t.done(done, more, 0, 0);
                            Ok(())
                        }
                        Err(e) => Err(e),
                    }
                }
            }
            Stmt::Error(e) => Err(e),
            Stmt::Sql(sql, cmd) => {
                let v71 = self.v71;
                match self.db().and_then(|db| db.run_into(&sql, vars, v71, t)) {
                    Ok(Ran::Rows(n)) => {
                        t.done(done, more | count(self.nocount), token::CMD_SELECT, n);
                        Ok(())
                    }
                    Ok(Ran::Count(c)) => {
                        let status = if cmd != 0 { count(self.nocount) } else { 0 };
                        t.done(done, more | status, cmd, if cmd != 0 { c } else { 0 });
                        Ok(())
                    }
                    Err(e) => Err(e),
                }
            }
        };
        if let Err(e) = result {
            self.fail(t, &e, done);
            return self.went_on(&e);
        }
        Ok(())
    }

    /// Whether a variable (scalar or table) of that name is declared in
    /// the running batch (or is one of its RPC parameters).
    fn declared(&self, vars: &[(String, Value)], name: &str) -> bool {
        vars.iter().any(|(n, _)| n.eq_ignore_ascii_case(name))
            || self
                .ctx
                .table_vars
                .iter()
                .any(|n| n.eq_ignore_ascii_case(name))
    }

    /// The end of a batch (or RPC) is the end of its variables' scope:
    /// table variables' tables are dropped, declared types forgotten.
    fn end_scope(&mut self) {
        self.ctx.var_types.clear();
        self.ctx.table_vars.clear();
        for (key, name) in std::mem::take(&mut self.table_var_dbs) {
            if let Some(db) = self.dbs.get(&key) {
                let _ = db.exec(&format!(
                    "DROP TABLE IF EXISTS {}",
                    translate::table_var(&name)
                ));
            }
        }
    }

    /// The first value of `SELECT expr` (NULL when it returns no row).
    fn scalar(&mut self, sql: &str, vars: &[(String, Value)]) -> Result<Value, SqlError> {
        let v71 = self.v71;
        match self.db()?.run(sql, vars, v71)? {
            Output::Rows { rows, .. } => Ok(rows
                .into_iter()
                .next()
                .and_then(|r| r.into_iter().next())
                .unwrap_or(Value::Null)),
            Output::Count(_) => Ok(Value::Null),
        }
    }

    /// An RPC request, by ProcID or by name: sp_executesql (10),
    /// sp_prepare (11), sp_execute (12), sp_prepexec (13), sp_unprepare
    /// (15); anything else gets error 2812. OUTPUT parameters come back in
    /// RETURNVALUE tokens after RETURNSTATUS, as SQL Server orders them.
    pub fn rpc(
        &mut self,
        payload: &[u8],
        now: &str,
        reset: Option<bool>,
    ) -> Result<(Vec<u8>, i32, String), TdsError> {
        self.rpc_into(Tokens::new(self.v71), payload, now, reset)
            .map(|(t, err, text)| (t.into_vec(), err, text))
    }

    /// [`Session::rpc`] into a token stream the caller made.
    pub fn rpc_into(
        &mut self,
        mut t: Tokens,
        payload: &[u8],
        now: &str,
        reset: Option<bool>,
    ) -> Result<(Tokens, i32, String), TdsError> {
        if let Some(keep_tran) = reset {
            self.reset(&mut t, keep_tran);
        }
        let mut r = Reader::new(payload);
        skip_all_headers(&mut r, self.v71)?;
        let name_len = r.u16_le()?;
        let proc_name = if name_len == 0xFFFF {
            match r.u16_le()? {
                10 => "sp_executesql".to_string(),
                11 => "sp_prepare".to_string(),
                12 => "sp_execute".to_string(),
                13 => "sp_prepexec".to_string(),
                15 => "sp_unprepare".to_string(),
                id => format!("procid {id}"),
            }
        } else {
            r.utf16le_lossy(usize::from(name_len))?
        };
        let _flags = r.u16_le()?;
        let mut params: Vec<(String, u8, Value)> = Vec::new();
        while !r.is_empty() && params.len() < MAX_PARAMS {
            let first = r.peek_u8()?;
            if first == 0x80 || first == 0xFF {
                // Batch separators: one request only here.
                break;
            }
            params.push(crate::rpc::param_with_status(&mut r)?);
        }
        // `[dbo].`/`sys.` prefixes and any case name the same procedure.
        let bare = proc_name
            .rsplit('.')
            .next()
            .unwrap_or(&proc_name)
            .trim_matches(['[', ']'])
            .to_ascii_lowercase();
        let text_of = |i: usize| match params.get(i) {
            Some((_, _, Value::Text(s))) => s.clone(),
            _ => String::new(),
        };
        let handle_of = |i: usize| match params.get(i) {
            Some((_, _, Value::Int(n))) => i32::try_from(*n).ok(),
            _ => None,
        };
        // (ordinal, name, type, value) of each RETURNVALUE.
        let mut outputs: Vec<(u16, String, SqlType, Value)> = Vec::new();
        let mut journal_text = proc_name.clone();
        let err = match bare.as_str() {
            "sp_executesql" => {
                let sql = text_of(0);
                let decl = parse_decl(&text_of(1));
                let mut vars = bind(&decl, params.get(2..).unwrap_or(&[]));
                let err = self.run(&mut t, &sql, &mut vars, now, token::DONEINPROC);
                for (k, (name, status, _)) in params.iter().enumerate().skip(2) {
                    if status & crate::rpc::STATUS_BYREF == 0 {
                        continue;
                    }
                    let key = if name.is_empty() {
                        decl.get(k - 2).map(|d| d.0.clone()).unwrap_or_default()
                    } else {
                        name.clone()
                    };
                    let v = vars
                        .iter()
                        .find(|(n, _)| n.eq_ignore_ascii_case(&key))
                        .map_or(Value::Null, |(_, v)| v.clone());
                    let ty = decl
                        .iter()
                        .find(|d| d.0.eq_ignore_ascii_case(&key))
                        .map_or(SqlType::NVarChar(Some(4000)), |d| {
                            crate::engine::from_decl(&d.1, self.v71)
                        });
                    outputs.push((k as u16, name.clone(), ty, v));
                }
                journal_text = sql;
                err
            }
            "sp_prepare" | "sp_prepexec" => {
                let decl_text = text_of(1);
                let sql = text_of(2);
                journal_text = format!("{bare}: {sql}");
                let held: usize = self.prepared.values().map(|p| p.sql.len()).sum();
                if self.prepared.len() >= MAX_PREPARED || held + sql.len() > MAX_PREPARED_BYTES {
                    let e = SqlError::new(
                        8144,
                        2,
                        16,
                        format!("Procedure or function {bare} has too many prepared statements."),
                    );
                    self.error(&mut t, &e);
                    e.number
                } else {
                    let handle = self.next_handle;
                    self.next_handle = self.next_handle.checked_add(1).unwrap_or(1).max(1);
                    self.prepared.insert(
                        handle,
                        Prepared {
                            sql: sql.clone(),
                            decl: parse_decl(&decl_text),
                        },
                    );
                    let name = params.first().map(|p| p.0.clone()).unwrap_or_default();
                    outputs.push((0, name, SqlType::Int, Value::Int(i64::from(handle))));
                    if bare == "sp_prepexec" {
                        let decl = parse_decl(&decl_text);
                        let mut vars = bind(&decl, params.get(3..).unwrap_or(&[]));
                        self.run(&mut t, &sql, &mut vars, now, token::DONEINPROC)
                    } else {
                        0
                    }
                }
            }
            "sp_execute" => match handle_of(0).and_then(|h| self.prepared.get(&h).cloned()) {
                Some(p) => {
                    journal_text = format!("sp_execute: {}", p.sql);
                    let mut vars = bind(&p.decl, params.get(1..).unwrap_or(&[]));
                    self.run(&mut t, &p.sql, &mut vars, now, token::DONEINPROC)
                }
                None => {
                    let e = unknown_handle(handle_of(0));
                    self.error(&mut t, &e);
                    e.number
                }
            },
            "sp_unprepare" => match handle_of(0).and_then(|h| self.prepared.remove(&h)) {
                Some(_) => 0,
                None => {
                    let e = unknown_handle(handle_of(0));
                    self.error(&mut t, &e);
                    e.number
                }
            },
            _ => {
                let e = SqlError::new(
                    2812,
                    62,
                    16,
                    format!("Could not find stored procedure '{proc_name}'."),
                );
                self.error(&mut t, &e);
                t.done(token::DONEPROC, token::DONE_ERROR, 0, 0);
                return Ok((t, e.number, proc_name));
            }
        };
        t.w.u8(token::RETURNSTATUS)
            .i32_le(if err == 0 { 0 } else { 1 });
        for (ordinal, name, ty, v) in &outputs {
            t.return_value(*ordinal, name, *ty, v);
        }
        let status = if err == 0 { 0 } else { token::DONE_ERROR };
        t.done(token::DONEPROC, status, 0, 0);
        Ok((t, err, journal_text))
    }

    /// A Transaction Manager request (TM_BEGIN_XACT 5, TM_COMMIT_XACT 7,
    /// TM_ROLLBACK_XACT 8; a commit or rollback with fBeginXact starts the
    /// next transaction at once, as ODBC asks). TM COMMIT/ROLLBACK end the
    /// whole transaction whatever its nesting; with none open they answer
    /// DONE alone (drivers send a rollback on close without checking).
    pub fn tm(&mut self, payload: &[u8]) -> Result<(Vec<u8>, String), TdsError> {
        let mut t = Tokens::new(self.v71);
        let mut r = Reader::new(payload);
        skip_all_headers(&mut r, self.v71)?;
        let ty = r.u16_le()?;
        let op = match ty {
            5 => {
                self.begin(&mut t);
                "begin"
            }
            7 | 8 => {
                // Name (B_USVARCHAR), then fBeginXact and its own request.
                let name_len = r.u8().unwrap_or(0);
                let _ = r.skip(usize::from(name_len) * 2);
                let again = r.u8().unwrap_or(0) & 1 != 0;
                if self.txn.is_some() {
                    if ty == 7 {
                        if let Err(e) = self.commit_all(&mut t) {
                            self.error(&mut t, &e);
                            t.done(token::DONE, token::DONE_ERROR, 0, 0);
                            return Ok((t.into_vec(), "commit".into()));
                        }
                    } else {
                        self.rollback_all(&mut t);
                    }
                }
                if again {
                    self.begin(&mut t);
                }
                if ty == 7 {
                    "commit"
                } else {
                    "rollback"
                }
            }
            other => {
                let e = SqlError::unsupported(&format!("transaction manager request {other}"));
                self.error(&mut t, &e);
                t.done(token::DONE, token::DONE_ERROR, 0, 0);
                return Ok((t.into_vec(), format!("tm {other}")));
            }
        };
        t.done(token::DONE, token::DONE_FINAL, 0, 0);
        Ok((t.into_vec(), op.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn engine() -> Arc<Engine> {
        Arc::new(Engine::new(None, &["app".into()]).expect("engine"))
    }

    fn login_as(version: u32, password: &str, database: &str) -> LoginOutcome {
        let l = Login7 {
            tds_version: version,
            username: "sa".into(),
            password: password.into(),
            database: database.into(),
            ..Login7::default()
        };
        login(
            engine(),
            &l,
            Identity::Sql,
            |u, p| (u == "sa" && p == "pw").then(|| "sa".to_string()),
            52,
            "SQL01",
        )
    }

    #[test]
    fn logins_fail_as_sql_server_does() {
        let LoginOutcome::Failed { reply, number } = login_as(login7::TDS_74, "bad", "") else {
            panic!("wrong password accepted");
        };
        assert_eq!(number, 18456);
        let (n, text) = crate::probe::first_error(&reply).expect("an ERROR token");
        assert_eq!((n, text.as_str()), (18456, "Login failed for user 'sa'."));
        let LoginOutcome::Failed { number, .. } = login_as(login7::TDS_74, "pw", "nodb") else {
            panic!("unknown database accepted");
        };
        assert_eq!(number, 4060);
    }

    #[test]
    fn tds71_gets_71_encodings() {
        let LoginOutcome::Ok(mut s) = login_as(login7::TDS_71, "pw", "app") else {
            panic!("login refused");
        };
        assert!(s.v71);
        let reply = s.take_pending();
        let ack = [0x01, 0x07, 0x01, 0x00, 0x00];
        assert!(reply.windows(5).any(|w| w == ack), "LOGINACK 7.1");
        let (reply, err) = s.batch("SELECT 1", "2026-01-01 00:00:00.000", None);
        assert_eq!(err, 0);
        // DONE with a 4-byte row count ends the stream.
        assert_eq!(
            &reply[reply.len() - 9..],
            &[0xFD, 0x10, 0, 0xC1, 0, 1, 0, 0, 0]
        );
        assert_eq!(s.attention(), vec![0xFD, 0x20, 0, 0, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn errors_end_the_batch_and_the_session_goes_on() {
        let LoginOutcome::Ok(mut s) = login_as(login7::TDS_74, "pw", "") else {
            panic!("login refused");
        };
        let (reply, err) = s.batch("SELECT * FROM nope; SELECT 1", "", None);
        assert_eq!(err, 208);
        assert_eq!(crate::probe::first_error(&reply).map(|e| e.0), Some(208));
        let (_, err) = s.batch("USE app SELECT DB_NAME()", "", None);
        assert_eq!(err, 0);
        assert_eq!(s.ctx.database, "app");
        let mut t = Tokens::new(false);
        s.reset(&mut t, false);
        assert_eq!(s.ctx.database, "master");
    }

    #[test]
    fn catalog_views_and_create_database() {
        let LoginOutcome::Ok(mut s) = login_as(login7::TDS_74, "pw", "app") else {
            panic!("login refused");
        };
        let q = |s: &mut Session, sql: &str| {
            let (reply, err) = s.batch(sql, "", None);
            assert_eq!(err, 0, "{sql}: {:?}", crate::probe::first_error(&reply));
            reply
        };
        q(
            &mut s,
            "CREATE TABLE [dbo].[t] (id INT NOT NULL, name NVARCHAR(10))",
        );
        let utf16 =
            |x: &str| -> Vec<u8> { x.encode_utf16().flat_map(|u| u.to_le_bytes()).collect() };
        let has =
            |reply: &[u8], x: &str| reply.windows(x.len() * 2).any(|w| w == utf16(x).as_slice());
        let r = q(
            &mut s,
            "SELECT name FROM sys.databases ORDER BY database_id",
        );
        assert!(has(&r, "tempdb") && has(&r, "app"));
        let r = q(&mut s, "SELECT TABLE_NAME FROM INFORMATION_SCHEMA.TABLES");
        assert!(has(&r, "t"));
        let r = q(&mut s, "SELECT COLUMN_NAME, IS_NULLABLE, DATA_TYPE FROM INFORMATION_SCHEMA.COLUMNS WHERE TABLE_NAME = 't'");
        assert!(has(&r, "nvarchar") && has(&r, "NO"));
        q(&mut s, "SELECT t.name, c.name FROM sys.tables t JOIN sys.columns c ON c.object_id = t.object_id");
        // sys.types, joined as tools do to name a column's type.
        let r = q(&mut s, "SELECT c.name, ty.name, ty.max_length FROM sys.columns c JOIN sys.types ty ON ty.user_type_id = c.user_type_id JOIN sys.tables tb ON tb.object_id = c.object_id WHERE tb.name = 't' ORDER BY c.column_id");
        assert!(has(&r, "int") && has(&r, "nvarchar"));
        let r = q(
            &mut s,
            "SELECT name FROM sys.types WHERE system_type_id = 42",
        );
        assert!(has(&r, "datetime2"));
        let r = q(&mut s, "SELECT COUNT(*) FROM sys.types");
        assert!(
            r.windows(5).any(|w| w == [4, 34, 0, 0, 0]),
            "34 system types"
        );
        let r = q(&mut s, "DECLARE @n INT = 40, @s NVARCHAR(10); SET @n = @n + 2; SET @s = N'v' + ''; SELECT @n AS n, @s AS s");
        assert!(has(&r, "n"));
        assert!(
            r.windows(5).any(|w| w == [4, 42, 0, 0, 0]),
            "@n = 42 as int"
        );
        let (_, err) = s.batch("SELECT @n", "", None);
        assert_eq!(err, 137, "variables are batch-scoped");
        q(&mut s, "CREATE DATABASE Inventory");
        q(&mut s, "USE Inventory");
        let (_, err) = s.batch("CREATE DATABASE inventory", "", None);
        assert_eq!(err, 1801);
    }

    /// An RPC payload: ALL_HEADERS, the procedure (`Err(id)` = ProcID),
    /// flags, then `params` already encoded.
    fn rpc_payload(proc_: Result<&str, u16>, params: &[Vec<u8>]) -> Vec<u8> {
        let mut w = fakedc_wire::Writer::new();
        w.u32_le(22).u32_le(18).u16_le(2).u64_le(0).u32_le(1);
        match proc_ {
            Ok(name) => {
                w.u16_le(name.encode_utf16().count() as u16).utf16le(name);
            }
            Err(id) => {
                w.u16_le(0xFFFF).u16_le(id);
            }
        }
        w.u16_le(0);
        for p in params {
            w.bytes(p);
        }
        w.into_vec()
    }

    fn int_param(name: &str, status: u8, v: Option<i32>) -> Vec<u8> {
        let mut w = fakedc_wire::Writer::new();
        w.u8(name.encode_utf16().count() as u8);
        w.utf16le(name);
        w.u8(status);
        w.u8(0x26).u8(4);
        match v {
            Some(n) => w.u8(4).i32_le(n),
            None => w.u8(0),
        };
        w.into_vec()
    }

    fn text_param(text: &str) -> Vec<u8> {
        let mut w = fakedc_wire::Writer::new();
        let units = text.encode_utf16().count() as u16;
        w.u8(0).u8(0).u8(0xE7).u16_le(8000).bytes(&token::COLLATION);
        w.u16_le(units * 2).utf16le(text);
        w.into_vec()
    }

    #[test]
    fn prepared_statements_by_procid_and_name() {
        let LoginOutcome::Ok(mut s) = login_as(login7::TDS_74, "pw", "app") else {
            panic!("login refused");
        };
        let payload = rpc_payload(
            Err(13),
            &[
                int_param("@handle", crate::rpc::STATUS_BYREF, None),
                text_param("@P1 int"),
                text_param("SELECT @P1 + 1 AS v"),
                int_param("", 0, Some(41)),
            ],
        );
        let (reply, err, _) = s.rpc(&payload, "", None).expect("sp_prepexec");
        assert_eq!(err, 0, "{:?}", crate::probe::first_error(&reply));
        // The row (INTN 4: 42), then RETURNVALUE ordinal 0 "@handle" = 1.
        assert!(reply.windows(5).any(|w| w == [4, 42, 0, 0, 0]));
        let mut rv = vec![0xAC, 0, 0, 7];
        rv.extend("@handle".encode_utf16().flat_map(|u| u.to_le_bytes()));
        rv.extend([1, 0, 0, 0, 0, 1, 0, 0x26, 4, 4, 1, 0, 0, 0]);
        assert!(
            reply.windows(rv.len()).any(|w| w == rv.as_slice()),
            "{reply:02x?}"
        );
        let exec = rpc_payload(
            Ok("sp_execute"),
            &[int_param("", 0, Some(1)), int_param("", 0, Some(1))],
        );
        let (reply, err, text) = s.rpc(&exec, "", None).expect("sp_execute");
        assert_eq!((err, text.as_str()), (0, "sp_execute: SELECT @P1 + 1 AS v"));
        assert!(reply.windows(5).any(|w| w == [4, 2, 0, 0, 0]));
        let (_, err, _) = s
            .rpc(
                &rpc_payload(Err(15), &[int_param("", 0, Some(1))]),
                "",
                None,
            )
            .expect("sp_unprepare");
        assert_eq!(err, 0);
        let (reply, err, _) = s.rpc(&exec, "", None).expect("sp_execute");
        assert_eq!(err, 8179);
        assert_eq!(
            crate::probe::first_error(&reply).map(|e| e.1),
            Some("Could not find prepared statement with handle 1.".to_string())
        );
        // sp_executesql with an OUTPUT variable set by the batch.
        let payload = rpc_payload(
            Err(10),
            &[
                text_param("SET @out = @in * 2"),
                text_param("@in int, @out int OUTPUT"),
                int_param("@in", 0, Some(21)),
                int_param("@out", crate::rpc::STATUS_BYREF, None),
            ],
        );
        let (reply, err, _) = s.rpc(&payload, "", None).expect("sp_executesql");
        assert_eq!(err, 0, "{:?}", crate::probe::first_error(&reply));
        let mut rv = vec![0xAC, 3, 0, 4];
        rv.extend("@out".encode_utf16().flat_map(|u| u.to_le_bytes()));
        rv.extend([1, 0, 0, 0, 0, 1, 0, 0x26, 4, 4, 42, 0, 0, 0]);
        assert!(
            reply.windows(rv.len()).any(|w| w == rv.as_slice()),
            "{reply:02x?}"
        );
        let (_, err, _) = s
            .rpc(&rpc_payload(Ok("sp_nothing"), &[]), "", None)
            .expect("unknown");
        assert_eq!(err, 2812);
    }

    #[test]
    fn control_flow() {
        let LoginOutcome::Ok(mut s) = login_as(login7::TDS_74, "pw", "app") else {
            panic!("login refused");
        };
        let q = |s: &mut Session, sql: &str| {
            let (reply, err) = s.batch(sql, "", None);
            assert_eq!(err, 0, "{sql}: {:?}", crate::probe::first_error(&reply));
            reply
        };
        let int = |n: i32| {
            let mut v = vec![4u8];
            v.extend(n.to_le_bytes());
            v
        };
        let has = |r: &[u8], b: &[u8]| r.windows(b.len()).any(|w| w == b);
        let r = q(
            &mut s,
            "DECLARE @i INT = 0, @sum INT = 0\nWHILE @i < 10\nBEGIN\n SET @i = @i + 1\n IF @i = 3 CONTINUE\n IF @i > 5 BREAK\n SET @sum = @sum + @i\nEND\nSELECT @sum AS total",
        );
        // 1 + 2 + 4 + 5
        assert!(has(&r, &int(12)), "{r:02x?}");
        // The batch's last DONE is final.
        assert_eq!(r[r.len() - 13..r.len() - 11], [0xFD, 0x10]);
        let r = q(
            &mut s,
            "IF EXISTS (SELECT 1 WHERE 1 = 0) SELECT 111 AS x ELSE BEGIN SELECT 222 AS x END",
        );
        assert!(has(&r, &int(222)) && !has(&r, &int(111)));
        let r = q(
            &mut s,
            "IF 1 = 1 SELECT CASE WHEN 2 > 1 THEN 333 ELSE 0 END AS y",
        );
        assert!(has(&r, &int(333)));
        // IF false with nothing else: one final DONE.
        let r = q(&mut s, "IF 1 = 0 SELECT 1");
        assert_eq!(r, vec![0xFD, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        let (_, err) = s.batch("BREAK", "", None);
        assert_eq!(err, 135);
        let (_, err) = s.batch("BEGIN SELECT 1", "", None);
        assert_eq!(err, 102);
        let (_, err) = s.batch("END", "", None);
        assert_eq!(err, 156);
        // BEGIN TRAN is still a transaction, not a block.
        q(&mut s, "BEGIN TRAN; SELECT 1; COMMIT");
    }

    #[test]
    fn statement_errors_let_the_batch_go_on() {
        let LoginOutcome::Ok(mut s) = login_as(login7::TDS_74, "pw", "app") else {
            panic!("login refused");
        };
        let has = |r: &[u8], b: &[u8]| r.windows(b.len()).any(|w| w == b);
        let count = |s: &mut Session| {
            let (r, e) = s.batch("SELECT COUNT(*) FROM k", "", None);
            assert_eq!(e, 0);
            r
        };
        let int = |n: i32| {
            let mut v = vec![4u8];
            v.extend(n.to_le_bytes());
            v
        };
        assert_eq!(
            s.batch("CREATE TABLE k (id INT PRIMARY KEY)", "", None).1,
            0
        );
        // 2627 and 8134 end only their statement: the rest of the batch
        // runs, each failed statement's DONE says ERROR and MORE, and the
        // batch's first error is reported.
        let (r, e) = s.batch(
            "INSERT INTO k VALUES (1); INSERT INTO k VALUES (1); SELECT 1 / 0; INSERT INTO k VALUES (2); SELECT 77",
            "",
            None,
        );
        assert_eq!(e, 2627);
        assert!(has(&r, &[0xFD, 0x03, 0x00]), "DONE ERROR|MORE");
        // The last DONE: count valid, SELECT, final (no MORE).
        assert!(r.ends_with(&[0xFD, 0x10, 0x00, 0xC1, 0x00, 1, 0, 0, 0, 0, 0, 0, 0]));
        assert!(has(&r, &int(77)));
        assert!(has(&count(&mut s), &int(2)));
        // A conversion error aborts the batch.
        let (r, e) = s.batch(
            "INSERT INTO k VALUES (3); SELECT CAST('x' AS INT); INSERT INTO k VALUES (4)",
            "",
            None,
        );
        assert_eq!(e, 245);
        assert!(r.ends_with(&[0xFD, 0x02, 0x00, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 0]));
        assert!(has(&count(&mut s), &int(3)));
        // ARITHABORT ON makes divide by zero abort the batch.
        let (r, e) = s.batch("SET ARITHABORT ON; SELECT 1 / 0; SELECT 77", "", None);
        assert_eq!(e, 8134);
        assert!(!has(&r, &int(77)));
        // XACT_ABORT ON: the first error aborts and rolls back.
        let (_, e) = s.batch(
            "SET XACT_ABORT ON; BEGIN TRAN; INSERT INTO k VALUES (5); INSERT INTO k VALUES (5); INSERT INTO k VALUES (6)",
            "",
            None,
        );
        assert_eq!(e, 2627);
        assert_eq!(s.ctx.trancount, 0);
        assert!(has(&count(&mut s), &int(3)));
        // Inside a transaction without XACT_ABORT the statement alone fails.
        let (_, e) = s.batch(
            "SET XACT_ABORT OFF; BEGIN TRAN; INSERT INTO k VALUES (5); INSERT INTO k VALUES (5); COMMIT",
            "",
            None,
        );
        assert_eq!(e, 2627);
        assert_eq!(s.ctx.trancount, 0);
        assert!(has(&count(&mut s), &int(4)));
    }

    #[test]
    fn short_selects_run_in_place_and_long_ones_move() {
        let LoginOutcome::Ok(mut s) = login_as(login7::TDS_74, "pw", "app") else {
            panic!("login refused");
        };
        // A database opens on the blocking pool first.
        s.batch("USE master", "", None);
        assert!(s.batch_inline("SELECT 1", "").is_none());
        s.batch("USE app; CREATE TABLE w (id INT)", "", None);
        let (r, e) = s.batch_inline("SELECT 41 + 1 AS x", "").expect("in place");
        assert_eq!(e, 0);
        assert!(r.windows(5).any(|w| w == [4, 42, 0, 0, 0]));
        // Writes, several statements and USE are not run in place.
        assert!(s.batch_inline("INSERT INTO w VALUES (1)", "").is_none());
        assert!(s.batch_inline("SELECT 1; SELECT 2", "").is_none());
        assert!(s
            .batch_inline("WITH c(x) AS (SELECT 1) INSERT INTO w SELECT x FROM c", "")
            .is_none());
        let (_, e) = s.batch("SELECT COUNT(*) FROM w", "", None);
        assert_eq!(e, 0);
        // A long SELECT runs out of its budget and is refused, untouched.
        let long = "WITH c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000000) SELECT COUNT(*) FROM c";
        assert!(s.batch_inline(long, "").is_none());
        // Remembered as slow: next time it goes straight to the pool.
        assert_eq!(s.slow.len(), 1);
        assert!(s.batch_inline(long, "").is_none());
        assert_eq!(s.slow.len(), 1);
        // One a peer made long is not kept.
        let padded = format!("{long} WHERE '{}' <> ''", "p".repeat(5000));
        assert!(s.batch_inline(&padded, "").is_none());
        assert_eq!(s.slow.len(), 1);
        let (r, e) = s.batch(long, "", None);
        assert_eq!(e, 0);
        assert!(
            r.windows(5).any(|w| w == [4, 0x40, 0x42, 0x0F, 0]),
            "1,000,000"
        );
        // Errors in place are the request's own.
        assert_eq!(
            s.batch_inline("SELECT * FROM nowhere", "").map(|r| r.1),
            None
        );
        assert_eq!(s.batch_inline("SELECT 1 / 0", "").map(|r| r.1), Some(8134));
    }

    #[test]
    fn conversions_and_division_fail_as_sql_server() {
        let LoginOutcome::Ok(mut s) = login_as(login7::TDS_74, "pw", "app") else {
            panic!("login refused");
        };
        let err = |s: &mut Session, sql: &str| {
            let (reply, err) = s.batch(sql, "", None);
            (err, crate::probe::first_error(&reply).map(|e| e.1))
        };
        assert_eq!(
            err(&mut s, "SELECT 1 / 0"),
            (8134, Some("Divide by zero error encountered.".into()))
        );
        assert_eq!(err(&mut s, "SELECT 10 % (2 - 2)").0, 8134);
        assert_eq!(
            err(&mut s, "SELECT CAST('abc' AS INT)"),
            (
                245,
                Some(
                    "Conversion failed when converting the varchar value 'abc' to data type int."
                        .into()
                )
            )
        );
        assert_eq!(err(&mut s, "SELECT CONVERT(TINYINT, 300)").0, 8115);
        assert_eq!(err(&mut s, "SELECT CAST('x' AS DECIMAL(10,2))").0, 8114);
        assert_eq!(err(&mut s, "SELECT CAST('2024-13-01' AS DATETIME)").0, 241);
        let int = |n: i32| {
            let mut v = vec![4u8];
            v.extend(n.to_le_bytes());
            v
        };
        let has = |r: &[u8], b: &[u8]| r.windows(b.len()).any(|w| w == b);
        let (r, e) = s.batch("SELECT CONVERT(INT, N'41') + 1 AS a, 7 / 2 AS b", "", None);
        assert_eq!(e, 0);
        assert!(has(&r, &int(42)) && has(&r, &int(3)));
        let (r, e) = s.batch("SELECT ISNULL(TRY_CAST('x' AS INT), -5) AS c", "", None);
        assert_eq!(e, 0);
        assert!(has(&r, &int(-5)));
        let (_, e) = s.batch(
            "SELECT CAST(12.345 AS DECIMAL(10,2)), CAST(5 AS NVARCHAR(10)) + N'x'",
            "",
            None,
        );
        assert_eq!(e, 0);
    }

    #[test]
    fn implicit_conversions_fail_as_sql_server() {
        let LoginOutcome::Ok(mut s) = login_as(login7::TDS_74, "pw", "app") else {
            panic!("login refused");
        };
        let err = |s: &mut Session, sql: &str| {
            let (reply, err) = s.batch(sql, "", None);
            (err, crate::probe::first_error(&reply).map(|e| e.1))
        };
        let (_, e) = s.batch(
            "CREATE TABLE c (id INT PRIMARY KEY, n INT, d DECIMAL(10,2), f FLOAT, at DATETIME2, ok BIT, s NVARCHAR(5))",
            "",
            None,
        );
        assert_eq!(e, 0);
        let (_, e) = s.batch(
            "INSERT INTO c VALUES (1, '42', '1.5', '2', '2024-01-02T03:04:05.1234567', '1', 12345678)",
            "",
            None,
        );
        assert_eq!(e, 0);
        assert_eq!(
            err(&mut s, "INSERT INTO c (id, n) VALUES (2, 'abc')"),
            (
                245,
                Some(
                    "Conversion failed when converting the varchar value 'abc' to data type int."
                        .into()
                )
            )
        );
        assert_eq!(err(&mut s, "INSERT INTO c (id, d) VALUES (2, 'x')").0, 8114);
        assert_eq!(err(&mut s, "INSERT INTO c (id, f) VALUES (2, 'x')").0, 8114);
        assert_eq!(err(&mut s, "INSERT INTO c (id, at) VALUES (2, 'x')").0, 241);
        assert_eq!(err(&mut s, "UPDATE c SET ok = 'x'").0, 245);
        assert_eq!(err(&mut s, "UPDATE c SET n = 3000000000").0, 8115);
        assert_eq!(err(&mut s, "SELECT 'a' + 1").0, 245);
        assert_eq!(err(&mut s, "SELECT 2 * 'b'").0, 245);
        assert_eq!(err(&mut s, "SELECT 'c' / 2.5").0, 8114);
        assert_eq!(err(&mut s, "DECLARE @i INT = 'd'").0, 245);
        assert_eq!(err(&mut s, "DECLARE @i BIGINT; SET @i = 'e'").0, 245);
        // What converts is stored converted, and text stays text.
        let int = |n: i32| {
            let mut v = vec![4u8];
            v.extend(n.to_le_bytes());
            v
        };
        let has = |r: &[u8], b: &[u8]| r.windows(b.len()).any(|w| w == b);
        let (r, e) = s.batch(
            "SELECT n + 1 AS a, 1 + '2' AS b, N'x' + N'y' AS c FROM c",
            "",
            None,
        );
        assert_eq!(e, 0);
        assert!(has(&r, &int(43)) && has(&r, &int(3)));
        let (r, e) = s.batch("DECLARE @v INT = '7'; SELECT @v * 6 AS a", "", None);
        assert_eq!(e, 0);
        assert!(has(&r, &int(42)));
        let (_, e) = s.batch("SELECT COUNT(*) FROM c", "", None);
        assert_eq!(e, 0);
    }

    #[test]
    fn table_variables_live_for_their_batch() {
        let LoginOutcome::Ok(mut s) = login_as(login7::TDS_74, "pw", "app") else {
            panic!("login refused");
        };
        let int = |n: i32| {
            let mut v = vec![4u8];
            v.extend(n.to_le_bytes());
            v
        };
        let has = |r: &[u8], b: &[u8]| r.windows(b.len()).any(|w| w == b);
        let (r, e) = s.batch(
            "DECLARE @t AS TABLE (id INT IDENTITY(1,1) PRIMARY KEY, v INT NOT NULL)
             INSERT INTO @t (v) VALUES (10), (20), (30)
             UPDATE @t SET v = v + 1 WHERE id = 2
             DELETE @t WHERE id = 3
             SELECT SUM(v) AS total FROM @t",
            "",
            None,
        );
        assert_eq!(e, 0);
        assert!(has(&r, &int(31)));
        // Gone after the batch (1087), declared again in the next one.
        let (r, e) = s.batch("SELECT * FROM @t", "", None);
        assert_eq!(e, 1087);
        assert_eq!(
            crate::probe::first_error(&r).map(|e| e.1),
            Some("Must declare the table variable \"@t\".".into())
        );
        let (_, e) = s.batch(
            "DECLARE @t TABLE (a INT); DECLARE @t TABLE (b INT)",
            "",
            None,
        );
        assert_eq!(e, 134);
        let (r, e) = s.batch(
            "DECLARE @t TABLE (a INT); INSERT @t VALUES (5); SELECT COUNT(*) * 100 + MAX(a) FROM @t",
            "",
            None,
        );
        assert_eq!(e, 0);
        assert!(has(&r, &int(105)));
        // A conversion error inside its column still reads as SQL Server's.
        let (_, e) = s.batch("DECLARE @t TABLE (a INT); INSERT @t VALUES ('q')", "", None);
        assert_eq!(e, 245);
    }

    #[test]
    fn runaway_batches_stop_with_701() {
        let LoginOutcome::Ok(mut s) = login_as(login7::TDS_74, "pw", "app") else {
            panic!("login refused");
        };
        let (_, err) = s.batch(
            "BEGIN TRAN; CREATE TABLE sp (x INT); WHILE 1 = 1 BEGIN SAVE TRAN s INSERT INTO sp VALUES (1) END",
            "",
            None,
        );
        assert_eq!(err, 701);
        // The session goes on; its transaction is still open.
        let (_, err) = s.batch("SELECT COUNT(*) FROM sp; ROLLBACK", "", None);
        assert_eq!(err, 0);
    }
}
