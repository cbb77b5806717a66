//! PowerShell's tokenizer and parser in one pass over the characters:
//! PowerShell tokenizes differently in expression and command mode
//! (`-eq` is an operator in one and an argument in the other; `+` is a
//! bare word as a command argument), so the parser asks for the token its
//! current mode allows instead of reading a token stream. Recursive
//! descent with a depth limit; errors are PowerShell's parser messages and
//! error ids.

use crate::ast::*;
use crate::value::Value;
use std::sync::Arc;

/// Deepest nesting accepted (parentheses, blocks, expressions). Beyond it
/// the script fails to parse rather than overflowing the stack.
const MAX_DEPTH: usize = 200;

/// A parse error: PowerShell's message and error id, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ParseError {
    pub message: String,
    /// `MissingEndParenthesisInExpression`, `UnexpectedToken`, ...
    pub id: String,
    pub pos: Pos,
}

type R<T> = Result<T, ParseError>;

/// Parses a whole script.
pub fn parse(script: &str) -> R<ScriptBlock> {
    let mut p = Parser::new(script);
    let sb = p.script_block_body(None)?;
    p.skip_ws_nl();
    if !p.at_end() {
        return Err(p.err_unexpected());
    }
    Ok(sb)
}

struct Parser {
    s: Vec<char>,
    i: usize,
    /// Byte offset of each char (for positions into the original text).
    offs: Vec<usize>,
    text: String,
    depth: usize,
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Characters that end a bare word in command mode.
fn ends_bare(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            ';' | '|' | ')' | '}' | '(' | '{' | '&' | '>' | '<' | ',' | '"' | '\''
        )
}

impl Parser {
    fn new(s: &str) -> Parser {
        let mut offs = Vec::with_capacity(s.len());
        for (o, _) in s.char_indices() {
            offs.push(o);
        }
        offs.push(s.len());
        Parser {
            s: s.chars().collect(),
            i: 0,
            offs,
            text: s.to_string(),
            depth: 0,
        }
    }

    fn at_end(&self) -> bool {
        self.i >= self.s.len()
    }

    fn peek(&self) -> Option<char> {
        self.s.get(self.i).copied()
    }

    fn peek_at(&self, k: usize) -> Option<char> {
        self.s.get(self.i + k).copied()
    }

    fn pos(&self) -> Pos {
        self.pos_at(self.i)
    }

    fn pos_at(&self, i: usize) -> Pos {
        let off = self.offs.get(i).copied().unwrap_or(self.text.len());
        let before = &self.text[..off];
        let line = before.matches('\n').count() + 1;
        let col = before
            .rfind('\n')
            .map_or(before.chars().count(), |n| before[n + 1..].chars().count())
            + 1;
        Pos {
            line: line as u32,
            col: col as u32,
            offset: off,
        }
    }

    fn err(&self, id: &str, message: &str) -> ParseError {
        ParseError {
            message: message.to_string(),
            id: id.to_string(),
            pos: self.pos(),
        }
    }

    fn err_unexpected(&self) -> ParseError {
        let tok: String = self.s[self.i..]
            .iter()
            .take_while(|c| !c.is_whitespace())
            .take(40)
            .collect();
        self.err(
            "UnexpectedToken",
            &format!("Unexpected token '{tok}' in expression or statement."),
        )
    }

    fn enter(&mut self) -> R<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.err(
                "ScriptTooComplicated",
                "The script is too complicated to parse: it nests too deeply.",
            ));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth -= 1;
    }

    /// Skips spaces, tabs, comments and line continuations (not newlines).
    fn skip_ws(&mut self) {
        while let Some(c) = self.peek() {
            if c == '`' && matches!(self.peek_at(1), Some('\n') | Some('\r')) {
                self.i += 1;
                if self.peek() == Some('\r') {
                    self.i += 1;
                }
                if self.peek() == Some('\n') {
                    self.i += 1;
                }
            } else if c == '#' {
                while let Some(c) = self.peek() {
                    if c == '\n' {
                        break;
                    }
                    self.i += 1;
                }
            } else if c == '<' && self.peek_at(1) == Some('#') {
                self.i += 2;
                while !(self.at_end() || self.peek() == Some('#') && self.peek_at(1) == Some('>')) {
                    self.i += 1;
                }
                self.i = (self.i + 2).min(self.s.len());
            } else if c != '\n' && c.is_whitespace() {
                self.i += 1;
            } else {
                break;
            }
        }
    }

    /// Skips whitespace including newlines.
    fn skip_ws_nl(&mut self) {
        loop {
            self.skip_ws();
            match self.peek() {
                Some('\n') | Some('\r') => self.i += 1,
                _ => break,
            }
        }
    }

    /// Skips whitespace, newlines and `;`.
    fn skip_separators(&mut self) {
        loop {
            self.skip_ws_nl();
            if self.peek() == Some(';') {
                self.i += 1;
            } else {
                break;
            }
        }
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: char, id: &str, msg: &str) -> R<()> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(self.err(id, msg))
        }
    }

    /// A keyword at the cursor (case-insensitive, whole word).
    fn keyword(&self, kw: &str) -> bool {
        let n = kw.chars().count();
        if self.i + n > self.s.len() {
            return false;
        }
        let word: String = self.s[self.i..self.i + n].iter().collect();
        word.eq_ignore_ascii_case(kw)
            && self
                .s
                .get(self.i + n)
                .is_none_or(|c| !(is_ident(*c) || *c == '-'))
    }

    fn eat_keyword(&mut self, kw: &str) -> bool {
        if self.keyword(kw) {
            self.i += kw.chars().count();
            true
        } else {
            false
        }
    }

    /// `param(...)`, then named blocks or a statement list, up to `close`.
    fn script_block_body(&mut self, close: Option<char>) -> R<ScriptBlock> {
        let start = self.i;
        let mut sb = ScriptBlock::default();
        self.skip_separators();
        // Attributes before param: [CmdletBinding()]
        let save = self.i;
        while self.peek() == Some('[') {
            if self.skip_attribute().is_err() {
                self.i = save;
                break;
            }
            self.skip_separators();
        }
        if self.keyword("param") {
            let k = self.i;
            self.i += 5;
            self.skip_ws_nl();
            if self.peek() == Some('(') {
                self.i += 1;
                sb.params = self.param_list()?;
                self.skip_separators();
            } else {
                self.i = k;
            }
        } else {
            self.i = save;
        }
        let named = ["begin", "process", "end", "dynamicparam"].iter().any(|k| {
            self.keyword(k) && {
                let mut j = self.i + k.len();
                while self.s.get(j).is_some_and(|c| c.is_whitespace()) {
                    j += 1;
                }
                self.s.get(j) == Some(&'{')
            }
        });
        if named {
            loop {
                self.skip_separators();
                if self.at_end() || (close.is_some() && self.peek() == close) {
                    break;
                }
                let which = ["begin", "process", "end", "dynamicparam"]
                    .into_iter()
                    .find(|k| self.keyword(k))
                    .ok_or_else(|| self.err_unexpected())?;
                self.i += which.len();
                self.skip_ws_nl();
                self.expect(
                    '{',
                    "MissingNamedStatementBlock",
                    "Missing statement block after named block.",
                )?;
                let body = self.statements(Some('}'))?;
                self.expect(
                    '}',
                    "MissingEndCurlyBrace",
                    "Missing closing '}' in statement block or type definition.",
                )?;
                match which {
                    "begin" => sb.begin = Some(body),
                    "process" => sb.process = Some(body),
                    "end" => sb.end = body,
                    _ => sb.end.push(Stmt {
                        pos: self.pos(),
                        end: 0,
                        kind: StmtKind::Unsupported("dynamicparam".into()),
                    }),
                }
            }
        } else {
            sb.end = self.statements(close)?;
        }
        let end = self.i.min(self.s.len());
        sb.text = self.s[start..end].iter().collect();
        Ok(sb)
    }

    /// Skips one `[Attribute(...)]` or `[type]`.
    fn skip_attribute(&mut self) -> R<String> {
        let start = self.i;
        self.expect('[', "UnexpectedToken", "Expected '['.")?;
        let mut depth = 1;
        while let Some(c) = self.peek() {
            self.i += 1;
            match c {
                '[' | '(' => depth += 1,
                ']' | ')' => {
                    depth -= 1;
                    if depth == 0 {
                        return Ok(self.s[start + 1..self.i - 1].iter().collect());
                    }
                }
                '\'' | '"' => {
                    while let Some(d) = self.peek() {
                        self.i += 1;
                        if d == c {
                            break;
                        }
                    }
                }
                _ => {}
            }
        }
        Err(self.err(
            "EndSquareBracketExpectedAtEndOfAttribute",
            "Missing ']' at end of attribute or type literal.",
        ))
    }

    /// `$a, [int]$b = 1, [Parameter(Mandatory)]$c)`.
    fn param_list(&mut self) -> R<Vec<Param>> {
        let mut out = Vec::new();
        loop {
            self.skip_ws_nl();
            if self.eat(')') {
                return Ok(out);
            }
            let mut ty = None;
            let mut mandatory = false;
            let mut position = None;
            let mut from_pipeline = false;
            while self.peek() == Some('[') {
                let a = self.skip_attribute()?;
                let al = a.to_ascii_lowercase();
                if al.starts_with("parameter") {
                    let compact: String = al.chars().filter(|c| !c.is_whitespace()).collect();
                    mandatory = compact.contains("mandatory=$true")
                        || compact.contains("(mandatory)")
                        || compact.contains("(mandatory,")
                        || compact.contains(",mandatory)")
                        || compact.contains(",mandatory,");
                    from_pipeline = compact.contains("valuefrompipeline=$true")
                        || compact.contains("valuefrompipeline)")
                        || compact.contains("valuefrompipeline,");
                    if let Some(i) = compact.find("position=") {
                        position = compact[i + 9..]
                            .chars()
                            .take_while(|c| c.is_ascii_digit())
                            .collect::<String>()
                            .parse()
                            .ok();
                    }
                } else if !al.contains('(') {
                    ty = Some(al);
                }
                self.skip_ws_nl();
            }
            if !self.eat('$') {
                return Err(self.err(
                    "InvalidFunctionParameter",
                    "Missing ')' in function parameter list.",
                ));
            }
            let name = self.ident();
            if name.is_empty() {
                return Err(self.err(
                    "InvalidFunctionParameter",
                    "Missing ')' in function parameter list.",
                ));
            }
            self.skip_ws_nl();
            let default = if self.eat('=') {
                self.skip_ws_nl();
                Some(self.expr(true)?)
            } else {
                None
            };
            out.push(Param {
                name,
                ty,
                default,
                mandatory,
                position,
                from_pipeline,
            });
            self.skip_ws_nl();
            if self.eat(',') {
                continue;
            }
            self.expect(
                ')',
                "MissingEndParenthesisInFunctionParameterList",
                "Missing ')' in function parameter list.",
            )?;
            return Ok(out);
        }
    }

    fn ident(&mut self) -> String {
        let start = self.i;
        while self.peek().is_some_and(is_ident) {
            self.i += 1;
        }
        self.s[start..self.i].iter().collect()
    }

    /// Statements up to `close` (not consumed) or the end.
    fn statements(&mut self, close: Option<char>) -> R<Vec<Stmt>> {
        self.enter()?;
        let mut out = Vec::new();
        loop {
            self.skip_separators();
            match (self.peek(), close) {
                (None, None) => break,
                (None, Some(c)) => {
                    let (id, msg) = if c == '}' {
                        (
                            "MissingEndCurlyBrace",
                            "Missing closing '}' in statement block or type definition.",
                        )
                    } else {
                        (
                            "MissingEndParenthesisInSubexpression",
                            "Missing closing ')' in subexpression.",
                        )
                    };
                    return Err(self.err(id, msg));
                }
                (Some(c), Some(cl)) if c == cl => break,
                (Some(')' | '}'), _) => return Err(self.err_unexpected()),
                _ => {}
            }
            out.push(self.statement()?);
            self.skip_ws();
            match self.peek() {
                None | Some('\n' | '\r' | ';') => {}
                Some(c) if Some(c) == close => {}
                _ => return Err(self.err_unexpected()),
            }
        }
        self.leave();
        Ok(out)
    }

    /// `{ statements }` after optional whitespace.
    fn block(&mut self) -> R<Vec<Stmt>> {
        self.skip_ws_nl();
        self.expect('{', "MissingStatementBlock", "Missing statement block.")?;
        let body = self.statements(Some('}'))?;
        self.expect(
            '}',
            "MissingEndCurlyBrace",
            "Missing closing '}' in statement block or type definition.",
        )?;
        Ok(body)
    }

    /// `( pipeline )` after optional whitespace.
    fn paren_pipeline(&mut self, what: &str) -> R<Pipeline> {
        self.skip_ws();
        self.expect(
            '(',
            "MissingOpenParenthesisInIfStatement",
            &format!("Missing '(' after '{what}' in {what} statement."),
        )?;
        self.skip_ws_nl();
        let p = self.pipeline()?;
        self.skip_ws_nl();
        self.expect(
            ')',
            "MissingEndParenthesisAfterStatement",
            &format!("Missing closing ')' after expression in '{what}' statement."),
        )?;
        Ok(p)
    }

    fn statement(&mut self) -> R<Stmt> {
        self.enter()?;
        let r = self.statement_inner();
        self.leave();
        let mut st = r?;
        st.end = self.offs.get(self.i).copied().unwrap_or(self.text.len());
        Ok(st)
    }

    fn statement_inner(&mut self) -> R<Stmt> {
        let pos = self.pos();
        let mk = |kind| Stmt { pos, end: 0, kind };
        // A loop label: `:outer foreach ...`.
        let mut label = None;
        if self.peek() == Some(':') && self.peek_at(1).is_some_and(is_ident) {
            self.i += 1;
            label = Some(self.ident().to_ascii_lowercase());
            self.skip_ws_nl();
        }
        if self.eat_keyword("if") {
            let mut clauses = Vec::new();
            let cond = self.paren_pipeline("if")?;
            let body = self.block()?;
            clauses.push((cond, body));
            let mut otherwise = None;
            loop {
                let save = self.i;
                self.skip_ws_nl();
                if self.eat_keyword("elseif") {
                    let cond = self.paren_pipeline("elseif")?;
                    let body = self.block()?;
                    clauses.push((cond, body));
                } else if self.eat_keyword("else") {
                    otherwise = Some(self.block()?);
                    break;
                } else {
                    self.i = save;
                    break;
                }
            }
            return Ok(mk(StmtKind::If { clauses, otherwise }));
        }
        if self.eat_keyword("while") {
            let cond = self.paren_pipeline("while")?;
            let body = self.block()?;
            return Ok(mk(StmtKind::While { label, cond, body }));
        }
        if self.eat_keyword("do") {
            let body = self.block()?;
            self.skip_ws_nl();
            let until = if self.eat_keyword("while") {
                false
            } else if self.eat_keyword("until") {
                true
            } else {
                return Err(self.err(
                    "MissingWhileOrUntilInDoWhile",
                    "Missing 'while' or 'until' in do loop.",
                ));
            };
            let cond = self.paren_pipeline("do")?;
            return Ok(mk(StmtKind::Do {
                label,
                body,
                cond,
                until,
            }));
        }
        if self.eat_keyword("for") {
            self.skip_ws();
            self.expect(
                '(',
                "MissingOpenParenthesisAfterKeyword",
                "Missing opening '(' after keyword 'for'.",
            )?;
            self.skip_ws_nl();
            let init = if matches!(self.peek(), Some(';')) {
                None
            } else {
                Some(Box::new(self.statement()?))
            };
            self.skip_ws_nl();
            self.eat(';');
            self.skip_ws_nl();
            let cond = if matches!(self.peek(), Some(';')) {
                None
            } else {
                Some(self.pipeline()?)
            };
            self.skip_ws_nl();
            self.eat(';');
            self.skip_ws_nl();
            let step = if matches!(self.peek(), Some(')')) {
                None
            } else {
                Some(Box::new(self.statement()?))
            };
            self.skip_ws_nl();
            self.expect(
                ')',
                "MissingEndParenthesisAfterFor",
                "Missing closing ')' after expression in 'for' statement.",
            )?;
            let body = self.block()?;
            return Ok(mk(StmtKind::For {
                label,
                init,
                cond,
                step,
                body,
            }));
        }
        if self.eat_keyword("foreach") {
            self.skip_ws();
            if self.peek() == Some('-') {
                return Ok(mk(StmtKind::Unsupported("foreach -parallel".into())));
            }
            self.expect(
                '(',
                "MissingOpenParenthesisAfterKeyword",
                "Missing opening '(' after keyword 'foreach'.",
            )?;
            self.skip_ws_nl();
            if !self.eat('$') {
                return Err(self.err(
                    "MissingVariableNameAfterForeach",
                    "Missing variable name after foreach.",
                ));
            }
            let var = self.var_name()?;
            self.skip_ws_nl();
            if !self.eat_keyword("in") {
                return Err(self.err(
                    "MissingInInForeach",
                    "Missing 'in' after variable in foreach loop.",
                ));
            }
            self.skip_ws_nl();
            let items = self.pipeline()?;
            self.skip_ws_nl();
            self.expect(
                ')',
                "MissingEndParenthesisAfterForeach",
                "Missing closing ')' after expression in 'foreach' statement.",
            )?;
            let body = self.block()?;
            return Ok(mk(StmtKind::Foreach {
                label,
                var,
                items,
                body,
            }));
        }
        if self.eat_keyword("switch") {
            return self.switch(label).map(mk);
        }
        if self.eat_keyword("try") {
            let body = self.block()?;
            let mut catches = Vec::new();
            let mut finally = None;
            loop {
                let save = self.i;
                self.skip_ws_nl();
                if self.eat_keyword("catch") {
                    let mut types = Vec::new();
                    loop {
                        self.skip_ws_nl();
                        if self.peek() == Some('[') {
                            types.push(self.skip_attribute()?.trim().to_ascii_lowercase());
                            self.skip_ws_nl();
                            self.eat(',');
                        } else {
                            break;
                        }
                    }
                    let b = self.block()?;
                    catches.push((types, b));
                } else if self.eat_keyword("finally") {
                    finally = Some(self.block()?);
                    break;
                } else {
                    self.i = save;
                    break;
                }
            }
            if catches.is_empty() && finally.is_none() {
                return Err(self.err(
                    "MissingCatchOrFinally",
                    "The Try statement is missing its Catch or Finally block.",
                ));
            }
            return Ok(mk(StmtKind::Try {
                body,
                catches,
                finally,
            }));
        }
        for (kw, filter) in [("function", false), ("filter", true)] {
            if self.eat_keyword(kw) {
                self.skip_ws();
                let start = self.i;
                while self
                    .peek()
                    .is_some_and(|c| !c.is_whitespace() && c != '{' && c != '(')
                {
                    self.i += 1;
                }
                let name: String = self.s[start..self.i].iter().collect();
                if name.is_empty() {
                    return Err(self.err(
                        "MissingNameAfterKeyword",
                        "Missing name after function keyword.",
                    ));
                }
                self.skip_ws();
                let params = if self.eat('(') {
                    self.param_list()?
                } else {
                    Vec::new()
                };
                self.skip_ws_nl();
                self.expect(
                    '{',
                    "MissingFunctionBody",
                    "Missing function body in function declaration.",
                )?;
                let mut body = self.script_block_body(Some('}'))?;
                self.expect(
                    '}',
                    "MissingEndCurlyBrace",
                    "Missing closing '}' in statement block or type definition.",
                )?;
                if !params.is_empty() {
                    body.params = params;
                }
                if filter && body.process.is_none() {
                    body.process = Some(std::mem::take(&mut body.end));
                }
                return Ok(mk(StmtKind::Function(Arc::new(FunctionDef {
                    name,
                    body: Arc::new(body),
                    filter,
                }))));
            }
        }
        for kw in ["return", "throw", "exit"] {
            if self.eat_keyword(kw) {
                self.skip_ws();
                let p = if matches!(self.peek(), None | Some('\n' | '\r' | ';' | '}' | ')')) {
                    None
                } else {
                    Some(self.pipeline()?)
                };
                return Ok(mk(match kw {
                    "return" => StmtKind::Return(p),
                    "throw" => StmtKind::Throw(p),
                    _ => StmtKind::Exit(p),
                }));
            }
        }
        for kw in ["break", "continue"] {
            if self.eat_keyword(kw) {
                self.skip_ws();
                let l = if self.peek().is_some_and(is_ident) {
                    Some(self.ident().to_ascii_lowercase())
                } else {
                    None
                };
                return Ok(mk(if kw == "break" {
                    StmtKind::Break(l)
                } else {
                    StmtKind::Continue(l)
                }));
            }
        }
        for kw in [
            "trap",
            "class",
            "enum",
            "using",
            "workflow",
            "configuration",
            "data",
            "parallel",
            "sequence",
            "inlinescript",
        ] {
            if self.keyword(kw) {
                // Parsed far enough to skip it; running it fails naming it.
                self.i += kw.len();
                self.skip_to_block_end()?;
                return Ok(mk(StmtKind::Unsupported(format!("the '{kw}' statement"))));
            }
        }
        // Pipeline, maybe an assignment.
        let p = self.pipeline()?;
        self.skip_ws();
        if let Some(op) = self.assign_op() {
            let target = match p.elements.as_slice() {
                [Element::Expr(e, r)] if r.is_empty() && is_lvalue(e) => e.clone(),
                _ => {
                    return Err(self.err(
                        "InvalidLeftHandSide",
                        "The assignment expression is not valid. The input to an assignment operator must be an object that is able to accept assignments, such as a variable or a property.",
                    ))
                }
            };
            self.skip_ws_nl();
            let value = self.statement()?;
            return Ok(mk(StmtKind::Assign {
                target,
                op,
                value: Box::new(value),
            }));
        }
        Ok(mk(StmtKind::Pipeline(p)))
    }

    /// Skips a construct up to and including its first `{...}` block.
    fn skip_to_block_end(&mut self) -> R<()> {
        while let Some(c) = self.peek() {
            if c == '{' {
                self.i += 1;
                let mut depth = 1;
                while let Some(c) = self.peek() {
                    self.i += 1;
                    match c {
                        '{' => depth += 1,
                        '}' => {
                            depth -= 1;
                            if depth == 0 {
                                return Ok(());
                            }
                        }
                        _ => {}
                    }
                }
                return Err(self.err(
                    "MissingEndCurlyBrace",
                    "Missing closing '}' in statement block or type definition.",
                ));
            }
            if c == '\n' || c == ';' {
                return Ok(());
            }
            self.i += 1;
        }
        Ok(())
    }

    fn assign_op(&mut self) -> Option<AssignOp> {
        let c = self.peek()?;
        let n = self.peek_at(1);
        let (op, len) = match (c, n) {
            ('=', Some('=')) => return None,
            ('=', _) => (AssignOp::Set, 1),
            ('+', Some('=')) => (AssignOp::Add, 2),
            ('-', Some('=')) => (AssignOp::Sub, 2),
            ('*', Some('=')) => (AssignOp::Mul, 2),
            ('/', Some('=')) => (AssignOp::Div, 2),
            ('%', Some('=')) => (AssignOp::Rem, 2),
            _ => return None,
        };
        self.i += len;
        Some(op)
    }

    fn switch(&mut self, label: Option<String>) -> R<StmtKind> {
        let mut mode = SwitchMode::Exact;
        let mut case_sensitive = false;
        loop {
            self.skip_ws();
            if self.peek() != Some('-') {
                break;
            }
            self.i += 1;
            let w = self.ident().to_ascii_lowercase();
            match w.as_str() {
                "regex" => mode = SwitchMode::Regex,
                "wildcard" => mode = SwitchMode::Wildcard,
                "exact" => mode = SwitchMode::Exact,
                "casesensitive" => case_sensitive = true,
                _ => return Ok(StmtKind::Unsupported(format!("switch -{w}"))),
            }
        }
        let subject = self.paren_pipeline("switch")?;
        self.skip_ws_nl();
        self.expect(
            '{',
            "MissingCurlyBraceInSwitchStatement",
            "Missing '{' in switch statement.",
        )?;
        let mut clauses = Vec::new();
        let mut default = None;
        loop {
            self.skip_separators();
            if self.eat('}') {
                break;
            }
            if self.at_end() {
                return Err(self.err(
                    "MissingEndCurlyBrace",
                    "Missing closing '}' in statement block or type definition.",
                ));
            }
            if self.keyword("default") {
                self.i += 7;
                default = Some(self.block()?);
                continue;
            }
            let cond = if self.peek() == Some('{') {
                self.i += 1;
                let sb = self.script_block_body(Some('}'))?;
                self.expect(
                    '}',
                    "MissingEndCurlyBrace",
                    "Missing closing '}' in statement block or type definition.",
                )?;
                Expr::ScriptBlock(Arc::new(sb))
            } else if matches!(self.peek(), Some('$' | '(' | '\'' | '"' | '@' | '['))
                || self.peek().is_some_and(|c| c.is_ascii_digit())
            {
                self.primary_postfix()?
            } else {
                let w = self.bare_word();
                Expr::Const(Value::String(w))
            };
            let body = self.block()?;
            clauses.push((cond, body));
        }
        Ok(StmtKind::Switch {
            label,
            mode,
            case_sensitive,
            subject,
            clauses,
            default,
        })
    }

    /// A pipeline: elements separated by `|`.
    fn pipeline(&mut self) -> R<Pipeline> {
        self.enter()?;
        let pos = self.pos();
        let mut elements = Vec::new();
        loop {
            self.skip_ws();
            let first = elements.is_empty();
            let el = if first && self.starts_expression() {
                let e = self.expr(false)?;
                let r = self.redirects()?;
                Element::Expr(e, r)
            } else {
                Element::Command(self.command()?)
            };
            elements.push(el);
            self.skip_ws();
            if self.peek() == Some('|') && self.peek_at(1) != Some('|') {
                self.i += 1;
                self.skip_ws_nl();
                if self.at_end() || matches!(self.peek(), Some(')' | '}' | ';')) {
                    return Err(
                        self.err("EmptyPipeElement", "An empty pipe element is not allowed.")
                    );
                }
                continue;
            }
            break;
        }
        self.leave();
        Ok(Pipeline { pos, elements })
    }

    /// Whether the cursor starts an expression (rather than a command).
    fn starts_expression(&self) -> bool {
        let Some(c) = self.peek() else { return false };
        match c {
            '$' | '(' | '\'' | '"' | '[' | ',' | '!' => true,
            '@' => matches!(self.peek_at(1), Some('(' | '{' | '\'' | '"')),
            '0'..='9' => {
                // `7z` would be a command; a number ends at a separator.
                let mut j = self.i;
                while self.s.get(j).is_some_and(|c| !ends_bare(*c)) {
                    j += 1;
                }
                let w: String = self.s[self.i..j].iter().collect();
                parse_number(&w).is_some() || w.contains("..")
            }
            '-' => {
                let n = self.peek_at(1);
                n.is_some_and(|c| c.is_ascii_digit() || c == '$' || c == '(' || c == '.')
                    || (n == Some('-'))
                    || self
                        .op_word_at(self.i + 1)
                        .is_some_and(|w| w == "not" || w == "bnot" || w == "split" || w == "join")
            }
            '+' => self
                .peek_at(1)
                .is_some_and(|c| c.is_ascii_digit() || c == '$' || c == '+'),
            '.' => self.peek_at(1).is_some_and(|c| c.is_ascii_digit()),
            _ => false,
        }
    }

    fn op_word_at(&self, j: usize) -> Option<String> {
        let mut k = j;
        while self.s.get(k).is_some_and(|c| c.is_ascii_alphabetic()) {
            k += 1;
        }
        if k == j {
            return None;
        }
        Some(self.s[j..k].iter().collect::<String>().to_ascii_lowercase())
    }

    /// Redirections after an expression or command.
    fn redirects(&mut self) -> R<Vec<Redirect>> {
        let mut out = Vec::new();
        loop {
            self.skip_ws();
            let save = self.i;
            let from = match (self.peek(), self.peek_at(1)) {
                (Some('>'), _) => 1,
                (Some(d @ ('1'..='6' | '*')), Some('>')) => {
                    self.i += 1;
                    if d == '*' {
                        0
                    } else {
                        d as u8 - b'0'
                    }
                }
                _ => return Ok(out),
            };
            self.i += 1;
            let append = self.eat('>');
            if self.peek() == Some('&') {
                self.i += 1;
                match self.peek() {
                    Some(d @ '1'..='6') => {
                        self.i += 1;
                        out.push(Redirect {
                            from,
                            target: RedirectTarget::Merge(d as u8 - b'0'),
                            append,
                        });
                        continue;
                    }
                    _ => {
                        self.i = save;
                        return Err(self.err(
                            "RedirectionNotSupported",
                            "The redirection operator is not valid.",
                        ));
                    }
                }
            }
            self.skip_ws();
            let target =
                if self.peek() == Some('$') || matches!(self.peek(), Some('\'' | '"' | '(')) {
                    self.primary_postfix()?
                } else {
                    let w = self.bare_word();
                    if w.is_empty() {
                        return Err(self.err(
                            "MissingFileSpecification",
                            "Missing file specification after redirection operator.",
                        ));
                    }
                    Expr::Const(Value::String(w))
                };
            out.push(Redirect {
                from,
                target: RedirectTarget::File(target),
                append,
            });
        }
    }

    /// A command in command mode.
    fn command(&mut self) -> R<CommandCall> {
        let pos = self.pos();
        let mut dot = false;
        let name_start = self.i;
        let name = if self.peek() == Some('&') && self.peek_at(1) != Some('&') {
            self.i += 1;
            self.skip_ws();
            CommandName::Expr(Box::new(self.command_arg_value()?))
        } else if self.peek() == Some('.') && self.peek_at(1).is_some_and(|c| c.is_whitespace()) {
            self.i += 1;
            dot = true;
            self.skip_ws();
            CommandName::Expr(Box::new(self.command_arg_value()?))
        } else {
            let w = if matches!(self.peek(), Some('\'' | '"')) {
                match self.primary_postfix()? {
                    Expr::Const(Value::String(s)) => s,
                    _ => return Err(self.err_unexpected()),
                }
            } else {
                self.bare_word()
            };
            if w.is_empty() {
                return Err(self.err_unexpected());
            }
            CommandName::Bare(w)
        };
        let name_len = self.s[name_start..self.i].len();
        let args_start = self.i;
        let mut args = Vec::new();
        let mut redirects = Vec::new();
        let mut args_end = self.i;
        loop {
            self.skip_ws();
            let Some(c) = self.peek() else { break };
            if matches!(c, '\n' | '\r' | ';' | ')' | '}' | '|') {
                break;
            }
            if c == '&' && self.peek_at(1) == Some('&') {
                return Err(self.err(
                    "InvalidEndOfLine",
                    "The token '&&' is not a valid statement separator in this version.",
                ));
            }
            if c == '>' || (matches!(c, '1'..='6' | '*') && self.peek_at(1) == Some('>')) {
                redirects.extend(self.redirects()?);
                continue;
            }
            if c == '-' && self.peek_at(1) == Some('-') && self.peek_at(2) == Some('%') {
                args.push(Arg::Value(Expr::Const(Value::String("--%".into()))));
                return Err(self.err(
                    "StopParsingNotSupported",
                    "fakedc's PowerShell does not implement the stop-parsing token '--%'.",
                ));
            }
            if c == '-'
                && self
                    .peek_at(1)
                    .is_some_and(|c| c.is_alphabetic() || c == '_' || c == '?')
            {
                self.i += 1;
                let start = self.i;
                while self.peek().is_some_and(|c| !ends_bare(c) && c != ':') {
                    self.i += 1;
                }
                let name: String = self.s[start..self.i].iter().collect();
                if self.eat(':') {
                    self.skip_ws();
                    let v = self.command_arg()?;
                    args.push(Arg::Param(name, Some(v)));
                } else {
                    args.push(Arg::Param(name, None));
                }
                args_end = self.i;
                continue;
            }
            if c == '@' && self.peek_at(1).is_some_and(is_ident) {
                self.i += 1;
                let n = self.ident();
                args.push(Arg::Splat(n.to_ascii_lowercase()));
                args_end = self.i;
                continue;
            }
            if c == '&' {
                return Err(self.err(
                    "AmpersandNotAllowed",
                    "The ampersand (&) character is not allowed. The & operator is reserved for \
                     future use; wrap an ampersand in double quotation marks (\"&\") to pass it \
                     as part of a string.",
                ));
            }
            let before = self.i;
            let v = self.command_arg()?;
            if self.i == before {
                // Nothing consumed: an argument cannot start here. Without
                // this, the loop would push empty arguments forever.
                return Err(self.err_unexpected());
            }
            args.push(Arg::Value(v));
            args_end = self.i;
        }
        let arg_text: String = self.s[args_start..args_end.max(args_start)]
            .iter()
            .collect();
        Ok(CommandCall {
            pos,
            name,
            dot,
            args,
            redirects,
            arg_text: arg_text.trim().to_string(),
            name_len,
            end: self.offs.get(args_end).copied().unwrap_or(self.text.len()),
        })
    }

    /// One command argument, with `,` lists (`-Name a,b`).
    fn command_arg(&mut self) -> R<Expr> {
        let first = self.command_arg_value()?;
        let mut items = vec![first];
        loop {
            let save = self.i;
            self.skip_ws();
            if self.peek() == Some(',') {
                self.i += 1;
                self.skip_ws_nl();
                items.push(self.command_arg_value()?);
            } else {
                self.i = save;
                break;
            }
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Expr::List(items)
        })
    }

    /// A single argument value in command mode.
    fn command_arg_value(&mut self) -> R<Expr> {
        let Some(c) = self.peek() else {
            return Err(self.err("MissingArgument", "Missing an argument."));
        };
        match c {
            '$' | '(' | '\'' | '"' | '@' | '[' => {
                let start = self.i;
                let e = self.primary_postfix()?;
                // `$dir\file` or `"a"b`: a bare word continues the argument.
                if self.peek().is_some_and(|c| !ends_bare(c)) && !matches!(c, '(' | '@' | '[') {
                    self.i = start;
                    return Ok(self.bare_expandable());
                }
                Ok(e)
            }
            '{' => {
                self.i += 1;
                let sb = self.script_block_body(Some('}'))?;
                self.expect(
                    '}',
                    "MissingEndCurlyBrace",
                    "Missing closing '}' in statement block or type definition.",
                )?;
                Ok(Expr::ScriptBlock(Arc::new(sb)))
            }
            _ => Ok(self.bare_expandable()),
        }
    }

    /// A bare word; a number when it reads as one; with `$var` expanded.
    fn bare_expandable(&mut self) -> Expr {
        let start = self.i;
        let w = self.bare_word_raw();
        if let Some(n) = parse_number(&w) {
            return Expr::Const(n);
        }
        if w.contains('$') {
            let inner: String = self.s[start..self.i].iter().collect();
            let mut sub = Parser::new(&inner);
            sub.depth = self.depth;
            if let Ok(parts) = sub.expandable_body(None) {
                return Expr::Expand(parts);
            }
        }
        Expr::Const(Value::String(unescape_bare(&w)))
    }

    fn bare_word_raw(&mut self) -> String {
        let start = self.i;
        while let Some(c) = self.peek() {
            if c == '`' && self.peek_at(1).is_some() {
                self.i += 2;
                continue;
            }
            if ends_bare(c) {
                // `a"b c"` is one word in PowerShell.
                if c == '"' || c == '\'' {
                    self.i += 1;
                    while let Some(d) = self.peek() {
                        self.i += 1;
                        if d == c {
                            break;
                        }
                    }
                    continue;
                }
                break;
            }
            self.i += 1;
        }
        self.s[start..self.i].iter().collect()
    }

    fn bare_word(&mut self) -> String {
        let w = self.bare_word_raw();
        unescape_bare(&w)
    }

    /// An expression; `no_comma` parses one element of an argument list.
    pub(crate) fn expr(&mut self, no_comma: bool) -> R<Expr> {
        self.enter()?;
        let r = self.logical(no_comma);
        self.leave();
        r
    }

    /// Skips whitespace (and newlines, which are allowed after an operator).
    fn after_op(&mut self) {
        self.skip_ws_nl();
    }

    /// An operator word `-name` at the cursor, without consuming it.
    fn peek_op(&self) -> Option<String> {
        if self.peek() != Some('-') {
            return None;
        }
        let w = self.op_word_at(self.i + 1)?;
        let end = self.i + 1 + w.len();
        if self.s.get(end).is_some_and(|c| is_ident(*c)) {
            return None;
        }
        Some(w)
    }

    fn take_op(&mut self, w: &str) {
        self.i += 1 + w.len();
        self.after_op();
    }

    fn logical(&mut self, nc: bool) -> R<Expr> {
        let mut l = self.bitwise(nc)?;
        loop {
            self.skip_ws();
            let op = match self.peek_op().as_deref() {
                Some("and") => BinOp::And,
                Some("or") => BinOp::Or,
                Some("xor") => BinOp::Xor,
                _ => return Ok(l),
            };
            let w = self.peek_op().unwrap_or_default();
            self.take_op(&w);
            let r = self.bitwise(nc)?;
            l = Expr::Binary(op, Box::new(l), Box::new(r));
        }
    }

    fn bitwise(&mut self, nc: bool) -> R<Expr> {
        let mut l = self.comparison(nc)?;
        loop {
            self.skip_ws();
            let op = match self.peek_op().as_deref() {
                Some("band") => BinOp::Band,
                Some("bor") => BinOp::Bor,
                Some("bxor") => BinOp::Bxor,
                _ => return Ok(l),
            };
            let w = self.peek_op().unwrap_or_default();
            self.take_op(&w);
            let r = self.comparison(nc)?;
            l = Expr::Binary(op, Box::new(l), Box::new(r));
        }
    }

    fn comparison(&mut self, nc: bool) -> R<Expr> {
        let mut l = self.additive(nc)?;
        loop {
            self.skip_ws();
            let Some(w) = self.peek_op() else {
                return Ok(l);
            };
            let Some(op) = comparison_op(&w) else {
                return Ok(l);
            };
            self.take_op(&w);
            let r = self.additive(nc)?;
            l = Expr::Binary(op, Box::new(l), Box::new(r));
        }
    }

    fn additive(&mut self, nc: bool) -> R<Expr> {
        let mut l = self.multiplicative(nc)?;
        loop {
            self.skip_ws();
            let op = match (self.peek(), self.peek_at(1)) {
                (Some('+'), n) if n != Some('=') && n != Some('+') => BinOp::Add,
                (Some('-'), n) if n != Some('=') && n != Some('-') && self.peek_op().is_none() => {
                    BinOp::Sub
                }
                _ => return Ok(l),
            };
            self.i += 1;
            self.after_op();
            let r = self.multiplicative(nc)?;
            l = Expr::Binary(op, Box::new(l), Box::new(r));
        }
    }

    fn multiplicative(&mut self, nc: bool) -> R<Expr> {
        let mut l = self.format(nc)?;
        loop {
            self.skip_ws();
            let op = match (self.peek(), self.peek_at(1)) {
                (Some('*'), n) if n != Some('=') && n != Some('>') => BinOp::Mul,
                (Some('/'), n) if n != Some('=') => BinOp::Div,
                (Some('%'), n) if n != Some('=') => BinOp::Rem,
                _ => return Ok(l),
            };
            self.i += 1;
            self.after_op();
            let r = self.format(nc)?;
            l = Expr::Binary(op, Box::new(l), Box::new(r));
        }
    }

    fn format(&mut self, nc: bool) -> R<Expr> {
        let mut l = self.range(nc)?;
        loop {
            self.skip_ws();
            if self.peek_op().as_deref() != Some("f") {
                return Ok(l);
            }
            self.take_op("f");
            let r = self.range(nc)?;
            l = Expr::Binary(BinOp::Format, Box::new(l), Box::new(r));
        }
    }

    fn range(&mut self, nc: bool) -> R<Expr> {
        let mut l = self.array_literal(nc)?;
        loop {
            self.skip_ws();
            if !(self.peek() == Some('.') && self.peek_at(1) == Some('.')) {
                return Ok(l);
            }
            self.i += 2;
            self.after_op();
            let r = self.array_literal(nc)?;
            l = Expr::Binary(BinOp::Range, Box::new(l), Box::new(r));
        }
    }

    fn array_literal(&mut self, nc: bool) -> R<Expr> {
        let first = self.unary()?;
        if nc {
            return Ok(first);
        }
        let mut items = vec![first];
        loop {
            let save = self.i;
            self.skip_ws();
            if self.peek() == Some(',') {
                self.i += 1;
                self.after_op();
                items.push(self.unary()?);
            } else {
                self.i = save;
                break;
            }
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Expr::List(items)
        })
    }

    fn unary(&mut self) -> R<Expr> {
        self.enter()?;
        let r = self.unary_inner();
        self.leave();
        r
    }

    fn unary_inner(&mut self) -> R<Expr> {
        self.skip_ws();
        let c = self.peek();
        if c == Some('!') {
            self.i += 1;
            self.after_op();
            return Ok(Expr::Unary(UnOp::Not, Box::new(self.unary()?)));
        }
        if c == Some(',') {
            self.i += 1;
            self.after_op();
            return Ok(Expr::Unary(UnOp::Comma, Box::new(self.unary()?)));
        }
        if c == Some('+') && self.peek_at(1) == Some('+') {
            self.i += 2;
            return Ok(Expr::Unary(UnOp::PreInc, Box::new(self.unary()?)));
        }
        if c == Some('-') && self.peek_at(1) == Some('-') {
            self.i += 2;
            return Ok(Expr::Unary(UnOp::PreDec, Box::new(self.unary()?)));
        }
        if c == Some('-') {
            if let Some(w) = self.peek_op() {
                let op = match w.as_str() {
                    "not" => Some(UnOp::Not),
                    "bnot" => Some(UnOp::Bnot),
                    "split" => Some(UnOp::Split),
                    "join" => Some(UnOp::Join),
                    _ => None,
                };
                if let Some(op) = op {
                    self.take_op(&w);
                    return Ok(Expr::Unary(op, Box::new(self.unary()?)));
                }
            }
            // A negative number literal or negation.
            self.i += 1;
            self.after_op();
            let e = self.unary()?;
            return Ok(match e {
                Expr::Const(Value::Int32(n)) => Expr::Const(Value::Int32(-n)),
                Expr::Const(Value::Int64(n)) => Expr::Const(Value::Int64(-n)),
                Expr::Const(Value::Double(n)) => Expr::Const(Value::Double(-n)),
                e => Expr::Unary(UnOp::Neg, Box::new(e)),
            });
        }
        if c == Some('+') {
            self.i += 1;
            self.after_op();
            return Ok(Expr::Unary(UnOp::Plus, Box::new(self.unary()?)));
        }
        if c == Some('[') {
            // Cast or type literal (or a static member, handled in primary).
            let save = self.i;
            let ty = self.skip_attribute()?;
            if self.peek() == Some(':') && self.peek_at(1) == Some(':') {
                self.i = save;
                return self.primary_postfix();
            }
            let after = self.i;
            self.skip_ws();
            let casts = match self.peek() {
                None => false,
                Some(')' | '}' | ';' | ',' | '|' | '\n' | '\r' | '=' | ']') => false,
                Some('-') => self
                    .peek_op()
                    .is_none_or(|w| matches!(w.as_str(), "not" | "bnot" | "split" | "join")),
                Some('.') => false,
                Some(_) => true,
            };
            if casts {
                let e = self.unary()?;
                return Ok(Expr::Cast(ty.trim().to_ascii_lowercase(), Box::new(e)));
            }
            self.i = after;
            let mut e = Expr::Type(ty.trim().to_string());
            e = self.postfix(e)?;
            return Ok(e);
        }
        self.primary_postfix()
    }

    /// A primary expression and its postfix operators (member access,
    /// method calls, indexing, `++`/`--`).
    fn primary_postfix(&mut self) -> R<Expr> {
        let p = self.primary()?;
        self.postfix(p)
    }

    fn postfix(&mut self, mut e: Expr) -> R<Expr> {
        loop {
            match (self.peek(), self.peek_at(1)) {
                (Some('.'), Some(n))
                    if n != '.' && (is_ident(n) || matches!(n, '$' | '\'' | '"' | '(')) =>
                {
                    self.i += 1;
                    e = self.member(e, false)?;
                }
                (Some(':'), Some(':')) => {
                    self.i += 2;
                    e = self.member(e, true)?;
                }
                (Some('['), _) => {
                    self.i += 1;
                    self.skip_ws_nl();
                    let idx = self.expr(false)?;
                    self.skip_ws_nl();
                    self.expect(
                        ']',
                        "MissingEndSquareBracket",
                        "Array index expression is missing or not valid.",
                    )?;
                    e = Expr::Index(Box::new(e), Box::new(idx));
                }
                (Some('+'), Some('+')) if is_lvalue(&e) => {
                    self.i += 2;
                    e = Expr::Unary(UnOp::PostInc, Box::new(e));
                }
                (Some('-'), Some('-')) if is_lvalue(&e) => {
                    self.i += 2;
                    e = Expr::Unary(UnOp::PostDec, Box::new(e));
                }
                _ => return Ok(e),
            }
        }
    }

    fn member(&mut self, target: Expr, is_static: bool) -> R<Expr> {
        let name = match self.peek() {
            Some(c) if is_ident(c) => Expr::Const(Value::String(self.ident())),
            Some('$' | '\'' | '"' | '(') => self.primary()?,
            _ => {
                return Err(self.err(
                    "MissingPropertyName",
                    "Missing property name after reference operator.",
                ))
            }
        };
        if self.peek() == Some('(') {
            self.i += 1;
            let mut args = Vec::new();
            self.skip_ws_nl();
            if !self.eat(')') {
                loop {
                    self.skip_ws_nl();
                    args.push(self.expr(true)?);
                    self.skip_ws_nl();
                    if self.eat(',') {
                        continue;
                    }
                    self.expect(
                        ')',
                        "MissingEndParenthesisInMethodCall",
                        "Missing closing ')' in expression.",
                    )?;
                    break;
                }
            }
            return Ok(Expr::Invoke {
                target: Box::new(target),
                name: Box::new(name),
                args,
                is_static,
            });
        }
        Ok(Expr::Member {
            target: Box::new(target),
            name: Box::new(name),
            is_static,
        })
    }

    fn var_name(&mut self) -> R<String> {
        if self.eat('{') {
            let start = self.i;
            while self.peek().is_some_and(|c| c != '}') {
                self.i += 1;
            }
            let n: String = self.s[start..self.i].iter().collect();
            self.expect(
                '}',
                "IncompleteDollarVariableReference",
                "Missing '}' in variable reference.",
            )?;
            return Ok(n.to_ascii_lowercase());
        }
        match self.peek() {
            Some(c @ ('_' | '?' | '$' | '^'))
                if !self.peek_at(1).is_some_and(is_ident) || c != '_' =>
            {
                self.i += 1;
                return Ok(c.to_string());
            }
            _ => {}
        }
        let start = self.i;
        while self.peek().is_some_and(is_ident) {
            self.i += 1;
        }
        // Scope or drive prefix: `env:PATH`, `script:x`.
        if self.peek() == Some(':')
            && self.peek_at(1).is_some_and(|c| is_ident(c) || c == '{')
            && self.i > start
        {
            self.i += 1;
            if self.eat('{') {
                while self.peek().is_some_and(|c| c != '}') {
                    self.i += 1;
                }
                let raw: String = self.s[start..self.i].iter().collect();
                self.i += 1;
                return Ok(raw.replacen('{', "", 1).to_ascii_lowercase());
            }
            while self.peek().is_some_and(is_ident) {
                self.i += 1;
            }
            // `$env:ProgramFiles(x86)` is not a variable name in PowerShell either.
        }
        let n: String = self.s[start..self.i].iter().collect();
        if n.is_empty() {
            return Err(self.err("InvalidVariableReference", "Variable reference is not valid. '$' was not followed by a valid variable name character. Consider using ${} to delimit the name."));
        }
        Ok(n.to_ascii_lowercase())
    }

    fn primary(&mut self) -> R<Expr> {
        self.enter()?;
        let r = self.primary_inner();
        self.leave();
        r
    }

    fn primary_inner(&mut self) -> R<Expr> {
        self.skip_ws();
        let Some(c) = self.peek() else {
            return Err(self.err(
                "ExpectedExpression",
                "You must provide a value expression following the operator.",
            ));
        };
        match c {
            '$' => {
                self.i += 1;
                if self.eat('(') {
                    let body = self.statements(Some(')'))?;
                    self.expect(
                        ')',
                        "MissingEndParenthesisInSubexpression",
                        "Missing closing ')' in subexpression.",
                    )?;
                    return Ok(Expr::SubExpr(body));
                }
                let n = self.var_name()?;
                Ok(Expr::Var(n))
            }
            '@' => {
                self.i += 1;
                match self.peek() {
                    Some('(') => {
                        self.i += 1;
                        let body = self.statements(Some(')'))?;
                        self.expect(
                            ')',
                            "MissingEndParenthesisInSubexpression",
                            "Missing closing ')' in subexpression.",
                        )?;
                        Ok(Expr::ArraySub(body))
                    }
                    Some('{') => {
                        self.i += 1;
                        self.hash_literal()
                    }
                    Some('\'') | Some('"') => self.here_string(),
                    _ => Err(self.err("UnrecognizedToken", "Unrecognized token in source text.")),
                }
            }
            '(' => {
                self.i += 1;
                self.skip_ws_nl();
                if self.eat(')') {
                    return Ok(Expr::Const(Value::Null));
                }
                let st = self.statement()?;
                self.skip_ws_nl();
                self.expect(
                    ')',
                    "MissingEndParenthesisInExpression",
                    "Missing closing ')' in expression.",
                )?;
                Ok(Expr::Paren(Box::new(st)))
            }
            '\'' => {
                self.i += 1;
                let mut s = String::new();
                loop {
                    match self.peek() {
                        None => {
                            return Err(self.err(
                                "TerminatorExpectedAtEndOfString",
                                "The string is missing the terminator: '.",
                            ))
                        }
                        Some(q) if is_single_quote(q) => {
                            self.i += 1;
                            if self.peek().is_some_and(is_single_quote) {
                                self.i += 1;
                                s.push('\'');
                            } else {
                                break;
                            }
                        }
                        Some(ch) => {
                            self.i += 1;
                            s.push(ch);
                        }
                    }
                }
                Ok(Expr::Const(Value::String(s)))
            }
            '"' => {
                self.i += 1;
                let parts = self.expandable_body(Some('"'))?;
                Ok(simplify(parts))
            }
            '{' => {
                self.i += 1;
                let sb = self.script_block_body(Some('}'))?;
                self.expect(
                    '}',
                    "MissingEndCurlyBrace",
                    "Missing closing '}' in statement block or type definition.",
                )?;
                Ok(Expr::ScriptBlock(Arc::new(sb)))
            }
            '[' => {
                let ty = self.skip_attribute()?;
                Ok(Expr::Type(ty.trim().to_string()))
            }
            c if c.is_ascii_digit() || c == '.' => {
                let start = self.i;
                while self.peek().is_some_and(|c| {
                    c.is_ascii_alphanumeric() || c == '.' && self.peek_at(1) != Some('.')
                }) {
                    self.i += 1;
                }
                let w: String = self.s[start..self.i].iter().collect();
                // `1e-5`
                if (w.ends_with('e') || w.ends_with('E'))
                    && matches!(self.peek(), Some('-' | '+'))
                    && !w.starts_with("0x")
                {
                    let save = self.i;
                    self.i += 1;
                    let s2 = self.i;
                    while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                        self.i += 1;
                    }
                    let w2: String = format!(
                        "{w}{}{}",
                        self.s[s2 - 1],
                        self.s[s2..self.i].iter().collect::<String>()
                    );
                    if let Some(v) = parse_number(&w2) {
                        return Ok(Expr::Const(v));
                    }
                    self.i = save;
                }
                parse_number(&w).map(Expr::Const).ok_or_else(|| ParseError {
                    message: format!("Unexpected token '{w}' in expression or statement."),
                    id: "UnexpectedToken".into(),
                    pos: self.pos_at(start),
                })
            }
            c if is_ident(c) || c == '-' => {
                // A bare word where an expression was wanted: in PowerShell
                // that is a parse error, except a command in parentheses.
                Err(self.err_unexpected())
            }
            _ => Err(self.err_unexpected()),
        }
    }

    /// `@{ key = value; ... }` after the `@{`.
    fn hash_literal(&mut self) -> R<Expr> {
        let mut pairs = Vec::new();
        loop {
            self.skip_separators();
            if self.eat('}') {
                return Ok(Expr::Hash(pairs));
            }
            if self.at_end() {
                return Err(self.err(
                    "MissingEndCurlyBrace",
                    "Missing closing '}' in statement block or type definition.",
                ));
            }
            let key = match self.peek() {
                Some(c) if is_ident(c) || c == '-' => {
                    let start = self.i;
                    while self
                        .peek()
                        .is_some_and(|c| is_ident(c) || c == '-' || c == '.')
                    {
                        self.i += 1;
                    }
                    let w: String = self.s[start..self.i].iter().collect();
                    parse_number(&w)
                        .map(Expr::Const)
                        .unwrap_or(Expr::Const(Value::String(w)))
                }
                _ => self.unary()?,
            };
            self.skip_ws();
            self.expect(
                '=',
                "MissingEqualsInHashLiteral",
                "Missing '=' operator after key in hash literal.",
            )?;
            self.skip_ws_nl();
            let v = self.statement()?;
            pairs.push((key, v));
            self.skip_ws();
            match self.peek() {
                Some(';' | '\n' | '\r' | '}') => {}
                _ => {
                    return Err(self.err("MissingEndCurlyBrace", "The hash literal was incomplete."))
                }
            }
        }
    }

    /// `@'...'@` and `@"..."@` after the `@`.
    fn here_string(&mut self) -> R<Expr> {
        let q = self.peek().unwrap_or('"');
        self.i += 1;
        // The opening must end its line.
        self.skip_ws();
        self.eat('\r');
        if !self.eat('\n') {
            return Err(self.err("UnexpectedCharactersAfterHereStringHeader", "No characters are allowed after a here-string header but before the end of the line."));
        }
        let start = self.i;
        loop {
            if self.at_end() {
                return Err(self.err(
                    "TerminatorExpectedAtEndOfString",
                    &format!("The string is missing the terminator: {q}@."),
                ));
            }
            let line_start = self.i == start || self.s.get(self.i.wrapping_sub(1)) == Some(&'\n');
            if line_start && self.peek() == Some(q) && self.peek_at(1) == Some('@') {
                break;
            }
            self.i += 1;
        }
        let mut end = self.i;
        // The newline before the terminator is not part of the string.
        if end > start && self.s[end - 1] == '\n' {
            end -= 1;
        }
        if end > start && self.s[end - 1] == '\r' {
            end -= 1;
        }
        let body: String = self.s[start..end].iter().collect();
        self.i += 2;
        if q == '\'' {
            return Ok(Expr::Const(Value::String(body)));
        }
        let mut sub = Parser::new(&body);
        sub.depth = self.depth;
        let parts = sub.expandable_body(None)?;
        Ok(simplify(parts))
    }

    /// The inside of a double-quoted string, up to `close` (consumed).
    fn expandable_body(&mut self, close: Option<char>) -> R<Vec<StrPart>> {
        let mut parts = Vec::new();
        let mut lit = String::new();
        loop {
            let Some(c) = self.peek() else {
                if close.is_some() {
                    return Err(self.err(
                        "TerminatorExpectedAtEndOfString",
                        "The string is missing the terminator: \".",
                    ));
                }
                break;
            };
            if close.is_some() && is_double_quote(c) {
                self.i += 1;
                if self.peek().is_some_and(is_double_quote) {
                    self.i += 1;
                    lit.push('"');
                    continue;
                }
                break;
            }
            if c == '`' {
                self.i += 1;
                if let Some(e) = self.peek() {
                    self.i += 1;
                    lit.push(match e {
                        'n' => '\n',
                        'r' => '\r',
                        't' => '\t',
                        '0' => '\0',
                        'a' => '\u{7}',
                        'b' => '\u{8}',
                        'f' => '\u{c}',
                        'v' => '\u{b}',
                        'e' => '\u{1b}',
                        other => other,
                    });
                }
                continue;
            }
            if c == '$' {
                let n = self.peek_at(1);
                let starts_var = n
                    .is_some_and(|n| is_ident(n) || matches!(n, '{' | '(' | '_' | '?' | '$' | '^'));
                if starts_var {
                    if !lit.is_empty() {
                        parts.push(StrPart::Lit(std::mem::take(&mut lit)));
                    }
                    self.i += 1;
                    if self.eat('(') {
                        let body = self.statements(Some(')'))?;
                        self.expect(
                            ')',
                            "MissingEndParenthesisInSubexpression",
                            "Missing closing ')' in subexpression.",
                        )?;
                        parts.push(StrPart::Expr(Expr::SubExpr(body)));
                    } else {
                        let name = self.var_name()?;
                        parts.push(StrPart::Expr(Expr::Var(name)));
                    }
                    continue;
                }
            }
            self.i += 1;
            lit.push(c);
        }
        if !lit.is_empty() {
            parts.push(StrPart::Lit(lit));
        }
        Ok(parts)
    }
}

fn simplify(parts: Vec<StrPart>) -> Expr {
    match parts.as_slice() {
        [] => Expr::Const(Value::String(String::new())),
        [StrPart::Lit(s)] => Expr::Const(Value::String(s.clone())),
        _ => Expr::Expand(parts),
    }
}

fn is_single_quote(c: char) -> bool {
    matches!(c, '\'' | '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{201B}')
}

fn is_double_quote(c: char) -> bool {
    matches!(c, '"' | '\u{201C}' | '\u{201D}' | '\u{201E}')
}

/// A bare word with its backtick escapes and quotes removed.
fn unescape_bare(w: &str) -> String {
    let mut out = String::with_capacity(w.len());
    let mut chars = w.chars();
    while let Some(c) = chars.next() {
        match c {
            '`' => {
                if let Some(n) = chars.next() {
                    out.push(n);
                }
            }
            '"' | '\'' => {}
            c => out.push(c),
        }
    }
    out
}

/// Whether an expression can be assigned to.
fn is_lvalue(e: &Expr) -> bool {
    match e {
        Expr::Var(_) | Expr::Member { .. } | Expr::Index(..) => true,
        Expr::Cast(_, inner) => matches!(**inner, Expr::Var(_)),
        Expr::List(items) => items.iter().all(is_lvalue),
        _ => false,
    }
}

fn comparison_op(w: &str) -> Option<BinOp> {
    let (cs, base) = if let Some(b) = w.strip_prefix('c') {
        (true, b)
    } else if let Some(b) = w.strip_prefix('i') {
        (false, b)
    } else {
        (false, w)
    };
    let cmp = |op| Some(BinOp::Cmp(op, cs));
    match base {
        "eq" => cmp(CmpOp::Eq),
        "ne" => cmp(CmpOp::Ne),
        "lt" => cmp(CmpOp::Lt),
        "le" => cmp(CmpOp::Le),
        "gt" => cmp(CmpOp::Gt),
        "ge" => cmp(CmpOp::Ge),
        "like" => cmp(CmpOp::Like),
        "notlike" => cmp(CmpOp::NotLike),
        "match" => cmp(CmpOp::Match),
        "notmatch" => cmp(CmpOp::NotMatch),
        "contains" => cmp(CmpOp::Contains),
        "notcontains" => cmp(CmpOp::NotContains),
        "in" => cmp(CmpOp::In),
        "notin" => cmp(CmpOp::NotIn),
        "replace" => Some(BinOp::Replace(cs)),
        "split" => Some(BinOp::Split(cs)),
        _ => match w {
            "is" => Some(BinOp::Is),
            "isnot" => Some(BinOp::IsNot),
            "as" => Some(BinOp::As),
            "join" => Some(BinOp::Join),
            "shl" => Some(BinOp::Shl),
            "shr" => Some(BinOp::Shr),
            _ => None,
        },
    }
}

/// A numeric literal: decimal, hex, with `l`/`d` type suffixes and
/// `kb`..`pb` multipliers, as PowerShell reads it.
pub fn parse_number(w: &str) -> Option<Value> {
    let lw = w.to_ascii_lowercase();
    if lw.is_empty() || !(lw.starts_with(|c: char| c.is_ascii_digit()) || lw.starts_with('.')) {
        return None;
    }
    let (body, mult) = ["kb", "mb", "gb", "tb", "pb"]
        .iter()
        .enumerate()
        .find_map(|(i, s)| lw.strip_suffix(s).map(|b| (b, 1i64 << (10 * (i + 1)))))
        .unwrap_or((&lw, 1));
    let (body, long, dec) = if let Some(b) = body.strip_suffix('l') {
        (b, true, false)
    } else if let Some(b) = body.strip_suffix('d').filter(|_| !body.starts_with("0x")) {
        (b, false, true)
    } else {
        (body, false, false)
    };
    if let Some(hex) = body.strip_prefix("0x") {
        let n = i64::from_str_radix(hex, 16).ok()?;
        let n = n.checked_mul(mult)?;
        return Some(if !long && n <= u32::MAX as i64 && mult == 1 {
            Value::Int32(n as u32 as i32)
        } else {
            Value::Int64(n)
        });
    }
    if body.is_empty()
        || !body
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | '+' | '-'))
    {
        return None;
    }
    if dec {
        let _: f64 = body.parse().ok()?;
        return Some(Value::Decimal(body.to_string()));
    }
    if body.contains(['.', 'e']) {
        let d: f64 = body.parse().ok()?;
        return Some(Value::Double(d * mult as f64));
    }
    let n: i128 = body.parse().ok()?;
    let n = n.checked_mul(i128::from(mult))?;
    if !long {
        if let Ok(i) = i32::try_from(n) {
            return Some(Value::Int32(i));
        }
    }
    if let Ok(i) = i64::try_from(n) {
        return Some(Value::Int64(i));
    }
    Some(Value::Double(n as f64))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> ScriptBlock {
        match parse(s) {
            Ok(sb) => sb,
            Err(e) => panic!("{s:?}: {e:?}"),
        }
    }

    #[test]
    fn parses_the_usual_constructs() {
        ok("if ($PSVersionTable.PSVersion -lt [Version]\"5.1\") { 'old'; exit 1 } elseif ($x) { } else { 'ok' }");
        ok("$x = 1 + 1; $x");
        ok("Get-VM | Where-Object State -eq 'Running' | Select-Object -ExpandProperty Name");
        ok("[Environment]::OSVersion.Version");
        ok("foreach ($i in 1..3) { $i * 2 }\nfor ($i = 0; $i -lt 3; $i++) { }");
        ok("try { throw 'x' } catch [System.Exception] { $_.Exception.Message } finally { 'f' }");
        ok("function f { param([int]$a = 2, [switch]$b) $a }\nf -a 3");
        ok("$h = @{ a = 1; 'b' = 'x'\n c = @(1,2) }; $h.a");
        ok("@'\nhere\n'@\n@\"\n$x here\n\"@");
        ok("switch -regex ($x) { '^a' { 1 } default { 2 } }");
        ok("$a = Get-Service `\n  -Name WinRM");
        ok("\"{0:N2}\" -f 3.14159");
        ok("$bytes = New-Object -TypeName byte[] -ArgumentList 5");
        ok("$algo.TransformFinalBlock($bytes, 0, 0) > $null");
        ok("begin { $x = 1 } process { $_ } end { 'e' }");
        ok("<# block #> 'a' # line");
        ok("$env:PATH; ${env:ProgramFiles(x86)}; $script:x = 1");
        ok("& { 'sb' }; . $f; &$cmd arg");
        ok("do { $i++ } while ($i -lt 3)");
        ok("-not $true; !$false; -1; 5 - -3");
    }

    #[test]
    fn reports_powershells_parse_errors() {
        assert_eq!(
            parse("if ($x) { 'a'").map_err(|e| e.id),
            Err("MissingEndCurlyBrace".to_string())
        );
        assert_eq!(
            parse("'abc").map_err(|e| e.id),
            Err("TerminatorExpectedAtEndOfString".to_string())
        );
        assert!(parse("(1 +").is_err());
        let deep = "(".repeat(10_000);
        assert!(parse(&deep).is_err());
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_number("42"), Some(Value::Int32(42)));
        assert_eq!(
            parse_number("3000000000"),
            Some(Value::Int64(3_000_000_000))
        );
        assert_eq!(parse_number("1kb"), Some(Value::Int32(1024)));
        assert_eq!(parse_number("1.5"), Some(Value::Double(1.5)));
        assert_eq!(parse_number("0x10"), Some(Value::Int32(16)));
        assert_eq!(parse_number("abc"), None);
    }
}
