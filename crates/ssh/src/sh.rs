//! The syntax of busybox `sh` (ash) that the ESXi shell runs, sans-IO: a
//! command line becomes a tree of lists, pipelines and commands, with words
//! kept as their parts (literal text, quoted text, `$VAR`, `$(…)`) so that
//! expansion can split and join them as sh does.
//!
//! Supported: `;`, `&` (run in the foreground: there are no jobs), newlines,
//! `&&`, `||`, `!`, `|`, `( … )`, `{ …; }`, redirections `[n]>`, `>>`, `<`,
//! `>|`, `<>`, `[n]>&m`, `[n]<&m`, single and double quotes, backslash,
//! `$NAME`, `${NAME}`, the special parameters (`$?`, `$$`, `$#`, `$0`…`$9`,
//! `$@`, `$*`, `$!`, `$-`), `$(…)` and backquotes, a leading `~`, `#`
//! comments, and NAME=value assignments. Compound commands (`if`, `for`,
//! `while`, `case`), here-documents, arithmetic and the `${NAME:-word}`
//! family are syntax errors, reported in busybox's words.
//!
//! Everything a peer controls is bounded: the script's length
//! ([`MAX_SCRIPT`]), the nesting of subshells, groups and substitutions
//! ([`MAX_DEPTH`]) and the number of nodes ([`MAX_NODES`]), so parsing is
//! linear and the tree is small.

use std::fmt;

/// Longest script accepted (bytes).
pub const MAX_SCRIPT: usize = 64 * 1024;
/// Deepest nesting of `( )`, `{ }`, `$( )` and backquotes.
pub const MAX_DEPTH: usize = 32;
/// Most commands, words and redirections in one script.
pub const MAX_NODES: usize = 8192;

/// A syntax error, printed as `sh: syntax error: {0}` (exit status 2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError(pub String);

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "syntax error: {}", self.0)
    }
}

/// Commands separated by `;`, `&` or newlines.
pub type List = Vec<AndOr>;

/// Pipelines joined by `&&` and `||`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AndOr {
    pub first: Pipeline,
    pub rest: Vec<(Connector, Pipeline)>,
}

/// How a pipeline joins the one before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Connector {
    And,
    Or,
}

/// Commands joined by `|`, optionally negated with `!`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pipeline {
    pub bang: bool,
    pub commands: Vec<Command>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Simple(Simple),
    /// `( list )`: runs in a copy of the shell's state.
    Subshell(List, Vec<Redir>),
    /// `{ list; }`: runs in the shell itself.
    Group(List, Vec<Redir>),
}

/// Assignments, words and redirections.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Simple {
    pub assigns: Vec<(String, Word)>,
    pub words: Vec<Word>,
    pub redirs: Vec<Redir>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redir {
    /// The file descriptor redirected (0 for `<`, 1 for `>` unless given).
    pub fd: u32,
    pub op: RedirOp,
    /// The file, or for the duplicating forms the descriptor (`1`, `-`).
    pub target: Word,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedirOp {
    /// `>` and `>|`
    Out,
    /// `>>`
    Append,
    /// `<`
    In,
    /// `<>`
    ReadWrite,
    /// `>&` and `<&`
    Dup,
}

/// A word as written: its parts, before expansion.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Word(pub Vec<Part>);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    /// Unquoted text (backslash escapes removed).
    Lit(String),
    /// Text from quotes or a backslash escape: never split.
    Quoted(String),
    /// `$NAME`, `${NAME}` or a special parameter; `quoted` inside "…".
    Param { name: String, quoted: bool },
    /// `$(…)` or backquotes.
    Subst { list: List, quoted: bool },
}

impl Word {
    /// The word's text when it is plain text (no expansion), quotes removed.
    pub fn literal(&self) -> Option<String> {
        let mut s = String::new();
        for p in &self.0 {
            match p {
                Part::Lit(t) | Part::Quoted(t) => s.push_str(t),
                _ => return None,
            }
        }
        Some(s)
    }

    /// Whether the word is exactly this unquoted text (reserved words).
    fn is_bare(&self, text: &str) -> bool {
        matches!(self.0.as_slice(), [Part::Lit(t)] if t == text)
    }
}

/// Words that start compound commands this shell does not have.
const UNSUPPORTED: &[&str] = &[
    "if", "then", "else", "elif", "fi", "for", "while", "until", "do", "done", "case", "esac",
    "function", "select",
];

/// Parses a script.
pub fn parse(src: &str) -> Result<List, SyntaxError> {
    if src.len() > MAX_SCRIPT {
        return Err(SyntaxError("script too long".into()));
    }
    let chars: Vec<char> = src.chars().collect();
    let mut p = Parser {
        s: &chars,
        i: 0,
        depth: 0,
        nodes: 0,
    };
    let list = p.list(End::Eof)?;
    if p.i < p.s.len() {
        return Err(p.unexpected());
    }
    Ok(list)
}

/// Whether `name` is a valid variable name.
pub fn is_name(name: &str) -> bool {
    let mut c = name.chars();
    matches!(c.next(), Some(f) if f == '_' || f.is_ascii_alphabetic())
        && c.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

/// What ends a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    Eof,
    /// `)` of a subshell or `$(`.
    Paren,
    /// `}` of a group.
    Brace,
}

struct Parser<'a> {
    s: &'a [char],
    i: usize,
    depth: usize,
    nodes: usize,
}

fn is_meta(c: char) -> bool {
    matches!(c, ';' | '&' | '|' | '(' | ')' | '<' | '>' | '\n') || c == ' ' || c == '\t'
}

impl Parser<'_> {
    fn peek(&self) -> Option<char> {
        self.s.get(self.i).copied()
    }

    fn peek_at(&self, k: usize) -> Option<char> {
        self.s.get(self.i + k).copied()
    }

    fn node(&mut self) -> Result<(), SyntaxError> {
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            return Err(SyntaxError("script too complex".into()));
        }
        Ok(())
    }

    fn enter(&mut self) -> Result<(), SyntaxError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(SyntaxError("nesting too deep".into()));
        }
        Ok(())
    }

    /// Skips blanks, line continuations and a comment (up to the newline).
    fn blanks(&mut self) {
        loop {
            match self.peek() {
                Some(' ' | '\t' | '\r') => self.i += 1,
                Some('\\') if self.peek_at(1) == Some('\n') => self.i += 2,
                Some('#') => {
                    while !matches!(self.peek(), None | Some('\n')) {
                        self.i += 1;
                    }
                }
                _ => return,
            }
        }
    }

    /// The operator at the cursor, without consuming it.
    fn op(&self) -> Option<&'static str> {
        let c = self.peek()?;
        let n = self.peek_at(1);
        Some(match (c, n) {
            ('&', Some('&')) => "&&",
            ('|', Some('|')) => "||",
            (';', Some(';')) => ";;",
            ('>', Some('>')) => ">>",
            ('>', Some('&')) => ">&",
            ('>', Some('|')) => ">|",
            ('<', Some('<')) => "<<",
            ('<', Some('&')) => "<&",
            ('<', Some('>')) => "<>",
            ('&', _) => "&",
            ('|', _) => "|",
            (';', _) => ";",
            ('(', _) => "(",
            (')', _) => ")",
            ('<', _) => "<",
            ('>', _) => ">",
            ('\n', _) => "\n",
            _ => return None,
        })
    }

    /// busybox's complaint about the token at the cursor.
    fn unexpected(&self) -> SyntaxError {
        match self.op() {
            None if self.i >= self.s.len() => SyntaxError("unexpected end of file".into()),
            Some("\n") => SyntaxError("unexpected newline".into()),
            Some(op) => SyntaxError(format!("unexpected \"{op}\"")),
            None => {
                let word: String = self.s[self.i..]
                    .iter()
                    .take_while(|c| !is_meta(**c))
                    .take(64)
                    .collect();
                SyntaxError(format!("unexpected \"{word}\""))
            }
        }
    }

    /// Skips separators that may start a list or follow `&&`, `||`, `|`.
    fn linebreaks(&mut self) {
        loop {
            self.blanks();
            if self.peek() == Some('\n') {
                self.i += 1;
            } else {
                return;
            }
        }
    }

    /// Whether the list ends here (without consuming the end).
    fn at_end(&mut self, end: End) -> bool {
        self.blanks();
        match self.peek() {
            None => true,
            Some(')') => end == End::Paren || end == End::Eof,
            Some('}') => end == End::Brace && self.word_ends_at(self.i + 1),
            _ => false,
        }
    }

    fn word_ends_at(&self, k: usize) -> bool {
        self.s.get(k).is_none_or(|c| is_meta(*c))
    }

    fn list(&mut self, end: End) -> Result<List, SyntaxError> {
        let mut list = Vec::new();
        loop {
            self.linebreaks();
            if self.at_end(end) {
                break;
            }
            list.push(self.and_or(end)?);
            self.blanks();
            match self.op() {
                Some(";") | Some("&") | Some("\n") => self.i += 1,
                _ => {
                    if self.at_end(end) {
                        break;
                    }
                    return Err(self.unexpected());
                }
            }
        }
        Ok(list)
    }

    fn and_or(&mut self, end: End) -> Result<AndOr, SyntaxError> {
        let first = self.pipeline(end)?;
        let mut rest = Vec::new();
        loop {
            self.blanks();
            let conn = match self.op() {
                Some("&&") => Connector::And,
                Some("||") => Connector::Or,
                _ => break,
            };
            self.i += 2;
            self.linebreaks();
            rest.push((conn, self.pipeline(end)?));
        }
        Ok(AndOr { first, rest })
    }

    fn pipeline(&mut self, end: End) -> Result<Pipeline, SyntaxError> {
        self.blanks();
        let mut bang = false;
        if self.peek() == Some('!') && self.word_ends_at(self.i + 1) {
            self.i += 1;
            bang = true;
        }
        let mut commands = vec![self.command(end)?];
        loop {
            self.blanks();
            if self.op() != Some("|") {
                break;
            }
            self.i += 1;
            self.linebreaks();
            commands.push(self.command(end)?);
        }
        Ok(Pipeline { bang, commands })
    }

    fn command(&mut self, end: End) -> Result<Command, SyntaxError> {
        self.blanks();
        self.node()?;
        if self.peek() == Some('(') {
            if self.peek_at(1) == Some('(') {
                return Err(SyntaxError("arithmetic is not supported".into()));
            }
            self.i += 1;
            self.enter()?;
            let list = self.list(End::Paren)?;
            self.depth -= 1;
            if self.peek() != Some(')') {
                return Err(self.expecting(")"));
            }
            if list.is_empty() {
                return Err(SyntaxError("unexpected \")\"".into()));
            }
            self.i += 1;
            let redirs = self.redirs_after()?;
            return Ok(Command::Subshell(list, redirs));
        }
        if self.peek() == Some('{') && self.word_ends_at(self.i + 1) {
            self.i += 1;
            self.enter()?;
            let list = self.list(End::Brace)?;
            self.depth -= 1;
            if self.peek() != Some('}') {
                return Err(self.expecting("}"));
            }
            if list.is_empty() {
                return Err(SyntaxError("unexpected \"}\"".into()));
            }
            self.i += 1;
            let redirs = self.redirs_after()?;
            return Ok(Command::Group(list, redirs));
        }
        let mut cmd = Simple::default();
        loop {
            self.blanks();
            if let Some(r) = self.redir()? {
                cmd.redirs.push(r);
                continue;
            }
            match self.peek() {
                None => break,
                Some(c) if is_meta(c) => break,
                Some('}')
                    if end == End::Brace && cmd.words.is_empty() && cmd.assigns.is_empty() =>
                {
                    break
                }
                _ => {}
            }
            let word = self.word()?;
            self.node()?;
            if cmd.words.is_empty() {
                if let Some((name, value)) = assignment(&word) {
                    cmd.assigns.push((name, value));
                    continue;
                }
                if let Some(kw) = UNSUPPORTED.iter().find(|k| word.is_bare(k)) {
                    return Err(SyntaxError(format!("unexpected \"{kw}\"")));
                }
            }
            cmd.words.push(word);
        }
        if cmd.words.is_empty() && cmd.assigns.is_empty() && cmd.redirs.is_empty() {
            return Err(self.unexpected());
        }
        Ok(Command::Simple(cmd))
    }

    fn expecting(&self, what: &str) -> SyntaxError {
        if self.i >= self.s.len() {
            SyntaxError(format!("unexpected end of file (expecting \"{what}\")"))
        } else {
            self.unexpected()
        }
    }

    fn redirs_after(&mut self) -> Result<Vec<Redir>, SyntaxError> {
        let mut v = Vec::new();
        loop {
            self.blanks();
            match self.redir()? {
                Some(r) => v.push(r),
                None => break,
            }
        }
        match self.peek() {
            Some(c) if !is_meta(c) && c != '}' && c != '#' => Err(self.unexpected()),
            _ => Ok(v),
        }
    }

    /// A redirection at the cursor (with an optional descriptor number).
    fn redir(&mut self) -> Result<Option<Redir>, SyntaxError> {
        let start = self.i;
        let mut k = self.i;
        while self.s.get(k).is_some_and(|c| c.is_ascii_digit()) {
            k += 1;
        }
        let fd_text: String = self.s[start..k].iter().collect();
        self.i = k;
        let op = match self.op() {
            Some(op @ (">" | ">>" | ">&" | ">|" | "<" | "<&" | "<>" | "<<")) => op,
            _ => {
                self.i = start;
                return Ok(None);
            }
        };
        if op == "<<" {
            return Err(SyntaxError("here-documents are not supported".into()));
        }
        self.i += op.len();
        let fd = if fd_text.is_empty() {
            if op.starts_with('<') {
                0
            } else {
                1
            }
        } else {
            match fd_text.parse::<u32>() {
                Ok(n) if n <= 9 => n,
                _ => return Err(SyntaxError(format!("bad fd number: {fd_text}"))),
            }
        };
        self.blanks();
        match self.peek() {
            Some(c) if !is_meta(c) => {}
            _ => return Err(self.unexpected()),
        }
        let target = self.word()?;
        self.node()?;
        let op = match op {
            ">" | ">|" => RedirOp::Out,
            ">>" => RedirOp::Append,
            "<" => RedirOp::In,
            "<>" => RedirOp::ReadWrite,
            _ => RedirOp::Dup,
        };
        Ok(Some(Redir { fd, op, target }))
    }

    /// One word, up to the next unquoted metacharacter.
    fn word(&mut self) -> Result<Word, SyntaxError> {
        let mut parts: Vec<Part> = Vec::new();
        let mut lit = String::new();
        // A leading ~ (alone or before '/') is $HOME.
        if self.peek() == Some('~') && matches!(self.peek_at(1), None | Some('/'))
            || self.peek() == Some('~') && self.word_ends_at(self.i + 1)
        {
            self.i += 1;
            parts.push(Part::Param {
                name: "HOME".into(),
                quoted: true,
            });
        }
        let flush = |lit: &mut String, parts: &mut Vec<Part>| {
            if !lit.is_empty() {
                parts.push(Part::Lit(std::mem::take(lit)));
            }
        };
        while let Some(c) = self.peek() {
            if is_meta(c) {
                break;
            }
            match c {
                '\'' => {
                    flush(&mut lit, &mut parts);
                    self.i += 1;
                    let mut q = String::new();
                    loop {
                        match self.peek() {
                            Some('\'') => break,
                            Some(c) => {
                                q.push(c);
                                self.i += 1;
                            }
                            None => return Err(SyntaxError("unterminated quoted string".into())),
                        }
                    }
                    self.i += 1;
                    parts.push(Part::Quoted(q));
                }
                '"' => {
                    flush(&mut lit, &mut parts);
                    self.i += 1;
                    self.double_quoted(&mut parts)?;
                }
                '\\' => {
                    self.i += 1;
                    match self.peek() {
                        Some('\n') => self.i += 1,
                        Some(c) => {
                            flush(&mut lit, &mut parts);
                            self.i += 1;
                            parts.push(Part::Quoted(c.to_string()));
                        }
                        None => {}
                    }
                }
                '$' => {
                    if let Some(p) = self.dollar(false)? {
                        flush(&mut lit, &mut parts);
                        parts.push(p);
                    } else {
                        lit.push('$');
                    }
                }
                '`' => {
                    flush(&mut lit, &mut parts);
                    let list = self.backquoted()?;
                    parts.push(Part::Subst {
                        list,
                        quoted: false,
                    });
                }
                c => {
                    lit.push(c);
                    self.i += 1;
                }
            }
        }
        flush(&mut lit, &mut parts);
        Ok(Word(parts))
    }

    /// The inside of "…" (the opening quote consumed).
    fn double_quoted(&mut self, parts: &mut Vec<Part>) -> Result<(), SyntaxError> {
        let mut q = String::new();
        // "" is an empty word, not no word.
        let mut any = false;
        loop {
            let Some(c) = self.peek() else {
                return Err(SyntaxError("unterminated quoted string".into()));
            };
            match c {
                '"' => {
                    self.i += 1;
                    break;
                }
                '\\' => {
                    self.i += 1;
                    match self.peek() {
                        Some('\n') => self.i += 1,
                        Some(e @ ('$' | '`' | '"' | '\\')) => {
                            q.push(e);
                            self.i += 1;
                        }
                        _ => q.push('\\'),
                    }
                }
                '$' => match self.dollar(true)? {
                    Some(p) => {
                        if !q.is_empty() {
                            parts.push(Part::Quoted(std::mem::take(&mut q)));
                        }
                        parts.push(p);
                        any = true;
                    }
                    None => q.push('$'),
                },
                '`' => {
                    if !q.is_empty() {
                        parts.push(Part::Quoted(std::mem::take(&mut q)));
                    }
                    let list = self.backquoted()?;
                    parts.push(Part::Subst { list, quoted: true });
                    any = true;
                }
                c => {
                    q.push(c);
                    self.i += 1;
                }
            }
        }
        if !q.is_empty() || !any {
            parts.push(Part::Quoted(q));
        }
        Ok(())
    }

    /// An expansion at `$`; `None` when the `$` is literal.
    fn dollar(&mut self, quoted: bool) -> Result<Option<Part>, SyntaxError> {
        let Some(next) = self.peek_at(1) else {
            self.i += 1;
            return Ok(None);
        };
        match next {
            '(' => {
                if self.peek_at(2) == Some('(') {
                    return Err(SyntaxError("arithmetic is not supported".into()));
                }
                self.i += 2;
                self.enter()?;
                let list = self.list(End::Paren)?;
                self.depth -= 1;
                if self.peek() != Some(')') {
                    return Err(self.expecting(")"));
                }
                self.i += 1;
                Ok(Some(Part::Subst { list, quoted }))
            }
            '{' => {
                self.i += 2;
                let mut name = String::new();
                loop {
                    match self.peek() {
                        Some('}') => break,
                        Some(c) if name.len() < 256 => {
                            name.push(c);
                            self.i += 1;
                        }
                        _ => return Err(SyntaxError("bad substitution".into())),
                    }
                }
                self.i += 1;
                if !(is_name(&name) || is_special(&name)) {
                    return Err(SyntaxError("bad substitution".into()));
                }
                Ok(Some(Part::Param { name, quoted }))
            }
            c if c == '_' || c.is_ascii_alphabetic() => {
                self.i += 1;
                let mut name = String::new();
                while let Some(c) = self.peek() {
                    if c == '_' || c.is_ascii_alphanumeric() {
                        name.push(c);
                        self.i += 1;
                    } else {
                        break;
                    }
                }
                Ok(Some(Part::Param { name, quoted }))
            }
            c if c.is_ascii_digit() || "?$#@*!-".contains(c) => {
                self.i += 2;
                Ok(Some(Part::Param {
                    name: c.to_string(),
                    quoted,
                }))
            }
            _ => {
                self.i += 1;
                Ok(None)
            }
        }
    }

    /// `` `…` `` (at the opening backquote): the inside, unescaped, parsed
    /// as a script of its own.
    fn backquoted(&mut self) -> Result<List, SyntaxError> {
        self.i += 1;
        let mut inner = String::new();
        loop {
            match self.peek() {
                None => return Err(SyntaxError("unterminated quoted string".into())),
                Some('`') => {
                    self.i += 1;
                    break;
                }
                Some('\\') => {
                    self.i += 1;
                    match self.peek() {
                        Some(c @ ('$' | '`' | '\\')) => {
                            inner.push(c);
                            self.i += 1;
                        }
                        _ => inner.push('\\'),
                    }
                }
                Some(c) => {
                    inner.push(c);
                    self.i += 1;
                }
            }
        }
        self.enter()?;
        let chars: Vec<char> = inner.chars().collect();
        let mut sub = Parser {
            s: &chars,
            i: 0,
            depth: self.depth,
            nodes: self.nodes,
        };
        let list = sub.list(End::Eof)?;
        if sub.i < sub.s.len() {
            return Err(sub.unexpected());
        }
        self.nodes = sub.nodes;
        self.depth -= 1;
        Ok(list)
    }
}

/// The special parameters.
fn is_special(name: &str) -> bool {
    name.len() == 1 && "?$#@*!-0123456789".contains(name)
}

/// `NAME=value` (NAME unquoted and valid).
fn assignment(word: &Word) -> Option<(String, Word)> {
    let Some(Part::Lit(first)) = word.0.first() else {
        return None;
    };
    let (name, rest) = first.split_once('=')?;
    if !is_name(name) {
        return None;
    }
    let mut value = Vec::new();
    if !rest.is_empty() {
        value.push(Part::Lit(rest.to_string()));
    }
    value.extend(word.0[1..].iter().cloned());
    Some((name.to_string(), Word(value)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lit(s: &str) -> Word {
        Word(vec![Part::Lit(s.into())])
    }

    fn simple(list: &List, i: usize) -> &Simple {
        match &list[i].first.commands[0] {
            Command::Simple(s) => s,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn lists_and_operators() {
        let l = parse("a b; c && d | e || f & g\nh").expect("ok");
        assert_eq!(l.len(), 4);
        assert_eq!(l[1].rest.len(), 2);
        assert_eq!(l[1].rest[0].0, Connector::And);
        assert_eq!(l[1].rest[0].1.commands.len(), 2);
        assert_eq!(l[1].rest[1].0, Connector::Or);
        assert_eq!(simple(&l, 0).words, vec![lit("a"), lit("b")]);
        assert!(parse("").expect("ok").is_empty());
        assert!(parse("  ;  ").is_err());
        assert!(parse("a;;b").is_err());
        assert!(parse("# only a comment").expect("ok").is_empty());
        assert_eq!(parse("a # c; d").expect("ok").len(), 1);
        assert!(parse("a &&\n b").is_ok());
        assert_eq!(
            parse("a &&").unwrap_err().to_string(),
            "syntax error: unexpected end of file"
        );
        assert_eq!(
            parse("| a").unwrap_err().to_string(),
            "syntax error: unexpected \"|\""
        );
        assert!(parse("! a | b").expect("ok")[0].first.bang);
    }

    #[test]
    fn subshells_and_groups() {
        let l = parse("( umask 77 && mkdir -p /tmp/x && echo ok )").expect("ok");
        match &l[0].first.commands[0] {
            Command::Subshell(inner, redirs) => {
                assert_eq!(inner.len(), 1);
                assert_eq!(inner[0].rest.len(), 2);
                assert!(redirs.is_empty());
            }
            other => panic!("{other:?}"),
        }
        let l = parse("{ echo a; echo b; } > f 2>&1").expect("ok");
        match &l[0].first.commands[0] {
            Command::Group(inner, redirs) => {
                assert_eq!(inner.len(), 2);
                assert_eq!(redirs.len(), 2);
                assert_eq!(redirs[1].fd, 2);
                assert_eq!(redirs[1].op, RedirOp::Dup);
            }
            other => panic!("{other:?}"),
        }
        assert!(parse("(a").unwrap_err().0.contains("expecting \")\""));
        assert!(parse("a)").is_err());
        assert!(parse("()").is_err());
        assert!(parse("(a) b").is_err());
        assert!(parse("{ a }").is_err(), "}} must be a separate command");
        assert!(parse("echo }").is_ok());
        assert!(parse("((a))").is_err());
        let deep = format!(
            "{}a{}",
            "( ".repeat(MAX_DEPTH + 1),
            ")".repeat(MAX_DEPTH + 1)
        );
        assert_eq!(parse(&deep).unwrap_err().0, "nesting too deep");
        let ok = format!("{}a{}", "( ".repeat(MAX_DEPTH), ")".repeat(MAX_DEPTH));
        assert!(parse(&ok).is_ok());
    }

    #[test]
    fn quoting() {
        let l = parse(r#"echo 'a b' "c\"d\$e" f\ g 'it''s' "" x"$Y"z"#).expect("ok");
        let w = &simple(&l, 0).words;
        assert_eq!(w[1].literal().as_deref(), Some("a b"));
        assert_eq!(w[2].literal().as_deref(), Some("c\"d$e"));
        assert_eq!(w[3].literal().as_deref(), Some("f g"));
        assert_eq!(w[4].literal().as_deref(), Some("its"));
        assert_eq!(w[5], Word(vec![Part::Quoted(String::new())]));
        assert_eq!(
            w[6],
            Word(vec![
                Part::Lit("x".into()),
                Part::Param {
                    name: "Y".into(),
                    quoted: true
                },
                Part::Lit("z".into())
            ])
        );
        assert_eq!(
            parse("echo 'x").unwrap_err().0,
            "unterminated quoted string"
        );
        assert!(parse("echo \"x").is_err());
        assert_eq!(
            simple(&parse("echo 'a;b' a\\;b").expect("ok"), 0).words[1].literal(),
            Some("a;b".into())
        );
        // Backslash-newline continues the line.
        assert_eq!(simple(&parse("echo a\\\nb").expect("ok"), 0).words.len(), 2);
        assert_eq!(
            simple(&parse("ec\\\nho").expect("ok"), 0).words[0].literal(),
            Some("echo".into())
        );
    }

    #[test]
    fn expansions() {
        let l =
            parse("echo $A ${B} $? $1 $(uname -a) `hostname` \"$(echo x)\" $ ~ ~/d").expect("ok");
        let w = &simple(&l, 0).words;
        assert!(matches!(&w[1].0[0], Part::Param { name, quoted: false } if name == "A"));
        assert!(matches!(&w[2].0[0], Part::Param { name, .. } if name == "B"));
        assert!(matches!(&w[3].0[0], Part::Param { name, .. } if name == "?"));
        assert!(matches!(&w[4].0[0], Part::Param { name, .. } if name == "1"));
        assert!(matches!(&w[5].0[0], Part::Subst { list, quoted: false } if list.len() == 1));
        assert!(matches!(&w[6].0[0], Part::Subst { .. }));
        assert!(matches!(&w[7].0[0], Part::Subst { quoted: true, .. }));
        assert_eq!(w[8].literal().as_deref(), Some("$"));
        assert!(matches!(&w[9].0[0], Part::Param { name, quoted: true } if name == "HOME"));
        assert!(matches!(&w[10].0[1], Part::Lit(t) if t == "/d"));
        assert_eq!(parse("echo ${A:-x}").unwrap_err().0, "bad substitution");
        assert!(parse("echo $((1+2))").is_err());
        assert!(parse("echo $(echo (").is_err());
        assert!(parse("echo $(a; (b))").is_ok());
        let nested = format!(
            "{}x{}",
            "$(echo ".repeat(MAX_DEPTH + 1),
            ")".repeat(MAX_DEPTH + 1)
        );
        assert!(parse(&nested).is_err());
    }

    #[test]
    fn assignments_and_redirections() {
        let l = parse("A=1 B=\"x y\" cmd C=2 >out 2>>err <in 3>&- >|f").expect("ok");
        let s = simple(&l, 0);
        assert_eq!(s.assigns.len(), 2);
        assert_eq!(s.assigns[0].0, "A");
        assert_eq!(s.assigns[1].1.literal().as_deref(), Some("x y"));
        assert_eq!(s.words.len(), 2, "C=2 after the command is a word");
        let ops: Vec<(u32, RedirOp)> = s.redirs.iter().map(|r| (r.fd, r.op)).collect();
        assert_eq!(
            ops,
            vec![
                (1, RedirOp::Out),
                (2, RedirOp::Append),
                (0, RedirOp::In),
                (3, RedirOp::Dup),
                (1, RedirOp::Out)
            ]
        );
        assert_eq!(s.redirs[3].target.literal().as_deref(), Some("-"));
        assert!(parse("echo >").is_err());
        assert!(parse("echo > ;").is_err());
        assert!(parse("cat <<EOF").is_err());
        let only = parse("X=1").expect("ok");
        assert!(simple(&only, 0).words.is_empty());
        assert!(parse(">f").is_ok());
        assert!(parse("if true; then echo; fi").is_err());
        assert!(parse("echo if then").is_ok(), "reserved only first");
    }

    #[test]
    fn limits() {
        assert!(parse(&"a".repeat(MAX_SCRIPT + 1)).is_err());
        let many = "a;".repeat(MAX_NODES + 1);
        assert_eq!(parse(&many).unwrap_err().0, "script too complex");
    }
}
