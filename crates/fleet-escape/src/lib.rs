//! Device text is untrusted input: this crate makes it safe to print on a
//! terminal.
//!
//! A device (or a hostile banner, or an inventory someone else wrote) can
//! send bytes that a terminal obeys instead of showing: `ESC ] 0 ; ... BEL`
//! retitles the window, `ESC [ 2 J` clears the screen, a lone `CR` lets
//! later text overwrite earlier text, and C1 controls such as U+009B (CSI)
//! do the same on terminals that honour them. fleet prints device outputs,
//! error lines quoting devices and inventory names; every one of them goes
//! through this crate when it is headed for a terminal.
//!
//! What is escaped, and how (like `\x1b` in Rust or C string literals):
//!
//! | character | [`text`] | [`line`] |
//! | --- | --- | --- |
//! | `\n`, `\t` | kept | `\n`, `\t` |
//! | `\r` right before `\n` (CRLF line ends) | kept | `\r` |
//! | other `\r` | `\r` | `\r` |
//! | other C0 controls (U+0000..U+001F), DEL (U+007F) | `\x1b`, `\x07`, `\x7f`, ... | same |
//! | C1 controls (U+0080..U+009F) | `\u{9b}`, ... | same |
//! | everything else, backslashes included | kept | kept |
//!
//! Invalid UTF-8 is shown lossily (U+FFFD) by [`bytes`]. Backslashes are
//! not doubled: the point is that the terminal obeys nothing, not that the
//! text can be decoded back; machine outputs (`results.jsonl`, `--format
//! json`, `--save-outputs`) keep the exact text instead.
//!
//! [`json`] is for JSON printed on a terminal: serde_json escapes C0
//! controls but writes C1 controls and DEL raw, so [`json`] rewrites them
//! as `\u009b`-style escapes, which decode to the very same string.
//!
//! [`Policy`] carries the decision per output stream: escape when the
//! stream is a terminal, unless the user asked for `--raw-output`.
#![deny(missing_docs)]

use std::borrow::Cow;
use std::fmt::Write as _;

/// Whether text printed on one output stream is escaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Control characters are shown visibly ([`text`], [`line`], [`json`]).
    Escape,
    /// Text is printed as the device sent it (`--raw-output`, or not a
    /// terminal: files and pipes are data).
    Raw,
}

impl Policy {
    /// `Escape` for a terminal unless `raw_output`; `Raw` otherwise.
    pub fn for_stream(is_terminal: bool, raw_output: bool) -> Policy {
        if is_terminal && !raw_output {
            Policy::Escape
        } else {
            Policy::Raw
        }
    }

    /// Whether this policy escapes anything.
    pub fn escapes(self) -> bool {
        self == Policy::Escape
    }

    /// [`text`] under `Escape`, `s` itself under `Raw`.
    pub fn text(self, s: &str) -> Cow<'_, str> {
        match self {
            Policy::Escape => text(s),
            Policy::Raw => Cow::Borrowed(s),
        }
    }

    /// [`line`] under `Escape`, `s` itself under `Raw`.
    pub fn line(self, s: &str) -> Cow<'_, str> {
        match self {
            Policy::Escape => line(s),
            Policy::Raw => Cow::Borrowed(s),
        }
    }

    /// [`json`] under `Escape`, `s` itself under `Raw`.
    pub fn json(self, s: &str) -> Cow<'_, str> {
        match self {
            Policy::Escape => json(s),
            Policy::Raw => Cow::Borrowed(s),
        }
    }
}

/// The policies of the two streams a command prints on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Streams {
    /// Results, tables, grouped outputs, diffs, `fleet logs` lines.
    pub stdout: Policy,
    /// Progress notes, warnings, the summary.
    pub stderr: Policy,
}

impl Streams {
    /// Both streams printed as they are.
    pub const RAW: Streams = Streams {
        stdout: Policy::Raw,
        stderr: Policy::Raw,
    };

    /// Escapes each stream that is a terminal, unless `raw_output`.
    pub fn detect(raw_output: bool) -> Streams {
        use std::io::IsTerminal;
        Streams {
            stdout: Policy::for_stream(std::io::stdout().is_terminal(), raw_output),
            stderr: Policy::for_stream(std::io::stderr().is_terminal(), raw_output),
        }
    }
}

/// A C0 control, DEL or a C1 control: what a terminal may obey.
pub fn is_control(c: char) -> bool {
    matches!(c, '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}')
}

/// Whether `s` holds anything [`text`] would change.
pub fn needs_escape(s: &str) -> bool {
    let b = s.as_bytes();
    b.iter().enumerate().any(|(i, &c)| match c {
        b'\n' | b'\t' => false,
        b'\r' => b.get(i + 1) != Some(&b'\n'),
        0x00..=0x1f | 0x7f => true,
        // U+0080..U+009F are encoded C2 80..C2 9F.
        0xc2 => b.get(i + 1).is_some_and(|n| (0x80..=0x9f).contains(n)),
        _ => false,
    })
}

/// Multi-line text (outputs, `fleet logs` lines) with every control
/// character except line breaks and tabs shown visibly.
pub fn text(s: &str) -> Cow<'_, str> {
    if !needs_escape(s) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\n' | '\t' => out.push(c),
            '\r' if chars.peek() == Some(&'\n') => out.push(c),
            c => push_escaped(&mut out, c),
        }
    }
    Cow::Owned(out)
}

/// One line (a table cell, a name, an error message): like [`text`], and
/// line breaks and tabs are shown as `\n`, `\r`, `\t` too, so the text
/// stays on its line.
pub fn line(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_control) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        push_escaped(&mut out, c);
    }
    Cow::Owned(out)
}

/// Bytes that may not be UTF-8: decoded lossily (U+FFFD for invalid
/// sequences, such as a raw 8-bit C1 byte `0x9b`), then [`text`].
pub fn bytes(b: &[u8]) -> Cow<'_, str> {
    match String::from_utf8_lossy(b) {
        Cow::Borrowed(s) => text(s),
        Cow::Owned(s) => Cow::Owned(text(&s).into_owned()),
    }
}

/// JSON text whose C1 controls and DEL are written as `\u00XX` escapes;
/// the JSON value is unchanged (they can only occur inside strings).
pub fn json(s: &str) -> Cow<'_, str> {
    if !s.chars().any(|c| matches!(c, '\u{7f}'..='\u{9f}')) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        if matches!(c, '\u{7f}'..='\u{9f}') {
            let _ = write!(out, "\\u{:04x}", c as u32);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Appends `c`, escaped if it is a control character.
fn push_escaped(out: &mut String, c: char) {
    match c {
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\u{0}'..='\u{1f}' | '\u{7f}' => {
            let _ = write!(out, "\\x{:02x}", c as u32);
        }
        '\u{80}'..='\u{9f}' => {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        }
        c => out.push(c),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a hostile device sends: OSC title, screen clear, colour,
    /// bell, a lone CR, C1 CSI and OSC, DEL.
    const HOSTILE: &str = "a\x1b]0;PWNED\x07b\x1b[2J\x1b[31mred\rX\u{9b}31m\u{9d}t\u{9c}\x7fz";

    fn has_raw_control(s: &str) -> bool {
        s.chars().any(|c| is_control(c) && c != '\n' && c != '\t')
    }

    #[test]
    fn text_shows_every_terminal_control_visibly() {
        let t = text(HOSTILE);
        assert_eq!(
            t,
            "a\\x1b]0;PWNED\\x07b\\x1b[2J\\x1b[31mred\\rX\\u{9b}31m\\u{9d}t\\u{9c}\\x7fz"
        );
        assert!(!has_raw_control(&t));
    }

    #[test]
    fn text_keeps_newlines_tabs_and_crlf() {
        let s = "Gi0/1\tup\r\nGi0/2\tdown\n";
        assert!(matches!(text(s), Cow::Borrowed(_)));
        assert_eq!(text(s), s);
        // A CR that is not a line end is an overwrite: shown.
        assert_eq!(text("ok\rFAIL\r\r\n"), "ok\\rFAIL\\r\r\n");
        assert_eq!(text("x\r"), "x\\r");
    }

    #[test]
    fn every_c0_c1_and_del_is_escaped_and_nothing_else() {
        for cp in 0u32..0x300 {
            let c = char::from_u32(cp).unwrap();
            let s = c.to_string();
            let t = text(&s);
            let l = line(&s);
            let control = cp < 0x20 || (0x7f..=0x9f).contains(&cp);
            if c == '\n' || c == '\t' {
                assert_eq!(t, s);
                assert_ne!(l, s);
            } else if control {
                assert_ne!(t, s, "U+{cp:04X} must be escaped");
                assert!(t.is_ascii() && !has_raw_control(&t), "U+{cp:04X}: {t:?}");
                assert_eq!(l, t);
            } else {
                assert_eq!(t, s, "U+{cp:04X} must be kept");
                assert_eq!(l, s);
            }
            assert_eq!(needs_escape(&s), t != s, "U+{cp:04X}");
        }
        assert_eq!(text("\u{0}\u{1f}\u{80}\u{9f}"), "\\x00\\x1f\\u{80}\\u{9f}");
    }

    #[test]
    fn line_keeps_text_on_one_line() {
        let forged = "boom\n2026-01-01T00:00:00Z ERROR master 1 main - forged\r\tx";
        let l = line(forged);
        assert!(!l.contains('\n') && !l.contains('\r') && !l.contains('\t'));
        assert_eq!(
            l,
            "boom\\n2026-01-01T00:00:00Z ERROR master 1 main - forged\\r\\tx"
        );
        assert!(matches!(line("lab-ios-0001"), Cow::Borrowed(_)));
    }

    #[test]
    fn bytes_are_decoded_lossily_then_escaped() {
        // A raw 8-bit CSI (0x9b) is not UTF-8: it becomes U+FFFD, which
        // no terminal obeys.
        let b = b"\x9b31mred\x1b[0m \xff\xfe ok\n";
        assert_eq!(bytes(b), "\u{fffd}31mred\\x1b[0m \u{fffd}\u{fffd} ok\n");
        assert!(matches!(bytes(b"plain\n"), Cow::Borrowed(_)));
    }

    #[test]
    fn unicode_text_is_untouched() {
        let s = "Schnittstelle «Gi0/1» — état: 正常 \u{a0}✓ \\x1b literal\n";
        assert!(matches!(text(s), Cow::Borrowed(_)));
        assert!(matches!(line("é✓"), Cow::Borrowed(_)));
    }

    #[test]
    fn json_escapes_c1_and_del_and_keeps_the_value() {
        let value = serde_like_string(HOSTILE);
        let safe = json(&value);
        assert!(!safe.chars().any(is_control), "{safe}");
        assert!(safe.contains("\\u009b") && safe.contains("\\u007f"));
        assert!(matches!(json("{\"a\":\"\\u001b\"}"), Cow::Borrowed(_)));
    }

    /// A JSON string literal the way serde_json writes one: C0 escaped,
    /// C1 and DEL raw.
    fn serde_like_string(s: &str) -> String {
        let mut out = String::from("\"");
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                c if (c as u32) < 0x20 => {
                    let _ = write!(out, "\\u{:04x}", c as u32);
                }
                c => out.push(c),
            }
        }
        out.push('"');
        out
    }

    #[test]
    fn policy_escapes_only_terminals_without_raw_output() {
        assert_eq!(Policy::for_stream(true, false), Policy::Escape);
        assert_eq!(Policy::for_stream(true, true), Policy::Raw);
        assert_eq!(Policy::for_stream(false, false), Policy::Raw);
        assert_eq!(Policy::Raw.text(HOSTILE), HOSTILE);
        assert_eq!(Policy::Raw.line(HOSTILE), HOSTILE);
        assert_eq!(Policy::Escape.text(HOSTILE), text(HOSTILE));
        assert_eq!(Policy::Escape.line("a\nb"), "a\\nb");
    }
}
