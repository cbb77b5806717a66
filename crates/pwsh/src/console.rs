//! powershell.exe's console: a script's streams as the process prints them
//! when stdout and stderr are redirected (what a WinRM cmd shell reads).
//! Output objects go through Out-Default's formatting, interleaved with
//! Write-Host in the order they were written; error records are rendered
//! as the console host renders them (message, position, CategoryInfo,
//! FullyQualifiedErrorId), for the caller to wrap in CLIXML.

use crate::{
    format, ErrorCategory, ErrorRecord, Invocation, Pipeline, PipelineState, Runspace, Stream,
};

/// The console width error records wrap at when not on a console.
pub const WRAP: usize = 120;

/// What powershell.exe printed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConsoleOutput {
    pub stdout: String,
    /// Stderr records in order: (CLIXML stream name, text). The names are
    /// the `S` attribute powershell.exe writes (`Error`, `warning`,
    /// `verbose`, `debug`).
    pub stderr: Vec<(&'static str, String)>,
    pub exit_code: i32,
}

/// Runs `script` as `powershell.exe -Command` does.
pub fn run(rs: &mut Runspace, script: &str) -> ConsoleOutput {
    let inv = rs.invoke(&Pipeline::Script(script.to_string()), Vec::new());
    render(&inv, script)
}

/// Renders an invocation's streams as the console host prints them.
pub fn render(inv: &Invocation, script: &str) -> ConsoleOutput {
    let _ = script;
    let mut out = ConsoleOutput::default();
    let mut pending: Vec<crate::Value> = Vec::new();
    let flush = |pending: &mut Vec<crate::Value>, stdout: &mut String| {
        if !pending.is_empty() {
            stdout.push_str(&format::out_string(pending, WRAP));
            pending.clear();
        }
    };
    for (stream, i) in &inv.order {
        match stream {
            Stream::Output => {
                if let Some(v) = inv.output.get(*i) {
                    pending.push(v.clone());
                }
            }
            Stream::Information => {
                flush(&mut pending, &mut out.stdout);
                if let Some(r) = inv.information.get(*i) {
                    if r.from_host {
                        out.stdout.push_str(
                            &r.message
                                .to_string()
                                .replace('\n', "\r\n")
                                .replace("\r\r\n", "\r\n"),
                        );
                        if !r.no_newline {
                            out.stdout.push_str("\r\n");
                        }
                    }
                }
            }
            Stream::Error => {
                flush(&mut pending, &mut out.stdout);
                if let Some(e) = inv.errors.get(*i) {
                    out.stderr.push(("Error", error_text(e)));
                }
            }
            Stream::Warning => {
                flush(&mut pending, &mut out.stdout);
                if let Some(w) = inv.warnings.get(*i) {
                    out.stderr.push(("warning", w.clone()));
                }
            }
            Stream::Verbose => {
                if let Some(w) = inv.verbose.get(*i) {
                    out.stderr.push(("verbose", w.clone()));
                }
            }
            Stream::Debug => {
                if let Some(w) = inv.debug.get(*i) {
                    out.stderr.push(("debug", w.clone()));
                }
            }
        }
    }
    flush(&mut pending, &mut out.stdout);
    out.exit_code = match (&inv.state, inv.exit_code) {
        (_, Some(c)) => c,
        (PipelineState::Failed(_), None) => 1,
        (PipelineState::Stopped, None) => 1,
        (PipelineState::Completed, None) => i32::from(!inv.last_succeeded),
    };
    out
}

/// An error record as the console host prints it.
pub fn error_text(e: &ErrorRecord) -> String {
    let mut lines: Vec<String> = Vec::new();
    let prefix = if !e.command.is_empty() {
        e.command.clone()
    } else {
        e.activity.clone()
    };
    if e.category == ErrorCategory::ParserError {
        lines.extend(e.position.lines().map(str::to_string));
        lines.extend(wrap(&e.message, WRAP));
    } else {
        let first = if prefix.is_empty() {
            e.message.clone()
        } else {
            format!("{prefix} : {}", e.message)
        };
        lines.extend(wrap(&first, WRAP));
        lines.extend(e.position.lines().map(str::to_string));
    }
    lines.push(format!(
        "    + CategoryInfo          : {}",
        e.category_info()
    ));
    lines.push(format!(
        "    + FullyQualifiedErrorId : {}",
        e.fully_qualified_error_id
    ));
    lines.push(" ".into());
    lines.join("\n")
}

/// Word-wraps at `width` columns, keeping the space at the end of each
/// broken line as PowerShell's host does; existing line breaks stay.
pub fn wrap(s: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    for para in s.split('\n') {
        let para = para.trim_end_matches('\r');
        let mut cur = String::new();
        for word in para.split(' ') {
            if !cur.is_empty() && cur.chars().count() + word.chars().count() + 1 > width {
                lines.push(std::mem::take(&mut cur));
            }
            cur.push_str(word);
            cur.push(' ');
        }
        let last = cur.trim_end().to_string();
        lines.push(last);
    }
    while lines.len() > 1 && lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    lines
}
