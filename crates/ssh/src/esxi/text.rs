//! The shell's text commands: `test`/`[`, `echo`, `printf`, `basename`,
//! `dirname`, and the filters a pipeline ends in (`grep`, `head`, `tail`,
//! `wc`, `sort`). Pure functions of their arguments and input.

use super::Out;
use crate::jail::{Kind, Stat};
use std::fmt::Write;

/// `test EXPR` (and `[ EXPR ]`): 0 true, 1 false, 2 an error. `stat`
/// gives a path's attributes (`true`: follow a final symlink).
pub(super) fn test(args: &[&str], stat: impl Fn(&str, bool) -> Option<Stat>) -> Out {
    let mut t = Test {
        args,
        i: 0,
        stat: &stat,
    };
    if args.is_empty() {
        return Out::code(1);
    }
    match t.or() {
        Ok(v) if t.i == args.len() => Out::code(u32::from(!v)),
        Ok(_) => Out::fail(
            format!(
                "sh: {}: unknown operand\n",
                args.get(t.i).copied().unwrap_or("")
            ),
            2,
        ),
        Err(e) => Out::fail(format!("sh: {e}\n"), 2),
    }
}

struct Test<'a, F: Fn(&str, bool) -> Option<Stat>> {
    args: &'a [&'a str],
    i: usize,
    stat: &'a F,
}

const UNARY: &[&str] = &[
    "-e", "-f", "-d", "-s", "-r", "-w", "-x", "-L", "-h", "-b", "-c", "-p", "-S", "-z", "-n", "-t",
    "-g", "-u", "-k", "-O", "-G",
];
const BINARY: &[&str] = &[
    "=", "==", "!=", "-eq", "-ne", "-lt", "-le", "-gt", "-ge", "<", ">", "-nt", "-ot", "-ef",
];

impl<'a, F: Fn(&str, bool) -> Option<Stat>> Test<'a, F> {
    fn peek(&self, k: usize) -> Option<&'a str> {
        self.args.get(self.i + k).copied()
    }

    fn or(&mut self) -> Result<bool, String> {
        let mut v = self.and()?;
        while self.peek(0) == Some("-o") {
            self.i += 1;
            let r = self.and()?;
            v = v || r;
        }
        Ok(v)
    }

    fn and(&mut self) -> Result<bool, String> {
        let mut v = self.not()?;
        while self.peek(0) == Some("-a") {
            self.i += 1;
            let r = self.not()?;
            v = v && r;
        }
        Ok(v)
    }

    fn not(&mut self) -> Result<bool, String> {
        // `! x` unless `!` is itself the left side of a binary operator.
        if self.peek(0) == Some("!") && !self.peek(1).is_some_and(|o| BINARY.contains(&o)) {
            self.i += 1;
            if self.peek(0).is_none() {
                return Ok(true);
            }
            return Ok(!self.not()?);
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<bool, String> {
        let Some(a) = self.peek(0) else {
            return Err("test: argument expected".into());
        };
        if let Some(op) = self.peek(1).filter(|o| BINARY.contains(o)) {
            if let Some(b) = self.peek(2) {
                self.i += 3;
                return binary(a, op, b, self.stat);
            }
        }
        if a == "(" && self.peek(1).is_some() && self.peek(2).is_some() {
            self.i += 1;
            let v = self.or()?;
            if self.peek(0) != Some(")") {
                return Err("test: closing paren expected".into());
            }
            self.i += 1;
            return Ok(v);
        }
        if UNARY.contains(&a) {
            if let Some(b) = self.peek(1) {
                self.i += 2;
                return Ok(unary(a, b, self.stat));
            }
        }
        self.i += 1;
        Ok(!a.is_empty())
    }
}

fn unary(op: &str, arg: &str, stat: &impl Fn(&str, bool) -> Option<Stat>) -> bool {
    match op {
        "-z" => arg.is_empty(),
        "-n" => !arg.is_empty(),
        "-t" => false,
        "-L" | "-h" => stat(arg, false).is_some_and(|s| s.kind == Kind::Symlink),
        _ => {
            let Some(s) = stat(arg, true) else {
                return false;
            };
            match op {
                "-f" => s.kind == Kind::File,
                "-d" => s.kind == Kind::Dir,
                "-s" => s.size > 0,
                // root reads and writes everything; x needs an x bit.
                "-x" => s.kind == Kind::Dir || s.mode & 0o111 != 0,
                "-b" => s.mode & 0o170000 == 0o060000,
                "-c" => s.mode & 0o170000 == 0o020000,
                "-p" => s.mode & 0o170000 == 0o010000,
                "-S" => s.mode & 0o170000 == 0o140000,
                "-u" => s.mode & 0o4000 != 0,
                "-g" => s.mode & 0o2000 != 0,
                "-k" => s.mode & 0o1000 != 0,
                _ => true,
            }
        }
    }
}

fn binary(
    a: &str,
    op: &str,
    b: &str,
    stat: &impl Fn(&str, bool) -> Option<Stat>,
) -> Result<bool, String> {
    let num = |s: &str| -> Result<i64, String> {
        s.trim()
            .parse::<i64>()
            .map_err(|_| format!("invalid number '{s}'"))
    };
    Ok(match op {
        "=" | "==" => a == b,
        "!=" => a != b,
        "<" => a < b,
        ">" => a > b,
        "-eq" => num(a)? == num(b)?,
        "-ne" => num(a)? != num(b)?,
        "-lt" => num(a)? < num(b)?,
        "-le" => num(a)? <= num(b)?,
        "-gt" => num(a)? > num(b)?,
        "-ge" => num(a)? >= num(b)?,
        "-nt" | "-ot" => match (stat(a, true), stat(b, true)) {
            (Some(x), Some(y)) if op == "-nt" => x.mtime > y.mtime,
            (Some(x), Some(y)) => x.mtime < y.mtime,
            _ => false,
        },
        _ => false,
    })
}

/// busybox `echo [-neE] [ARG]...`.
pub(super) fn echo(args: &[&str]) -> Out {
    let mut newline = true;
    let mut escapes = false;
    let mut i = 0;
    while let Some(a) = args.get(i) {
        match a.strip_prefix('-') {
            Some(f) if !f.is_empty() && f.chars().all(|c| "neE".contains(c)) => {
                for c in f.chars() {
                    match c {
                        'n' => newline = false,
                        'e' => escapes = true,
                        _ => escapes = false,
                    }
                }
                i += 1;
            }
            _ => break,
        }
    }
    let text = args[i..].join(" ");
    let mut out = Vec::new();
    if escapes {
        if unescape(&text, &mut out) {
            return Out::ok(out);
        }
    } else {
        out.extend_from_slice(text.as_bytes());
    }
    if newline {
        out.push(b'\n');
    }
    Out::ok(out)
}

/// Backslash escapes of `echo -e` and `printf`; `true` at `\c` (stop).
fn unescape(s: &str, out: &mut Vec<u8>) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'\\' || i + 1 == b.len() {
            out.push(b[i]);
            i += 1;
            continue;
        }
        i += 1;
        match b[i] {
            b'n' => out.push(b'\n'),
            b't' => out.push(b'\t'),
            b'r' => out.push(b'\r'),
            b'a' => out.push(7),
            b'b' => out.push(8),
            b'f' => out.push(12),
            b'v' => out.push(11),
            b'e' => out.push(27),
            b'\\' => out.push(b'\\'),
            b'c' => return true,
            b'0'..=b'7' => {
                let start = if b[i] == b'0' { i + 1 } else { i };
                let mut v = 0u32;
                let mut k = start;
                while k < b.len() && k < start + 3 && (b'0'..=b'7').contains(&b[k]) {
                    v = v * 8 + u32::from(b[k] - b'0');
                    k += 1;
                }
                out.push((v & 0xff) as u8);
                i = k;
                continue;
            }
            other => {
                out.push(b'\\');
                out.push(other);
            }
        }
        i += 1;
    }
    false
}

/// `printf FORMAT [ARG]...`: `%s %b %c %d %i %u %x %X %o %%` with flags and
/// width; the format is reused while arguments remain, as POSIX says.
pub(super) fn printf(args: &[&str]) -> Out {
    let Some((fmt, mut rest)) = args.split_first() else {
        return Out::fail("printf: usage: printf FORMAT [ARGUMENT...]\n", 2);
    };
    let mut out = Vec::new();
    let mut err = String::new();
    // Bounded: each round consumes at least one argument.
    loop {
        let before = rest.len();
        if format_once(fmt, &mut rest, &mut out, &mut err) {
            break;
        }
        if rest.is_empty() || rest.len() == before {
            break;
        }
    }
    let code = u32::from(!err.is_empty());
    Out {
        out,
        err: err.into_bytes(),
        code,
        exit: false,
    }
}

/// One pass over the format; `true` when `\c` stopped output.
fn format_once(fmt: &str, args: &mut &[&str], out: &mut Vec<u8>, err: &mut String) -> bool {
    let mut next = || -> &str {
        match args.split_first() {
            Some((a, r)) => {
                *args = r;
                a
            }
            None => "",
        }
    };
    let c: Vec<char> = fmt.chars().collect();
    let mut i = 0;
    let mut lit = String::new();
    while i < c.len() {
        if c[i] == '\\' {
            let mut j = i + 1;
            while j < c.len() && j < i + 4 && c[j].is_ascii_digit() {
                j += 1;
            }
            let end = if j > i + 1 { j } else { (i + 2).min(c.len()) };
            lit.extend(&c[i..end]);
            i = end;
            continue;
        }
        if c[i] != '%' {
            lit.push(c[i]);
            i += 1;
            continue;
        }
        if unescape(&std::mem::take(&mut lit), out) {
            return true;
        }
        i += 1;
        if c.get(i) == Some(&'%') {
            out.push(b'%');
            i += 1;
            continue;
        }
        let start = i;
        while i < c.len() && "-+ #0".contains(c[i]) {
            i += 1;
        }
        while i < c.len() && c[i].is_ascii_digit() && i - start < 6 {
            i += 1;
        }
        let flags: String = c[start..i].iter().collect();
        let Some(&conv) = c.get(i) else {
            out.push(b'%');
            out.extend_from_slice(flags.as_bytes());
            break;
        };
        i += 1;
        let left = flags.contains('-');
        let zero = flags.contains('0') && !left;
        let width: usize = flags
            .trim_start_matches(['-', '+', ' ', '#', '0'])
            .parse()
            .unwrap_or(0)
            .min(4096);
        let pad = |s: String, numeric: bool| -> String {
            let n = s.chars().count();
            if n >= width {
                return s;
            }
            let fill = width - n;
            if left {
                format!("{s}{}", " ".repeat(fill))
            } else if zero && numeric {
                match s.strip_prefix('-') {
                    Some(d) => format!("-{}{d}", "0".repeat(fill)),
                    None => format!("{}{s}", "0".repeat(fill)),
                }
            } else {
                format!("{}{s}", " ".repeat(fill))
            }
        };
        let int = |a: &str, err: &mut String| -> i64 {
            let t = a.trim();
            if t.is_empty() {
                return 0;
            }
            if let Some(ch) = t.strip_prefix(['\'', '"']) {
                return ch.chars().next().map(|c| c as i64).unwrap_or(0);
            }
            t.parse::<i64>().unwrap_or_else(|_| {
                let _ = writeln!(err, "printf: invalid number '{a}'");
                0
            })
        };
        let s = match conv {
            's' => pad(next().to_string(), false),
            'b' => {
                let mut v = Vec::new();
                let stop = unescape(next(), &mut v);
                out.extend_from_slice(
                    pad(String::from_utf8_lossy(&v).into_owned(), false).as_bytes(),
                );
                if stop {
                    return true;
                }
                continue;
            }
            'c' => pad(
                next().chars().next().map(String::from).unwrap_or_default(),
                false,
            ),
            'd' | 'i' => {
                let v = int(next(), err);
                let s = if flags.contains('+') && v >= 0 {
                    format!("+{v}")
                } else {
                    v.to_string()
                };
                pad(s, true)
            }
            'u' => pad((int(next(), err) as u64).to_string(), true),
            'x' => pad(format!("{:x}", int(next(), err)), true),
            'X' => pad(format!("{:X}", int(next(), err)), true),
            'o' => pad(format!("{:o}", int(next(), err)), true),
            other => {
                let _ = writeln!(err, "printf: %{other}: invalid format");
                return true;
            }
        };
        out.extend_from_slice(s.as_bytes());
    }
    unescape(&lit, out)
}

pub(super) fn basename(args: &[&str]) -> Out {
    let Some(p) = args.first() else {
        return Out::fail("basename: missing operand\n", 1);
    };
    let t = p.trim_end_matches('/');
    let mut base = if t.is_empty() && p.starts_with('/') {
        "/"
    } else {
        t.rsplit('/').next().unwrap_or(t)
    }
    .to_string();
    if let Some(suffix) = args.get(1) {
        if base.len() > suffix.len() && base.ends_with(suffix) {
            base.truncate(base.len() - suffix.len());
        }
    }
    Out::ok(format!("{base}\n"))
}

pub(super) fn dirname(args: &[&str]) -> Out {
    let Some(p) = args.first() else {
        return Out::fail("dirname: missing operand\n", 1);
    };
    let t = p.trim_end_matches('/');
    let d = match t.rfind('/') {
        None if p.starts_with('/') => "/",
        None => ".",
        Some(i) => {
            let d = t[..i].trim_end_matches('/');
            if d.is_empty() {
                "/"
            } else {
                d
            }
        }
    };
    Out::ok(format!("{d}\n"))
}

/// A filter's options and its file operands.
pub(super) fn split_filter_args<'a>(cmd: &str, args: &[&'a str]) -> (Vec<&'a str>, Vec<&'a str>) {
    let mut opts = Vec::new();
    let mut files = Vec::new();
    let mut it = args.iter();
    let mut pattern_seen = cmd != "grep";
    while let Some(a) = it.next() {
        if a.starts_with('-') && a.len() > 1 {
            opts.push(*a);
            if *a == "-n" && cmd != "grep" {
                if let Some(n) = it.next() {
                    opts.push(*n);
                }
            }
            if *a == "-e" {
                if let Some(p) = it.next() {
                    opts.push(*p);
                    pattern_seen = true;
                }
            }
        } else if !pattern_seen {
            opts.push(*a);
            pattern_seen = true;
        } else {
            files.push(*a);
        }
    }
    (opts, files)
}

/// The text filters a pipeline may end in (fixed-string grep: no regular
/// expressions).
pub(super) fn filter(cmd: &str, args: &[&str], input: &str) -> Out {
    let lines: Vec<&str> = input.lines().collect();
    let join = |v: Vec<&str>| {
        let mut s = v.join("\n");
        if !s.is_empty() {
            s.push('\n');
        }
        s
    };
    let count_arg = |args: &[&str]| -> Option<usize> {
        match args {
            [] => Some(10),
            ["-n", n] => n.parse().ok(),
            [n] => n
                .strip_prefix("-n")
                .filter(|r| !r.is_empty())
                .or_else(|| n.strip_prefix('-'))
                .and_then(|n| n.parse().ok()),
            _ => None,
        }
    };
    match cmd {
        "grep" => {
            let (mut invert, mut nocase, mut count, mut quiet) = (false, false, false, false);
            let mut pattern = None;
            let mut it = args.iter();
            while let Some(a) = it.next() {
                match *a {
                    "-e" => pattern = it.next().copied(),
                    "-F" | "-E" | "-s" => {}
                    f if f.starts_with('-') && f.len() > 1 => {
                        for c in f[1..].chars() {
                            match c {
                                'v' => invert = true,
                                'i' => nocase = true,
                                'c' => count = true,
                                'q' => quiet = true,
                                _ => {}
                            }
                        }
                    }
                    p if pattern.is_none() => pattern = Some(p),
                    _ => {}
                }
            }
            let Some(p) = pattern else {
                return Out::fail("Usage: grep [-ivcq] PATTERN [FILE]...\n", 2);
            };
            let p_low = p.to_lowercase();
            let hits: Vec<&str> = lines
                .into_iter()
                .filter(|l| {
                    let m = if nocase {
                        l.to_lowercase().contains(&p_low)
                    } else {
                        l.contains(p)
                    };
                    m != invert
                })
                .collect();
            let code = u32::from(hits.is_empty());
            let stdout = if quiet {
                String::new()
            } else if count {
                format!("{}\n", hits.len())
            } else {
                join(hits)
            };
            Out {
                out: stdout.into_bytes(),
                code,
                ..Default::default()
            }
        }
        "head" | "tail" => match count_arg(args) {
            Some(n) if cmd == "head" => Out::ok(join(lines.into_iter().take(n).collect())),
            Some(n) => {
                let skip = lines.len().saturating_sub(n);
                Out::ok(join(lines.into_iter().skip(skip).collect()))
            }
            None => Out::fail(format!("{cmd}: invalid arguments\n"), 1),
        },
        "wc" => match args {
            ["-l"] => Out::ok(format!("{}\n", lines.len())),
            ["-c"] => Out::ok(format!("{}\n", input.len())),
            ["-w"] => Out::ok(format!("{}\n", input.split_whitespace().count())),
            _ => Out::ok(format!(
                "{} {} {}\n",
                lines.len(),
                input.split_whitespace().count(),
                input.len()
            )),
        },
        _ => {
            let mut v = lines;
            v.sort_unstable();
            if args.contains(&"-r") {
                v.reverse();
            }
            if args.contains(&"-u") {
                v.dedup();
            }
            Out::ok(join(v))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(args: &[&str]) -> u32 {
        test(args, |p, _| {
            (p == "dir" || p == "file").then(|| Stat {
                kind: if p == "dir" { Kind::Dir } else { Kind::File },
                size: 3,
                mode: 0o644,
                nlink: 1,
                atime: 0,
                mtime: 0,
            })
        })
        .code
    }

    #[test]
    fn test_expressions() {
        assert_eq!(t(&[]), 1);
        assert_eq!(t(&["x"]), 0);
        assert_eq!(t(&[""]), 1);
        assert_eq!(t(&["-d", "dir"]), 0);
        assert_eq!(t(&["-f", "dir"]), 1);
        assert_eq!(t(&["-e", "nope"]), 1);
        assert_eq!(t(&["!", "-e", "nope"]), 0);
        assert_eq!(t(&["a", "=", "a"]), 0);
        assert_eq!(t(&["a", "!=", "a"]), 1);
        assert_eq!(t(&["3", "-gt", "10"]), 1);
        assert_eq!(t(&["3", "-lt", "x"]), 2);
        assert_eq!(t(&["-n", ""]), 1);
        assert_eq!(t(&["-z", ""]), 0);
        assert_eq!(t(&["-f", "file", "-a", "-d", "dir"]), 0);
        assert_eq!(t(&["-f", "nope", "-o", "-d", "dir"]), 0);
        assert_eq!(t(&["(", "a", "=", "b", ")", "-o", "x"]), 0);
        assert_eq!(t(&["!", "=", "x"]), 1, "'!' as an operand");
        assert_eq!(t(&["a", "b"]), 2);
        assert_eq!(t(&["-x", "file"]), 1);
        assert_eq!(t(&["-s", "file"]), 0);
    }

    fn text(o: Out) -> String {
        String::from_utf8_lossy(&o.out).into_owned()
    }

    #[test]
    fn echo_and_printf() {
        assert_eq!(text(echo(&["a", "b"])), "a b\n");
        assert_eq!(text(echo(&["-n", "a"])), "a");
        assert_eq!(text(echo(&["-e", "a\\tb\\n"])), "a\tb\n\n");
        assert_eq!(text(echo(&["-e", "a\\cb"])), "a");
        assert_eq!(text(echo(&["a\\n"])), "a\\n\n");
        assert_eq!(text(echo(&["-x"])), "-x\n");
        assert_eq!(
            text(printf(&["%s-%d\\n", "a", "7", "b", "8"])),
            "a-7\nb-8\n"
        );
        assert_eq!(
            text(printf(&["%5s|%-3s|%03d", "ab", "c", "7"])),
            "   ab|c  |007"
        );
        assert_eq!(text(printf(&["100%%\\n"])), "100%\n");
        assert_eq!(text(printf(&["%x %o %c", "255", "8", "zeta"])), "ff 10 z");
        assert_eq!(text(printf(&["%s\\n"])), "\n");
        assert_eq!(printf(&["%d", "x"]).code, 1);
        assert_eq!(text(printf(&["\\101\\0102"])), "AB");
    }

    #[test]
    fn names() {
        assert_eq!(text(basename(&["/a/b/c.vmx", ".vmx"])), "c\n");
        assert_eq!(text(basename(&["/"])), "/\n");
        assert_eq!(text(basename(&["a/"])), "a\n");
        assert_eq!(text(dirname(&["/a/b/c"])), "/a/b\n");
        assert_eq!(text(dirname(&["c"])), ".\n");
        assert_eq!(text(dirname(&["/c"])), "/\n");
    }

    #[test]
    fn filters() {
        let o = filter("grep", &["-i", "B"], "a\nb\nab\n");
        assert_eq!(text(o), "b\nab\n");
        assert_eq!(filter("grep", &["zz"], "a\n").code, 1);
        assert_eq!(text(filter("head", &["-n", "1"], "a\nb\n")), "a\n");
        assert_eq!(text(filter("tail", &["-1"], "a\nb\n")), "b\n");
        assert_eq!(text(filter("wc", &["-l"], "a\nb\n")), "2\n");
        assert_eq!(text(filter("sort", &["-r"], "a\nc\nb\n")), "c\nb\na\n");
        assert_eq!(
            split_filter_args("grep", &["-v", "x", "f1", "f2"]),
            (vec!["-v", "x"], vec!["f1", "f2"])
        );
        assert_eq!(
            split_filter_args("head", &["-n", "3", "f"]),
            (vec!["-n", "3"], vec!["f"])
        );
    }
}
