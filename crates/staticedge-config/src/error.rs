//! Errors that point at the place in the file an operator has to fix.

use std::fmt;
use std::path::{Path, PathBuf};

/// A position in a configuration file, 1-based as editors show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Location {
    /// Line number, starting at 1.
    pub line: usize,
    /// Column (in characters), starting at 1.
    pub col: usize,
}

impl Location {
    /// Turns a byte offset in `text` into a line and column.
    pub fn from_offset(text: &str, offset: usize) -> Self {
        let offset = offset.min(text.len());
        let before = &text[..floor_char_boundary(text, offset)];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
        let col = before[line_start..].chars().count() + 1;
        Location { line, col }
    }
}

fn floor_char_boundary(text: &str, mut i: usize) -> usize {
    while i > 0 && !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// One problem in a configuration: where it is and what is wrong.
///
/// Displayed as `file:line:col: message`, the form compilers use, so editors and
/// CI logs can jump to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The configuration file the problem is in.
    pub file: PathBuf,
    /// Where in the file; line 1, column 1 when the problem is the whole file.
    pub location: Location,
    /// What is wrong, naming the key when there is one.
    pub message: String,
}

impl ConfigError {
    /// A problem at a known place.
    pub fn new(file: &Path, location: Location, message: impl Into<String>) -> Self {
        ConfigError {
            file: file.to_path_buf(),
            location,
            message: message.into(),
        }
    }

    /// A problem with the file as a whole (unreadable, say).
    pub fn whole_file(file: &Path, message: impl Into<String>) -> Self {
        Self::new(file, Location { line: 1, col: 1 }, message)
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file.display(),
            self.location.line,
            self.location.col,
            self.message
        )
    }
}

impl std::error::Error for ConfigError {}

/// Every problem found in one configuration, in file order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl ConfigErrors {
    /// Adds one problem.
    pub fn push(&mut self, e: ConfigError) {
        self.0.push(e);
    }

    /// True when nothing was found.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Sorts by position so the output reads top to bottom.
    pub fn sorted(mut self) -> Self {
        self.0
            .sort_by_key(|e| (e.file.clone(), e.location.line, e.location.col));
        self
    }
}

impl From<ConfigError> for ConfigErrors {
    fn from(e: ConfigError) -> Self {
        ConfigErrors(vec![e])
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_become_lines_and_columns() {
        let text = "a = 1\nbb = 2\n";
        assert_eq!(Location::from_offset(text, 0), Location { line: 1, col: 1 });
        assert_eq!(Location::from_offset(text, 6), Location { line: 2, col: 1 });
        assert_eq!(Location::from_offset(text, 9), Location { line: 2, col: 4 });
    }
}
