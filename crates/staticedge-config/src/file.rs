//! The TOML file as operators write it, read key by key from a span-carrying document.
//!
//! The text is parsed once into toml's `DeTable`, which keeps the position of every
//! key and value. Validation then asks each [`Table`] for the keys it knows, with the
//! type it expects. A value of the wrong type is one problem at that value, a key
//! nobody asked for is one problem at that key ("did you mean ..."), and reading goes
//! on: one run reports every unknown key, wrong type and invalid value, instead of
//! stopping at the first as deserializing into structs would. The keys themselves are
//! described in `docs/configuration.md`.

use crate::error::{ConfigError, ConfigErrors, Location};
use std::ops::{Range, RangeInclusive};
use std::path::Path;
use std::time::Duration;
use toml::de::{DeString, DeTable, DeValue};
use toml::Spanned;

/// Where a problem is, as a byte range of the file's text.
pub(crate) type Span = Range<usize>;

/// Every problem found in one file, and the text to place them by line and column.
pub(crate) struct Problems<'a> {
    path: &'a Path,
    text: &'a str,
    errors: ConfigErrors,
}

impl<'a> Problems<'a> {
    /// An empty list for the file at `path` whose content is `text`.
    pub(crate) fn new(path: &'a Path, text: &'a str) -> Self {
        Problems {
            path,
            text,
            errors: ConfigErrors::default(),
        }
    }

    /// The configuration file's path.
    pub(crate) fn path(&self) -> &'a Path {
        self.path
    }

    /// The file's text.
    pub(crate) fn text(&self) -> &'a str {
        self.text
    }

    /// The line and column where `span` starts.
    pub(crate) fn at(&self, span: &Span) -> Location {
        Location::from_offset(self.text, span.start)
    }

    /// Records a problem at `span`.
    pub(crate) fn add(&mut self, span: &Span, message: impl Into<String>) {
        let location = self.at(span);
        self.errors
            .push(ConfigError::new(self.path, location, message));
    }

    /// Everything found, in file order.
    pub(crate) fn into_errors(self) -> ConfigErrors {
        self.errors.sorted()
    }
}

/// Parses `text` as TOML into the top-level table. `None` after a syntax error (each
/// one is reported): nothing else can be read then.
pub(crate) fn parse<'i>(problems: &mut Problems<'_>, text: &'i str) -> Option<Table<'i>> {
    let (document, syntax_errors) = DeTable::parse_recoverable(text);
    if !syntax_errors.is_empty() {
        for e in syntax_errors {
            let span = e.span().unwrap_or(0..0);
            problems.add(&span, e.message().trim());
        }
        return None;
    }
    let span = document.span();
    Some(Table::new(
        String::new(),
        false,
        span,
        document.into_inner(),
    ))
}

/// One table of the file (a `[section]`, a `[[section]]` entry or an inline table).
///
/// Each `take` method consumes one key and remembers its name; [`Table::finish`]
/// reports every key that was never asked for as unknown.
pub(crate) struct Table<'i> {
    /// Dotted name used in messages: `""` (top level), `server`, `upstream.app`.
    name: String,
    /// True for an entry of an array of tables (`[[route]]`).
    array_item: bool,
    span: Span,
    entries: Vec<(Spanned<DeString<'i>>, Spanned<DeValue<'i>>)>,
    known: Vec<&'static str>,
}

impl<'i> Table<'i> {
    fn new(name: String, array_item: bool, span: Span, table: DeTable<'i>) -> Self {
        Table {
            name,
            array_item,
            span,
            entries: table.into_iter().collect(),
            known: Vec::new(),
        }
    }

    /// A table that is not in the file: every key reads as absent.
    pub(crate) fn absent(name: &str) -> Self {
        Table::new(name.to_string(), false, 0..0, DeTable::new())
    }

    /// Where the table starts (its header, or `{` of an inline table).
    pub(crate) fn span(&self) -> &Span {
        &self.span
    }

    /// The full dotted name of `key` in this table, as messages name it.
    pub(crate) fn key_path(&self, key: &str) -> String {
        if self.name.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.name)
        }
    }

    /// How the table is written in the file, for messages: `[server]`, `[[route]]`.
    fn header(&self) -> String {
        match (self.name.is_empty(), self.array_item) {
            (true, _) => "the top level of the file".to_string(),
            (false, true) => format!("[[{}]]", self.name),
            (false, false) => format!("[{}]", self.name),
        }
    }

    /// Removes `key` and returns its value, whatever its type.
    pub(crate) fn take(&mut self, key: &'static str) -> Option<Spanned<DeValue<'i>>> {
        self.known.push(key);
        let i = self.entries.iter().position(|(k, _)| k.get_ref() == key)?;
        Some(self.entries.swap_remove(i).1)
    }

    /// Records that `key` is missing when it is required.
    pub(crate) fn missing(&self, p: &mut Problems<'_>, key: &str) {
        p.add(
            &self.span,
            format!("{}: missing field `{key}`", self.header()),
        );
    }

    /// A string value.
    pub(crate) fn string(
        &mut self,
        key: &'static str,
        p: &mut Problems<'_>,
    ) -> Option<Spanned<String>> {
        let v = self.take(key)?;
        let name = self.key_path(key);
        as_string(v, &name, p)
    }

    /// True when the file has `key` in this table (and it was not taken yet).
    pub(crate) fn has(&self, key: &str) -> bool {
        self.entries.iter().any(|(k, _)| k.get_ref() == key)
    }

    /// A required string value; a missing one is reported.
    pub(crate) fn required_string(
        &mut self,
        key: &'static str,
        p: &mut Problems<'_>,
    ) -> Option<Spanned<String>> {
        if !self.has(key) {
            self.missing(p, key);
        }
        self.string(key, p)
    }

    /// A boolean value.
    pub(crate) fn boolean(&mut self, key: &'static str, p: &mut Problems<'_>) -> Option<bool> {
        let v = self.take(key)?;
        match v.get_ref() {
            DeValue::Boolean(b) => Some(*b),
            other => {
                let message = wrong_type(&self.key_path(key), "true or false", other);
                p.add(&v.span(), message);
                None
            }
        }
    }

    /// An integer within `range`, converted to the type the model holds. This is the
    /// one range check for numbers: the message names the key, the range and the value.
    pub(crate) fn integer_in<T: TryFrom<i64>>(
        &mut self,
        key: &'static str,
        range: RangeInclusive<i64>,
        p: &mut Problems<'_>,
    ) -> Option<T> {
        self.spanned_integer_in(key, range, p)
            .map(Spanned::into_inner)
    }

    /// Like [`Table::integer_in`], with the value's position for a later check
    /// against another key.
    pub(crate) fn spanned_integer_in<T: TryFrom<i64>>(
        &mut self,
        key: &'static str,
        range: RangeInclusive<i64>,
        p: &mut Problems<'_>,
    ) -> Option<Spanned<T>> {
        let v = self.take(key)?;
        let name = self.key_path(key);
        let n = as_integer(v, &name, p)?;
        let value = in_range(&n, &name, range, p)?;
        Some(Spanned::new(n.span(), value))
    }

    /// A duration written as a string with a unit (`"2s"`, `"500ms"`).
    pub(crate) fn duration(
        &mut self,
        key: &'static str,
        p: &mut Problems<'_>,
    ) -> Option<Spanned<Duration>> {
        let v = self.take(key)?;
        let span = v.span();
        let name = self.key_path(key);
        let text = match v.get_ref() {
            DeValue::String(s) => s.trim().to_string(),
            DeValue::Integer(n) => {
                p.add(
                    &span,
                    format!("{name}: durations are strings with a unit, not numbers: write {key} = \"{n}s\" for {n} seconds (or \"{n}ms\", \"{n}m\")"),
                );
                return None;
            }
            other => {
                p.add(
                    &span,
                    wrong_type(&name, "a duration string like \"15s\"", other),
                );
                return None;
            }
        };
        match humantime::parse_duration(&text) {
            Ok(d) => Some(Spanned::new(span, d)),
            Err(e) => {
                p.add(
                    &span,
                    format!("{name}: invalid duration {text:?} ({e}); write it like \"500ms\", \"15s\" or \"1h\""),
                );
                None
            }
        }
    }

    /// A list of strings; each element of another type is reported on its own.
    pub(crate) fn strings(
        &mut self,
        key: &'static str,
        p: &mut Problems<'_>,
    ) -> Option<Vec<Spanned<String>>> {
        let name = self.key_path(key);
        let items = self.array(key, "a list of strings", p)?;
        Some(
            items
                .into_iter()
                .filter_map(|v| as_string(v, &name, p))
                .collect(),
        )
    }

    /// A list of integers; each element of another type is reported on its own.
    pub(crate) fn integers(
        &mut self,
        key: &'static str,
        p: &mut Problems<'_>,
    ) -> Option<Vec<Spanned<i64>>> {
        let name = self.key_path(key);
        let items = self.array(key, "a list of integers", p)?;
        Some(
            items
                .into_iter()
                .filter_map(|v| as_integer(v, &name, p))
                .collect(),
        )
    }

    fn array(
        &mut self,
        key: &'static str,
        expected: &str,
        p: &mut Problems<'_>,
    ) -> Option<Vec<Spanned<DeValue<'i>>>> {
        let v = self.take(key)?;
        let span = v.span();
        match v.into_inner() {
            DeValue::Array(items) => Some(items.into_iter().collect()),
            other => {
                p.add(&span, wrong_type(&self.key_path(key), expected, &other));
                None
            }
        }
    }

    /// A sub-table (`[server]` at the top level, `[upstream.app.dns]` in an upstream,
    /// or an inline `{ ... }`).
    pub(crate) fn table(&mut self, key: &'static str, p: &mut Problems<'_>) -> Option<Table<'i>> {
        let v = self.take(key)?;
        let name = self.key_path(key);
        let span = v.span();
        match v.into_inner() {
            DeValue::Table(t) => Some(Table::new(name, false, span, t)),
            other => {
                p.add(&span, wrong_type(&name, "a table", &other));
                None
            }
        }
    }

    /// A value that may be written as a string or as a table (`host_header`).
    pub(crate) fn string_or_table(
        &mut self,
        key: &'static str,
        p: &mut Problems<'_>,
    ) -> Option<StringOrTable<'i>> {
        let v = self.take(key)?;
        let name = self.key_path(key);
        let span = v.span();
        match v.into_inner() {
            DeValue::String(s) => Some(StringOrTable::String(Spanned::new(span, s.into_owned()))),
            DeValue::Table(t) => Some(StringOrTable::Table(Table::new(name, false, span, t))),
            other => {
                p.add(&span, wrong_type(&name, "a string or a table", &other));
                None
            }
        }
    }

    /// The entries of an array of tables (`[[listener]]`).
    pub(crate) fn tables(&mut self, key: &'static str, p: &mut Problems<'_>) -> Vec<Table<'i>> {
        let Some(v) = self.take(key) else {
            return Vec::new();
        };
        let name = self.key_path(key);
        let span = v.span();
        match v.into_inner() {
            DeValue::Array(items) => items
                .into_iter()
                .filter_map(|item| {
                    let span = item.span();
                    match item.into_inner() {
                        DeValue::Table(t) => Some(Table::new(name.clone(), true, span, t)),
                        other => {
                            p.add(&span, wrong_type(&name, "a table", &other));
                            None
                        }
                    }
                })
                .collect(),
            DeValue::Table(_) => {
                p.add(
                    &span,
                    format!("{name}: write [[{name}]] (one block per entry), not [{name}]"),
                );
                Vec::new()
            }
            other => {
                p.add(
                    &span,
                    wrong_type(&name, &format!("[[{name}]] blocks"), &other),
                );
                Vec::new()
            }
        }
    }

    /// A table whose keys are names chosen by the operator (`[upstream.NAME]`): each
    /// name with its position and its table.
    pub(crate) fn named_tables(
        &mut self,
        key: &'static str,
        p: &mut Problems<'_>,
    ) -> Vec<(Spanned<String>, Table<'i>)> {
        let Some(mut outer) = self.table(key, p) else {
            return Vec::new();
        };
        let entries = std::mem::take(&mut outer.entries);
        let mut out = Vec::new();
        for (k, v) in entries {
            let name = format!("{}.{}", outer.name, k.get_ref());
            let span = v.span();
            match v.into_inner() {
                DeValue::Table(t) => out.push((
                    Spanned::new(k.span(), k.get_ref().to_string()),
                    Table::new(name, false, span, t),
                )),
                other => p.add(&span, wrong_type(&name, "a table", &other)),
            }
        }
        out
    }

    /// Reports every key that no `take` asked for, suggesting the nearest known one.
    pub(crate) fn finish(self, p: &mut Problems<'_>) {
        let header = self.header();
        for (key, _) in &self.entries {
            let key_name = key.get_ref();
            let hint = match nearest(key_name, &self.known) {
                Some(near) => format!("; did you mean `{near}`?"),
                None => format!(", expected one of {}", quoted_list(&self.known)),
            };
            p.add(
                &key.span(),
                format!("unknown field `{key_name}` in {header}{hint}"),
            );
        }
    }
}

/// A key whose value is either a string or a table.
pub(crate) enum StringOrTable<'i> {
    /// Written as `key = "..."`.
    String(Spanned<String>),
    /// Written as `key = { ... }` or `[section.key]`.
    Table(Table<'i>),
}

/// The known word closest to `word`, when it is close enough to be a typo of it:
/// the same word in another case, or at most two edits and no more than one edit
/// per four letters (so `1.1` is not taken for a typo of `1.2`).
pub(crate) fn nearest<'k>(word: &str, known: &[&'k str]) -> Option<&'k str> {
    known
        .iter()
        .map(|k| {
            (
                strsim::damerau_levenshtein(&word.to_ascii_lowercase(), k),
                *k,
            )
        })
        .filter(|(d, k)| *d == 0 || (*d <= 2 && *d * 4 <= k.len()))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// `` `a`, `b`, `c` `` for messages.
pub(crate) fn quoted_list(words: &[&str]) -> String {
    words
        .iter()
        .map(|w| format!("`{w}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Checks that `n` lies in `range` and fits `T`; otherwise reports it at `n`.
pub(crate) fn in_range<T: TryFrom<i64>>(
    n: &Spanned<i64>,
    name: &str,
    range: RangeInclusive<i64>,
    p: &mut Problems<'_>,
) -> Option<T> {
    let value = *n.get_ref();
    if range.contains(&value) {
        if let Ok(v) = T::try_from(value) {
            return Some(v);
        }
    }
    let bounds = if *range.end() == i64::MAX {
        format!("{} or more", range.start())
    } else {
        format!("between {} and {}", range.start(), range.end())
    };
    p.add(
        &n.span(),
        format!("{name} must be {bounds} (found {value})"),
    );
    None
}

fn as_string(v: Spanned<DeValue<'_>>, name: &str, p: &mut Problems<'_>) -> Option<Spanned<String>> {
    let span = v.span();
    match v.into_inner() {
        DeValue::String(s) => Some(Spanned::new(span, s.into_owned())),
        other => {
            p.add(&span, wrong_type(name, "a string", &other));
            None
        }
    }
}

fn as_integer(v: Spanned<DeValue<'_>>, name: &str, p: &mut Problems<'_>) -> Option<Spanned<i64>> {
    let span = v.span();
    match v.get_ref() {
        DeValue::Integer(n) => match i64::from_str_radix(n.as_str(), n.radix()) {
            Ok(value) => Some(Spanned::new(span, value)),
            Err(_) => {
                p.add(&span, format!("{name}: {n} is too large"));
                None
            }
        },
        other => {
            p.add(&span, wrong_type(name, "an integer", other));
            None
        }
    }
}

/// `key: expected X, found Y`, with the value shown when it is short.
fn wrong_type(name: &str, expected: &str, found: &DeValue<'_>) -> String {
    let found = match found {
        DeValue::String(s) => format!("the string {s:?}"),
        DeValue::Integer(n) => format!("the integer {n}"),
        DeValue::Float(f) => format!("the number {f}"),
        DeValue::Boolean(b) => format!("the boolean {b}"),
        DeValue::Datetime(d) => format!("the date-time {d}"),
        DeValue::Array(_) => "a list".to_string(),
        DeValue::Table(_) => "a table".to_string(),
    };
    format!("{name}: expected {expected}, found {found}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_suggest_the_nearest_known_word() {
        let known = ["grace_period", "drain_timeout", "threads"];
        assert_eq!(nearest("grace_perod", &known), Some("grace_period"));
        assert_eq!(nearest("Threads", &known), Some("threads"));
        assert_eq!(nearest("listen", &known), None);
        assert_eq!(nearest("1.1", &["1.2", "1.3"]), None);
    }
}
