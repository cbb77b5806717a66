//! The line discipline of an interactive session, sans-IO: bytes from the
//! client in, complete lines (and what to echo) out.
//!
//! With a pty the client's terminal is in raw mode, so the server echoes
//! what is typed, handles backspace, ^C, ^U and ^D, swallows cursor-key
//! escape sequences and turns output newlines into CR LF. Without a pty
//! (`ssh host < script`) input is plain lines and nothing is echoed.

/// Longest line kept; further characters are refused with a bell, so a
/// peer cannot grow a line without bound.
pub const MAX_LINE: usize = 4096;

/// What the editor produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    Line(String),
    /// ^C: the line was discarded.
    Interrupt,
    /// ^D on an empty line: the user logs out.
    Eof,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Esc {
    None,
    /// After ESC.
    Start,
    /// Inside `ESC [ ...` until a final byte.
    Csi,
}

/// One session's line editor.
#[derive(Debug)]
pub struct LineEditor {
    pty: bool,
    buf: Vec<u8>,
    esc: Esc,
    /// The previous byte was CR (a following LF is part of the same Enter).
    after_cr: bool,
}

impl LineEditor {
    pub fn new(pty: bool) -> LineEditor {
        LineEditor {
            pty,
            buf: Vec::new(),
            esc: Esc::None,
            after_cr: false,
        }
    }

    /// Feeds client bytes; returns the inputs completed and appends what to
    /// echo to `echo`.
    pub fn feed(&mut self, data: &[u8], echo: &mut Vec<u8>) -> Vec<Input> {
        let mut out = Vec::new();
        for &b in data {
            let after_cr = std::mem::replace(&mut self.after_cr, false);
            match self.esc {
                Esc::Start => {
                    self.esc = if b == b'[' || b == b'O' {
                        Esc::Csi
                    } else {
                        Esc::None
                    };
                    continue;
                }
                Esc::Csi => {
                    if (0x40..=0x7e).contains(&b) {
                        self.esc = Esc::None;
                    }
                    continue;
                }
                Esc::None => {}
            }
            match b {
                b'\r' | b'\n' => {
                    if b == b'\n' && after_cr {
                        continue;
                    }
                    self.after_cr = b == b'\r';
                    if self.pty {
                        echo.extend_from_slice(b"\r\n");
                    }
                    let line = String::from_utf8_lossy(&self.buf).into_owned();
                    self.buf.clear();
                    out.push(Input::Line(line));
                }
                0x1b if self.pty => self.esc = Esc::Start,
                0x03 if self.pty => {
                    echo.extend_from_slice(b"^C\r\n");
                    self.buf.clear();
                    out.push(Input::Interrupt);
                }
                0x04 if self.pty => {
                    if self.buf.is_empty() {
                        out.push(Input::Eof);
                        return out;
                    }
                }
                0x15 if self.pty => {
                    for _ in 0..self.char_count() {
                        echo.extend_from_slice(b"\x08 \x08");
                    }
                    self.buf.clear();
                }
                0x7f | 0x08 if self.pty => {
                    if !self.buf.is_empty() {
                        // Remove one UTF-8 character, not one byte.
                        while let Some(last) = self.buf.pop() {
                            if last & 0xC0 != 0x80 {
                                break;
                            }
                        }
                        echo.extend_from_slice(b"\x08 \x08");
                    }
                }
                b'\t' => {
                    if self.buf.len() < MAX_LINE {
                        self.buf.push(b' ');
                        if self.pty {
                            echo.push(b' ');
                        }
                    }
                }
                c if c < 0x20 => {}
                c => {
                    if self.buf.len() < MAX_LINE {
                        self.buf.push(c);
                        if self.pty {
                            echo.push(c);
                        }
                    } else if self.pty {
                        echo.push(0x07);
                    }
                }
            }
        }
        out
    }

    /// The unfinished line at end of input (a script without a final
    /// newline still runs its last command).
    pub fn take_partial(&mut self) -> Option<String> {
        if self.buf.is_empty() {
            return None;
        }
        let line = String::from_utf8_lossy(&self.buf).into_owned();
        self.buf.clear();
        Some(line)
    }

    fn char_count(&self) -> usize {
        self.buf.iter().filter(|&&b| b & 0xC0 != 0x80).count()
    }
}

/// Output for a terminal: with a pty every LF becomes CR LF.
pub fn for_terminal(text: &str, pty: bool) -> Vec<u8> {
    if !pty {
        return text.as_bytes().to_vec();
    }
    let mut out = Vec::with_capacity(text.len() + text.len() / 16);
    let mut prev = 0u8;
    for &b in text.as_bytes() {
        if b == b'\n' && prev != b'\r' {
            out.push(b'\r');
        }
        out.push(b);
        prev = b;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pty_editing() {
        let mut e = LineEditor::new(true);
        let mut echo = Vec::new();
        let r = e.feed(b"lx\x7fs\x1b[A -l\r\n", &mut echo);
        assert_eq!(r, vec![Input::Line("ls -l".into())]);
        assert_eq!(echo, b"lx\x08 \x08s -l\r\n");
        let r = e.feed(b"abc\x03", &mut Vec::new());
        assert_eq!(r, vec![Input::Interrupt]);
        let r = e.feed(b"\x04", &mut Vec::new());
        assert_eq!(r, vec![Input::Eof]);
    }

    #[test]
    fn plain_lines_and_limits() {
        let mut e = LineEditor::new(false);
        let mut echo = Vec::new();
        let r = e.feed(b"one\ntwo\r\nthr", &mut echo);
        assert_eq!(
            r,
            vec![Input::Line("one".into()), Input::Line("two".into())]
        );
        assert!(echo.is_empty());
        assert_eq!(e.take_partial(), Some("thr".into()));
        let long = vec![b'a'; MAX_LINE * 2];
        e.feed(&long, &mut echo);
        match e.feed(b"\n", &mut echo).pop() {
            Some(Input::Line(l)) => assert_eq!(l.len(), MAX_LINE),
            other => panic!("{other:?}"),
        }
        assert_eq!(for_terminal("a\nb\r\n", true), b"a\r\nb\r\n");
    }
}
