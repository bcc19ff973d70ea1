//! Helpers over [`crate::ytree`] nodes: positions, typed scalars and key checks
//! that turn into [`InventoryError`]s naming file, line, column and field.

use crate::error::{ErrorKind, InventoryError};
use crate::suggest::did_you_mean;
use crate::ytree::{Mapping, Node, Reader, Scalar, Span};
use std::path::Path;

/// Parses `text` (a YAML document whose top level must be a mapping) as a
/// whole tree; tags are errors.
pub(crate) fn parse(file: &Path, text: &str) -> Result<Mapping, InventoryError> {
    Reader::new(file, text, false)?.into_mapping()
}

/// `(line, column)` of a span's start.
pub(crate) fn pos(span: &Span) -> (Option<usize>, Option<usize>) {
    (Some(span.line()), Some(span.column()))
}

/// An error at `span`.
pub(crate) fn err_at(
    file: &Path,
    span: &Span,
    field: Option<&str>,
    kind: ErrorKind,
    message: impl Into<String>,
) -> InventoryError {
    let (line, column) = pos(span);
    InventoryError::at(file, line, column, field, kind, message)
}

fn describe(node: &Node) -> &'static str {
    match node {
        Node::Scalar(_) => "a string",
        Node::Mapping(_) => "a mapping",
        Node::Sequence(_) => "a list",
    }
}

/// True for a plain `~`, `null` or empty scalar: "no value".
pub(crate) fn is_null(node: &Node) -> bool {
    match node {
        Node::Scalar(s) => {
            s.may_coerce() && matches!(s.as_str(), "" | "~" | "null" | "Null" | "NULL")
        }
        _ => false,
    }
}

/// The scalar at `node`, or an error naming `field`.
pub(crate) fn scalar<'n>(
    file: &Path,
    node: &'n Node,
    field: &str,
) -> Result<&'n Scalar, InventoryError> {
    match node {
        Node::Scalar(s) => Ok(s),
        other => Err(err_at(
            file,
            other.span(),
            Some(field),
            ErrorKind::InvalidValue,
            format!("expected a string, found {}", describe(other)),
        )),
    }
}

/// A non-empty string value.
pub(crate) fn string(file: &Path, node: &Node, field: &str) -> Result<String, InventoryError> {
    let s = scalar(file, node, field)?;
    if s.as_str().is_empty() {
        return Err(err_at(
            file,
            s.span(),
            Some(field),
            ErrorKind::InvalidValue,
            "must not be empty",
        ));
    }
    Ok(s.as_str().to_owned())
}

/// The mapping at `node`, or an error naming `field`.
pub(crate) fn mapping<'n>(
    file: &Path,
    node: &'n Node,
    field: &str,
) -> Result<&'n Mapping, InventoryError> {
    match node {
        Node::Mapping(m) => Ok(m),
        other => Err(err_at(
            file,
            other.span(),
            Some(field),
            ErrorKind::InvalidValue,
            format!("expected a mapping, found {}", describe(other)),
        )),
    }
}

/// A list of strings; a single string counts as a one-element list.
pub(crate) fn string_list(
    file: &Path,
    node: &Node,
    field: &str,
) -> Result<Vec<String>, InventoryError> {
    match node {
        Node::Sequence(seq) => seq.iter().map(|n| string(file, n, field)).collect(),
        Node::Scalar(_) => Ok(vec![string(file, node, field)?]),
        Node::Mapping(m) => Err(err_at(
            file,
            m.span(),
            Some(field),
            ErrorKind::InvalidValue,
            "expected a list of strings, found a mapping",
        )),
    }
}

/// A TCP port 1-65535.
pub(crate) fn port(file: &Path, node: &Node, field: &str) -> Result<u16, InventoryError> {
    let s = scalar(file, node, field)?;
    parse_port(s.as_str())
        .map_err(|m| err_at(file, s.span(), Some(field), ErrorKind::InvalidValue, m))
}

/// Parses a port, with the message every format uses.
///
/// Crate-private: the `String` error is a message fragment that the caller
/// wraps at once in an [`InventoryError`](crate::InventoryError) with file, line and field.
pub(crate) fn parse_port(raw: &str) -> Result<u16, String> {
    match raw.trim().parse::<u64>() {
        Ok(p) if (1..=65535).contains(&p) => Ok(p as u16),
        _ => Err(format!("invalid port {raw} (expected 1-65535)")),
    }
}

/// Errors on the first key of `map` not in `allowed`, suggesting the
/// closest allowed key.
pub(crate) fn check_keys(
    file: &Path,
    map: &Mapping,
    allowed: &[&str],
    what: &dyn std::fmt::Display,
) -> Result<(), InventoryError> {
    for key in map.keys() {
        if !allowed.contains(&key.as_str()) {
            return Err(err_at(
                file,
                key.span(),
                Some(key.as_str()),
                ErrorKind::UnknownField,
                format!(
                    "unknown field in {what}{}",
                    did_you_mean(key.as_str(), allowed)
                ),
            ));
        }
    }
    Ok(())
}

/// A scalar or nested value as a string for free-form `data` (nested values
/// become compact JSON-like text).
pub(crate) fn stringify(node: &Node) -> String {
    match node {
        Node::Scalar(s) => s.as_str().to_owned(),
        Node::Sequence(seq) => {
            let items: Vec<String> = seq.iter().map(quote_nested).collect();
            format!("[{}]", items.join(","))
        }
        Node::Mapping(m) => {
            let items: Vec<String> = m
                .iter()
                .map(|(k, v)| format!("{:?}:{}", k.as_str(), quote_nested(v)))
                .collect();
            format!("{{{}}}", items.join(","))
        }
    }
}

fn quote_nested(node: &Node) -> String {
    match node {
        Node::Scalar(s) => format!("{:?}", s.as_str()),
        other => stringify(other),
    }
}
