//! iRules: the TCL text of `ltm rule` objects, parsed as TCL is (words,
//! braces, quotes, `$var`, `[command]` substitution, backslashes,
//! comments) and compiled into a small statement tree the virtual
//! servers run at `CLIENT_ACCEPTED` and `HTTP_REQUEST`.
//!
//! Why a compiled subset, not a TCL interpreter: what a rule may do to
//! traffic must be known when the rule is saved. BIG-IP validates a rule
//! at create time (unknown procedures, wrong argument counts, commands not
//! valid in an event, pools that do not exist); here the same check also
//! refuses every command outside the subset, with F5's validation error
//! naming it, so a rule is never stored and then silently half-run.
//!
//! The subset: `when CLIENT_ACCEPTED|HTTP_REQUEST { ... }`; statements
//! `if {expr} {..} elseif {expr} {..} else {..}`, `set`, `return`,
//! `pool NAME`, `reject`, `drop`, `log [local0.] MSG`, `HTTP::redirect`,
//! `HTTP::respond CODE [content BODY] [NAME VALUE]...`, `HTTP::header
//! insert|remove|replace`, `HTTP::uri NEW`; values `[HTTP::uri]`,
//! `[HTTP::path]`, `[HTTP::host]`, `[HTTP::method]`, `[HTTP::query]`,
//! `[HTTP::version]`, `[HTTP::header [value] NAME]`, `[HTTP::header exists
//! NAME]`, `[IP::client_addr]`, `[IP::local_addr]`, `[string
//! tolower|toupper|length S]`; expression operators `eq ne == != < > <= >=
//! starts_with ends_with contains equals && || and or ! not` and
//! parentheses.

use std::collections::HashMap;

/// Longest rule text accepted (bytes).
pub const MAX_TEXT: usize = 64 * 1024;
/// Deepest nesting of braces, brackets and expressions.
pub const MAX_DEPTH: usize = 32;
/// Most statements one event may execute (there are no loops; this bounds
/// a long straight-line script).
const MAX_STEPS: usize = 10_000;
/// Longest value a script may build (bytes): `set` and substitutions.
const MAX_VALUE: usize = 64 * 1024;
/// Bytes one event may store in variables in all (`set a $a$a` doubling
/// would otherwise copy MAX_VALUE per statement for MAX_STEPS statements).
const MAX_SET_BYTES: usize = 1 << 20;

/// The events the subset runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    ClientAccepted,
    HttpRequest,
}

impl Event {
    pub fn name(self) -> &'static str {
        match self {
            Event::ClientAccepted => "CLIENT_ACCEPTED",
            Event::HttpRequest => "HTTP_REQUEST",
        }
    }
}

/// A validation failure: the line and F5's bracketed error text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleError {
    pub line: usize,
    /// E.g. `[undefined procedure: foo][foo bar]`.
    pub detail: String,
}

impl RuleError {
    fn new(line: usize, detail: impl Into<String>) -> RuleError {
        RuleError {
            line,
            detail: detail.into(),
        }
    }

    /// F5's message for rule `full` (`01070151:3: Rule [/Common/r] error:
    /// /Common/r:3: error: [...][...]`).
    pub fn message(&self, full: &str) -> String {
        format!(
            "01070151:3: Rule [{full}] error: {full}:{}: error: {}",
            self.line, self.detail
        )
    }
}

// ---------------------------------------------------------------- parsing

/// One piece of a word: literal text, a variable, or a command's result.
#[derive(Debug, Clone, PartialEq)]
enum Piece {
    Lit(String),
    Var(String),
    Call(Vec<RawCmd>),
}

/// A word as written.
#[derive(Debug, Clone, PartialEq)]
struct RawWord {
    pieces: Vec<Piece>,
    /// `{...}`: the text inside, unsubstituted (bodies and expressions).
    braced: Option<String>,
    /// The line the word starts on (a braced word's contents start here).
    line: usize,
}

impl RawWord {
    /// The word's text when it has no substitution.
    fn literal(&self) -> Option<String> {
        if let Some(b) = &self.braced {
            return Some(b.clone());
        }
        let mut s = String::new();
        for p in &self.pieces {
            match p {
                Piece::Lit(l) => s.push_str(l),
                _ => return None,
            }
        }
        Some(s)
    }

    /// How the word is shown in an error.
    fn show(&self) -> String {
        match (&self.braced, self.literal()) {
            (Some(b), _) => format!("{{{}}}", clip(b, 40)),
            (None, Some(l)) => clip(&l, 40),
            (None, None) => "...".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
struct RawCmd {
    line: usize,
    words: Vec<RawWord>,
}

impl RawCmd {
    fn show(&self) -> String {
        let s: Vec<String> = self.words.iter().map(RawWord::show).collect();
        clip(&s.join(" "), 120)
    }
}

/// At most `n` characters of `s` on one line (an error message is one
/// line: runs of whitespace, line breaks included, become one space).
fn clip(s: &str, n: usize) -> String {
    let one: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if one.chars().count() <= n {
        one
    } else {
        let mut t: String = one.chars().take(n).collect();
        t.push_str("...");
        t
    }
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
    line: usize,
    depth: usize,
    /// Inside an expression, a quoted or braced operand may be followed
    /// directly by `)` or an operator.
    expr: bool,
}

fn perr(line: usize, what: &str) -> RuleError {
    RuleError::new(line, format!("[parse error: {what}]"))
}

impl<'a> Parser<'a> {
    fn new(s: &'a str, line: usize, depth: usize) -> Parser<'a> {
        Parser {
            s: s.as_bytes(),
            i: 0,
            line,
            depth,
            expr: false,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn bump(&mut self) -> Option<u8> {
        let c = self.peek()?;
        self.i += 1;
        if c == b'\n' {
            self.line += 1;
        }
        Some(c)
    }

    /// A script: commands up to the end, or up to `]` when `in_bracket`.
    fn script(&mut self, in_bracket: bool) -> Result<Vec<RawCmd>, RuleError> {
        if self.depth > MAX_DEPTH {
            return Err(perr(self.line, "nesting too deep"));
        }
        let mut cmds = Vec::new();
        loop {
            // Between commands: blanks, separators, comments.
            loop {
                match self.peek() {
                    Some(b' ' | b'\t' | b'\r' | b'\n' | b';') => {
                        self.bump();
                    }
                    Some(b'\\') if self.s.get(self.i + 1) == Some(&b'\n') => {
                        self.bump();
                        self.bump();
                    }
                    Some(b'#') => {
                        while let Some(c) = self.peek() {
                            if c == b'\n' {
                                break;
                            }
                            if c == b'\\' {
                                self.bump();
                            }
                            self.bump();
                        }
                    }
                    _ => break,
                }
            }
            match self.peek() {
                None if in_bracket => return Err(perr(self.line, "missing close-bracket")),
                None => return Ok(cmds),
                Some(b']') if in_bracket => {
                    self.bump();
                    return Ok(cmds);
                }
                _ => {}
            }
            let line = self.line;
            let mut words = Vec::new();
            loop {
                while matches!(self.peek(), Some(b' ' | b'\t' | b'\r'))
                    || (self.peek() == Some(b'\\') && self.s.get(self.i + 1) == Some(&b'\n'))
                {
                    if self.bump() == Some(b'\\') {
                        self.bump();
                    }
                }
                match self.peek() {
                    None | Some(b'\n' | b';') => break,
                    Some(b']') if in_bracket => break,
                    _ => words.push(self.word(in_bracket)?),
                }
                if words.len() > 256 {
                    return Err(perr(line, "too many words in a command"));
                }
            }
            if !words.is_empty() {
                cmds.push(RawCmd { line, words });
            }
            if cmds.len() > 4096 {
                return Err(perr(line, "too many commands"));
            }
        }
    }

    fn word(&mut self, in_bracket: bool) -> Result<RawWord, RuleError> {
        let line = self.line;
        match self.peek() {
            Some(b'{') => {
                self.bump();
                let start = self.i;
                let mut level = 1usize;
                loop {
                    match self.bump() {
                        None => return Err(perr(line, "missing close-brace")),
                        Some(b'\\') => {
                            self.bump();
                        }
                        Some(b'{') => level += 1,
                        Some(b'}') => {
                            level -= 1;
                            if level == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                let inner = String::from_utf8_lossy(&self.s[start..self.i - 1]).into_owned();
                self.end_of_word(in_bracket, "extra characters after close-brace")?;
                Ok(RawWord {
                    pieces: vec![Piece::Lit(inner.clone())],
                    braced: Some(inner),
                    line,
                })
            }
            Some(b'"') => {
                self.bump();
                let pieces = self.pieces(|c| c == b'"', line)?;
                if self.bump() != Some(b'"') {
                    return Err(perr(line, "missing \""));
                }
                self.end_of_word(in_bracket, "extra characters after close-quote")?;
                Ok(RawWord {
                    pieces,
                    braced: None,
                    line,
                })
            }
            _ => {
                let pieces = self.pieces(
                    |c| {
                        matches!(c, b' ' | b'\t' | b'\r' | b'\n' | b';')
                            || (in_bracket && c == b']')
                    },
                    line,
                )?;
                Ok(RawWord {
                    pieces,
                    braced: None,
                    line,
                })
            }
        }
    }

    fn end_of_word(&self, in_bracket: bool, what: &str) -> Result<(), RuleError> {
        if self.expr {
            return Ok(());
        }
        match self.peek() {
            None | Some(b' ' | b'\t' | b'\r' | b'\n' | b';') => Ok(()),
            Some(b']') if in_bracket => Ok(()),
            Some(b'\\') if self.s.get(self.i + 1) == Some(&b'\n') => Ok(()),
            _ => Err(perr(self.line, what)),
        }
    }

    /// Text with substitutions up to (not including) a byte `stop` accepts.
    fn pieces(&mut self, stop: impl Fn(u8) -> bool, line: usize) -> Result<Vec<Piece>, RuleError> {
        let mut out = Vec::new();
        let mut lit: Vec<u8> = Vec::new();
        let flush = |lit: &mut Vec<u8>, out: &mut Vec<Piece>| {
            if !lit.is_empty() {
                out.push(Piece::Lit(String::from_utf8_lossy(lit).into_owned()));
                lit.clear();
            }
        };
        while let Some(c) = self.peek() {
            if stop(c) {
                break;
            }
            match c {
                b'\\' => {
                    self.bump();
                    match self.bump() {
                        None => lit.push(b'\\'),
                        Some(b'n') => lit.push(b'\n'),
                        Some(b't') => lit.push(b'\t'),
                        Some(b'r') => lit.push(b'\r'),
                        Some(b'\n') => {
                            while matches!(self.peek(), Some(b' ' | b'\t')) {
                                self.bump();
                            }
                            lit.push(b' ');
                        }
                        Some(o) => lit.push(o),
                    }
                }
                b'$' => {
                    self.bump();
                    let name = if self.peek() == Some(b'{') {
                        self.bump();
                        let start = self.i;
                        while self.peek().is_some_and(|c| c != b'}') {
                            self.bump();
                        }
                        if self.bump() != Some(b'}') {
                            return Err(perr(line, "missing close-brace for variable name"));
                        }
                        String::from_utf8_lossy(&self.s[start..self.i - 1]).into_owned()
                    } else {
                        let start = self.i;
                        while let Some(c) = self.peek() {
                            if c.is_ascii_alphanumeric() || c == b'_' {
                                self.bump();
                            } else if c == b':' && self.s.get(self.i + 1) == Some(&b':') {
                                self.bump();
                                self.bump();
                            } else {
                                break;
                            }
                        }
                        String::from_utf8_lossy(&self.s[start..self.i]).into_owned()
                    };
                    if name.is_empty() {
                        lit.push(b'$');
                    } else {
                        flush(&mut lit, &mut out);
                        out.push(Piece::Var(name));
                    }
                }
                b'[' => {
                    self.bump();
                    flush(&mut lit, &mut out);
                    self.depth += 1;
                    let cmds = self.script(true)?;
                    self.depth -= 1;
                    out.push(Piece::Call(cmds));
                }
                _ => {
                    self.bump();
                    lit.push(c);
                }
            }
        }
        flush(&mut lit, &mut out);
        Ok(out)
    }
}

fn parse_script(text: &str, line: usize, depth: usize) -> Result<Vec<RawCmd>, RuleError> {
    let mut p = Parser::new(text, line, depth);
    p.script(false)
}

// ---------------------------------------------------------------- compiled

/// A value: literal text, variables and queries, concatenated.
#[derive(Debug, Clone, PartialEq)]
pub struct Word(Vec<Part>);

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Lit(String),
    Var(String),
    Query(Box<Query>),
}

/// What a `[command]` may ask.
#[derive(Debug, Clone, PartialEq)]
enum Query {
    Uri,
    Path,
    Host,
    Method,
    Args,
    Version,
    HeaderValue(Word),
    HeaderExists(Word),
    ClientAddr,
    LocalAddr,
    Lower(Word),
    Upper(Word),
    Length(Word),
}

#[derive(Debug, Clone, PartialEq)]
enum Stmt {
    If(Vec<(Expr, Vec<Stmt>)>, Vec<Stmt>),
    Set(String, Word),
    Return,
    Pool(Word),
    Reject,
    Drop,
    Log(Word),
    Redirect(Word),
    Respond {
        status: Word,
        content: Option<Word>,
        headers: Vec<(Word, Word)>,
    },
    HeaderInsert(Word, Word),
    HeaderRemove(Word),
    HeaderReplace(Word, Word),
    SetUri(Word),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Eq,
    Ne,
    NumEq,
    NumNe,
    Lt,
    Gt,
    Le,
    Ge,
    StartsWith,
    EndsWith,
    Contains,
}

#[derive(Debug, Clone, PartialEq)]
enum Expr {
    Or(Box<Expr>, Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Cmp(Op, Word, Word),
    Truthy(Word),
}

/// A validated rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    events: Vec<(Event, Vec<Stmt>)>,
    /// Pools the rule names literally (checked to exist at create time).
    pub pools: Vec<String>,
}

/// iRule namespaces and commands BIG-IP has that the subset does not run:
/// refused as not implemented rather than as undefined.
const KNOWN_ELSEWHERE: &[&str] = &[
    "switch",
    "foreach",
    "while",
    "for",
    "persist",
    "snat",
    "snatpool",
    "node",
    "member",
    "table",
    "class",
    "after",
    "session",
    "event",
    "discard",
    "forward",
    "virtual",
    "translate",
    "matchclass",
    "findstr",
    "getfield",
    "substr",
    "scan",
    "regexp",
    "regsub",
    "append",
    "lappend",
    "lindex",
    "llength",
    "split",
    "join",
    "expr",
    "incr",
    "unset",
    "catch",
    "call",
    "proc",
    "timing",
    "clientside",
    "serverside",
    "use",
    "lsort",
    "format",
    "binary",
    "md5",
    "sha1",
    "b64encode",
    "b64decode",
    "crc32",
    "domain",
    "sharedvar",
    "static",
    "priority",
    "rateclass",
    "nexthop",
    "cpu",
    "active_members",
    "active_nodes",
    "clone",
    "peer",
    "relate_client",
    "relate_server",
    "accumulate",
    "string",
    "log",
];
const KNOWN_NAMESPACES: &[&str] = &[
    "HTTP", "TCP", "UDP", "IP", "SSL", "LB", "URI", "HTTP2", "CLASS", "X509", "AES", "DNS",
    "RESOLV", "SIP", "ACCESS", "ASM", "CACHE", "COMPRESS", "STREAM", "SNAT", "PROFILE", "ROUTE",
    "LINK", "CRYPTO", "SCTP", "AUTH", "WS", "HTML", "JSON", "ISTATS", "STATS",
];

fn not_subset(cmd: &RawCmd, name: &str) -> RuleError {
    let known = KNOWN_ELSEWHERE.contains(&name)
        || name
            .split_once("::")
            .is_some_and(|(ns, _)| KNOWN_NAMESPACES.contains(&ns));
    if known {
        RuleError::new(
            cmd.line,
            format!(
                "[command not implemented by fakedc: {}][{}]",
                clip(name, 60),
                cmd.show()
            ),
        )
    } else {
        RuleError::new(
            cmd.line,
            format!("[undefined procedure: {}][{}]", clip(name, 60), cmd.show()),
        )
    }
}

fn wrong_args(cmd: &RawCmd) -> RuleError {
    RuleError::new(cmd.line, format!("[wrong # args][{}]", cmd.show()))
}

struct Compiler {
    event: Event,
    /// Pools named literally, with the line naming them.
    pools: Vec<(String, usize)>,
    depth: usize,
}

impl Compiler {
    fn word(&mut self, w: &RawWord) -> Result<Word, RuleError> {
        if let Some(b) = &w.braced {
            return Ok(Word(vec![Part::Lit(b.clone())]));
        }
        let mut parts = Vec::new();
        for p in &w.pieces {
            parts.push(match p {
                Piece::Lit(s) => Part::Lit(s.clone()),
                Piece::Var(v) => Part::Var(v.clone()),
                Piece::Call(cmds) => Part::Query(Box::new(self.query(cmds, w.line)?)),
            });
        }
        Ok(Word(parts))
    }

    /// `[command]`: exactly one value-returning command of the subset.
    fn query(&mut self, cmds: &[RawCmd], line: usize) -> Result<Query, RuleError> {
        let [cmd] = cmds else {
            return Err(RuleError::new(
                line,
                "[command substitution must hold exactly one command][]",
            ));
        };
        let name = cmd.words[0]
            .literal()
            .ok_or_else(|| RuleError::new(cmd.line, "[command name must be literal][]"))?;
        let args = &cmd.words[1..];
        let http = name.starts_with("HTTP::");
        if http && self.event != Event::HttpRequest {
            return Err(self.scope(cmd, &name));
        }
        let lit = |i: usize| args.get(i).and_then(RawWord::literal);
        let q = match (name.as_str(), args.len()) {
            ("HTTP::uri", 0) => Query::Uri,
            ("HTTP::path", 0) => Query::Path,
            ("HTTP::host", 0) => Query::Host,
            ("HTTP::method", 0) => Query::Method,
            ("HTTP::query", 0) => Query::Args,
            ("HTTP::version", 0) => Query::Version,
            ("HTTP::header", 1) => Query::HeaderValue(self.word(&args[0])?),
            ("HTTP::header", 2) if lit(0).as_deref() == Some("value") => {
                Query::HeaderValue(self.word(&args[1])?)
            }
            ("HTTP::header", 2) if lit(0).as_deref() == Some("exists") => {
                Query::HeaderExists(self.word(&args[1])?)
            }
            ("IP::client_addr" | "IP::remote_addr", 0) => Query::ClientAddr,
            ("IP::local_addr", 0) => Query::LocalAddr,
            ("string", 2) if lit(0).as_deref() == Some("tolower") => {
                Query::Lower(self.word(&args[1])?)
            }
            ("string", 2) if lit(0).as_deref() == Some("toupper") => {
                Query::Upper(self.word(&args[1])?)
            }
            ("string", 2) if lit(0).as_deref() == Some("length") => {
                Query::Length(self.word(&args[1])?)
            }
            (
                "HTTP::uri" | "HTTP::path" | "HTTP::host" | "HTTP::method" | "HTTP::query"
                | "HTTP::version" | "IP::client_addr" | "IP::remote_addr" | "IP::local_addr",
                _,
            ) => return Err(wrong_args(cmd)),
            _ => return Err(not_subset(cmd, &name)),
        };
        Ok(q)
    }

    fn scope(&self, cmd: &RawCmd, name: &str) -> RuleError {
        RuleError::new(
            cmd.line,
            format!(
                "[command is not valid in current event context ({})][{}]",
                self.event.name(),
                clip(name, 60)
            ),
        )
    }

    fn block(&mut self, text: &str, line: usize) -> Result<Vec<Stmt>, RuleError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(perr(line, "nesting too deep"));
        }
        let cmds = parse_script(text, line, self.depth)?;
        let mut out = Vec::new();
        for c in &cmds {
            out.push(self.stmt(c)?);
        }
        self.depth -= 1;
        Ok(out)
    }

    fn body(&mut self, w: &RawWord) -> Result<Vec<Stmt>, RuleError> {
        match &w.braced {
            Some(b) => self.block(b, w.line),
            None => Err(RuleError::new(
                w.line,
                format!("[a body must be braced][{}]", w.show()),
            )),
        }
    }

    fn stmt(&mut self, cmd: &RawCmd) -> Result<Stmt, RuleError> {
        let name = cmd.words[0]
            .literal()
            .ok_or_else(|| RuleError::new(cmd.line, "[command name must be literal][]"))?;
        let args = &cmd.words[1..];
        let lit = |i: usize| args.get(i).and_then(RawWord::literal);
        if name.starts_with("HTTP::") && self.event != Event::HttpRequest {
            return Err(self.scope(cmd, &name));
        }
        Ok(match name.as_str() {
            "if" => self.if_stmt(cmd)?,
            "when" => {
                return Err(RuleError::new(
                    cmd.line,
                    format!("[when must be at the top level][{}]", cmd.show()),
                ))
            }
            "set" => match args {
                [n, v] => {
                    let n = n
                        .literal()
                        .filter(|n| !n.is_empty() && n.len() <= 64)
                        .ok_or_else(|| wrong_args(cmd))?;
                    Stmt::Set(n, self.word(v)?)
                }
                _ => return Err(wrong_args(cmd)),
            },
            "return" if args.is_empty() => Stmt::Return,
            "return" => return Err(wrong_args(cmd)),
            "reject" if args.is_empty() => Stmt::Reject,
            "drop" | "discard" if args.is_empty() => Stmt::Drop,
            "reject" | "drop" => return Err(wrong_args(cmd)),
            "pool" => match args {
                [p] => {
                    if let Some(p) = p.literal() {
                        self.pools.push((p, cmd.line));
                    }
                    Stmt::Pool(self.word(p)?)
                }
                _ => {
                    return Err(RuleError::new(
                        cmd.line,
                        format!(
                            "[command not implemented by fakedc: pool with a member][{}]",
                            cmd.show()
                        ),
                    ))
                }
            },
            "log" => match args {
                [m] => Stmt::Log(self.word(m)?),
                [f, m] if lit(0).is_some_and(|f| f.starts_with("local") && f.contains('.')) => {
                    let _ = f;
                    Stmt::Log(self.word(m)?)
                }
                _ => return Err(wrong_args(cmd)),
            },
            "HTTP::redirect" => match args {
                [u] => Stmt::Redirect(self.word(u)?),
                _ => return Err(wrong_args(cmd)),
            },
            "HTTP::respond" => {
                let Some(status) = args.first() else {
                    return Err(wrong_args(cmd));
                };
                let status = self.word(status)?;
                let mut content = None;
                let mut headers = Vec::new();
                let mut i = 1;
                while i < args.len() {
                    match lit(i).as_deref() {
                        Some("content") if content.is_none() => {
                            let v = args.get(i + 1).ok_or_else(|| wrong_args(cmd))?;
                            content = Some(self.word(v)?);
                            i += 2;
                        }
                        Some("noserver") => i += 1,
                        _ => {
                            let v = args.get(i + 1).ok_or_else(|| wrong_args(cmd))?;
                            headers.push((self.word(&args[i])?, self.word(v)?));
                            i += 2;
                        }
                    }
                }
                Stmt::Respond {
                    status,
                    content,
                    headers,
                }
            }
            "HTTP::header" => match (lit(0).as_deref(), args.len()) {
                (Some("insert"), 3) => {
                    Stmt::HeaderInsert(self.word(&args[1])?, self.word(&args[2])?)
                }
                (Some("replace"), 3) => {
                    Stmt::HeaderReplace(self.word(&args[1])?, self.word(&args[2])?)
                }
                (Some("remove"), 2) => Stmt::HeaderRemove(self.word(&args[1])?),
                (Some("insert" | "replace" | "remove"), _) => return Err(wrong_args(cmd)),
                _ => {
                    return Err(not_subset(
                        cmd,
                        &format!("HTTP::header {}", lit(0).unwrap_or_default()),
                    ))
                }
            },
            "HTTP::uri" => match args {
                [u] => Stmt::SetUri(self.word(u)?),
                _ => return Err(wrong_args(cmd)),
            },
            _ => return Err(not_subset(cmd, &name)),
        })
    }

    fn if_stmt(&mut self, cmd: &RawCmd) -> Result<Stmt, RuleError> {
        let w = &cmd.words;
        let mut branches = Vec::new();
        let mut otherwise = Vec::new();
        let mut i = 1;
        loop {
            let cond = w.get(i).ok_or_else(|| wrong_args(cmd))?;
            let expr = self.expr_word(cond)?;
            i += 1;
            if w.get(i).and_then(RawWord::literal).as_deref() == Some("then")
                && w.get(i).is_some_and(|x| x.braced.is_none())
            {
                i += 1;
            }
            let body = self.body(w.get(i).ok_or_else(|| wrong_args(cmd))?)?;
            i += 1;
            branches.push((expr, body));
            let kw = w
                .get(i)
                .filter(|x| x.braced.is_none())
                .and_then(RawWord::literal);
            match kw.as_deref() {
                None if i >= w.len() => break,
                Some("elseif") => i += 1,
                Some("else") => {
                    otherwise = self.body(w.get(i + 1).ok_or_else(|| wrong_args(cmd))?)?;
                    if i + 2 != w.len() {
                        return Err(wrong_args(cmd));
                    }
                    break;
                }
                _ => return Err(wrong_args(cmd)),
            }
        }
        Ok(Stmt::If(branches, otherwise))
    }

    fn expr_word(&mut self, w: &RawWord) -> Result<Expr, RuleError> {
        match &w.braced {
            Some(text) => {
                let toks = expr_tokens(text, w.line, self.depth + 1)?;
                let mut p = ExprParser {
                    toks: &toks,
                    i: 0,
                    line: w.line,
                    c: self,
                    depth: 0,
                };
                let e = p.or()?;
                if p.i != toks.len() {
                    return Err(RuleError::new(
                        w.line,
                        format!("[syntax error in expression][{}]", clip(text, 80)),
                    ));
                }
                Ok(e)
            }
            None => Ok(Expr::Truthy(self.word(w)?)),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    LParen,
    RParen,
    Not,
    And,
    Or,
    Op(Op),
    Val(RawWord),
}

/// An expression's tokens: operators, and operands parsed as words.
fn expr_tokens(text: &str, line: usize, depth: usize) -> Result<Vec<Tok>, RuleError> {
    let mut p = Parser::new(text, line, depth);
    let mut out = Vec::new();
    loop {
        while matches!(p.peek(), Some(b' ' | b'\t' | b'\r' | b'\n')) {
            p.bump();
        }
        let Some(c) = p.peek() else { break };
        let two = p.s.get(p.i..p.i + 2);
        let tok = match (c, two) {
            (_, Some(b"&&")) => Some((Tok::And, 2)),
            (_, Some(b"||")) => Some((Tok::Or, 2)),
            (_, Some(b"==")) => Some((Tok::Op(Op::NumEq), 2)),
            (_, Some(b"!=")) => Some((Tok::Op(Op::NumNe), 2)),
            (_, Some(b"<=")) => Some((Tok::Op(Op::Le), 2)),
            (_, Some(b">=")) => Some((Tok::Op(Op::Ge), 2)),
            (b'<', _) => Some((Tok::Op(Op::Lt), 1)),
            (b'>', _) => Some((Tok::Op(Op::Gt), 1)),
            (b'!', _) => Some((Tok::Not, 1)),
            (b'(', _) => Some((Tok::LParen, 1)),
            (b')', _) => Some((Tok::RParen, 1)),
            _ => None,
        };
        if let Some((t, n)) = tok {
            for _ in 0..n {
                p.bump();
            }
            out.push(t);
        } else {
            let w = match c {
                b'{' | b'"' => {
                    p.expr = true;
                    let w = p.word(false)?;
                    p.expr = false;
                    w
                }
                _ => {
                    let pieces = p.pieces(
                        |c| {
                            matches!(
                                c,
                                b' ' | b'\t'
                                    | b'\r'
                                    | b'\n'
                                    | b'('
                                    | b')'
                                    | b'!'
                                    | b'<'
                                    | b'>'
                                    | b'='
                                    | b'&'
                                    | b'|'
                            )
                        },
                        line,
                    )?;
                    if pieces.is_empty() {
                        return Err(RuleError::new(
                            line,
                            format!("[syntax error in expression][{}]", clip(text, 80)),
                        ));
                    }
                    RawWord {
                        pieces,
                        braced: None,
                        line,
                    }
                }
            };
            let word_op = match (w.braced.is_none(), w.pieces.as_slice()) {
                (true, [Piece::Lit(s)]) => match s.as_str() {
                    "eq" | "equals" => Some(Tok::Op(Op::Eq)),
                    "ne" => Some(Tok::Op(Op::Ne)),
                    "starts_with" => Some(Tok::Op(Op::StartsWith)),
                    "ends_with" => Some(Tok::Op(Op::EndsWith)),
                    "contains" => Some(Tok::Op(Op::Contains)),
                    "and" => Some(Tok::And),
                    "or" => Some(Tok::Or),
                    "not" => Some(Tok::Not),
                    _ => None,
                },
                _ => None,
            };
            out.push(word_op.unwrap_or(Tok::Val(w)));
        }
        if out.len() > 1024 {
            return Err(perr(line, "expression too long"));
        }
    }
    Ok(out)
}

struct ExprParser<'t, 'c> {
    toks: &'t [Tok],
    i: usize,
    line: usize,
    c: &'c mut Compiler,
    depth: usize,
}

impl ExprParser<'_, '_> {
    fn err(&self) -> RuleError {
        RuleError::new(self.line, "[syntax error in expression][]")
    }

    fn or(&mut self) -> Result<Expr, RuleError> {
        let mut l = self.and()?;
        while self.toks.get(self.i) == Some(&Tok::Or) {
            self.i += 1;
            let r = self.and()?;
            l = Expr::Or(Box::new(l), Box::new(r));
        }
        Ok(l)
    }

    fn and(&mut self) -> Result<Expr, RuleError> {
        let mut l = self.unary()?;
        while self.toks.get(self.i) == Some(&Tok::And) {
            self.i += 1;
            let r = self.unary()?;
            l = Expr::And(Box::new(l), Box::new(r));
        }
        Ok(l)
    }

    fn unary(&mut self) -> Result<Expr, RuleError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(perr(self.line, "expression nesting too deep"));
        }
        let r = match self.toks.get(self.i) {
            Some(Tok::Not) => {
                self.i += 1;
                Ok(Expr::Not(Box::new(self.unary()?)))
            }
            Some(Tok::LParen) => {
                self.i += 1;
                let e = self.or()?;
                if self.toks.get(self.i) != Some(&Tok::RParen) {
                    return Err(self.err());
                }
                self.i += 1;
                Ok(e)
            }
            Some(Tok::Val(w)) => {
                self.i += 1;
                let l = self.c.word(w)?;
                if let Some(Tok::Op(op)) = self.toks.get(self.i) {
                    let op = *op;
                    self.i += 1;
                    let Some(Tok::Val(rw)) = self.toks.get(self.i) else {
                        return Err(self.err());
                    };
                    self.i += 1;
                    let r = self.c.word(rw)?;
                    Ok(Expr::Cmp(op, l, r))
                } else {
                    Ok(Expr::Truthy(l))
                }
            }
            _ => Err(self.err()),
        };
        self.depth -= 1;
        r
    }
}

/// Parses and validates a rule's text. `pool_exists` says whether a pool
/// named literally (as written: `web_pool` or `/Common/web_pool`) exists.
pub fn compile(text: &str, pool_exists: impl Fn(&str) -> bool) -> Result<Rule, RuleError> {
    if text.len() > MAX_TEXT {
        return Err(RuleError::new(
            1,
            format!("[rule text longer than {MAX_TEXT} bytes][]"),
        ));
    }
    let cmds = parse_script(text, 1, 0)?;
    let mut events: Vec<(Event, Vec<Stmt>)> = Vec::new();
    let mut pools = Vec::new();
    for cmd in &cmds {
        let name = cmd.words[0].literal().unwrap_or_default();
        if name != "when" {
            return Err(RuleError::new(
                cmd.line,
                format!(
                    "[command is not valid in the current scope][{}]",
                    cmd.show()
                ),
            ));
        }
        // `when EVENT [priority N] { body }`
        let (ev, body) = match cmd.words.as_slice() {
            [_, ev, body] => (ev, body),
            [_, ev, p, _, body] if p.literal().as_deref() == Some("priority") => (ev, body),
            _ => return Err(wrong_args(cmd)),
        };
        let ev_name = ev.literal().unwrap_or_default();
        let event = match ev_name.as_str() {
            "CLIENT_ACCEPTED" => Event::ClientAccepted,
            "HTTP_REQUEST" => Event::HttpRequest,
            other
                if other.chars().all(|c| c.is_ascii_uppercase() || c == '_')
                    && !other.is_empty() =>
            {
                return Err(RuleError::new(
                    cmd.line,
                    format!(
                        "[event not implemented by fakedc: {}][when {}]",
                        clip(other, 60),
                        clip(other, 60)
                    ),
                ))
            }
            other => {
                return Err(RuleError::new(
                    cmd.line,
                    format!(
                        "[undefined event: {}][when {}]",
                        clip(other, 60),
                        clip(other, 60)
                    ),
                ))
            }
        };
        if events.iter().any(|(e, _)| *e == event) {
            return Err(RuleError::new(
                cmd.line,
                format!("[duplicate event: {}][when {}]", event.name(), event.name()),
            ));
        }
        let mut c = Compiler {
            event,
            pools: Vec::new(),
            depth: 0,
        };
        let stmts = c.body(body)?;
        for (p, line) in c.pools {
            if !pool_exists(&p) {
                return Err(RuleError::new(
                    line,
                    format!(
                        "[Unable to find pool ({}) referenced][pool {}]",
                        clip(&p, 80),
                        clip(&p, 80)
                    ),
                ));
            }
            if !pools.contains(&p) {
                pools.push(p);
            }
        }
        events.push((event, stmts));
    }
    Ok(Rule { events, pools })
}

impl Rule {
    pub fn has(&self, event: Event) -> bool {
        self.events.iter().any(|(e, _)| *e == event)
    }

    /// Runs the rule's script for `event`, if it has one.
    pub fn run(&self, event: Event, env: &mut Env<'_>) {
        if let Some((_, stmts)) = self.events.iter().find(|(e, _)| *e == event) {
            env.vars.clear();
            env.set_bytes = 0;
            let mut steps = 0;
            let _ = run_block(stmts, env, &mut steps);
        }
    }
}

// ---------------------------------------------------------------- running

/// An HTTP request as the rule sees and changes it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HttpRequest {
    pub method: String,
    pub uri: String,
    pub version: String,
    pub headers: Vec<(String, String)>,
}

impl HttpRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .rev()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What the rule decided.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Action {
    #[default]
    Continue,
    Redirect(String),
    Respond {
        status: u16,
        body: String,
        headers: Vec<(String, String)>,
    },
    Reject,
    Drop,
}

/// One event's run: its inputs and what it decided.
pub struct Env<'a> {
    pub client: std::net::SocketAddr,
    pub local: std::net::SocketAddr,
    pub http: Option<&'a mut HttpRequest>,
    /// Set by `pool`.
    pub pool: Option<String>,
    pub action: Action,
    /// `log` messages, in order.
    pub logs: Vec<String>,
    vars: HashMap<String, String>,
    /// Bytes stored by `set` so far (bounded by MAX_SET_BYTES).
    set_bytes: usize,
}

impl<'a> Env<'a> {
    pub fn new(
        client: std::net::SocketAddr,
        local: std::net::SocketAddr,
        http: Option<&'a mut HttpRequest>,
    ) -> Env<'a> {
        Env {
            client,
            local,
            http,
            pool: None,
            action: Action::Continue,
            logs: Vec::new(),
            vars: HashMap::new(),
            set_bytes: 0,
        }
    }
}

/// Why a block stopped early.
enum Stop {
    /// `return`, or an action that ends the event.
    Done,
}

fn run_block(stmts: &[Stmt], env: &mut Env<'_>, steps: &mut usize) -> Result<(), Stop> {
    for s in stmts {
        *steps += 1;
        if *steps > MAX_STEPS {
            return Err(Stop::Done);
        }
        match s {
            Stmt::If(branches, otherwise) => {
                let mut taken = false;
                for (cond, body) in branches {
                    if eval(cond, env) {
                        run_block(body, env, steps)?;
                        taken = true;
                        break;
                    }
                }
                if !taken {
                    run_block(otherwise, env, steps)?;
                }
            }
            Stmt::Set(n, w) => {
                let v = value(w, env);
                env.set_bytes += v.len();
                if env.set_bytes > MAX_SET_BYTES {
                    return Err(Stop::Done);
                }
                if env.vars.len() < 256 || env.vars.contains_key(n) {
                    env.vars.insert(n.clone(), v);
                }
            }
            Stmt::Return => return Err(Stop::Done),
            Stmt::Pool(w) => env.pool = Some(value(w, env)),
            Stmt::Reject => {
                env.action = Action::Reject;
                return Err(Stop::Done);
            }
            Stmt::Drop => {
                env.action = Action::Drop;
                return Err(Stop::Done);
            }
            Stmt::Log(w) => {
                if env.logs.len() < 64 {
                    let m = value(w, env);
                    env.logs.push(m);
                }
            }
            Stmt::Redirect(w) => {
                env.action = Action::Redirect(value(w, env));
                return Err(Stop::Done);
            }
            Stmt::Respond {
                status,
                content,
                headers,
            } => {
                let code = value(status, env).trim().parse::<u16>().unwrap_or(500);
                let code = if (100..=599).contains(&code) {
                    code
                } else {
                    500
                };
                let body = content.as_ref().map(|c| value(c, env)).unwrap_or_default();
                let headers = headers
                    .iter()
                    .map(|(k, v)| (value(k, env), value(v, env)))
                    .filter(|(k, v)| header_ok(k, v))
                    .collect();
                env.action = Action::Respond {
                    status: code,
                    body,
                    headers,
                };
                return Err(Stop::Done);
            }
            Stmt::HeaderInsert(k, v) => {
                let (k, v) = (value(k, env), value(v, env));
                if let Some(h) = env.http.as_deref_mut() {
                    if header_ok(&k, &v) && h.headers.len() < 256 {
                        h.headers.push((k, v));
                    }
                }
            }
            Stmt::HeaderRemove(k) => {
                let k = value(k, env);
                if let Some(h) = env.http.as_deref_mut() {
                    h.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(&k));
                }
            }
            Stmt::HeaderReplace(k, v) => {
                let (k, v) = (value(k, env), value(v, env));
                if let Some(h) = env.http.as_deref_mut() {
                    if header_ok(&k, &v) {
                        // BIG-IP replaces the last occurrence, or inserts.
                        match h
                            .headers
                            .iter_mut()
                            .rev()
                            .find(|(n, _)| n.eq_ignore_ascii_case(&k))
                        {
                            Some(slot) => slot.1 = v,
                            None => h.headers.push((k, v)),
                        }
                    }
                }
            }
            Stmt::SetUri(u) => {
                let u = value(u, env);
                if let Some(h) = env.http.as_deref_mut() {
                    if !u.is_empty() && !u.bytes().any(|b| b <= b' ' || b == 0x7f) {
                        h.uri = u;
                    }
                }
            }
        }
    }
    Ok(())
}

/// A header a rule may send: a token name and a value without line breaks
/// (no response splitting through a rule's variables).
fn header_ok(k: &str, v: &str) -> bool {
    !k.is_empty()
        && k.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
        && !v.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0)
}

fn value(w: &Word, env: &Env<'_>) -> String {
    let mut s = String::new();
    for p in &w.0 {
        match p {
            Part::Lit(l) => s.push_str(l),
            Part::Var(v) => {
                if let Some(x) = env.vars.get(v) {
                    s.push_str(x)
                }
            }
            Part::Query(q) => s.push_str(&query(q, env)),
        }
        if s.len() > MAX_VALUE {
            let mut end = MAX_VALUE;
            while !s.is_char_boundary(end) {
                end -= 1;
            }
            s.truncate(end);
            break;
        }
    }
    s
}

fn query(q: &Query, env: &Env<'_>) -> String {
    let h = env.http.as_deref();
    let uri = || h.map(|h| h.uri.as_str()).unwrap_or("");
    match q {
        Query::Uri => uri().to_string(),
        Query::Path => uri().split('?').next().unwrap_or("").to_string(),
        Query::Args => uri()
            .split_once('?')
            .map(|(_, q)| q)
            .unwrap_or("")
            .to_string(),
        Query::Host => h.and_then(|h| h.header("host")).unwrap_or("").to_string(),
        Query::Method => h.map(|h| h.method.clone()).unwrap_or_default(),
        Query::Version => h
            .map(|h| h.version.trim_start_matches("HTTP/").to_string())
            .unwrap_or_default(),
        Query::HeaderValue(n) => {
            let n = value(n, env);
            h.and_then(|h| h.header(&n)).unwrap_or("").to_string()
        }
        Query::HeaderExists(n) => {
            let n = value(n, env);
            if h.and_then(|h| h.header(&n)).is_some() {
                "1".into()
            } else {
                "0".into()
            }
        }
        Query::ClientAddr => env.client.ip().to_string(),
        Query::LocalAddr => env.local.ip().to_string(),
        Query::Lower(w) => value(w, env).to_lowercase(),
        Query::Upper(w) => value(w, env).to_uppercase(),
        Query::Length(w) => value(w, env).chars().count().to_string(),
    }
}

fn truthy(s: &str) -> bool {
    let t = s.trim();
    match t.to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" => true,
        "false" | "no" | "off" | "" => false,
        _ => t.parse::<f64>().map(|n| n != 0.0).unwrap_or(false),
    }
}

fn eval(e: &Expr, env: &Env<'_>) -> bool {
    match e {
        Expr::Or(a, b) => eval(a, env) || eval(b, env),
        Expr::And(a, b) => eval(a, env) && eval(b, env),
        Expr::Not(a) => !eval(a, env),
        Expr::Truthy(w) => truthy(&value(w, env)),
        Expr::Cmp(op, a, b) => {
            let (a, b) = (value(a, env), value(b, env));
            // TCL compares numerically when both sides are numbers.
            let num = || Some((a.trim().parse::<f64>().ok()?, b.trim().parse::<f64>().ok()?));
            let ord = || match num() {
                Some((x, y)) => x.partial_cmp(&y),
                None => Some(a.cmp(&b)),
            };
            match op {
                Op::Eq => a == b,
                Op::Ne => a != b,
                Op::NumEq => ord() == Some(std::cmp::Ordering::Equal),
                Op::NumNe => ord() != Some(std::cmp::Ordering::Equal),
                Op::Lt => ord() == Some(std::cmp::Ordering::Less),
                Op::Gt => ord() == Some(std::cmp::Ordering::Greater),
                Op::Le => matches!(ord(), Some(o) if o != std::cmp::Ordering::Greater),
                Op::Ge => matches!(ord(), Some(o) if o != std::cmp::Ordering::Less),
                Op::StartsWith => a.starts_with(&b),
                Op::EndsWith => a.ends_with(&b),
                Op::Contains => a.contains(&b),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> std::net::SocketAddr {
        s.parse().expect("address")
    }

    fn run_http(rule: &Rule, req: &mut HttpRequest) -> (Action, Option<String>, Vec<String>) {
        let mut env = Env::new(addr("127.0.0.1:5000"), addr("127.0.0.42:80"), Some(req));
        rule.run(Event::HttpRequest, &mut env);
        (env.action, env.pool, env.logs)
    }

    fn get(uri: &str, host: &str) -> HttpRequest {
        HttpRequest {
            method: "GET".into(),
            uri: uri.into(),
            version: "HTTP/1.1".into(),
            headers: vec![("Host".into(), host.into())],
        }
    }

    #[test]
    fn redirect_pool_and_headers() {
        let text = r#"
# send old paths elsewhere
when HTTP_REQUEST {
    if { [HTTP::uri] starts_with "/old" } {
        HTTP::redirect "https://[HTTP::host]/new[HTTP::path]"
    } elseif { [HTTP::path] eq "/api" and not ([HTTP::method] eq "POST") } {
        pool api_pool
        HTTP::header insert X-Api yes
        log local0. "api from [IP::client_addr]"
    } else {
        HTTP::header replace Host "backend"
        HTTP::header remove Cookie
    }
}
"#;
        let rule = compile(text, |p| p == "api_pool").expect("compiles");
        assert_eq!(rule.pools, vec!["api_pool".to_string()]);
        let mut r = get("/old/x?a=1", "vip");
        let (a, _, _) = run_http(&rule, &mut r);
        assert_eq!(a, Action::Redirect("https://vip/new/old/x".into()));
        let mut r = get("/api", "vip");
        let (a, p, logs) = run_http(&rule, &mut r);
        assert_eq!(a, Action::Continue);
        assert_eq!(p.as_deref(), Some("api_pool"));
        assert_eq!(logs, vec!["api from 127.0.0.1".to_string()]);
        assert_eq!(r.header("x-api"), Some("yes"));
        let mut r = get("/", "vip");
        r.headers.push(("Cookie".into(), "a=b".into()));
        run_http(&rule, &mut r);
        assert_eq!(r.header("host"), Some("backend"));
        assert_eq!(r.header("cookie"), None);
    }

    #[test]
    fn respond_and_variables() {
        let text = "when HTTP_REQUEST {\n set who [string tolower [HTTP::header User-Agent]]\n if {$who contains \"curl\"} { HTTP::respond 403 content \"no $who\" Content-Type text/plain }\n}";
        let rule = compile(text, |_| false).expect("compiles");
        let mut r = get("/", "vip");
        r.headers.push(("User-Agent".into(), "Curl/8".into()));
        let (a, _, _) = run_http(&rule, &mut r);
        assert_eq!(
            a,
            Action::Respond {
                status: 403,
                body: "no curl/8".into(),
                headers: vec![("Content-Type".into(), "text/plain".into())]
            }
        );
    }

    #[test]
    fn doubling_a_variable_is_bounded() {
        let mut text = String::from("when HTTP_REQUEST {\n set a x\n");
        for _ in 0..2000 {
            text.push_str(" set a $a$a\n");
        }
        text.push_str(" HTTP::respond 200 content $a\n}");
        let rule = compile(&text, |_| true).expect("compiles");
        let mut r = get("/", "vip");
        let (a, _, _) = run_http(&rule, &mut r);
        // The budget ends the event before the respond.
        assert_eq!(a, Action::Continue);
    }

    #[test]
    fn client_accepted_reject_by_address() {
        let rule = compile(
            "when CLIENT_ACCEPTED { if { [IP::client_addr] eq \"127.0.0.1\" } { reject } }",
            |_| false,
        )
        .expect("compiles");
        let mut env = Env::new(addr("127.0.0.1:1"), addr("127.0.0.42:80"), None);
        rule.run(Event::ClientAccepted, &mut env);
        assert_eq!(env.action, Action::Reject);
        let mut env = Env::new(addr("127.0.0.2:1"), addr("127.0.0.42:80"), None);
        rule.run(Event::ClientAccepted, &mut env);
        assert_eq!(env.action, Action::Continue);
    }

    #[test]
    fn refusals_name_the_command_and_line() {
        let e = compile("when HTTP_REQUEST {\n  foo bar\n}", |_| true).unwrap_err();
        assert_eq!(e.line, 2);
        assert!(
            e.detail.starts_with("[undefined procedure: foo][foo bar]"),
            "{e:?}"
        );
        let e = compile(
            "when HTTP_REQUEST {\n switch [HTTP::uri] { /a { pool p } }\n}",
            |_| true,
        )
        .unwrap_err();
        assert!(
            e.detail.contains("not implemented by fakedc: switch"),
            "{e:?}"
        );
        let e = compile("when CLIENT_ACCEPTED { HTTP::redirect /x }", |_| true).unwrap_err();
        assert!(e
            .detail
            .contains("not valid in current event context (CLIENT_ACCEPTED)"));
        let e = compile("when HTTP_REQUEST { pool nosuch }", |_| false).unwrap_err();
        assert!(e.detail.contains("Unable to find pool (nosuch)"));
        let e = compile("when HTTP_REQUEST { HTTP::redirect }", |_| true).unwrap_err();
        assert!(e.detail.starts_with("[wrong # args]"));
        let e = compile("when HTTP_REQUEST { if {1} { pool p }", |_| true).unwrap_err();
        assert!(e.detail.contains("missing close-brace"));
        let e = compile("when SERVER_CONNECTED { }", |_| true).unwrap_err();
        assert!(e.detail.contains("SERVER_CONNECTED"));
        assert!(e
            .message("/Common/r")
            .starts_with("01070151:3: Rule [/Common/r] error: /Common/r:1: error: ["));
        let deep = format!(
            "when HTTP_REQUEST {{ {}1{} }}",
            "[string length ".repeat(100),
            "]".repeat(100)
        );
        assert!(compile(&deep, |_| true).is_err());
    }
}
