//! The one error type: where (file, line, column, field) and what.

use std::fmt;
use std::path::{Path, PathBuf};

/// What went wrong, for callers that react differently (exit codes, tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The file (or a file it names) could not be read.
    Io,
    /// The text is not valid YAML / INI / CSV.
    Syntax,
    /// A key the format does not know (usually a typo).
    UnknownField,
    /// Two devices with the same name.
    DuplicateName,
    /// A value of the wrong type or out of range.
    InvalidValue,
    /// A required field is absent.
    MissingField,
    /// A device ends up with no way to authenticate.
    MissingCredentials,
    /// A secret could not be read (env var not set, file unreadable).
    Secret,
    /// The inventory format could not be detected or is unknown.
    UnknownFormat,
}

/// An inventory that cannot be loaded, with the position of the cause.
///
/// `Display` reads like a compiler diagnostic so editors can jump to it:
/// `inventory.yaml:12:5: field `port`: invalid port 70000 (expected 1-65535)`.
/// Messages never contain secret values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InventoryError {
    /// The file at fault (the inventory itself, or a file it refers to).
    pub file: PathBuf,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub column: Option<usize>,
    /// The field (YAML key, CSV column, Ansible variable) at fault.
    pub field: Option<String>,
    /// The category, for programmatic handling.
    pub kind: ErrorKind,
    /// Human explanation, without position (that is in the other fields).
    pub message: String,
}

impl InventoryError {
    /// An error about a whole file (no position).
    pub fn file(file: &Path, kind: ErrorKind, message: impl Into<String>) -> Self {
        InventoryError {
            file: file.to_path_buf(),
            line: None,
            column: None,
            field: None,
            kind,
            message: message.into(),
        }
    }

    /// An error at a position in `file`.
    pub fn at(
        file: &Path,
        line: Option<usize>,
        column: Option<usize>,
        field: Option<&str>,
        kind: ErrorKind,
        message: impl Into<String>,
    ) -> Self {
        InventoryError {
            file: file.to_path_buf(),
            line,
            column,
            field: field.map(str::to_owned),
            kind,
            message: message.into(),
        }
    }
}

impl fmt::Display for InventoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        f.write_str(": ")?;
        if let Some(field) = &self.field {
            write!(f, "field `{field}`: ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for InventoryError {}

/// `error: cause: cause...`: a typed error from below the loaders (vault,
/// paths), rendered with all its causes into an [`InventoryError`]'s
/// message, which stays plain text so the error can be `Clone + Eq` and
/// read the same wherever it is printed.
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    fleet_proto::chain::Chain(e).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_renders_every_cause() {
        #[derive(Debug, thiserror::Error)]
        #[error("failed to read key {0}")]
        struct Outer(&'static str, #[source] std::io::Error);
        let e = Outer("k", std::io::Error::other("disk on fire"));
        assert_eq!(chain(&e), "failed to read key k: disk on fire");
    }

    #[test]
    fn display_reads_like_a_compiler_diagnostic() {
        let e = InventoryError::at(
            Path::new("inventory.yaml"),
            Some(12),
            Some(5),
            Some("port"),
            ErrorKind::InvalidValue,
            "invalid port 70000 (expected 1-65535)",
        );
        assert_eq!(
            e.to_string(),
            "inventory.yaml:12:5: field `port`: invalid port 70000 (expected 1-65535)"
        );
        let e = InventoryError::file(Path::new("x.csv"), ErrorKind::Io, "cannot read");
        assert_eq!(e.to_string(), "x.csv: cannot read");
    }
}
