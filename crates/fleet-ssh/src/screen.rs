//! A tiny terminal model for shell mode: turns the bytes a CLI prints
//! (CRLF, carriage-return overwrites, backspaces, ANSI escapes, pager
//! erasures) into the text a person would see, line by line.

/// Bytes kept after the cap while output is being dropped, so the prompt
/// at the end can still be recognised.
const TAIL_KEEP: usize = 4096;
/// Slack over the cap before dropping, to drop in large steps.
const DROP_SLACK: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Esc {
    None,
    Start,
    Csi,
    Osc,
    OscEnd,
    Charset,
}

/// The text seen so far, with a cursor on the current (last) line.
#[derive(Debug)]
pub(crate) struct Screen {
    text: Vec<u8>,
    line_start: usize,
    cursor: usize,
    overwrote: bool,
    esc: Esc,
    cap: usize,
    /// Output beyond the cap was dropped.
    pub truncated: bool,
}

impl Screen {
    pub fn new(cap: usize) -> Self {
        Screen {
            text: Vec::new(),
            line_start: 0,
            cursor: 0,
            overwrote: false,
            esc: Esc::None,
            cap,
            truncated: false,
        }
    }

    /// Feeds raw bytes from the device.
    pub fn feed(&mut self, data: &[u8]) {
        for &b in data {
            self.byte(b);
        }
        self.drop_excess();
    }

    fn byte(&mut self, b: u8) {
        match self.esc {
            Esc::None => {}
            Esc::Start => {
                self.esc = match b {
                    b'[' => Esc::Csi,
                    b']' => Esc::Osc,
                    b'(' | b')' => Esc::Charset,
                    _ => Esc::None,
                };
                return;
            }
            Esc::Csi => {
                if (0x40..=0x7e).contains(&b) {
                    self.esc = Esc::None;
                    if b == b'K' {
                        // Erase to end of line.
                        self.text.truncate(self.cursor);
                    }
                }
                return;
            }
            Esc::Osc => {
                self.esc = match b {
                    0x07 => Esc::None,
                    0x1b => Esc::OscEnd,
                    _ => Esc::Osc,
                };
                return;
            }
            Esc::OscEnd | Esc::Charset => {
                self.esc = Esc::None;
                return;
            }
        }
        match b {
            0x1b => self.esc = Esc::Start,
            b'\n' => {
                if self.overwrote {
                    while self.text.len() > self.line_start && self.text.last() == Some(&b' ') {
                        self.text.pop();
                    }
                }
                self.text.push(b'\n');
                self.line_start = self.text.len();
                self.cursor = self.line_start;
                self.overwrote = false;
            }
            b'\r' => {
                // A line blanked with spaces is an erased line (pager prompts).
                if self.text[self.line_start..].iter().all(|&c| c == b' ') {
                    self.text.truncate(self.line_start);
                }
                self.cursor = self.line_start;
            }
            0x08 if self.cursor > self.line_start => self.cursor -= 1,
            b'\t' | 0x20.. => {
                if self.cursor < self.text.len() {
                    self.text[self.cursor] = b;
                    self.overwrote = true;
                } else {
                    self.text.push(b);
                }
                self.cursor += 1;
            }
            _ => {}
        }
    }

    fn drop_excess(&mut self) {
        if self.text.len() <= self.cap + DROP_SLACK {
            return;
        }
        let end = self.line_start.min(self.text.len() - TAIL_KEEP);
        if end <= self.cap {
            return;
        }
        let n = end - self.cap;
        self.text.drain(self.cap..end);
        self.line_start -= n;
        self.cursor -= n;
        self.truncated = true;
    }

    /// All text so far.
    pub fn text(&self) -> &[u8] {
        &self.text
    }

    /// The current, unterminated line (where prompts appear).
    pub fn last_line(&self) -> &[u8] {
        &self.text[self.line_start..]
    }

    /// Takes the text before the current line, leaving the screen empty.
    pub fn take_body(&mut self) -> (Vec<u8>, bool) {
        let mut body = std::mem::take(&mut self.text);
        body.truncate(self.line_start);
        self.line_start = 0;
        self.cursor = 0;
        self.overwrote = false;
        (body, std::mem::take(&mut self.truncated))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(chunks: &[&[u8]]) -> String {
        let mut s = Screen::new(1 << 20);
        for c in chunks {
            s.feed(c);
        }
        String::from_utf8_lossy(s.text()).into_owned()
    }

    #[test]
    fn crlf_escapes_and_overwrites() {
        assert_eq!(seen(&[b"a\r\nb\r\n"]), "a\nb\n");
        assert_eq!(
            seen(&[b"\x1b[?2004hroot@h:~# ", b"\x1b[?20", b"04l\r\n"]),
            "root@h:~# \n"
        );
        assert_eq!(seen(&[b"\x1b]0;title\x07x"]), "x");
        // IOS-style pager erasure with backspaces, and the lab's CR+spaces.
        assert_eq!(
            seen(&[b"l1\r\n --More-- ", b"\x08\x08\x08\x08\x08\x08\x08\x08\x08\x08          \x08\x08\x08\x08\x08\x08\x08\x08\x08\x08l2\r\n"]),
            "l1\nl2\n"
        );
        assert_eq!(
            seen(&[b"l1\r\n --More-- ", b"\r          \rl2\r\n"]),
            "l1\nl2\n"
        );
    }

    #[test]
    fn excess_output_is_dropped_but_the_tail_kept() {
        let mut s = Screen::new(10);
        for _ in 0..20_000 {
            s.feed(b"0123456789\r\n");
        }
        s.feed(b"r1#");
        assert!(s.truncated);
        assert!(s.text().len() < 10 + DROP_SLACK + 100);
        assert_eq!(s.last_line(), b"r1#");
        assert_eq!(&s.text()[..10], b"0123456789");
    }
}
