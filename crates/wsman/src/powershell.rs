//! `powershell.exe` as a WinRM cmd shell sees it: the invocation line parsed
//! the way powershell.exe parses it (`-EncodedCommand`, `-Command`, `-File`
//! and the flags scripts pass), the script decoded, and a small evaluator for
//! the statements every tool's preamble uses. Anything else gets PowerShell's
//! own CommandNotFoundException, in the CLIXML error stream powershell.exe
//! writes when its stderr is not a console (what pywinrm's `run_ps` and
//! Ansible decode).
//!
//! pywinrm's `run_ps(script)` sends `powershell -encodedcommand <base64 of
//! UTF-16LE>`; decoding it here is what lets a scenario's command table match
//! the script text instead of its base64.

use crate::shell::{environment, twelve_hour, whoami, HostFacts, Output};
use base64::Engine as _;
use std::collections::HashMap;

/// The version the built-ins report: Windows Server 2019's PowerShell 5.1.
const PS_VERSION: (u32, u32, u32, u32) = (5, 1, 17763, 5458);
/// powershell.exe's exit code when its own command line is wrong.
const STARTUP_ERROR: i32 = -196_608;
/// The console width PowerShell wraps error records at when not on a console.
const WRAP: usize = 120;

/// What a powershell.exe command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invocation {
    /// Run this script text (from `-Command` or a decoded `-EncodedCommand`).
    Script(String),
    /// `-File path`: a script file on the host's disk.
    File(String),
    /// `-EncodedCommand` whose value is not base64 of UTF-16LE.
    BadEncoding,
    /// No script at all: an interactive prompt that would wait for stdin.
    Interactive,
}

/// Recognizes `powershell`, `powershell.exe` or a path ending in
/// `\powershell.exe` at the start of `line` and parses its parameters;
/// `None` when the line runs something else.
pub fn parse_invocation(line: &str) -> Option<Invocation> {
    let toks = tokens(line);
    let (first, _) = toks.first()?;
    let exe = first.trim_matches('"').to_ascii_lowercase();
    let exe = exe.rsplit(['\\', '/']).next().unwrap_or(&exe);
    if exe != "powershell" && exe != "powershell.exe" {
        return None;
    }
    let mut i = 1;
    while i < toks.len() {
        let (tok, start) = (&toks[i].0, toks[i].1);
        let Some(name) = tok.strip_prefix('-').or_else(|| tok.strip_prefix('/')) else {
            // A bare word starts the command, as if -Command preceded it.
            return Some(Invocation::Script(unquote(&line[start..])));
        };
        let name = name.to_ascii_lowercase();
        let value = toks.get(i + 1).map(|t| (t.0.as_str(), t.1));
        if is_prefix(&name, "encodedcommand", 1) || name == "ec" || name == "enc" {
            let Some((v, _)) = value else {
                return Some(Invocation::BadEncoding);
            };
            return Some(decode(v).map_or(Invocation::BadEncoding, Invocation::Script));
        }
        if is_prefix(&name, "command", 1) {
            return Some(match value {
                None => Invocation::Interactive,
                Some((_, at)) => Invocation::Script(unquote(&line[at..])),
            });
        }
        if is_prefix(&name, "file", 1) {
            return Some(match value {
                None => Invocation::Interactive,
                Some((v, _)) => Invocation::File(v.trim_matches('"').to_string()),
            });
        }
        let takes_value = [
            "executionpolicy",
            "inputformat",
            "outputformat",
            "windowstyle",
            "configurationname",
            "version",
            "psconsolefile",
        ]
        .iter()
        .any(|p| is_prefix(&name, p, 2))
            || name == "ep";
        i += if takes_value { 2 } else { 1 };
    }
    Some(Invocation::Interactive)
}

fn is_prefix(given: &str, full: &str, min: usize) -> bool {
    given.len() >= min && full.starts_with(given)
}

/// Splits like cmd.exe hands arguments over: whitespace-separated, double
/// quotes group; each token with its byte offset in `line`.
fn tokens(line: &str) -> Vec<(String, usize)> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut start = None;
    let mut quoted = false;
    for (i, c) in line.char_indices() {
        if c.is_whitespace() && !quoted {
            if let Some(s) = start.take() {
                out.push((std::mem::take(&mut cur), s));
            }
            continue;
        }
        if start.is_none() {
            start = Some(i);
        }
        if c == '"' {
            quoted = !quoted;
        }
        cur.push(c);
    }
    if let Some(s) = start {
        out.push((cur, s));
    }
    out
}

/// `-Command "a; b"` arrives with the quotes cmd.exe kept.
fn unquote(s: &str) -> String {
    let t = s.trim();
    t.strip_prefix('"')
        .and_then(|x| x.strip_suffix('"'))
        .unwrap_or(t)
        .to_string()
}

/// Base64 of UTF-16LE, as `-EncodedCommand` carries it.
fn decode(b64: &str) -> Option<String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64.trim_matches('"'))
        .ok()?;
    if bytes.len() % 2 != 0 {
        return None;
    }
    let units: Vec<u16> = bytes
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    String::from_utf16(&units).ok()
}

/// What the invocation produces when no scenario rule matched it.
pub fn run(facts: &HostFacts, inv: &Invocation) -> Output {
    match inv {
        Invocation::Script(s) => run_script(facts, s),
        Invocation::File(path) => Output {
            stderr: format!(
                "The argument '{path}' to the -File parameter does not exist. Provide the path to an existing '.ps1' file as an argument to the -File parameter.\r\n"
            )
            .into_bytes(),
            exit_code: STARTUP_ERROR,
            ..Default::default()
        },
        Invocation::BadEncoding => Output {
            stderr: b"Cannot process the command because the value specified with -EncodedCommand is not properly encoded. The value must be Base64 encoded.\r\n".to_vec(),
            exit_code: STARTUP_ERROR,
            ..Default::default()
        },
        Invocation::Interactive => Output {
            stdout: b"Windows PowerShell\r\nCopyright (C) Microsoft Corporation. All rights reserved.\r\n\r\n".to_vec(),
            ..Default::default()
        },
    }
}

/// One statement of a script and where it starts (1-based line and column),
/// for the `At line:L char:C` of an error record.
struct Statement<'a> {
    text: &'a str,
    line: usize,
    col: usize,
    source_line: &'a str,
}

/// Splits on newlines and `;` outside quotes, dropping comments.
fn statements(script: &str) -> Vec<Statement<'_>> {
    let mut out = Vec::new();
    for (ln, source_line) in script.lines().enumerate() {
        let mut quote: Option<char> = None;
        let mut start = 0;
        let mut push = |from: usize, to: usize| {
            let raw = &source_line[from..to];
            let text = raw.trim();
            if !text.is_empty() && !text.starts_with('#') {
                let lead = raw.len() - raw.trim_start().len();
                out.push(Statement {
                    text,
                    line: ln + 1,
                    col: source_line[..from + lead].chars().count() + 1,
                    source_line,
                });
            }
        };
        let mut end = source_line.len();
        for (i, c) in source_line.char_indices() {
            match (quote, c) {
                (None, '\'' | '"') => quote = Some(c),
                (Some(q), c) if c == q => quote = None,
                (None, ';') => {
                    push(start, i);
                    start = i + 1;
                }
                (None, '#') => {
                    end = i;
                    break;
                }
                _ => {}
            }
        }
        if start < end {
            push(start, end);
        }
    }
    out
}

/// Runs a script with the built-in statements; see the module docs.
pub fn run_script(facts: &HostFacts, script: &str) -> Output {
    let env = environment(facts);
    let mut vars: HashMap<String, String> = HashMap::new();
    let mut stdout = String::new();
    let mut errors: Vec<String> = Vec::new();
    let mut last_ok = true;
    for st in statements(script) {
        let (cmd, rest) = match st.text.split_once(char::is_whitespace) {
            Some((c, r)) => (c, r.trim()),
            None => (st.text, ""),
        };
        let lc = cmd.to_ascii_lowercase();
        last_ok = true;
        match lc.as_str() {
            "exit" => {
                let code = rest.parse().unwrap_or(0);
                return finish(stdout, errors, code);
            }
            "write-output" | "echo" | "write" => {
                for a in arguments(rest) {
                    line(&mut stdout, &value(&a, facts, &env, &vars));
                }
            }
            "write-host" => {
                let parts: Vec<String> = arguments(rest)
                    .iter()
                    .map(|a| value(a, facts, &env, &vars))
                    .collect();
                line(&mut stdout, &parts.join(" "));
            }
            "hostname" | "hostname.exe" => line(&mut stdout, &facts.hostname),
            "whoami" | "whoami.exe" => stdout.push_str(&whoami(facts)),
            "get-date" if rest.is_empty() => {
                stdout.push_str(&format!("\r\n{}\r\n\r\n\r\n", long_date()));
            }
            _ if cmd.starts_with('$') && rest.starts_with('=') && !rest.starts_with("==") => {
                let name = cmd[1..].to_ascii_lowercase();
                let v = value(rest[1..].trim(), facts, &env, &vars);
                vars.insert(name, v);
            }
            _ if is_expression(cmd) => {
                let v = value(st.text, facts, &env, &vars);
                if !v.is_empty() {
                    line(&mut stdout, &v);
                }
            }
            _ => {
                errors.push(not_found(cmd, &st));
                last_ok = false;
            }
        }
    }
    finish(stdout, errors, if last_ok { 0 } else { 1 })
}

fn finish(stdout: String, errors: Vec<String>, exit_code: i32) -> Output {
    Output {
        stdout: stdout.into_bytes(),
        stderr: if errors.is_empty() {
            Vec::new()
        } else {
            clixml_errors(&errors).into_bytes()
        },
        exit_code,
        ..Default::default()
    }
}

fn line(out: &mut String, s: &str) {
    out.push_str(s);
    out.push_str("\r\n");
}

fn is_expression(tok: &str) -> bool {
    tok.starts_with(['$', '\'', '"', '[']) || tok.parse::<f64>().is_ok()
}

/// Splits command arguments: quoted strings whole, otherwise on whitespace.
fn arguments(rest: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    for c in rest.chars() {
        match (quote, c) {
            (None, '\'' | '"') => {
                quote = Some(c);
                cur.push(c);
            }
            (Some(q), c) if c == q => {
                quote = None;
                cur.push(c);
            }
            (None, c) if c.is_whitespace() => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            _ => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// The value of a simple expression: a string literal (double quotes expand
/// `$env:X` and `$var`), an environment variable, a variable, a number, or
/// one of the well-known properties scripts read.
fn value(
    expr: &str,
    facts: &HostFacts,
    env: &[(&'static str, String)],
    vars: &HashMap<String, String>,
) -> String {
    let e = expr.trim();
    if let Some(s) = e.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')) {
        return s.replace("''", "'");
    }
    if let Some(s) = e.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
        return expand(s, env, vars);
    }
    let lc = e.to_ascii_lowercase();
    let (v0, v1, v2, v3) = PS_VERSION;
    match lc.as_str() {
        "$psversiontable.psversion.tostring()" => return format!("{v0}.{v1}.{v2}.{v3}"),
        "$psversiontable.psversion.major" => return v0.to_string(),
        "$psversiontable.psversion.minor" => return v1.to_string(),
        "$psversiontable.psversion" => {
            return format!(
                "\r\nMajor  Minor  Build  Revision\r\n-----  -----  -----  --------\r\n{v0:<6} {v1:<6} {v2:<6} {v3}\r\n\r\n"
            )
        }
        "[environment]::machinename" | "[system.environment]::machinename" => {
            return facts.hostname.clone()
        }
        "[environment]::username" | "[system.environment]::username" => {
            return facts.user.clone()
        }
        "$true" => return "True".into(),
        "$false" => return "False".into(),
        "$null" => return String::new(),
        _ => {}
    }
    if let Some(name) = lc.strip_prefix("$env:") {
        return env
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
    }
    if let Some(name) = lc.strip_prefix('$') {
        return vars.get(name).cloned().unwrap_or_default();
    }
    e.to_string()
}

/// `$env:NAME` and `$name` inside a double-quoted string.
fn expand(s: &str, env: &[(&'static str, String)], vars: &HashMap<String, String>) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        // Bytes, not a str slice: the fourth byte may fall inside a
        // multi-byte character (found by the `shell` fuzz target).
        let is_env = after
            .as_bytes()
            .get(..4)
            .is_some_and(|b| b.eq_ignore_ascii_case(b"env:"));
        let name_from = if is_env { 4 } else { 0 };
        let len = after[name_from..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(after.len() - name_from);
        if len == 0 {
            out.push('$');
            rest = after;
            continue;
        }
        let name = &after[name_from..name_from + len];
        if is_env {
            if let Some((_, v)) = env.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)) {
                out.push_str(v);
            }
        } else if let Some(v) = vars.get(&name.to_ascii_lowercase()) {
            out.push_str(v);
        } else if name.eq_ignore_ascii_case("true") {
            out.push_str("True");
        } else if name.eq_ignore_ascii_case("false") {
            out.push_str("False");
        }
        rest = &after[name_from + len..];
    }
    out.push_str(rest);
    out
}

/// `Thursday, November 26, 2026 7:25:01 AM`, as Get-Date prints in en-US.
fn long_date() -> String {
    let now = time::OffsetDateTime::now_utc();
    let (h, ampm) = twelve_hour(now.hour());
    format!(
        "{}, {} {}, {} {}:{:02}:{:02} {}",
        now.weekday(),
        now.month(),
        now.day(),
        now.year(),
        h,
        now.minute(),
        now.second(),
        ampm
    )
}

/// PowerShell 5.1's record for a command it cannot find, as the host
/// formats it (message wrapped at the console width, position, underline,
/// category and error id).
fn not_found(cmd: &str, st: &Statement<'_>) -> String {
    let msg = format!(
        "{cmd} : The term '{cmd}' is not recognized as the name of a cmdlet, function, script file, or operable program. Check the spelling of the name, or if a path was included, verify that the path is correct and try again."
    );
    let mut out = wrap(&msg, WRAP);
    out.push(format!("At line:{} char:{}", st.line, st.col));
    out.push(format!("+ {}", st.source_line.trim_end()));
    out.push(format!(
        "+ {}{}",
        " ".repeat(st.col - 1),
        "~".repeat(cmd.chars().count())
    ));
    out.push(format!(
        "    + CategoryInfo          : ObjectNotFound: ({cmd}:String) [], CommandNotFoundException"
    ));
    out.push("    + FullyQualifiedErrorId : CommandNotFoundException".into());
    out.push(" ".into());
    out.join("\n")
}

/// Word-wraps at `width` columns, keeping the space at the end of each
/// broken line as PowerShell's host does.
fn wrap(s: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut cur = String::new();
    for word in s.split(' ') {
        if !cur.is_empty() && cur.chars().count() + word.chars().count() + 1 > width {
            lines.push(std::mem::take(&mut cur));
        }
        cur.push_str(word);
        cur.push(' ');
    }
    let last = cur.trim_end().to_string();
    if !last.is_empty() {
        lines.push(last);
    }
    lines
}

/// The error stream as powershell.exe writes it when stderr is redirected:
/// `#< CLIXML` and one `<S S="Error">` per line of each record.
pub fn clixml_errors(records: &[String]) -> String {
    let mut out = String::from(
        "#< CLIXML\r\n<Objs Version=\"1.1.0.1\" xmlns=\"http://schemas.microsoft.com/powershell/2004/04\">",
    );
    for r in records {
        for l in r.split('\n') {
            out.push_str("<S S=\"Error\">");
            out.push_str(&clixml_escape(l.trim_end_matches('\r')));
            out.push_str("_x000D__x000A_</S>");
        }
    }
    out.push_str("</Objs>");
    out
}

/// XML escaping plus CLIXML's `_xHHHH_` for control characters (and for a
/// literal `_x` so it cannot be mistaken for one).
fn clixml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '_' if chars.peek() == Some(&'x') => out.push_str("_x005F_"),
            c if (c as u32) < 0x20 => out.push_str(&format!("_x{:04X}_", c as u32)),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> HostFacts {
        HostFacts {
            hostname: "HV01".into(),
            domain: "contoso.test".into(),
            user: "Administrator".into(),
            ip: "127.0.0.5".into(),
            ..Default::default()
        }
    }

    fn enc(s: &str) -> String {
        let b: Vec<u8> = s.encode_utf16().flat_map(u16::to_le_bytes).collect();
        base64::engine::general_purpose::STANDARD.encode(b)
    }

    #[test]
    fn invocations_parse_like_powershell_exe() {
        let script = "Get-Service WinRM";
        assert_eq!(
            parse_invocation(&format!("powershell -encodedcommand {}", enc(script))),
            Some(Invocation::Script(script.into()))
        );
        assert_eq!(
            parse_invocation(&format!(
                "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe -NoProfile -NonInteractive -ExecutionPolicy Bypass -EncodedCommand {}",
                enc(script)
            )),
            Some(Invocation::Script(script.into()))
        );
        assert_eq!(
            parse_invocation("powershell.exe -Command \"hostname; exit 3\""),
            Some(Invocation::Script("hostname; exit 3".into()))
        );
        assert_eq!(
            parse_invocation("PowerShell -nop -c Get-Date"),
            Some(Invocation::Script("Get-Date".into()))
        );
        assert_eq!(
            parse_invocation("powershell -File C:\\x.ps1"),
            Some(Invocation::File("C:\\x.ps1".into()))
        );
        assert_eq!(
            parse_invocation("powershell -enc !!!"),
            Some(Invocation::BadEncoding)
        );
        assert_eq!(
            parse_invocation("powershell"),
            Some(Invocation::Interactive)
        );
        assert_eq!(parse_invocation("ipconfig /all"), None);
        assert_eq!(parse_invocation(""), None);
    }

    #[test]
    fn builtins_and_variables() {
        let o = run_script(
            &facts(),
            "$ProgressPreference = 'SilentlyContinue'\n$env:COMPUTERNAME; hostname\nWrite-Output \"user=$env:USERNAME v=$x\" 'it''s'\n$PSVersionTable.PSVersion.ToString()\nexit 4",
        );
        assert_eq!(
            String::from_utf8(o.stdout).unwrap(),
            "HV01\r\nHV01\r\nuser=Administrator v=\r\nit's\r\n5.1.17763.5458\r\n"
        );
        assert_eq!((o.exit_code, o.stderr.len()), (4, 0));
    }

    #[test]
    fn unknown_commands_are_powershells_command_not_found_in_clixml() {
        let o = run_script(&facts(), "hostname\n  Get-Frob -All; 'after'");
        assert_eq!(o.exit_code, 0, "the last statement succeeded");
        assert_eq!(String::from_utf8(o.stdout).unwrap(), "HV01\r\nafter\r\n");
        let err = String::from_utf8(o.stderr).unwrap();
        assert!(
            err.starts_with("#< CLIXML\r\n<Objs Version=\"1.1.0.1\""),
            "{err}"
        );
        assert!(err.contains("<S S=\"Error\">Get-Frob : The term 'Get-Frob' is not recognized as the name of a cmdlet, function, script file, or operable program. _x000D__x000A_</S><S S=\"Error\">Check the spelling"), "{err}");
        assert!(err.contains("At line:2 char:3_x000D__x000A_"), "{err}");
        assert!(
            err.contains("<S S=\"Error\">+   ~~~~~~~~_x000D__x000A_</S>"),
            "{err}"
        );
        assert!(err.contains("ObjectNotFound: (Get-Frob:String) [], CommandNotFoundException"));
        let o = run_script(&facts(), "Get-Frob");
        assert_eq!(o.exit_code, 1, "the last statement failed");
    }

    #[test]
    fn expansion_next_to_multibyte_characters() {
        // The fuzzer's find: `$en` then a two-byte character.
        let o = run_script(&facts(), "$x = 'a'; \"$x$envǠSm\"");
        assert_eq!(String::from_utf8(o.stdout).unwrap(), "aǠSm\r\n");
        let o = run_script(&facts(), "\"$env:ǠX$é\"");
        assert_eq!(o.exit_code, 0);
    }

    #[test]
    fn clixml_escapes_markup_and_control_characters() {
        assert_eq!(
            clixml_escape("a<b>&c\t_x"),
            "a&lt;b&gt;&amp;c_x0009__x005F_x"
        );
    }

    #[test]
    fn bad_invocations_fail_like_powershell_exe() {
        let o = run(&facts(), &Invocation::File("C:\\x.ps1".into()));
        assert_eq!(o.exit_code, STARTUP_ERROR);
        let o = run(&facts(), &Invocation::BadEncoding);
        assert!(String::from_utf8_lossy(&o.stderr).contains("not properly encoded"));
    }
}
