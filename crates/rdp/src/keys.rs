//! Keyboard input to console keys: PC/AT set 1 scancodes on a US layout
//! (what RDP clients send for physical keys, with the modifiers tracked
//! here) and Unicode events.

use crate::pdu::Input;
use fakedc_console::Key;

const LOWER: &[u8; 0x3a] =
    b"\0\x1b1234567890-=\x08\tqwertyuiop[]\n\0asdfghjkl;'`\0\\zxcvbnm,./\0*\0 ";
const UPPER: &[u8; 0x3a] =
    b"\0\x1b!@#$%^&*()_+\x08\tQWERTYUIOP{}\n\0ASDFGHJKL:\"~\0|ZXCVBNM<>?\0*\0 ";

/// Modifier state of one session's keyboard.
#[derive(Debug, Default, Clone)]
pub struct Keyboard {
    shift_l: bool,
    shift_r: bool,
    ctrl: bool,
    alt: bool,
}

impl Keyboard {
    /// The console key an input event means, if any.
    pub fn feed(&mut self, ev: Input) -> Option<Key> {
        match ev {
            Input::Scancode {
                code,
                extended,
                release,
            } => {
                let down = !release;
                match (code, extended) {
                    (0x2a, false) => self.shift_l = down,
                    (0x36, false) => self.shift_r = down,
                    (0x1d, _) => self.ctrl = down,
                    (0x38, _) => self.alt = down,
                    _ if release => {}
                    (0x53, _) if self.ctrl && self.alt => return Some(Key::CtrlAltDel),
                    (0x1c, _) => return Some(Key::Enter),
                    (0x0e, false) => return Some(Key::Backspace),
                    (c, false) if usize::from(c) < LOWER.len() && !self.ctrl && !self.alt => {
                        let table = if self.shift_l || self.shift_r {
                            UPPER
                        } else {
                            LOWER
                        };
                        let ch = table[usize::from(c)];
                        if ch >= 0x20 {
                            return Some(Key::Char(char::from(ch)));
                        }
                    }
                    _ => {}
                }
                None
            }
            Input::Unicode {
                unit,
                release: false,
            } => match unit {
                0x0d | 0x0a => Some(Key::Enter),
                0x08 => Some(Key::Backspace),
                u => char::from_u32(u32::from(u)).map(Key::Char),
            },
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sc(code: u8, release: bool) -> Input {
        Input::Scancode {
            code,
            extended: false,
            release,
        }
    }

    #[test]
    fn shift_and_letters() {
        let mut k = Keyboard::default();
        assert_eq!(k.feed(sc(0x23, false)), Some(Key::Char('h')));
        assert_eq!(k.feed(sc(0x23, true)), None);
        k.feed(sc(0x2a, false));
        assert_eq!(k.feed(sc(0x23, false)), Some(Key::Char('H')));
        assert_eq!(k.feed(sc(0x02, false)), Some(Key::Char('!')));
        k.feed(sc(0x2a, true));
        assert_eq!(k.feed(sc(0x39, false)), Some(Key::Char(' ')));
        assert_eq!(k.feed(sc(0x1c, false)), Some(Key::Enter));
        assert_eq!(k.feed(sc(0x0e, false)), Some(Key::Backspace));
    }

    #[test]
    fn ctrl_alt_del() {
        let mut k = Keyboard::default();
        k.feed(sc(0x1d, false));
        k.feed(sc(0x38, false));
        let del = Input::Scancode {
            code: 0x53,
            extended: true,
            release: false,
        };
        assert_eq!(k.feed(del), Some(Key::CtrlAltDel));
    }
}
