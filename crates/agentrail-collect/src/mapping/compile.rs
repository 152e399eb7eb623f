//! Reading a mapping file (TOML) into a [`Mapping`], checking everything that
//! can be checked before the first record: column names, keys, paths,
//! regexes, templates, vocabulary words, and `column` references.

use regex::Regex;
use toml::{Table, Value as Toml};

use super::column::{Column, ColumnKind};
use super::rule::{Alternative, Getter, TemplatePart, TimeFormat, Transforms};
use super::{Combine, Detector, FieldRule, Mapping};
use crate::glob::Glob;
use crate::path::FieldPath;

/// A mapping file that cannot be used, and why.
#[derive(Debug, thiserror::Error)]
#[error("mapping {origin}: {problem}")]
pub struct MappingError {
    /// The file (or built-in name) the mapping came from.
    pub origin: String,
    pub problem: String,
}

const ALTERNATIVE_KEYS: &[&str] = &[
    "path",
    "template",
    "const",
    "column",
    "require",
    "act_chain",
    "each",
    "traceparent",
    "regex",
    "replace",
    "split",
    "lowercase",
    "exclude",
    "match",
    "value",
    "prefix",
    "hash",
    "time",
];

struct Context<'a> {
    origin: &'a str,
}

impl Context<'_> {
    fn error(&self, problem: impl Into<String>) -> MappingError {
        MappingError { origin: self.origin.to_owned(), problem: problem.into() }
    }

    fn path(&self, field: &str, text: &str) -> Result<FieldPath, MappingError> {
        FieldPath::parse(text).map_err(|e| self.error(format!("field `{field}`: {e}")))
    }

    fn string<'t>(&self, where_: &str, value: &'t Toml) -> Result<&'t str, MappingError> {
        value.as_str().ok_or_else(|| self.error(format!("{where_}: expected a string, found {}", value.type_str())))
    }

    fn strings(&self, where_: &str, value: &Toml) -> Result<Vec<String>, MappingError> {
        match value {
            Toml::String(s) => Ok(vec![s.clone()]),
            Toml::Array(items) => items.iter().map(|v| self.string(where_, v).map(str::to_owned)).collect(),
            other => {
                Err(self.error(format!("{where_}: expected a string or a list of strings, found {}", other.type_str())))
            }
        }
    }

    fn bool(&self, where_: &str, value: &Toml) -> Result<bool, MappingError> {
        value
            .as_bool()
            .ok_or_else(|| self.error(format!("{where_}: expected true or false, found {}", value.type_str())))
    }
}

/// Parses and checks one mapping file.
pub fn compile(origin: &str, text: &str) -> Result<Mapping, MappingError> {
    let cx = Context { origin };
    let table: Table = toml::from_str(text).map_err(|e| cx.error(format!("not valid TOML: {e}")))?;
    for key in table.keys() {
        if !["source", "detect", "fields"].contains(&key.as_str()) {
            return Err(cx.error(format!("unknown section `{key}` (expected source, detect, fields)")));
        }
    }
    let source = table.get("source").and_then(Toml::as_table).ok_or_else(|| cx.error("missing [source] section"))?;
    let name = cx.string("source.name", source.get("name").ok_or_else(|| cx.error("missing source.name"))?)?;
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)) {
        return Err(cx.error(format!("source.name `{name}` must be letters, digits, `.`, `_` or `-`")));
    }
    let description = source.get("description").and_then(Toml::as_str).unwrap_or_default().to_owned();
    let priority = match source.get("priority") {
        None => 0,
        Some(v) => v.as_integer().ok_or_else(|| cx.error("source.priority must be an integer"))?,
    };
    let detect = match table.get("detect") {
        None => Detector::default(),
        Some(Toml::Table(detect)) => compile_detect(&cx, detect)?,
        Some(other) => return Err(cx.error(format!("[detect] must be a table, found {}", other.type_str()))),
    };
    let fields = table.get("fields").and_then(Toml::as_table).ok_or_else(|| cx.error("missing [fields] section"))?;
    let mut rules = Vec::new();
    for (column_name, definition) in fields {
        let column = Column::from_name(column_name).ok_or_else(|| {
            let known: Vec<&str> = Column::ALL.iter().map(|c| c.name()).collect();
            cx.error(format!("unknown column `{column_name}` (mappable columns: {})", known.join(", ")))
        })?;
        rules.push(compile_rule(&cx, column, definition)?);
    }
    for required in [Column::Time, Column::Action] {
        if !rules.iter().any(|r| r.column == required) {
            return Err(cx.error(format!("[fields] must say where `{}` comes from", required.name())));
        }
    }
    order_rules(&cx, &mut rules)?;
    Ok(Mapping { name: name.to_owned(), description, origin: origin.to_owned(), priority, detect, rules })
}

fn compile_detect(cx: &Context<'_>, detect: &Table) -> Result<Detector, MappingError> {
    let mut detector = Detector::default();
    for (key, value) in detect {
        match key.as_str() {
            "all" => {
                for p in cx.strings("detect.all", value)? {
                    detector.all.push(cx.path("detect.all", &p)?);
                }
            }
            "any" => {
                for p in cx.strings("detect.any", value)? {
                    detector.any.push(cx.path("detect.any", &p)?);
                }
            }
            "equals" => {
                let table = value.as_table().ok_or_else(|| cx.error("detect.equals must be a table of path = glob"))?;
                for (path, glob) in table {
                    let glob = cx.string(&format!("detect.equals.{path}"), glob)?;
                    detector.equals.push((cx.path("detect.equals", path)?, Glob::new(glob)));
                }
            }
            other => return Err(cx.error(format!("unknown key `detect.{other}` (expected all, any, equals)"))),
        }
    }
    Ok(detector)
}

fn compile_rule(cx: &Context<'_>, column: Column, definition: &Toml) -> Result<FieldRule, MappingError> {
    let field = column.name();
    // Mapping files are read once at start; cloning the small TOML values keeps this simple.
    let (combine, items): (Combine, Vec<Toml>) = match definition {
        Toml::Array(items) => (Combine::First, items.clone()),
        Toml::Table(table) if table.contains_key("concat") => {
            if table.len() != 1 {
                return Err(cx.error(format!("field `{field}`: a `concat` table takes no other keys")));
            }
            if column.kind() != ColumnKind::List {
                return Err(cx.error(format!("field `{field}`: `concat` is for list columns only")));
            }
            match &table["concat"] {
                Toml::Array(items) => (Combine::Concat, items.clone()),
                _ => return Err(cx.error(format!("field `{field}`: `concat` must be a list of tables"))),
            }
        }
        Toml::Table(_) => (Combine::First, vec![definition.clone()]),
        // `action = "eventName"` is short for `action = { path = "eventName" }`.
        Toml::String(path) => (Combine::First, vec![path_table(path)]),
        other => {
            return Err(
                cx.error(format!("field `{field}`: expected a table or a list of tables, found {}", other.type_str()))
            );
        }
    };
    if items.is_empty() {
        return Err(cx.error(format!("field `{field}`: no alternatives")));
    }
    let alternatives = items
        .iter()
        .enumerate()
        .map(|(i, item)| compile_alternative(cx, column, &format!("field `{field}` alternative {}", i + 1), item))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(FieldRule { column, combine, alternatives })
}

fn path_table(path: &str) -> Toml {
    let mut table = Table::new();
    table.insert("path".into(), Toml::String(path.to_owned()));
    Toml::Table(table)
}

fn compile_alternative(cx: &Context<'_>, column: Column, at: &str, item: &Toml) -> Result<Alternative, MappingError> {
    let table =
        item.as_table().ok_or_else(|| cx.error(format!("{at}: expected a table, found {}", item.type_str())))?;
    for key in table.keys() {
        if !ALTERNATIVE_KEYS.contains(&key.as_str()) {
            return Err(
                cx.error(format!("{at}: unknown key `{key}` (expected one of: {})", ALTERNATIVE_KEYS.join(", ")))
            );
        }
    }
    let getters: Vec<&str> =
        ["path", "template", "const", "column"].into_iter().filter(|k| table.contains_key(*k)).collect();
    if getters.len() != 1 {
        return Err(
            cx.error(format!("{at}: needs exactly one of path, template, const, column (found {})", getters.len()))
        );
    }
    let getter = match getters[0] {
        "path" => Getter::Path(cx.path(at, cx.string(at, &table["path"])?)?),
        "const" => Getter::Const(cx.string(at, &table["const"])?.to_owned()),
        "template" => Getter::Template(compile_template(cx, at, cx.string(at, &table["template"])?)?),
        _ => {
            let name = cx.string(at, &table["column"])?;
            let referenced =
                Column::from_name(name).ok_or_else(|| cx.error(format!("{at}: unknown column `{name}`")))?;
            if matches!(referenced.kind(), ColumnKind::List | ColumnKind::Time) {
                return Err(cx.error(format!("{at}: `column` can read text columns only, not `{name}`")));
            }
            Getter::Column(referenced)
        }
    };
    let mut transforms = Transforms::default();
    let mut require = Vec::new();
    for (key, value) in table {
        let where_ = format!("{at} `{key}`");
        match key.as_str() {
            "require" => {
                for p in cx.strings(&where_, value)? {
                    require.push(cx.path(at, &p)?);
                }
            }
            "act_chain" => transforms.act_chain = cx.bool(&where_, value)?,
            "each" => {
                for p in cx.strings(&where_, value)? {
                    transforms.each.push(cx.path(at, &p)?);
                }
            }
            "traceparent" => transforms.traceparent = cx.bool(&where_, value)?,
            "regex" => {
                let pattern = cx.string(&where_, value)?;
                let regex = Regex::new(pattern).map_err(|e| cx.error(format!("{where_}: bad regex: {e}")))?;
                let replacement = match table.get("replace") {
                    Some(r) => Some(cx.string(&format!("{at} `replace`"), r)?.to_owned()),
                    None => None,
                };
                transforms.regex = Some((regex, replacement));
            }
            "replace" if !table.contains_key("regex") => {
                return Err(cx.error(format!("{at}: `replace` needs a `regex`")));
            }
            "split" => transforms.split = Some(cx.string(&where_, value)?.to_owned()),
            "lowercase" => transforms.lowercase = cx.bool(&where_, value)?,
            "match" => {
                let table =
                    value.as_table().ok_or_else(|| cx.error(format!("{where_}: expected a table of glob = value")))?;
                for (glob, result) in table {
                    let result = cx.string(&format!("{where_} \"{glob}\""), result)?;
                    check_vocabulary(cx, column, &where_, result)?;
                    transforms.matches.push((Glob::new(glob), result.to_owned()));
                }
            }
            "exclude" => {
                for glob in cx.strings(&where_, value)? {
                    transforms.exclude.push(Glob::new(&glob));
                }
            }
            "value" => {
                let constant = cx.string(&where_, value)?;
                check_vocabulary(cx, column, &where_, constant)?;
                transforms.value = Some(constant.to_owned());
            }
            "prefix" => transforms.prefix = Some(cx.string(&where_, value)?.to_owned()),
            "hash" => transforms.hash = cx.bool(&where_, value)?,
            "time" => {
                let name = cx.string(&where_, value)?;
                if column.kind() != ColumnKind::Time {
                    return Err(cx.error(format!("{where_}: `time` is for time columns only")));
                }
                transforms.time = TimeFormat::from_name(name).ok_or_else(|| {
                    cx.error(format!(
                        "{where_}: unknown time format `{name}` (auto, rfc3339, epoch_s, epoch_ms, epoch_us, epoch_ns)"
                    ))
                })?;
            }
            _ => {}
        }
    }
    if let Getter::Const(text) = &getter
        && transforms.value.is_none()
        && transforms.matches.is_empty()
    {
        check_vocabulary(cx, column, at, text)?;
    }
    if (transforms.act_chain || !transforms.each.is_empty() || transforms.split.is_some())
        && column.kind() != ColumnKind::List
    {
        return Err(
            cx.error(format!("{at}: act_chain, each and split make lists; `{}` is not a list column", column.name()))
        );
    }
    Ok(Alternative { getter, require, transforms })
}

fn check_vocabulary(cx: &Context<'_>, column: Column, at: &str, value: &str) -> Result<(), MappingError> {
    if column.kind() == ColumnKind::Vocabulary && !column.accepts(value) {
        return Err(cx.error(format!("{at}: `{value}` is not a valid {}", column.name())));
    }
    Ok(())
}

fn compile_template(cx: &Context<'_>, at: &str, text: &str) -> Result<Vec<TemplatePart>, MappingError> {
    let mut parts = Vec::new();
    let mut literal = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                literal.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                literal.push('}');
            }
            '{' => {
                let mut path = String::new();
                loop {
                    match chars.next() {
                        Some('}') => break,
                        Some(c) => path.push(c),
                        None => return Err(cx.error(format!("{at}: unclosed `{{` in template `{text}`"))),
                    }
                }
                if !literal.is_empty() {
                    parts.push(TemplatePart::Literal(std::mem::take(&mut literal)));
                }
                parts.push(TemplatePart::Path(cx.path(at, &path)?));
            }
            '}' => return Err(cx.error(format!("{at}: lone `}}` in template `{text}` (write `}}}}`)"))),
            c => literal.push(c),
        }
    }
    if !literal.is_empty() {
        parts.push(TemplatePart::Literal(literal));
    }
    if !parts.iter().any(|p| matches!(p, TemplatePart::Path(_))) {
        return Err(cx.error(format!("{at}: template `{text}` has no {{path}}; use `const`")));
    }
    Ok(parts)
}

/// Rules that read other columns run after every rule that does not; a rule
/// reading a column that itself reads columns is refused (no chains).
fn order_rules(cx: &Context<'_>, rules: &mut [FieldRule]) -> Result<(), MappingError> {
    let reads_columns = |rule: &FieldRule| rule.alternatives.iter().any(|a| matches!(a.getter, Getter::Column(_)));
    let second_phase: Vec<Column> = rules.iter().filter(|r| reads_columns(r)).map(|r| r.column).collect();
    for rule in rules.iter() {
        for alternative in &rule.alternatives {
            if let Getter::Column(read) = alternative.getter
                && second_phase.contains(&read)
            {
                return Err(cx.error(format!(
                    "field `{}` reads column `{}`, which itself reads a column; chains are not supported",
                    rule.column.name(),
                    read.name()
                )));
            }
        }
    }
    rules.sort_by_key(reads_columns);
    Ok(())
}
