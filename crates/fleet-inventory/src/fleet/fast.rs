//! A fast path for the usual shape of a very large `devices:` list, read
//! without yaml-rust2.
//!
//! yaml-rust2 scans char by char through a token queue: a 50 MB list of a
//! million devices costs it seconds. Most big lists have one simple shape:
//! one device per item, either a one-line flow mapping
//! (`- {name: r1, host: 10.0.0.1, groups: [core]}`) or a block mapping of
//! `key: value` lines, with plain (unquoted) ASCII values, flow lists and
//! flow mappings. [`split`] checks that the whole list, to the end of the
//! file, has this shape (one pass, no allocation); if anything else shows
//! up (quotes, anchors, tags, nested blocks, non-ASCII, tabs, a key after
//! the list, ...), it answers `None` and the file goes through yaml-rust2
//! as before. [`Split::each`] then makes, item by item, the very nodes
//! [`crate::ytree::Reader`] would make (same text, same positions: a unit
//! test compares them), so the loader and every error message downstream
//! are unchanged.

use crate::ytree::{Mapping, Node, Scalar, Sequence, Span};

/// Keys one mapping may have on the fast path (more: the slow path).
const MAX_KEYS: usize = 32;
/// Flow collections nested deeper than this take the slow path.
const MAX_DEPTH: usize = 3;

/// A fleet YAML file cut at its top-level `devices:` line, whose list
/// has the fast shape.
pub(super) struct Split<'t> {
    /// Everything before the `devices:` line (for yaml-rust2).
    pub(super) head: &'t str,
    /// The lines after it.
    body: &'t str,
    /// Line number (1-based) of the body's first line.
    first_line: u32,
    /// Device items in the list (counted by the shape check).
    items: usize,
}

/// Cuts `text` at its top-level `devices:` line when the list after it
/// has the fast shape and nothing else follows.
pub(super) fn split(text: &str) -> Option<Split<'_>> {
    let mut offset = 0;
    let mut line_no: u32 = 1;
    for line in text.split_inclusive('\n') {
        let content = line.strip_suffix('\n').unwrap_or(line);
        if content.trim_end_matches(' ') == "devices:" {
            let mut s = Split {
                head: &text[..offset],
                body: &text[offset + line.len()..],
                first_line: line_no.checked_add(1)?,
                items: 0,
            };
            let mut check = Check;
            let mut items = 0;
            s.walk(&mut check, &mut |()| {
                items += 1;
                Ok::<(), ()>(())
            })
            .ok()?;
            s.items = items;
            return Some(s);
        }
        offset += line.len();
        line_no = line_no.checked_add(1)?;
    }
    None
}

impl Split<'_> {
    /// How many devices the list holds.
    pub(super) fn items(&self) -> usize {
        self.items
    }

    /// Hands each device item, as a node, to `f`, in order; stops at its
    /// first error.
    pub(super) fn each<E>(&self, mut f: impl FnMut(Node) -> Result<(), E>) -> Result<(), E> {
        match self.walk(&mut Build, &mut f) {
            Ok(()) => Ok(()),
            Err(Stop::Err(e)) => Err(e),
            // `split` checked the shape of every line.
            Err(Stop::Shape) => unreachable!("the fast path was checked by `split`"),
        }
    }

    fn walk<M: Make, E>(
        &self,
        m: &mut M,
        f: &mut dyn FnMut(M::Node) -> Result<(), E>,
    ) -> Result<(), Stop<E>> {
        let mut lines = content_lines(self.body, self.first_line).peekable();
        // An empty list is `null`: the slow path says so.
        let Some(Ok(first)) = lines.peek() else {
            return Err(Stop::Shape);
        };
        let indent = first.text.len() - first.text.trim_start_matches(' ').len();
        while let Some(line) = lines.next() {
            let line = line?;
            let rest = line
                .text
                .get(indent..)
                .filter(|_| line.text[..indent].bytes().all(|b| b == b' '))
                .and_then(|r| r.strip_prefix("- "))
                .ok_or(Stop::Shape)?;
            let after = rest.trim_start_matches(' ');
            let col = line.text.len() - after.len();
            if after.starts_with('{') {
                let mut p = Cursor::new(line.number, line.text, col);
                let node = p.flow_value(m, 0)?;
                p.end_of_line()?;
                f(node).map_err(Stop::Err)?;
                continue;
            }
            // A block mapping: this `key: value` and the lines below it
            // indented to the same column.
            let mut keys = Keys::default();
            let mut entries = Vec::new();
            entries.push(block_entry(m, &line, col, &mut keys)?);
            while let Some(next) = lines.peek() {
                let next = next.as_ref().map_err(|_| Stop::Shape)?;
                let own = next.text.len() - next.text.trim_start_matches(' ').len();
                if own == indent && next.text[own..].starts_with("- ") {
                    break;
                }
                if own != col {
                    return Err(Stop::Shape);
                }
                let next = *next;
                lines.next();
                entries.push(block_entry(m, &next, col, &mut keys)?);
            }
            f(m.map(entries, Span::new(line.number, col as u32 + 1))).map_err(Stop::Err)?;
        }
        Ok(())
    }
}

/// Why the fast path stopped: the shape (take the slow path) or the
/// caller's error.
enum Stop<E> {
    Shape,
    Err(E),
}

/// One line with content (not blank, not a comment).
#[derive(Clone, Copy)]
struct Line<'t> {
    number: u32,
    text: &'t str,
}

/// A line the fast path cannot read.
struct Bad;

impl<E> From<Bad> for Stop<E> {
    fn from(_: Bad) -> Self {
        Stop::Shape
    }
}

/// The lines of `body` that hold content; a line the fast path cannot
/// read (tab, carriage return, non-ASCII outside a comment) is [`Bad`].
fn content_lines(body: &str, first: u32) -> impl Iterator<Item = Result<Line<'_>, Bad>> + '_ {
    body.split('\n').enumerate().filter_map(move |(i, text)| {
        let t = text.trim_start_matches(' ');
        if t.is_empty() || t.starts_with('#') {
            return None;
        }
        if !text.bytes().all(|b| (0x20..0x7f).contains(&b)) {
            return Some(Err(Bad));
        }
        let number = u32::try_from(i).ok().and_then(|i| i.checked_add(first));
        Some(number.map(|number| Line { number, text }).ok_or(Bad))
    })
}

/// `key: value` at `col` of a block mapping line.
fn block_entry<'t, M: Make, E>(
    m: &mut M,
    line: &Line<'t>,
    col: usize,
    keys: &mut Keys<'t>,
) -> Result<(M::Key, M::Node), Stop<E>> {
    let mut p = Cursor::new(line.number, line.text, col);
    let key = p.key(m, keys)?;
    let value = if p.peek() == Some(b'[') || p.peek() == Some(b'{') {
        p.flow_value(m, 0)?
    } else {
        p.block_scalar(m)?
    };
    p.end_of_line()?;
    Ok((key, value))
}

/// Keys seen in one mapping, for duplicates (which the slow path reports).
#[derive(Default)]
struct Keys<'t> {
    seen: [&'t str; MAX_KEYS],
    len: usize,
}

impl<'t> Keys<'t> {
    fn add<E>(&mut self, key: &'t str) -> Result<(), Stop<E>> {
        if self.len == MAX_KEYS || self.seen[..self.len].contains(&key) {
            return Err(Stop::Shape);
        }
        self.seen[self.len] = key;
        self.len += 1;
        Ok(())
    }
}

/// A position in one line.
struct Cursor<'t> {
    number: u32,
    text: &'t str,
    at: usize,
}

fn key_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Bytes a plain scalar may start with on the fast path.
fn first_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'/')
}

/// Bytes a plain scalar may hold on the fast path (`,` only outside flow
/// collections; `:` and ` ` are checked with their neighbours).
fn plain_byte(b: u8, flow: bool) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(b, b'_' | b'.' | b'/' | b'-' | b'@' | b'+' | b'=' | b'~')
        || (b == b',' && !flow)
}

impl<'t> Cursor<'t> {
    fn new(number: u32, text: &'t str, at: usize) -> Self {
        Cursor { number, text, at }
    }

    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.at).copied()
    }

    fn span(&self, at: usize) -> Span {
        Span::new(self.number, at as u32 + 1)
    }

    fn skip_spaces(&mut self) {
        while self.peek() == Some(b' ') {
            self.at += 1;
        }
    }

    fn end_of_line<E>(&mut self) -> Result<(), Stop<E>> {
        self.skip_spaces();
        match self.peek() {
            None => Ok(()),
            Some(_) => Err(Stop::Shape),
        }
    }

    /// `key: ` (the space is required).
    fn key<M: Make, E>(&mut self, m: &mut M, keys: &mut Keys<'t>) -> Result<M::Key, Stop<E>> {
        let start = self.at;
        while self.peek().is_some_and(key_byte) {
            self.at += 1;
        }
        let key = &self.text[start..self.at];
        if key.is_empty() || !self.text[self.at..].starts_with(": ") {
            return Err(Stop::Shape);
        }
        keys.add(key)?;
        self.at += 2;
        self.skip_spaces();
        Ok(m.key(key, self.span(start)))
    }

    /// A plain scalar running to the end of the line (block context).
    fn block_scalar<M: Make, E>(&mut self, m: &mut M) -> Result<M::Node, Stop<E>> {
        let (start, end) = self.plain(false)?;
        if self.peek().is_some() {
            return Err(Stop::Shape);
        }
        Ok(m.scalar(&self.text[start..end], self.span(start)))
    }

    /// A plain scalar; returns its bounds, trailing spaces excluded. Stops
    /// at the end of the line or, in flow context, at `,` `]` `}`.
    fn plain<E>(&mut self, flow: bool) -> Result<(usize, usize), Stop<E>> {
        let start = self.at;
        if !self.peek().is_some_and(first_byte) {
            return Err(Stop::Shape);
        }
        let bytes = self.text.as_bytes();
        let mut end = start;
        while let Some(b) = self.peek() {
            let next = bytes.get(self.at + 1).copied();
            if plain_byte(b, flow) {
                end = self.at + 1;
            } else if b == b':' {
                // `a:b` and `fe80::1` are one scalar; `a: b` is not.
                if !next.is_some_and(|n| n.is_ascii_alphanumeric() || n == b':') {
                    return Err(Stop::Shape);
                }
                end = self.at + 1;
            } else if b == b' ' {
                // ` #` starts a comment: the slow path.
                if next == Some(b'#') {
                    return Err(Stop::Shape);
                }
            } else if flow && matches!(b, b',' | b']' | b'}') {
                break;
            } else {
                return Err(Stop::Shape);
            }
            self.at += 1;
        }
        Ok((start, end))
    }

    /// After an item of a flow sequence or map: a `,` (more items follow:
    /// false) or the `close` bracket, left for the caller (true).
    fn flow_separator<E>(&mut self, close: u8) -> Result<bool, Stop<E>> {
        self.skip_spaces();
        match self.peek() {
            Some(b',') => {
                self.at += 1;
                self.skip_spaces();
                Ok(false)
            }
            Some(c) if c == close => Ok(true),
            _ => Err(Stop::Shape),
        }
    }

    /// A plain scalar, `[...]` or `{...}` in flow context.
    fn flow_value<M: Make, E>(&mut self, m: &mut M, depth: usize) -> Result<M::Node, Stop<E>> {
        if depth > MAX_DEPTH {
            return Err(Stop::Shape);
        }
        match self.peek() {
            Some(b'[') => {
                let open = self.at;
                self.at += 1;
                self.skip_spaces();
                let mut items = Vec::new();
                if self.peek() != Some(b']') {
                    loop {
                        items.push(self.flow_value(m, depth + 1)?);
                        if self.flow_separator(b']')? {
                            break;
                        }
                    }
                }
                self.at += 1;
                Ok(m.seq(items, self.span(open)))
            }
            Some(b'{') => {
                let open = self.at;
                self.at += 1;
                self.skip_spaces();
                let mut keys = Keys::default();
                let mut entries = Vec::new();
                loop {
                    let k = self.key(m, &mut keys)?;
                    let v = self.flow_value(m, depth + 1)?;
                    entries.push((k, v));
                    if self.flow_separator(b'}')? {
                        break;
                    }
                }
                self.at += 1;
                Ok(m.map(entries, self.span(open)))
            }
            _ => {
                let (start, end) = self.plain(true)?;
                Ok(m.scalar(&self.text[start..end], self.span(start)))
            }
        }
    }
}

/// What the walk makes: nothing (the shape check) or nodes.
trait Make {
    type Key;
    type Node;
    fn key(&mut self, text: &str, span: Span) -> Self::Key;
    fn scalar(&mut self, text: &str, span: Span) -> Self::Node;
    fn seq(&mut self, items: Vec<Self::Node>, span: Span) -> Self::Node;
    fn map(&mut self, entries: Vec<(Self::Key, Self::Node)>, span: Span) -> Self::Node;
}

/// The shape check: zero-sized results, so its vectors never allocate.
struct Check;

impl Make for Check {
    type Key = ();
    type Node = ();
    fn key(&mut self, _: &str, _: Span) {}
    fn scalar(&mut self, _: &str, _: Span) {}
    fn seq(&mut self, _: Vec<()>, _: Span) {}
    fn map(&mut self, _: Vec<((), ())>, _: Span) {}
}

/// Nodes as [`crate::ytree::Reader`] makes them.
struct Build;

impl Make for Build {
    type Key = Scalar;
    type Node = Node;
    fn key(&mut self, text: &str, span: Span) -> Scalar {
        Scalar::plain(text.to_owned(), span)
    }
    fn scalar(&mut self, text: &str, span: Span) -> Node {
        Node::Scalar(Scalar::plain(text.to_owned(), span))
    }
    fn seq(&mut self, items: Vec<Node>, span: Span) -> Node {
        Node::Sequence(Sequence::new(items, span))
    }
    fn map(&mut self, entries: Vec<(Scalar, Node)>, span: Span) -> Node {
        Node::Mapping(Mapping::new(entries, span))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ytree::Reader;
    use std::path::Path;

    /// The device nodes of `text`, from yaml-rust2.
    fn slow(text: &str) -> Vec<String> {
        let mut r = Reader::new(Path::new("t.yaml"), text, false).unwrap();
        let mut out = Vec::new();
        while let Some(k) = r.next_key().unwrap() {
            if k.as_str() == "devices" {
                r.value_streamed(|n| {
                    out.push(format!("{n:?}"));
                    Ok(())
                })
                .unwrap();
            } else {
                r.value().unwrap();
            }
        }
        out
    }

    fn fast(text: &str) -> Option<Vec<String>> {
        let s = split(text)?;
        let mut out = Vec::new();
        s.each(|n| {
            out.push(format!("{n:?}"));
            Ok::<(), ()>(())
        })
        .unwrap();
        Some(out)
    }

    #[test]
    fn makes_the_nodes_yaml_rust2_makes() {
        let text = "# c\ndefaults:\n  username: admin\ngroups:\n  s1: {data: {site: a}}\ndevices:\n\
            - {name: d1, host: 10.0.0.1, groups: [s1, s2]}\n\
            -   {name: d2,host: fe80::1 , port: 2222, data: {role: core, rack: r-1}, commands: [show version, show clock]}\n\
            \n  # a comment\n\
            - name: d3\n  host: h3.example.com\n  groups: []\n  transport: noop\n\
            - name: d4\n  host: null\n  data: {a: {b: [x]}}\n";
        let f = fast(text).expect("fast shape");
        assert_eq!(f, slow(text));
        assert_eq!(f.len(), 4);
        let indented = "devices:\n  - name: a\n    host: b\n  - {name: c, host: d}\n";
        assert_eq!(fast(indented).unwrap(), slow(indented));
    }

    #[test]
    fn anything_else_takes_the_slow_path() {
        for text in [
            "devices:\n",
            "devices: []\n",
            "devices:\n- {name: 'q', host: h}\n",
            "devices:\n- {name: a, host: h} # c\n",
            "devices:\n- {name: &a x, host: h}\n",
            "devices:\n- name: a\n  host: h\n  groups:\n    - x\n",
            "devices:\n- name: a\n  name: b\n",
            "devices:\n- name: a\n   host: h\n",
            "devices:\n- {name: a, host: h}\nversion: 1\n",
            "devices:\n- {name: é, host: h}\n",
            "devices:\n- {name: a, host: h}\r\n",
            "devices:\n- {name: a, host: ~}\n",
            "devices:\n- {name: a, host: a: b}\n",
            "devices:\n- {name: a, host: h,}\n",
            "devices:\n- name: a\n  host: h #x\n",
            "devices:\n-\n  name: a\n",
            "devices:\n- name: a\n\thost: h\n",
        ] {
            assert!(split(text).is_none(), "{text:?}");
        }
    }

    #[test]
    fn positions_count_from_the_whole_file() {
        let text = "defaults: {}\n\ndevices:\n\n- {name: a, host: h}\n- name: b\n  host: i\n";
        let s = split(text).unwrap();
        assert_eq!(s.head, "defaults: {}\n\n");
        let mut lines = Vec::new();
        s.each(|n| {
            lines.push((n.span().line(), n.span().column()));
            Ok::<(), ()>(())
        })
        .unwrap();
        assert_eq!(lines, [(5, 4), (6, 3)]);
    }
}
