//! Ansible's INI inventory: `[group]` host lines with inline vars,
//! `[group:vars]`, `[group:children]`; hosts before any section are
//! ungrouped.

use super::model::{Model, Var, Vars, ALL, UNGROUPED};
use super::range;
use crate::error::{ErrorKind, InventoryError};
use std::path::Path;
use std::sync::Arc;

/// Splits a line into shell-like words: quotes group, `\` escapes outside
/// single quotes, `#` outside quotes starts a comment.
/// (Crate-private: `Err` is a message the caller wraps at once with file,
/// line and field.)
pub(crate) fn split_words(line: &str) -> Result<Vec<String>, String> {
    Ok(split_words_at(line)?.into_iter().map(|(_, w)| w).collect())
}

/// Like [`split_words`], with the 0-based char offset where each word starts.
fn split_words_at(line: &str) -> Result<Vec<(usize, String)>, String> {
    let mut words = Vec::new();
    let mut cur: Option<(usize, String)> = None;
    let mut quote: Option<char> = None;
    let mut chars = line.chars().enumerate();
    while let Some((i, c)) = chars.next() {
        match quote {
            Some(q) if c == q => quote = None,
            Some('"') if c == '\\' => {
                if let Some((_, n)) = chars.next() {
                    cur.get_or_insert((i, String::new())).1.push(n);
                }
            }
            Some(_) => cur.get_or_insert((i, String::new())).1.push(c),
            None => match c {
                '\'' | '"' => {
                    cur.get_or_insert((i, String::new()));
                    quote = Some(c);
                }
                '\\' => {
                    if let Some((_, n)) = chars.next() {
                        cur.get_or_insert((i, String::new())).1.push(n);
                    }
                }
                '#' if cur.is_none() => break,
                c if c.is_whitespace() => {
                    if let Some(w) = cur.take() {
                        words.push(w);
                    }
                }
                c => cur.get_or_insert((i, String::new())).1.push(c),
            },
        }
    }
    if let Some(q) = quote {
        return Err(format!("unclosed {q} quote"));
    }
    if let Some(w) = cur {
        words.push(w);
    }
    Ok(words)
}

#[derive(Clone, Copy, PartialEq)]
enum Section {
    Hosts(usize),
    Vars(usize),
    Children(usize),
}

/// Strips matching outer quotes from a `[g:vars]` value.
fn unquote(v: &str) -> &str {
    let v = v.trim();
    for q in ['"', '\''] {
        if v.len() >= 2 && v.starts_with(q) && v.ends_with(q) {
            return &v[1..v.len() - 1];
        }
    }
    v
}

/// Splits `name:port` (one colon, numeric port) as Ansible does.
fn host_and_port(pattern: &str) -> (&str, Option<&str>) {
    match pattern.rsplit_once(':') {
        Some((h, p))
            if !h.contains(':')
                && !h.is_empty()
                && p.chars().all(|c| c.is_ascii_digit())
                && !p.is_empty() =>
        {
            (h, Some(p))
        }
        _ => (pattern, None),
    }
}

/// Adds an Ansible INI inventory text read from `file` to `model`.
pub(crate) fn parse(text: &str, file: &Arc<Path>, model: &mut Model) -> Result<(), InventoryError> {
    let mut section = Section::Hosts(UNGROUPED);
    let mut declared_children: Vec<(usize, usize, usize)> = Vec::new(); // (parent, child, line)
    for (n, raw) in text.lines().enumerate() {
        let line_no = n + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        let at = |col: usize, field: Option<&str>, kind, msg: String| {
            InventoryError::at(file, Some(line_no), Some(col), field, kind, msg)
        };
        let indent = raw.len() - raw.trim_start().len() + 1;
        if let Some(rest) = line.strip_prefix('[') {
            let header = rest
                .strip_suffix(']')
                .ok_or_else(|| {
                    at(
                        indent,
                        None,
                        ErrorKind::Syntax,
                        format!("section header `{line}` has no closing `]`"),
                    )
                })?
                .trim();
            let (name, kind) = match header.split_once(':') {
                Some((g, k)) => (g.trim(), Some(k.trim())),
                None => (header, None),
            };
            if name.is_empty() || name.contains(char::is_whitespace) {
                return Err(at(
                    indent,
                    None,
                    ErrorKind::Syntax,
                    format!("invalid group name in `{line}`"),
                ));
            }
            let g = model.group(name);
            section = match kind {
                None => Section::Hosts(g),
                Some("vars") => Section::Vars(g),
                Some("children") => Section::Children(g),
                Some(other) => {
                    return Err(at(
                        indent,
                        None,
                        ErrorKind::Syntax,
                        format!("unknown section type `:{other}` in `{line}` (expected `:vars` or `:children`)"),
                    ))
                }
            };
            continue;
        }
        match section {
            Section::Vars(g) => {
                let (k, v) = line.split_once('=').ok_or_else(|| {
                    at(
                        indent,
                        None,
                        ErrorKind::Syntax,
                        format!(
                            "expected `key=value` in [{}:vars], found `{line}`",
                            model.groups[g].name
                        ),
                    )
                })?;
                let k = k.trim();
                if k.is_empty() {
                    return Err(at(
                        indent,
                        None,
                        ErrorKind::Syntax,
                        "empty variable name".to_owned(),
                    ));
                }
                let col = indent + line.find('=').map_or(0, |i| i + 1);
                model.groups[g].vars.push((
                    k.to_owned(),
                    Var {
                        value: unquote(v).to_owned(),
                        file: file.clone(),
                        line: Some(line_no),
                        column: Some(col),
                        vault: false,
                    },
                ));
            }
            Section::Children(g) => {
                let words =
                    split_words(line).map_err(|m| at(indent, None, ErrorKind::Syntax, m))?;
                let Some(child) = words.first() else { continue };
                if words.len() > 1 {
                    return Err(at(
                        indent,
                        None,
                        ErrorKind::Syntax,
                        format!(
                            "expected one group name per line in [{}:children]",
                            model.groups[g].name
                        ),
                    ));
                }
                let c = model.group(child);
                if c == ALL || c == g {
                    return Err(at(
                        indent,
                        None,
                        ErrorKind::InvalidValue,
                        format!(
                            "group `{child}` cannot be a child of `{}`",
                            model.groups[g].name
                        ),
                    ));
                }
                declared_children.push((g, c, line_no));
            }
            Section::Hosts(g) => {
                let words =
                    split_words_at(raw).map_err(|m| at(indent, None, ErrorKind::Syntax, m))?;
                let Some((_, pattern)) = words.first() else {
                    continue;
                };
                let mut vars: Vars = Vec::new();
                for (col, w) in &words[1..] {
                    let (k, v) = w.split_once('=').ok_or_else(|| {
                        at(
                            col + 1,
                            None,
                            ErrorKind::Syntax,
                            format!("expected `key=value` after host `{pattern}`, found `{w}`"),
                        )
                    })?;
                    if k.is_empty() {
                        return Err(at(
                            col + 1,
                            None,
                            ErrorKind::Syntax,
                            "empty variable name".to_owned(),
                        ));
                    }
                    vars.push((
                        k.to_owned(),
                        Var {
                            value: v.to_owned(),
                            file: file.clone(),
                            line: Some(line_no),
                            column: Some(col + 1),
                            vault: false,
                        },
                    ));
                }
                let (pattern, port) = host_and_port(pattern);
                let names = range::expand(pattern)
                    .map_err(|m| at(indent, None, ErrorKind::InvalidValue, m))?;
                model
                    .count_expanded(names.len())
                    .map_err(|m| at(indent, None, ErrorKind::InvalidValue, m))?;
                if let Some(p) = port {
                    vars.insert(
                        0,
                        (
                            "ansible_port".to_owned(),
                            Var {
                                value: p.to_owned(),
                                file: file.clone(),
                                line: Some(line_no),
                                column: Some(indent),
                                vault: false,
                            },
                        ),
                    );
                }
                for name in names {
                    model.add_host(&name, g, vars.clone());
                }
            }
        }
    }
    for (p, c, _) in declared_children {
        model.add_child(p, c);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_like_a_shell() {
        assert_eq!(
            split_words("a b='c d' e=\"f\\\"g\" # x").unwrap(),
            ["a", "b=c d", "e=f\"g"]
        );
        assert!(split_words("a='b").is_err());
    }

    #[test]
    fn splits_host_port() {
        assert_eq!(host_and_port("r1:2222"), ("r1", Some("2222")));
        assert_eq!(host_and_port("r1"), ("r1", None));
        assert_eq!(host_and_port("fe80::1"), ("fe80::1", None));
    }
}
