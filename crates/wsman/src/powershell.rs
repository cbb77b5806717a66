//! `powershell.exe` as a WinRM cmd shell sees it: the invocation line parsed
//! the way powershell.exe parses it (`-EncodedCommand`, `-Command`, `-File`
//! and the flags scripts pass), the script decoded and run by `fakedc-pwsh`
//! (the PowerShell language, cmdlets over the model), and its errors in the
//! CLIXML error stream powershell.exe writes when its stderr is not a
//! console (what pywinrm's `run_ps` and Ansible decode).
//!
//! pywinrm's `run_ps(script)` sends `powershell -encodedcommand <base64 of
//! UTF-16LE>`; decoding it here is what lets a scenario's command table match
//! the script text instead of its base64.

use crate::provider::ResourceProvider;
use crate::shell::{CommandRule, HostFacts, Output};
use base64::Engine as _;
use fakedc_model::{MachineId, Model};
use fakedc_pwsh as ps;
use std::sync::Arc;

/// powershell.exe's exit code when its own command line is wrong.
const STARTUP_ERROR: i32 = -196_608;

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

/// What a `powershell` command line runs with: the caller's machine,
/// account and the WinRM side the evaluator reaches (cmd shell command
/// table, WMI providers, scenario rules).
pub struct PsEnv {
    pub model: Arc<Model>,
    pub machine: MachineId,
    /// The account, without its domain.
    pub user: String,
    pub rules: Vec<CommandRule>,
    pub facts: HostFacts,
    pub providers: Vec<Arc<dyn ResourceProvider>>,
}

/// What the invocation produces when no scenario rule matched it: the
/// script runs in a fresh runspace (one powershell.exe process) of
/// `fakedc-pwsh`; stdout is what Out-Default printed, stderr the error,
/// warning and verbose records as CLIXML.
pub fn run(env: &PsEnv, inv: &Invocation) -> Output {
    match inv {
        Invocation::Script(s) => {
            let mut rs = runspace(env);
            let o = ps::console::run(&mut rs, s);
            Output {
                stdout: o.stdout.into_bytes(),
                stderr: if o.stderr.is_empty() {
                    Vec::new()
                } else {
                    clixml_streams(&o.stderr).into_bytes()
                },
                exit_code: o.exit_code,
                ..Default::default()
            }
        }
        other => startup(other),
    }
}

/// powershell.exe started from inside PowerShell (the evaluator's native
/// bridge has no runspace to give it): not implemented, said so.
pub fn nested(inv: &Invocation) -> Output {
    match inv {
        Invocation::Script(_) => {
            let e = ps::ErrorRecord::not_implemented("starting powershell.exe from PowerShell");
            Output {
                stderr: clixml_streams(&[("Error", ps::console::error_text(&e))]).into_bytes(),
                exit_code: 1,
                ..Default::default()
            }
        }
        other => startup(other),
    }
}

/// The answers powershell.exe gives before running anything.
fn startup(inv: &Invocation) -> Output {
    match inv {
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
        Invocation::Script(_) => Output::default(),
    }
}

/// A runspace on the caller's machine and share, as the caller.
pub fn runspace(env: &PsEnv) -> ps::Runspace {
    let m = env.model.machine(env.machine);
    // The share through a cap-std Dir, as SMB, BITS and SFTP open it.
    let share = m.share.as_ref().and_then(|p| {
        std::fs::create_dir_all(p).ok()?;
        cap_std::fs::Dir::open_ambient_dir(p, cap_std::ambient_authority())
            .ok()
            .map(Arc::new)
    });
    let host = crate::psrp::WinrmHost {
        model: env.model.clone(),
        machine: env.machine,
        user: env.user.clone(),
        rules: env.rules.clone(),
        facts: env.facts.clone(),
        providers: env.providers.clone(),
    };
    ps::Runspace::new(ps::HostContext {
        model: env.model.clone(),
        machine: env.machine,
        user: env.user.clone(),
        share,
        host: Arc::new(host),
        limits: ps::Limits::default(),
        service: "wsman".into(),
    })
}

/// The streams as powershell.exe writes them when stderr is redirected:
/// `#< CLIXML`, then one `<S S="Error">` (or `warning`, `verbose`,
/// `debug`) per line of each record.
pub fn clixml_streams(records: &[(&str, String)]) -> String {
    let mut out = String::from(
        "#< CLIXML\r\n<Objs Version=\"1.1.0.1\" xmlns=\"http://schemas.microsoft.com/powershell/2004/04\">",
    );
    for (kind, r) in records {
        for l in r.split('\n') {
            out.push_str("<S S=\"");
            out.push_str(kind);
            out.push_str("\">");
            out.push_str(&clixml_escape(l.trim_end_matches('\r')));
            out.push_str("_x000D__x000A_</S>");
        }
    }
    out.push_str("</Objs>");
    out
}

/// The error stream as powershell.exe writes it when stderr is redirected:
/// `#< CLIXML` and one `<S S="Error">` per line of each record.
pub fn clixml_errors(records: &[String]) -> String {
    let r: Vec<(&str, String)> = records.iter().map(|r| ("Error", r.clone())).collect();
    clixml_streams(&r)
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

    fn env() -> PsEnv {
        let model = Arc::new(fakedc_scenario::Scenario::default_scenario().model());
        let machine = model.find("hv01").expect("hv01").id;
        PsEnv {
            model: model.clone(),
            machine,
            user: "Administrator".into(),
            rules: Vec::new(),
            facts: HostFacts {
                hostname: "HV01".into(),
                domain: "contoso.test".into(),
                user: "Administrator".into(),
                ip: "127.0.0.5".into(),
                ..Default::default()
            },
            providers: crate::service::windows_providers(&model),
        }
    }

    fn script(s: &str) -> Output {
        run(&env(), &Invocation::Script(s.into()))
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
    fn scripts_run_in_the_evaluator() {
        let o = script(
            "$ProgressPreference = 'SilentlyContinue'\n$env:COMPUTERNAME; hostname\nWrite-Output \"user=$env:USERNAME v=$x\" 'it''s'\n$PSVersionTable.PSVersion.ToString()\nexit 4",
        );
        assert_eq!(
            String::from_utf8(o.stdout).unwrap(),
            "HV01\r\nHV01\r\nuser=Administrator v=\r\nit's\r\n5.1.17763.5458\r\n"
        );
        assert_eq!((o.exit_code, o.stderr.len()), (4, 0));
        // The old subset printed `1 + 1` and ran `if`'s body after an error.
        let o = script("$x = 1 + 1; if ($x -eq 2) { 'two' } else { 'other' }");
        assert_eq!(String::from_utf8(o.stdout).unwrap(), "two\r\n");
    }

    #[test]
    fn unknown_commands_are_powershells_command_not_found_in_clixml() {
        let o = script("hostname\n  Get-Frob -All; 'after'");
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
        let o = script("Get-Frob");
        assert_eq!(o.exit_code, 1, "the last statement failed");
    }

    #[test]
    fn expansion_next_to_multibyte_characters() {
        // The fuzzer's find: `$en` then a two-byte character.
        let o = script("$x = 'a'; \"$x$envǠSm\"");
        assert_eq!(o.exit_code, 0);
        let o = script("\"$env:ǠX$é\"");
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
        let o = run(&env(), &Invocation::File("C:\\x.ps1".into()));
        assert_eq!(o.exit_code, STARTUP_ERROR);
        let o = run(&env(), &Invocation::BadEncoding);
        assert!(String::from_utf8_lossy(&o.stderr).contains("not properly encoded"));
        let o = nested(&Invocation::Script("1".into()));
        assert_eq!(o.exit_code, 1);
        // cmd /c powershell in a cmd shell runs the script.
        let e = env();
        let ps = |inv: &Invocation| run(&e, inv);
        let o = crate::shell::run_in(
            Some(&ps),
            &[],
            &e.facts,
            "cmd",
            "/c powershell -Command \"hostname; exit 5\"",
        );
        assert_eq!(o.exit_code, 5);
    }
}
