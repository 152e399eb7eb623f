//! Removing secrets before anything is stored or printed.
//!
//! Two kinds of rules, read from `schemas/redaction.toml`: keys whose values
//! are always secret (`password`, `client_secret`, `authorization`), and
//! patterns that recognise a secret wherever it appears (JWTs, bearer
//! tokens, GitHub/GitLab/Slack tokens, cloud keys, private keys).
//!
//! Most records carry no secret, so a record is first scanned once with an
//! Aho-Corasick automaton of every rule's trigger substrings (an overlapping
//! search, so no trigger hides behind another); only the rules whose triggers
//! occur are run. A `\u` or `\/` escape in the raw text triggers everything,
//! so a secret spelled with JSON escapes cannot slip past the scan.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use regex::{Captures, Regex};
use serde::Deserialize;

use std::borrow::Cow;

use crate::glob::Glob;
use crate::json::Json;
use crate::mapping::secret_id;

/// The built-in rules.
pub const BUILTIN_REDACTION: &str = include_str!("../../../schemas/redaction.toml");

const FIELD_REPLACEMENT: &str = "[REDACTED:secret_field]";

/// A redaction file that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("redaction rules {origin}: {problem}")]
pub struct RedactionConfigError {
    pub origin: String,
    pub problem: String,
}

/// The text a secret key leaves in JSON: the name with its quote on each
/// anchored side (`"password"`, `_password"` for `*_password`, `"password_`
/// for `password_*`), so the name inside a longer word does not trigger.
fn key_trigger(key: &str) -> Option<String> {
    let literal = key.trim_matches('*');
    if literal.len() < 3 || literal.contains('*') {
        return None;
    }
    let open = if key.starts_with('*') { "" } else { "\"" };
    let close = if key.ends_with('*') { "" } else { "\"" };
    Some(format!("{open}{literal}{close}"))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RedactionFile {
    secret_keys: Vec<String>,
    #[serde(default)]
    patterns: Vec<PatternFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PatternFile {
    kind: String,
    triggers: Vec<String>,
    regex: String,
    replace: Option<String>,
    #[serde(default)]
    identifier: bool,
}

#[derive(Debug)]
struct Pattern {
    regex: Regex,
    /// `[REDACTED:<kind>]`, or a template with capture groups.
    replacement: String,
    /// The match is a credential's id: hidden in free text, kept as `credential_id`.
    identifier: bool,
}

/// Which rules a piece of text could trip, from one scan of its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Triggers {
    /// Bit `i` set: pattern `i` has a trigger in the text.
    patterns: u128,
    /// A secret key name occurs in the text.
    keys: bool,
}

impl Triggers {
    /// Nothing in the text can be a secret.
    pub fn is_none(self) -> bool {
        self.patterns == 0 && !self.keys
    }

    fn all() -> Self {
        Triggers { patterns: u128::MAX, keys: true }
    }
}

/// What a record-scan trigger stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TriggerOwner {
    Pattern(usize),
    Key,
    /// A `\u` escape: the text may spell anything, so every rule applies.
    Escape,
}

/// The compiled redaction rules.
#[derive(Debug)]
pub struct Redactor {
    /// Lower-cased secret key names, bucketed by length so most keys of a
    /// record are dismissed by their length alone.
    exact_keys: Vec<Vec<String>>,
    glob_keys: Vec<Glob>,
    patterns: Vec<Pattern>,
    /// Every distinct trigger; `trigger_owners[i]` are the rules trigger `i` stands for.
    scan: AhoCorasick,
    trigger_owners: Vec<Vec<TriggerOwner>>,
}

impl Redactor {
    pub fn builtin() -> Result<Self, RedactionConfigError> {
        Self::from_toml("built-in:redaction.toml", BUILTIN_REDACTION)
    }

    pub fn from_toml(origin: &str, text: &str) -> Result<Self, RedactionConfigError> {
        let error = |problem: String| RedactionConfigError { origin: origin.to_owned(), problem };
        let file: RedactionFile = toml::from_str(text).map_err(|e| error(e.to_string()))?;
        let mut exact_keys = Vec::new();
        let mut glob_keys = Vec::new();
        // `\u` and `\/` escapes can spell a trigger's characters, so they trigger everything.
        let mut triggers = vec!["\\u".to_owned(), "\\/".to_owned()];
        let mut trigger_owner = vec![TriggerOwner::Escape, TriggerOwner::Escape];
        for key in &file.secret_keys {
            let lower = key.to_ascii_lowercase();
            triggers.push(key_trigger(&lower).ok_or_else(|| {
                error(format!("secret key `{key}` needs at least 3 literal characters, and `*` only at its ends"))
            })?);
            trigger_owner.push(TriggerOwner::Key);
            if lower.contains('*') {
                glob_keys.push(Glob::new(&lower));
            } else {
                if exact_keys.len() <= lower.len() {
                    exact_keys.resize_with(lower.len() + 1, Vec::new);
                }
                exact_keys[lower.len()].push(lower);
            }
        }
        if file.patterns.len() > 128 {
            return Err(error(format!("{} patterns; at most 128 are supported", file.patterns.len())));
        }
        let mut patterns = Vec::new();
        for (index, pattern) in file.patterns.iter().enumerate() {
            let regex =
                Regex::new(&pattern.regex).map_err(|e| error(format!("pattern `{}`: bad regex: {e}", pattern.kind)))?;
            if pattern.triggers.iter().any(|t| t.is_empty()) || pattern.triggers.is_empty() {
                return Err(error(format!("pattern `{}` needs non-empty triggers", pattern.kind)));
            }
            for trigger in &pattern.triggers {
                triggers.push(trigger.clone());
                trigger_owner.push(TriggerOwner::Pattern(index));
            }
            patterns.push(Pattern {
                regex,
                replacement: pattern.replace.clone().unwrap_or_else(|| format!("[REDACTED:{}]", pattern.kind)),
                identifier: pattern.identifier,
            });
        }
        let mut distinct: Vec<(String, Vec<TriggerOwner>)> = Vec::new();
        for (trigger, owner) in triggers.iter().zip(trigger_owner) {
            let lower = trigger.to_ascii_lowercase();
            match distinct.iter_mut().find(|(t, _)| *t == lower) {
                Some((_, owners)) if !owners.contains(&owner) => owners.push(owner),
                Some(_) => {}
                None => distinct.push((lower, vec![owner])),
            }
        }
        let scan = AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::Standard)
            .build(distinct.iter().map(|(t, _)| t))
            .map_err(|e| error(format!("triggers: {e}")))?;
        let trigger_owners = distinct.into_iter().map(|(_, owners)| owners).collect();
        Ok(Redactor { exact_keys, glob_keys, patterns, scan, trigger_owners })
    }

    /// One scan of a record's bytes: which rules could apply to it.
    pub fn scan(&self, bytes: &[u8]) -> Triggers {
        let mut found = Triggers::default();
        for m in self.scan.find_overlapping_iter(bytes) {
            for owner in &self.trigger_owners[m.pattern().as_usize()] {
                match owner {
                    TriggerOwner::Pattern(index) => found.patterns |= 1 << index,
                    TriggerOwner::Key => found.keys = true,
                    TriggerOwner::Escape => return Triggers::all(),
                }
            }
        }
        found
    }

    /// The fast check: could these bytes hold a secret at all?
    pub fn may_contain_secrets(&self, bytes: &[u8]) -> bool {
        !self.scan(bytes).is_none()
    }

    fn is_secret_key(&self, key: &str) -> bool {
        self.exact_keys
            .get(key.len())
            .is_some_and(|same_length| same_length.iter().any(|k| k.eq_ignore_ascii_case(key)))
            || self.glob_keys.iter().any(|g| g.matches(key))
    }

    /// Redacts secrets in free text. Returns the new text and the number of
    /// secrets removed, or `None` when there was nothing to remove.
    pub fn redact_text(&self, text: &str) -> Option<(String, u32)> {
        self.redact_text_with(text, self.scan(text.as_bytes()))
    }

    /// [`Redactor::redact_text`] for text inside a record already scanned:
    /// only the patterns the record triggered are tried (each regex's own
    /// literal prefilter then passes over text without the secret quickly).
    pub fn redact_text_with(&self, text: &str, triggers: Triggers) -> Option<(String, u32)> {
        self.redact_text_where(text, triggers, |_| true)
    }

    fn redact_text_where(
        &self,
        text: &str,
        triggers: Triggers,
        include: impl Fn(&Pattern) -> bool,
    ) -> Option<(String, u32)> {
        if triggers.patterns == 0 {
            return None;
        }
        let mut current: Option<String> = None;
        let mut count = 0_u32;
        for (index, pattern) in self.patterns.iter().enumerate() {
            if triggers.patterns & (1 << index) == 0 || !include(pattern) {
                continue;
            }
            let source = current.as_deref().unwrap_or(text);
            let mut hits = 0_u32;
            let replaced = pattern.regex.replace_all(source, |caps: &Captures<'_>| {
                hits += 1;
                let mut out = String::new();
                caps.expand(&pattern.replacement, &mut out);
                out
            });
            if hits > 0 {
                count += hits;
                current = Some(replaced.into_owned());
            }
        }
        current.map(|text| (text, count))
    }

    /// A credential id as it may be stored: ids stay; a secret mapped into
    /// the column by mistake is replaced by its hash.
    pub fn credential_id(&self, id: &str) -> Option<String> {
        self.redact_text_where(id, self.scan(id.as_bytes()), |pattern| !pattern.identifier)
            .map(|_| secret_id(id.as_bytes()))
    }

    /// Redacts every secret in a JSON value in place; returns how many.
    pub fn redact_value(&self, value: &mut Json<'_>) -> u32 {
        self.redact_value_with(value, Triggers::all())
    }

    /// [`Redactor::redact_value`] for a value whose text was scanned.
    pub fn redact_value_with(&self, value: &mut Json<'_>, triggers: Triggers) -> u32 {
        match value {
            Json::String(text) => match self.redact_text_with(text, triggers) {
                Some((redacted, count)) => {
                    *text = Cow::Owned(redacted);
                    count
                }
                None => 0,
            },
            Json::Array(items) => items.iter_mut().map(|item| self.redact_value_with(item, triggers)).sum(),
            Json::Object(pairs) => {
                let mut count = 0;
                // `{"name": "DB_PASSWORD", "value": "…"}`: environment variables,
                // headers and parameters logged as name/value pairs.
                let named_secret = triggers.keys
                    && pairs.iter().any(|(k, v)| {
                        matches!(k.as_ref(), "name" | "Name" | "key" | "Key")
                            && v.as_str().is_some_and(|name| self.is_secret_key(name))
                    });
                for (key, item) in pairs.iter_mut() {
                    let secret_scalar = matches!(item, Json::String(s) if !s.is_empty() && !s.starts_with("[REDACTED"))
                        || matches!(item, Json::Number(_));
                    let named_value = named_secret && matches!(key.as_ref(), "value" | "Value");
                    if secret_scalar && triggers.keys && (named_value || self.is_secret_key(key)) {
                        *item = Json::String(Cow::Borrowed(FIELD_REPLACEMENT));
                        count += 1;
                    } else {
                        count += self.redact_value_with(item, triggers);
                    }
                }
                count
            }
            Json::Null | Json::Bool(_) | Json::Number(_) => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn redactor() -> Redactor {
        match Redactor::builtin() {
            Ok(r) => r,
            Err(e) => panic!("{e}"),
        }
    }

    const JWT: &str = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSIsImp0aSI6IjEyMyJ9.c2lnbmF0dXJlLXNpZ25hdHVyZQ";

    #[test]
    fn every_secret_kind_is_removed_from_text() {
        let r = redactor();
        let secrets = [
            JWT,
            "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
            "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz",
            "glpat-abcdefghij0123456789",
            "xoxb-1234567890-abcdefghij",
            "sk-proj-abcdefghijklmnopqrstuvwxyz012345",
            "AIzaSyA-abcdefghijklmnopqrstuvwxyz01234",
        ];
        for secret in secrets {
            let text = format!("calling with {secret} now");
            let (redacted, count) = r.redact_text(&text).unwrap_or_default();
            assert!(!redacted.contains(secret) && count == 1, "{secret}: {redacted}");
        }
        let (redacted, _) = r.redact_text("Authorization: Bearer abc.def-ghi_jkl").unwrap_or_default();
        assert_eq!(redacted, "Authorization: Bearer [REDACTED:authorization]");
        let (redacted, _) =
            r.redact_text("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY").unwrap_or_default();
        assert_eq!(redacted, "aws_secret_access_key = [REDACTED:aws_secret_access_key]");
        let (redacted, _) = r.redact_text("https://bob:hunter2@example.com/x").unwrap_or_default();
        assert_eq!(redacted, "https://bob:[REDACTED:url_password]@example.com/x");
        let key = "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----";
        assert_eq!(r.redact_text(key).map(|(t, _)| t), Some("[REDACTED:private_key]".to_owned()));
    }

    #[test]
    fn prose_is_left_alone() {
        let r = redactor();
        for text in ["basic authentication failed", "the bearer of bad news", "token_id 12345", "risk-assessment"] {
            assert_eq!(r.redact_text(text), None, "{text}");
        }
    }

    #[test]
    fn secret_keys_and_nested_values() {
        let r = redactor();
        let source = json!({
            "user": "alice", "password": "hunter2", "Client_Secret": "s3cr3t", "token_id": 123,
            "headers": {"Authorization": "Basic dXNlcjpwYXNz", "x-api-key": "k"},
            "args": ["--token", JWT], "db_password": 12345678, "hashed_token": "abc=",
            "env": [{"name": "DB_PASSWORD", "value": "pg-secret-1"}, {"name": "REGION", "value": "eu"}]
        });
        let input = source.to_string();
        let mut record = Json::parse(input.as_bytes()).expect("valid JSON");
        assert!(r.may_contain_secrets(input.as_bytes()));
        let count = r.redact_value(&mut record);
        let text = record.to_json_string();
        for secret in ["hunter2", "s3cr3t", "dXNlcjpwYXNz", JWT, "12345678", "pg-secret-1"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        assert_eq!(count, 7);
        let record: serde_json::Value = serde_json::from_str(&text).expect("still JSON");
        assert_eq!(record["env"][1]["value"], json!("eu"));
        assert_eq!(record["token_id"], json!(123));
        assert_eq!(record["hashed_token"], json!("abc="));
    }

    #[test]
    fn escaped_secrets_do_not_skip_the_scan() {
        let r = redactor();
        assert!(r.may_contain_secrets(br#"{"p\u0061ssword":"hunter2"}"#));
        assert!(r.may_contain_secrets(br#"{"url":"https:\/\/bob:pw@example.com"}"#));
        assert!(!r.may_contain_secrets(br#"{"eventName":"ListBuckets","token_id":1}"#));
        // Names inside longer words are not keys.
        assert!(
            !r.may_contain_secrets(br#"{"annotations":{"authorization.k8s.io/decision":"allow"},"task":"task-12"}"#)
        );
        assert!(r.may_contain_secrets(br#"{"Authorization":"x"}"#));
        assert!(r.may_contain_secrets(br#"{"env":[{"name":"DB_PASSWORD","value":"x"}]}"#));
    }

    #[test]
    fn credential_ids_stay_and_secrets_become_hashes() {
        let r = redactor();
        assert_eq!(r.credential_id("AKIAIOSFODNN7EXAMPLE"), None);
        // Key ids are ids: kept in free text too.
        assert_eq!(r.redact_text("key AKIAIOSFODNN7EXAMPLE used"), None);
        assert_eq!(r.credential_id("JTI=1234"), None);
        let hashed = r.credential_id(JWT).unwrap_or_default();
        assert!(hashed.starts_with("sha256:") && hashed.len() == 39, "{hashed}");
    }

    #[test]
    fn bad_rules_are_refused() {
        assert!(Redactor::from_toml("t", "secret_keys = [\"*x\"]").is_err());
        assert!(Redactor::from_toml("t", "secret_keys = [\"pass*word\"]").is_err());
        assert!(
            Redactor::from_toml("t", "secret_keys = []\n[[patterns]]\nkind='k'\ntriggers=['a']\nregex='('").is_err()
        );
        assert!(Redactor::from_toml("t", "secret_keys = []\nbogus = 1").is_err());
    }
}
