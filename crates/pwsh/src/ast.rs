//! The syntax tree the parser builds and the evaluator walks. Shapes follow
//! the PowerShell language specification's grammar (statement, pipeline,
//! command, expression by precedence).

use crate::value::Value;
use std::sync::Arc;

/// Where a node starts in the script: 1-based line and column, and the byte
/// offset (for error records' `At line:L char:C` and the underline).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    pub line: u32,
    pub col: u32,
    pub offset: usize,
}

/// A script block: `param()`, then either named blocks or one body (which
/// is the `end` block).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ScriptBlock {
    pub params: Vec<Param>,
    pub begin: Option<Vec<Stmt>>,
    pub process: Option<Vec<Stmt>>,
    pub end: Vec<Stmt>,
    /// The source text (what `ToString()` on the script block gives).
    pub text: String,
}

/// One parameter of `param(...)` or `function f($a, $b)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    pub name: String,
    /// The type constraint (`string`, `switch`, `int[]`), lower-cased.
    pub ty: Option<String>,
    pub default: Option<Expr>,
    pub mandatory: bool,
    pub position: Option<usize>,
    pub from_pipeline: bool,
}

/// A function definition.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionDef {
    pub name: String,
    pub body: Arc<ScriptBlock>,
    /// `filter`: the body is a process block.
    pub filter: bool,
}

/// A statement with its position.
#[derive(Debug, Clone, PartialEq)]
pub struct Stmt {
    pub pos: Pos,
    /// Byte offset just past the statement (for the error underline).
    pub end: usize,
    pub kind: StmtKind,
}

/// Statement kinds.
#[derive(Debug, Clone, PartialEq)]
pub enum StmtKind {
    Pipeline(Pipeline),
    Assign {
        target: Expr,
        op: AssignOp,
        value: Box<Stmt>,
    },
    If {
        clauses: Vec<(Pipeline, Vec<Stmt>)>,
        otherwise: Option<Vec<Stmt>>,
    },
    While {
        label: Option<String>,
        cond: Pipeline,
        body: Vec<Stmt>,
    },
    /// `do {} while ()` / `do {} until ()`.
    Do {
        label: Option<String>,
        body: Vec<Stmt>,
        cond: Pipeline,
        until: bool,
    },
    For {
        label: Option<String>,
        init: Option<Box<Stmt>>,
        cond: Option<Pipeline>,
        step: Option<Box<Stmt>>,
        body: Vec<Stmt>,
    },
    Foreach {
        label: Option<String>,
        var: String,
        items: Pipeline,
        body: Vec<Stmt>,
    },
    Switch {
        label: Option<String>,
        mode: SwitchMode,
        case_sensitive: bool,
        subject: Pipeline,
        clauses: Vec<(Expr, Vec<Stmt>)>,
        default: Option<Vec<Stmt>>,
    },
    Try {
        body: Vec<Stmt>,
        catches: Vec<(Vec<String>, Vec<Stmt>)>,
        finally: Option<Vec<Stmt>>,
    },
    Function(Arc<FunctionDef>),
    Return(Option<Pipeline>),
    Break(Option<String>),
    Continue(Option<String>),
    Throw(Option<Pipeline>),
    Exit(Option<Pipeline>),
    /// A construct the parser recognises but the evaluator does not
    /// implement (`trap`, `class`, `workflow`...): running it fails with
    /// a NotImplemented error naming it.
    Unsupported(String),
}

/// `switch` matching.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SwitchMode {
    Exact,
    Wildcard,
    Regex,
}

/// `=`, `+=`, ...
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssignOp {
    Set,
    Add,
    Sub,
    Mul,
    Div,
    Rem,
}

/// Commands and expressions joined by `|`.
#[derive(Debug, Clone, PartialEq)]
pub struct Pipeline {
    pub pos: Pos,
    pub elements: Vec<Element>,
}

/// One element of a pipeline.
#[derive(Debug, Clone, PartialEq)]
pub enum Element {
    Expr(Expr, Vec<Redirect>),
    Command(CommandCall),
}

/// A command invocation in command mode.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandCall {
    pub pos: Pos,
    /// The command's name as written (bare word), or an expression for
    /// `& $sb` / `& 'C:\x.exe'`.
    pub name: CommandName,
    /// `&` (call) or `.` (dot-source).
    pub dot: bool,
    pub args: Vec<Arg>,
    pub redirects: Vec<Redirect>,
    /// The text of the arguments, for native programs' command lines.
    pub arg_text: String,
    /// Where the name ends, for the underline under a command not found.
    pub name_len: usize,
    /// Byte offset just past the command's last argument.
    pub end: usize,
}

/// A command's name.
#[derive(Debug, Clone, PartialEq)]
pub enum CommandName {
    Bare(String),
    Expr(Box<Expr>),
}

/// A command argument.
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    /// `-Name` or `-Name:value`.
    Param(String, Option<Expr>),
    Value(Expr),
    /// `@splat`.
    Splat(String),
}

/// A redirection (`> file`, `2>&1`, `*> $null`).
#[derive(Debug, Clone, PartialEq)]
pub struct Redirect {
    /// The stream number (1 output, 2 error, 3 warning, ..., 0 for `*`).
    pub from: u8,
    pub target: RedirectTarget,
    pub append: bool,
}

/// Where a redirection goes.
#[derive(Debug, Clone, PartialEq)]
pub enum RedirectTarget {
    /// `2>&1`.
    Merge(u8),
    File(Expr),
}

/// Parts of an expandable string.
#[derive(Debug, Clone, PartialEq)]
pub enum StrPart {
    Lit(String),
    Expr(Expr),
}

/// Binary operators (PowerShell spells them `-eq`, `+`, ...). Comparison
/// operators carry whether they are case-sensitive (`-ceq`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Rem,
    Range,
    Format,
    And,
    Or,
    Xor,
    Band,
    Bor,
    Bxor,
    Shl,
    Shr,
    Cmp(CmpOp, bool),
    Is,
    IsNot,
    As,
    Join,
    Split(bool),
    Replace(bool),
}

/// Comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Like,
    NotLike,
    Match,
    NotMatch,
    Contains,
    NotContains,
    In,
    NotIn,
}

/// Unary operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnOp {
    Not,
    Neg,
    Plus,
    Bnot,
    Join,
    Split,
    PreInc,
    PreDec,
    PostInc,
    PostDec,
    /// Unary comma: a one-element array.
    Comma,
}

/// An expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Const(Value),
    /// A double-quoted string with variables or subexpressions.
    Expand(Vec<StrPart>),
    /// `$name` (scope prefixes kept lower-cased in the name: `env:path`).
    Var(String),
    /// `@(...)`.
    ArraySub(Vec<Stmt>),
    /// `$(...)`.
    SubExpr(Vec<Stmt>),
    /// `(...)`.
    Paren(Box<Stmt>),
    /// `@{ k = v; ... }`.
    Hash(Vec<(Expr, Stmt)>),
    /// `a, b, c`.
    List(Vec<Expr>),
    Unary(UnOp, Box<Expr>),
    Binary(BinOp, Box<Expr>, Box<Expr>),
    /// `.Name` / `::Name` (the name may be computed: `.$p`).
    Member {
        target: Box<Expr>,
        name: Box<Expr>,
        is_static: bool,
    },
    /// `.Name(args)` / `::Name(args)`.
    Invoke {
        target: Box<Expr>,
        name: Box<Expr>,
        args: Vec<Expr>,
        is_static: bool,
    },
    Index(Box<Expr>, Box<Expr>),
    /// `[type]` on its own.
    Type(String),
    /// `[type]expr`.
    Cast(String, Box<Expr>),
    ScriptBlock(Arc<ScriptBlock>),
}
