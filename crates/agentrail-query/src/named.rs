//! Named queries: SQL files in `queries/` with a header that names them,
//! says what they answer and declares their `$parameters`.
//!
//! ```sql
//! -- description: Everything one agent did, newest first.
//! -- param: agent_id                         the agent's id (required)
//! -- param: from = 1970-01-01T00:00:00Z      start of the window
//! SELECT time, action FROM events WHERE agent_id = $agent_id AND time >= CAST($from AS TIMESTAMP)
//! ```
//!
//! The name is the file's stem. Parameters are bound as values
//! ([`QueryEngine::query_with_params`]), never pasted into the SQL, so a
//! value cannot change the statement. A file whose SQL uses a `$name` it
//! does not declare (or declares one it never uses) is refused when loaded.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::engine::{Answer, QueryEngine, QueryError};

macro_rules! builtin_queries {
    ($($file:literal),+ $(,)?) => {
        &[$(($file, include_str!(concat!("../../../queries/", $file)))),+]
    };
}

/// The named queries shipped in the binary (`queries/*.sql`).
const BUILTIN: &[(&str, &str)] = builtin_queries!(
    "replay_timeline.sql",
    "agent_activity.sql",
    "delegated_activity.sql",
    "credential_usage.sql",
    "destructive_without_approval.sql",
);

/// Why a named query cannot be loaded or run.
#[derive(Debug, thiserror::Error)]
pub enum NamedQueryError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}: {problem}")]
    Invalid { file: String, problem: String },
    #[error("no named query {name:?}; known: {known}")]
    Unknown { name: String, known: String },
    #[error("{query} needs the parameter(s) {missing}")]
    MissingParams { query: String, missing: String },
    #[error("{query} has no parameter {param:?}; its parameters: {known}")]
    UnknownParam { query: String, param: String, known: String },
    #[error(transparent)]
    Query(#[from] QueryError),
}

/// A declared parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    pub name: String,
    /// Used when the caller gives no value; `None` means required.
    pub default: Option<String>,
    pub description: String,
}

/// One named query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedQuery {
    pub name: String,
    pub description: String,
    pub params: Vec<Param>,
    pub sql: String,
    /// Where it came from: `builtin` or the file's path.
    pub origin: String,
}

impl NamedQuery {
    /// Parses a file's text (`file` names it in errors and gives the name).
    pub fn parse(file: &str, text: &str, origin: &str) -> Result<NamedQuery, NamedQueryError> {
        let invalid = |problem: String| NamedQueryError::Invalid { file: file.to_owned(), problem };
        let stem = Path::new(file).file_stem().and_then(|s| s.to_str()).unwrap_or_default();
        if !is_valid_name(stem) {
            return Err(invalid(format!("a query's file name may use only {NAME_CHARACTERS}")));
        }
        let mut description = Vec::new();
        let mut params: Vec<Param> = Vec::new();
        for line in header_lines(text) {
            if let Some(rest) = line.strip_prefix("description:") {
                description.push(rest.trim().to_owned());
            } else if let Some(rest) = line.strip_prefix("param:") {
                let param = parse_param(rest).map_err(invalid)?;
                if params.iter().any(|p| p.name == param.name) {
                    return Err(invalid(format!("parameter {} is declared twice", param.name)));
                }
                params.push(param);
            } else if !description.is_empty() && params.is_empty() && !line.is_empty() && !is_header_field(line) {
                // A description may go on over several comment lines.
                description.push(line.to_owned());
            }
        }
        if description.is_empty() {
            return Err(invalid("the header needs a `-- description:` line".into()));
        }
        let used = placeholders(text);
        let declared: BTreeSet<String> = params.iter().map(|p| p.name.clone()).collect();
        if let Some(undeclared) = used.difference(&declared).next() {
            return Err(invalid(format!("the SQL uses ${undeclared} but no `-- param: {undeclared}` declares it")));
        }
        if let Some(unused) = declared.difference(&used).next() {
            return Err(invalid(format!("parameter {unused} is declared but the SQL never uses ${unused}")));
        }
        Ok(NamedQuery {
            name: stem.to_owned(),
            description: description.join(" "),
            params,
            sql: text.to_owned(),
            origin: origin.to_owned(),
        })
    }

    /// The values to bind: the caller's, then the defaults; refuses unknown
    /// and missing parameters by name.
    pub fn bind(&self, given: &[(String, String)]) -> Result<Vec<(String, String)>, NamedQueryError> {
        let known = || self.params.iter().map(|p| p.name.as_str()).collect::<Vec<_>>().join(", ");
        for (name, _) in given {
            if !self.params.iter().any(|p| &p.name == name) {
                return Err(NamedQueryError::UnknownParam {
                    query: self.name.clone(),
                    param: name.clone(),
                    known: if self.params.is_empty() { "none".into() } else { known() },
                });
            }
        }
        let mut values = Vec::with_capacity(self.params.len());
        let mut missing = Vec::new();
        for param in &self.params {
            let value = given.iter().rev().find(|(name, _)| name == &param.name).map(|(_, v)| v.clone());
            match value.or_else(|| param.default.clone()) {
                Some(value) => values.push((param.name.clone(), value)),
                None => missing.push(param.name.as_str()),
            }
        }
        if !missing.is_empty() {
            return Err(NamedQueryError::MissingParams { query: self.name.clone(), missing: missing.join(", ") });
        }
        Ok(values)
    }
}

/// Whether a header line is a `key: value` field of its own (a rule's
/// `severity:`), not more of the description.
pub fn is_header_field(line: &str) -> bool {
    line.split_once(':')
        .is_some_and(|(key, _)| !key.is_empty() && key.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
}

/// The text of a file's leading comment lines, without their `--`.
fn header_lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines()
        .map(str::trim)
        .take_while(|line| line.starts_with("--"))
        .map(|line| line.trim_start_matches('-').trim())
}

/// The `key: value` fields of a file's leading comment lines, in order.
pub fn header_fields(text: &str) -> Vec<(String, String)> {
    header_lines(text)
        .filter(|line| is_header_field(line))
        .filter_map(|line| line.split_once(':').map(|(k, v)| (k.to_owned(), v.trim().to_owned())))
        .collect()
}

/// `name [= default] [description]`.
fn parse_param(text: &str) -> Result<Param, String> {
    let text = text.trim();
    let name_end = text.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(text.len());
    let name = &text[..name_end];
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(format!("`param: {text}` needs a name of letters, digits and `_`"));
    }
    let rest = text[name_end..].trim_start();
    let (default, description) = match rest.strip_prefix('=') {
        Some(after) => {
            let after = after.trim_start();
            let end = after.find(char::is_whitespace).unwrap_or(after.len());
            (Some(after[..end].to_owned()), after[end..].trim())
        }
        None => (None, rest),
    };
    Ok(Param { name: name.to_owned(), default, description: description.to_owned() })
}

/// The `$name` placeholders of `sql`, outside comments and string literals.
fn placeholders(sql: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for line in sql.lines() {
        let code = line.split("--").next().unwrap_or_default();
        let mut in_string = false;
        for (at, c) in code.char_indices() {
            match c {
                '\'' => in_string = !in_string,
                '$' if !in_string => {
                    let rest = &code[at + 1..];
                    let end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(rest.len());
                    if end > 0 && !rest.starts_with(|c: char| c.is_ascii_digit()) {
                        found.insert(rest[..end].to_owned());
                    }
                }
                _ => {}
            }
        }
    }
    found
}

/// What a query's or rule's name (its file's stem) may be made of.
pub const NAME_CHARACTERS: &str = "letters, digits, `_` and `-` (at most 128)";

/// Whether `name` may name a query or a rule: it becomes a file name, so
/// it is allow-listed ([`NAME_CHARACTERS`]).
pub fn is_valid_name(name: &str) -> bool {
    (1..=128).contains(&name.len()) && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// The `*.sql` files of `dir` (one level), sorted: a directory of named
/// queries or of rules.
pub fn sql_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "sql") && path.is_file())
        .collect();
    files.sort();
    Ok(files)
}

/// The named queries a process knows: the built-in ones, then those of a
/// directory (adding, or replacing by name).
#[derive(Debug, Clone)]
pub struct NamedQueries {
    queries: BTreeMap<String, NamedQuery>,
}

impl NamedQueries {
    /// The queries shipped in the binary.
    pub fn builtin() -> Result<NamedQueries, NamedQueryError> {
        let mut queries = BTreeMap::new();
        for (file, text) in BUILTIN {
            let query = NamedQuery::parse(file, text, "builtin")?;
            queries.insert(query.name.clone(), query);
        }
        Ok(NamedQueries { queries })
    }

    /// The built-in queries plus every `*.sql` of `dir` (one level).
    pub fn with_dir(dir: &Path) -> Result<NamedQueries, NamedQueryError> {
        let mut named = NamedQueries::builtin()?;
        let files = sql_files(dir).map_err(|source| NamedQueryError::Read { path: dir.to_owned(), source })?;
        for path in files {
            let text = std::fs::read_to_string(&path)
                .map_err(|source| NamedQueryError::Read { path: path.clone(), source })?;
            let file = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let query = NamedQuery::parse(&file, &text, &path.display().to_string())?;
            named.queries.insert(query.name.clone(), query);
        }
        Ok(named)
    }

    pub fn get(&self, name: &str) -> Result<&NamedQuery, NamedQueryError> {
        self.queries.get(name).ok_or_else(|| NamedQueryError::Unknown {
            name: name.to_owned(),
            known: self.queries.keys().cloned().collect::<Vec<_>>().join(", "),
        })
    }

    pub fn iter(&self) -> impl Iterator<Item = &NamedQuery> {
        self.queries.values()
    }

    /// Runs `name` with `params` on `engine`.
    pub async fn run(
        &self,
        engine: &QueryEngine,
        name: &str,
        params: &[(String, String)],
    ) -> Result<Answer, NamedQueryError> {
        let query = self.get(name)?;
        let values = query.bind(params)?;
        Ok(engine.query_with_params(&query.sql, values).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_query_parses() {
        let named = NamedQueries::builtin().expect("built-ins parse");
        assert_eq!(named.iter().count(), BUILTIN.len());
        assert!(named.iter().all(|q| !q.description.is_empty()));
    }

    #[test]
    fn headers_declare_what_the_sql_uses() {
        let ok = "-- description: one agent\n-- param: agent_id  the agent\n-- param: limit = 50\nSELECT * FROM events WHERE agent_id = $agent_id LIMIT CAST($limit AS INT)";
        let query = NamedQuery::parse("a.sql", ok, "test").expect("parses");
        assert_eq!(query.name, "a");
        assert_eq!(query.params[0], Param { name: "agent_id".into(), default: None, description: "the agent".into() });
        assert_eq!(query.params[1].default.as_deref(), Some("50"));

        let undeclared = "-- description: x\nSELECT * FROM events WHERE agent_id = $agent";
        let error = NamedQuery::parse("b.sql", undeclared, "test").expect_err("refused").to_string();
        assert!(error.contains("$agent"), "{error}");
        let unused = "-- description: x\n-- param: agent\nSELECT 1";
        assert!(NamedQuery::parse("c.sql", unused, "test").is_err());
        // A dollar sign inside a string literal or a comment is not a parameter.
        let literal = "-- description: x\nSELECT '$not' AS a -- $nor\n";
        assert!(NamedQuery::parse("d.sql", literal, "test").is_ok());
        assert!(NamedQuery::parse("../e.sql", literal, "test").is_ok(), "the stem is the name");
        assert!(NamedQuery::parse("bad name.sql", literal, "test").is_err());
        assert!(NamedQuery::parse("f.sql", "SELECT 1", "test").is_err(), "a description is required");
    }

    #[test]
    fn binding_refuses_unknown_and_missing_parameters_by_name() {
        let text =
            "-- description: x\n-- param: agent_id\n-- param: from = 1970-01-01T00:00:00Z\nSELECT $agent_id, $from";
        let query = NamedQuery::parse("q.sql", text, "test").expect("parses");
        let bound = query.bind(&[("agent_id".into(), "bot".into())]).expect("binds");
        assert_eq!(bound, vec![("agent_id".into(), "bot".into()), ("from".into(), "1970-01-01T00:00:00Z".into())]);
        let missing = query.bind(&[]).expect_err("missing").to_string();
        assert!(missing.contains("agent_id"), "{missing}");
        let unknown = query.bind(&[("agent".into(), "x".into())]).expect_err("unknown").to_string();
        assert!(unknown.contains("\"agent\"") && unknown.contains("agent_id, from"), "{unknown}");
    }
}
