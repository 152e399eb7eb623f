//! Rule files: a named query with a severity, a schedule, a look-back
//! window and, for rules that compare with the past, a baseline.
//!
//! ```sql
//! -- description: An agent's credential that lives longer than an hour.
//! -- severity: medium
//! -- schedule: 1h          how often `serve` runs it
//! -- lookback: 24h         the window a run covers, ending now
//! -- param: from           start of the window (bound by the report)
//! -- param: to             end of the window (bound by the report)
//! SELECT event_id, time, agent_id, on_behalf_of, correlation_id,
//!        concat('credential ', credential_id) AS finding, '…' AS title
//! FROM events WHERE time >= to_timestamp_micros($from) AND …
//! ```
//!
//! A rule that declares `-- baseline: 7d` also gets `$baseline_from`: the
//! baseline is `[from - 7d, from)`. Other `-- param:`s need defaults (a
//! threshold, a pattern); a user tunes them by copying the file into a
//! rules directory. The header and parameter syntax are those of named
//! queries ([`agentrail_query::named`]).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use agentrail_query::named::{header_fields, sql_files};
use agentrail_query::{NamedQuery, NamedQueryError};
use serde::{Deserialize, Serialize};

use crate::duration::{format_duration, parse_duration};
use crate::run::RuleFailure;

macro_rules! builtin_rules {
    ($($file:literal),+ $(,)?) => {
        &[$(($file, include_str!(concat!("../../../queries/anomalies/", $file)))),+]
    };
}

/// The rules shipped in the binary (`queries/anomalies/*.sql`).
const BUILTIN: &[(&str, &str)] = builtin_rules!(
    "destructive_without_approval.sql",
    "scope_violation.sql",
    "long_lived_token.sql",
    "static_api_key.sql",
    "shared_credential.sql",
    "missing_on_behalf_of.sql",
    "expired_credential_use.sql",
    "new_system_for_agent.sql",
    "rate_spike.sql",
);

/// The parameters every run binds.
pub const WINDOW_PARAMS: [&str; 2] = ["from", "to"];
/// The parameter bound for rules with a baseline.
pub const BASELINE_PARAM: &str = "baseline_from";

/// How much a finding matters, most severe last (so `max` is the worst).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 4] = [Severity::Critical, Severity::High, Severity::Medium, Severity::Low];

    fn parse(text: &str) -> Option<Severity> {
        match text {
            "low" => Some(Severity::Low),
            "medium" => Some(Severity::Medium),
            "high" => Some(Severity::High),
            "critical" => Some(Severity::Critical),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a rule file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Query(#[from] NamedQueryError),
    #[error("{file}: {problem}")]
    Invalid { file: String, problem: String },
}

impl RuleError {
    /// The name of the rule the error is about: its file's stem.
    pub fn rule(&self) -> String {
        let file = match self {
            RuleError::Read { path, .. } => path.display().to_string(),
            RuleError::Invalid { file, .. } | RuleError::Query(NamedQueryError::Invalid { file, .. }) => file.clone(),
            RuleError::Query(_) => return "(rules)".to_owned(),
        };
        Path::new(&file).file_stem().map(|stem| stem.to_string_lossy().into_owned()).unwrap_or(file)
    }

    /// The error as a report lists it: the rule's name and why.
    pub fn failure(&self) -> RuleFailure {
        RuleFailure { rule: self.rule(), error: self.to_string() }
    }
}

/// One rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub query: NamedQuery,
    pub severity: Severity,
    pub schedule: Duration,
    pub lookback: Duration,
    pub baseline: Option<Duration>,
}

impl Rule {
    /// Parses a rule file's text (`file` names it in errors and gives the name).
    pub fn parse(file: &str, text: &str, origin: &str) -> Result<Rule, RuleError> {
        let query = NamedQuery::parse(file, text, origin)?;
        let invalid = |problem: String| RuleError::Invalid { file: file.to_owned(), problem };
        let fields: BTreeMap<String, String> = header_fields(text).into_iter().collect();
        let field = |key: &str| fields.get(key).ok_or_else(|| invalid(format!("the header needs a `-- {key}:` line")));
        let duration = |key: &str, text: &str| parse_duration(text).map_err(|e| invalid(format!("{key}: {e}")));
        let severity = field("severity")?;
        let severity = Severity::parse(severity)
            .ok_or_else(|| invalid(format!("severity {severity:?} is not one of low, medium, high, critical")))?;
        let schedule = duration("schedule", field("schedule")?)?;
        let lookback = duration("lookback", field("lookback")?)?;
        let baseline = fields.get("baseline").map(|text| duration("baseline", text)).transpose()?;

        let declared = |name: &str| query.params.iter().find(|p| p.name == name);
        for name in WINDOW_PARAMS {
            match declared(name) {
                None => return Err(invalid(format!("a rule's SQL must use ${name}: the report binds the window"))),
                Some(param) if param.default.is_some() => {
                    return Err(invalid(format!("${name} is bound by the report and takes no default")));
                }
                Some(_) => {}
            }
        }
        match (baseline, declared(BASELINE_PARAM)) {
            (Some(_), None) => {
                return Err(invalid(format!("it declares a baseline but its SQL never uses ${BASELINE_PARAM}")));
            }
            (None, Some(_)) => {
                return Err(invalid(format!("it uses ${BASELINE_PARAM} but declares no `-- baseline:` duration")));
            }
            _ => {}
        }
        let reserved = |name: &str| WINDOW_PARAMS.contains(&name) || name == BASELINE_PARAM;
        if let Some(param) = query.params.iter().find(|p| !reserved(&p.name) && p.default.is_none()) {
            return Err(invalid(format!("parameter {} needs a default: the report binds only the window", param.name)));
        }
        Ok(Rule { query, severity, schedule, lookback, baseline })
    }

    pub fn name(&self) -> &str {
        &self.query.name
    }

    /// One line for listings: severity, schedule, look-back, baseline.
    pub fn summary(&self) -> String {
        let mut text = format!(
            "{} every {}, looking back {}",
            self.severity,
            format_duration(self.schedule),
            format_duration(self.lookback)
        );
        if let Some(baseline) = self.baseline {
            text.push_str(&format!(", baseline {}", format_duration(baseline)));
        }
        text
    }
}

/// The rules a process knows: the built-in ones, then a directory's
/// (adding, or replacing by name).
#[derive(Debug, Clone, Default)]
pub struct Rules {
    rules: BTreeMap<String, Rule>,
}

impl Rules {
    /// The rules shipped in the binary.
    pub fn builtin() -> Result<Rules, RuleError> {
        let mut rules = Rules::default();
        for (file, text) in BUILTIN {
            rules.insert(Rule::parse(file, text, "builtin")?);
        }
        Ok(rules)
    }

    /// The built-in rules plus every `*.sql` of `dir` (one level). A file
    /// that cannot be used is returned as an error, named, and the others
    /// still load; a directory that cannot be read is an error of its own.
    pub fn with_dir(dir: &Path) -> Result<(Rules, Vec<RuleError>), RuleError> {
        let mut rules = Rules::builtin()?;
        let files = sql_files(dir).map_err(|source| RuleError::Read { path: dir.to_owned(), source })?;
        let mut broken = Vec::new();
        for path in files {
            let file = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let parsed = std::fs::read_to_string(&path)
                .map_err(|source| RuleError::Read { path: path.clone(), source })
                .and_then(|text| Rule::parse(&file, &text, &path.display().to_string()));
            match parsed {
                Ok(rule) => rules.insert(rule),
                Err(error) => {
                    tracing::warn!(%error, "skipping a rule that cannot be used");
                    broken.push(error);
                }
            }
        }
        Ok((rules, broken))
    }

    /// The built-in rules, plus `dir`'s when given; see [`Rules::with_dir`].
    pub fn load(dir: Option<&Path>) -> Result<(Rules, Vec<RuleError>), RuleError> {
        match dir {
            Some(dir) => Rules::with_dir(dir),
            None => Ok((Rules::builtin()?, Vec::new())),
        }
    }

    /// The rule named `name`.
    pub fn get(&self, name: &str) -> Option<&Rule> {
        self.rules.get(name)
    }

    fn insert(&mut self, rule: Rule) {
        self.rules.insert(rule.name().to_owned(), rule);
    }

    pub fn iter(&self) -> impl Iterator<Item = &Rule> {
        self.rules.values()
    }

    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "-- description: x\n-- severity: high\n-- schedule: 15m\n-- lookback: 24h\n";
    const WINDOW: &str = "-- param: from\n-- param: to\n";
    const SQL: &str =
        "SELECT event_id FROM events WHERE time >= to_timestamp_micros($from) AND time < to_timestamp_micros($to)";

    #[test]
    fn every_builtin_rule_parses_with_its_header() {
        let rules = Rules::builtin().expect("built-ins parse");
        assert_eq!(rules.len(), BUILTIN.len());
        for rule in rules.iter() {
            assert!(!rule.query.description.contains("severity"), "{}: {}", rule.name(), rule.query.description);
        }
        let spike = rules.iter().find(|r| r.name() == "rate_spike").expect("rate_spike");
        assert_eq!(spike.baseline, Some(Duration::from_secs(7 * 86_400)));
        assert_eq!(spike.severity, Severity::Medium);
    }

    #[test]
    fn a_rule_header_is_checked_and_each_problem_named() {
        let ok = format!("{HEADER}{WINDOW}{SQL}");
        let rule = Rule::parse("r.sql", &ok, "test").expect("parses");
        assert_eq!((rule.severity, rule.schedule, rule.baseline), (Severity::High, Duration::from_secs(900), None));
        assert_eq!(rule.summary(), "high every 15m, looking back 1d");

        let cases = [
            (ok.replace("-- severity: high\n", ""), "severity:"),
            (ok.replace("high", "urgent"), "\"urgent\""),
            (ok.replace("15m", "soon"), "schedule"),
            (ok.replace("-- lookback: 24h\n", ""), "lookback:"),
            (ok.replace("-- param: to\n", "").replace("AND time < to_timestamp_micros($to)", ""), "$to"),
            (ok.replace("-- param: from\n", "-- param: from = 2026-01-01T00:00:00Z\n"), "no default"),
            (format!("{HEADER}-- baseline: 7d\n{WINDOW}{SQL}"), "baseline_from"),
            (
                format!(
                    "{HEADER}{WINDOW}-- param: baseline_from\n{SQL} AND time > to_timestamp_micros($baseline_from)"
                ),
                "baseline:",
            ),
            (format!("{HEADER}{WINDOW}-- param: limit\n{SQL} LIMIT CAST($limit AS INT)"), "limit needs a default"),
        ];
        for (text, named) in cases {
            let error = Rule::parse("r.sql", &text, "test").expect_err(named).to_string();
            assert!(error.contains(named) && error.contains("r.sql"), "{named}: {error}");
        }
    }
}
