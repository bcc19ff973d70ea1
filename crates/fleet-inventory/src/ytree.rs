//! A compact YAML tree with line/column positions, built from
//! `yaml-rust2` events (the parser `marked-yaml` wraps).
//!
//! fleet needs positions on every node like `marked-yaml` gives, but must
//! load 100,000 devices in well under 2 s and 200 MiB: this tree stores
//! two `u32`s per position instead of two full markers, keeps mappings as
//! small vectors, and [`Reader`] can hand over the items of a top-level
//! list one at a time so a huge `devices:` list is never held as a tree.

use crate::error::{ErrorKind, InventoryError};
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::str::Chars;
use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// Deepest nesting accepted (the tree builder recurses).
const MAX_DEPTH: usize = 128;
/// Most nodes that alias expansion may copy (defuses "billion laughs").
const MAX_ALIAS_NODES: usize = 100_000;

/// Where a node starts (1-based line and column).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Span {
    line: u32,
    column: u32,
}

impl Span {
    /// A position (1-based line and column), for nodes made without
    /// yaml-rust2 (the fast path for device lists).
    pub(crate) fn new(line: u32, column: u32) -> Self {
        Span { line, column }
    }

    fn from_marker(m: &Marker) -> Self {
        let clamp = |v: usize| u32::try_from(v).unwrap_or(u32::MAX);
        Span {
            line: clamp(m.line()),
            column: clamp(m.col().saturating_add(1)),
        }
    }

    /// 1-based line.
    pub(crate) fn line(&self) -> usize {
        self.line as usize
    }

    /// 1-based column.
    pub(crate) fn column(&self) -> usize {
        self.column as usize
    }
}

/// A scalar (always kept as text, as written).
#[derive(Debug, Clone)]
pub(crate) struct Scalar {
    value: String,
    span: Span,
    plain: bool,
    vault: bool,
}

impl Scalar {
    /// A plain (unquoted, untagged) scalar.
    pub(crate) fn plain(value: String, span: Span) -> Self {
        Scalar {
            value,
            span,
            plain: true,
            vault: false,
        }
    }

    /// The text.
    pub(crate) fn as_str(&self) -> &str {
        &self.value
    }

    /// Where it starts.
    pub(crate) fn span(&self) -> &Span {
        &self.span
    }

    /// True for plain (unquoted, non-block) scalars, whose `~`/`null`/``
    /// spelling means "no value".
    pub(crate) fn may_coerce(&self) -> bool {
        self.plain
    }

    /// True for an Ansible `!vault` value (encrypted; fleet cannot use it).
    pub(crate) fn is_vault(&self) -> bool {
        self.vault
    }
}

/// A mapping, in file order.
#[derive(Debug, Clone)]
pub(crate) struct Mapping {
    entries: Vec<(Scalar, Node)>,
    span: Span,
}

impl Mapping {
    /// A mapping whose span is its first key's, as [`Reader`] makes them
    /// (`span` when it has no entry).
    pub(crate) fn new(entries: Vec<(Scalar, Node)>, span: Span) -> Self {
        let span = entries.first().map_or(span, |(k, _)| k.span);
        Mapping { entries, span }
    }

    /// Entries in file order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&Scalar, &Node)> {
        self.entries.iter().map(|(k, v)| (k, v))
    }

    /// Keys in file order.
    pub(crate) fn keys(&self) -> impl Iterator<Item = &Scalar> {
        self.entries.iter().map(|(k, _)| k)
    }

    /// The value of `key` (linear scan: fleet's mappings are small or only
    /// iterated).
    pub(crate) fn get_node(&self, key: &str) -> Option<&Node> {
        self.entries
            .iter()
            .find(|(k, _)| k.value == key)
            .map(|(_, v)| v)
    }

    /// Number of entries.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Where it starts.
    pub(crate) fn span(&self) -> &Span {
        &self.span
    }
}

/// A sequence.
#[derive(Debug, Clone)]
pub(crate) struct Sequence {
    items: Vec<Node>,
    span: Span,
}

impl Sequence {
    /// A sequence starting at `span`.
    pub(crate) fn new(items: Vec<Node>, span: Span) -> Self {
        Sequence { items, span }
    }

    /// Items in order.
    pub(crate) fn iter(&self) -> std::slice::Iter<'_, Node> {
        self.items.iter()
    }

    /// True without items.
    pub(crate) fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Where it starts.
    pub(crate) fn span(&self) -> &Span {
        &self.span
    }
}

/// Any YAML node.
#[derive(Debug, Clone)]
pub(crate) enum Node {
    Scalar(Scalar),
    Mapping(Mapping),
    Sequence(Sequence),
}

impl Node {
    /// Where it starts.
    pub(crate) fn span(&self) -> &Span {
        match self {
            Node::Scalar(s) => &s.span,
            Node::Mapping(m) => &m.span,
            Node::Sequence(s) => &s.span,
        }
    }

    fn count(&self) -> usize {
        match self {
            Node::Scalar(_) => 1,
            Node::Mapping(m) => 1 + m.entries.iter().map(|(_, v)| 1 + v.count()).sum::<usize>(),
            Node::Sequence(s) => 1 + s.items.iter().map(Node::count).sum::<usize>(),
        }
    }
}

/// Reads one YAML document whose top level is a mapping, key by key.
pub(crate) struct Reader<'a> {
    parser: Parser<Chars<'a>>,
    file: &'a Path,
    allow_tags: bool,
    anchors: HashMap<usize, Node>,
    alias_budget: usize,
    top_keys: HashMap<String, Span>,
    top_span: Span,
    done: bool,
    text: &'a str,
    /// Collections opened and not yet closed (`true` for sequences), to
    /// say where an unclosed `[`/`{` started.
    open: Vec<(bool, Span)>,
}

fn tag_text(tag: &yaml_rust2::parser::Tag) -> Box<str> {
    format!("{}{}", tag.handle, tag.suffix).into_boxed_str()
}

impl<'a> Reader<'a> {
    /// Starts reading `text`; fails unless the top level is a mapping
    /// (an empty document reads as an empty mapping).
    pub(crate) fn new(
        file: &'a Path,
        text: &'a str,
        allow_tags: bool,
    ) -> Result<Self, InventoryError> {
        let mut r = Reader {
            parser: Parser::new_from_str(text),
            file,
            allow_tags,
            anchors: HashMap::new(),
            alias_budget: MAX_ALIAS_NODES,
            top_keys: HashMap::new(),
            top_span: Span { line: 1, column: 1 },
            done: false,
            text,
            open: Vec::new(),
        };
        loop {
            let (ev, span) = r.next()?;
            match ev {
                Event::StreamStart | Event::DocumentStart => continue,
                Event::StreamEnd => {
                    r.done = true;
                    return Ok(r);
                }
                Event::MappingStart(anchor, tag) => {
                    r.check_tag(tag.as_ref(), span)?;
                    if anchor != 0 {
                        return Err(
                            r.err(span, "anchors on the top-level mapping are not supported")
                        );
                    }
                    r.top_span = span;
                    return Ok(r);
                }
                _ => {
                    return Err(r.err(span, "the top level must be a mapping (`key: value` lines)"))
                }
            }
        }
    }

    fn err(&self, span: Span, msg: impl Into<String>) -> InventoryError {
        InventoryError::at(
            self.file,
            Some(span.line()),
            Some(span.column()),
            None,
            ErrorKind::Syntax,
            msg,
        )
    }

    fn next(&mut self) -> Result<(Event, Span), InventoryError> {
        match self.parser.next_token() {
            Ok((ev, m)) => {
                let span = Span::from_marker(&m);
                match ev {
                    Event::SequenceStart(..) => self.open.push((true, span)),
                    Event::MappingStart(..) => self.open.push((false, span)),
                    Event::SequenceEnd | Event::MappingEnd => {
                        self.open.pop();
                    }
                    _ => {}
                }
                Ok((ev, span))
            }
            Err(e) => {
                let span = Span::from_marker(e.marker());
                let mut msg = format!("invalid YAML: {}", e.info());
                // An unclosed `[`/`{` is the usual cause of errors reported
                // far from it: say where the innermost one opened.
                let flow = self.open.iter().rev().find_map(|(_, at)| {
                    let c = self.char_at(*at)?;
                    matches!(c, '[' | '{').then_some((c, *at))
                });
                if let Some((c, at)) = flow {
                    msg.push_str(&format!(
                        " (inside the `{c}` opened at line {}:{}; is its closing bracket missing?)",
                        at.line(),
                        at.column()
                    ));
                }
                if self.char_at(span) == Some('\t') {
                    msg.push_str(" (tabs are not allowed for indentation in YAML; use spaces)");
                }
                Err(self.err(span, msg))
            }
        }
    }

    /// The character at `span` in the source (error path only).
    fn char_at(&self, span: Span) -> Option<char> {
        self.text
            .lines()
            .nth(span.line().checked_sub(1)?)?
            .chars()
            .nth(span.column().checked_sub(1)?)
    }

    fn check_tag(
        &self,
        tag: Option<&yaml_rust2::parser::Tag>,
        span: Span,
    ) -> Result<(), InventoryError> {
        match tag {
            Some(t) if !self.allow_tags => Err(self.err(
                span,
                format!("YAML tags (`{}`) are not supported here", tag_text(t)),
            )),
            _ => Ok(()),
        }
    }

    /// Where the top-level mapping starts.
    pub(crate) fn span(&self) -> &Span {
        &self.top_span
    }

    /// The next top-level key, or `None` at the end of the mapping.
    /// Duplicate keys are errors.
    pub(crate) fn next_key(&mut self) -> Result<Option<Scalar>, InventoryError> {
        if self.done {
            return Ok(None);
        }
        let (ev, span) = self.next()?;
        match ev {
            Event::MappingEnd => {
                self.finish()?;
                Ok(None)
            }
            Event::Scalar(value, style, _, tag) => {
                self.check_tag(tag.as_ref(), span)?;
                if let Some(first) = self.top_keys.get(&value) {
                    return Err(duplicate(self.file, &value, span, *first));
                }
                self.top_keys.insert(value.clone(), span);
                Ok(Some(Scalar {
                    value,
                    span,
                    plain: style == TScalarStyle::Plain,
                    vault: false,
                }))
            }
            _ => Err(self.err(span, "mapping keys must be plain strings")),
        }
    }

    /// The value after a key, as a whole tree.
    pub(crate) fn value(&mut self) -> Result<Node, InventoryError> {
        let (ev, span) = self.next()?;
        self.node(ev, span, 1)
    }

    /// The value after a key: when it is a sequence, each item goes to `f`
    /// as soon as it is read (and `None` is returned); otherwise the whole
    /// value is returned.
    pub(crate) fn value_streamed(
        &mut self,
        mut f: impl FnMut(Node) -> Result<(), InventoryError>,
    ) -> Result<Option<Node>, InventoryError> {
        let (ev, span) = self.next()?;
        match ev {
            Event::SequenceStart(0, None) => loop {
                let (ev, span) = self.next()?;
                if ev == Event::SequenceEnd {
                    return Ok(None);
                }
                f(self.node(ev, span, 2)?)?;
            },
            other => self.node(other, span, 1).map(Some),
        }
    }

    /// The whole top-level mapping (for files read at once).
    pub(crate) fn into_mapping(mut self) -> Result<Mapping, InventoryError> {
        let mut entries = Vec::new();
        while let Some(k) = self.next_key()? {
            let v = self.value()?;
            entries.push((k, v));
        }
        Ok(Mapping {
            entries,
            span: self.top_span,
        })
    }

    fn finish(&mut self) -> Result<(), InventoryError> {
        self.done = true;
        loop {
            let (ev, span) = self.next()?;
            match ev {
                Event::DocumentEnd => continue,
                Event::StreamEnd => return Ok(()),
                _ => {
                    return Err(self.err(
                        span,
                        "only one YAML document is supported (remove the extra `---`)",
                    ))
                }
            }
        }
    }

    fn node(&mut self, ev: Event, span: Span, depth: usize) -> Result<Node, InventoryError> {
        if depth > MAX_DEPTH {
            return Err(self.err(span, format!("nested deeper than {MAX_DEPTH} levels")));
        }
        let (node, anchor) = match ev {
            Event::Scalar(value, style, anchor, tag) => {
                self.check_tag(tag.as_ref(), span)?;
                let node = Node::Scalar(Scalar {
                    value,
                    span,
                    plain: style == TScalarStyle::Plain && tag.is_none(),
                    vault: tag.as_ref().is_some_and(|t| t.suffix.ends_with("vault")),
                });
                (node, anchor)
            }
            Event::SequenceStart(anchor, tag) => {
                self.check_tag(tag.as_ref(), span)?;
                let mut items = Vec::new();
                loop {
                    let (ev, s) = self.next()?;
                    if ev == Event::SequenceEnd {
                        break;
                    }
                    items.push(self.node(ev, s, depth + 1)?);
                }
                (Node::Sequence(Sequence { items, span }), anchor)
            }
            Event::MappingStart(anchor, tag) => {
                self.check_tag(tag.as_ref(), span)?;
                (Node::Mapping(self.mapping(span, depth)?), anchor)
            }
            Event::Alias(id) => {
                let node = self
                    .anchors
                    .get(&id)
                    .cloned()
                    .ok_or_else(|| self.err(span, "alias to an unknown anchor"))?;
                let n = node.count();
                if n > self.alias_budget {
                    return Err(self.err(span, "aliases expand to too many nodes"));
                }
                self.alias_budget -= n;
                (node, 0)
            }
            _ => return Err(self.err(span, "unexpected YAML structure")),
        };
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
        Ok(node)
    }

    fn mapping(&mut self, span: Span, depth: usize) -> Result<Mapping, InventoryError> {
        let mut entries: Vec<(Scalar, Node)> = Vec::new();
        let mut seen: Option<HashSet<String>> = None;
        loop {
            let (ev, ks) = self.next()?;
            let key = match ev {
                Event::MappingEnd => break,
                Event::Scalar(value, style, _, tag) => {
                    self.check_tag(tag.as_ref(), ks)?;
                    Scalar {
                        value,
                        span: ks,
                        plain: style == TScalarStyle::Plain,
                        vault: false,
                    }
                }
                _ => return Err(self.err(ks, "mapping keys must be plain strings")),
            };
            // Small mappings: linear scan; large ones get a set.
            let dup = match &mut seen {
                Some(set) => !set.insert(key.value.clone()),
                None => {
                    let d = entries.iter().any(|(k, _)| k.value == key.value);
                    if entries.len() >= 16 {
                        seen = Some(
                            entries
                                .iter()
                                .map(|(k, _)| k.value.clone())
                                .chain([key.value.clone()])
                                .collect(),
                        );
                    }
                    d
                }
            };
            if dup {
                let first = entries
                    .iter()
                    .find(|(k, _)| k.value == key.value)
                    .map_or(ks, |(k, _)| k.span);
                return Err(duplicate(self.file, &key.value, ks, first));
            }
            let (ev, vs) = self.next()?;
            let value = self.node(ev, vs, depth + 1)?;
            entries.push((key, value));
        }
        // yaml-rust2 marks a block mapping where its first value starts;
        // errors about the whole mapping read better at its first key.
        let span = entries.first().map_or(span, |(k, _)| k.span);
        Ok(Mapping { entries, span })
    }
}

fn duplicate(file: &Path, key: &str, at: Span, first: Span) -> InventoryError {
    InventoryError::at(
        file,
        Some(at.line()),
        Some(at.column()),
        Some(key),
        ErrorKind::Syntax,
        format!(
            "duplicate key (first defined at line {}:{})",
            first.line(),
            first.column()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Mapping, InventoryError> {
        Reader::new(Path::new("t.yaml"), text, false)?.into_mapping()
    }

    #[test]
    fn positions_are_one_based() {
        let m = parse("a: 1\nb:\n  c: [x, y]\n").unwrap();
        let b = m.get_node("b").unwrap();
        assert_eq!(b.span().line(), 3);
        let Node::Mapping(bm) = b else { panic!() };
        let c = bm.keys().next().unwrap();
        assert_eq!((c.span().line(), c.span().column()), (3, 3));
    }

    #[test]
    fn rejects_duplicates_tags_and_extra_documents() {
        let e = parse("a: 1\nb: 2\na: 3\n").unwrap_err();
        assert_eq!((e.line, e.field.as_deref()), (Some(3), Some("a")));
        assert!(e.message.contains("line 1:1"));
        let e = parse("x:\n  k: 1\n  k: 2\n").unwrap_err();
        assert_eq!(e.line, Some(3));
        assert!(parse("a: !vault x\n").is_err());
        assert!(parse("a: 1\n---\nb: 2\n").is_err());
        assert!(parse("- a\n").is_err());
        assert_eq!(parse("").unwrap().len(), 0);
    }

    #[test]
    fn syntax_errors_say_where_the_bracket_opened_and_spot_tabs() {
        let e = parse("a: 1\nb: [x, y\nc: 2\n").unwrap_err();
        assert!(e.message.contains("opened at line 2:4"), "{e}");
        let e = parse("a:\n\tb: 1\n").unwrap_err();
        assert!(e.message.contains("tabs"), "{e}");
        assert_eq!(e.line, Some(2));
    }

    #[test]
    fn aliases_expand_within_budget() {
        let m = parse("base: &b {port: 22}\nr1: *b\n").unwrap();
        assert!(matches!(m.get_node("r1"), Some(Node::Mapping(_))));
        let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..8 {
            let prev = format!("*a{}", i - 1);
            bomb.push_str(&format!("a{i}: &a{i} [{}]\n", vec![prev; 10].join(", ")));
        }
        assert!(parse(&bomb).unwrap_err().message.contains("too many"));
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let text = format!("a: {}{}\n", "[".repeat(10_000), "]".repeat(10_000));
        assert!(parse(&text).is_err());
    }

    #[test]
    fn streams_sequence_items() {
        let mut r = Reader::new(Path::new("t"), "x: 1\nitems:\n  - a\n  - b\n", false).unwrap();
        let mut got = Vec::new();
        while let Some(k) = r.next_key().unwrap() {
            if k.as_str() == "items" {
                assert!(r
                    .value_streamed(|n| {
                        got.push(n.span().line());
                        Ok(())
                    })
                    .unwrap()
                    .is_none());
            } else {
                r.value().unwrap();
            }
        }
        assert_eq!(got, [3, 4]);
    }
}
