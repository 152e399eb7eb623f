//! The anomaly rules `serve` runs, changed while it runs.
//!
//! The admin API writes a rule file into `[reports] rules_dir` (or removes
//! one) and `SIGHUP` reads the directory again after a hand edit; either way
//! the whole directory is read back and the new set replaces the old one at
//! once, for the scheduler (which reschedules what changed) and the read
//! API alike. A rule is parsed, and its SQL planned against the store's
//! tables, before its file is written: a rule that could not run is refused
//! with the reason and never reaches the directory.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use agentrail_event::Timestamp;
use agentrail_query::QueryEngine;
use agentrail_query::named::{NAME_CHARACTERS, is_valid_name};
use agentrail_report::{Rule, RuleError, RuleFailure, Rules, check_rule};
use agentrail_store::durable;
use tokio::sync::{Mutex, watch};

/// The rules of one moment: those that run, and the files that could not
/// be used (shown among a report's errors).
#[derive(Debug, Default)]
pub struct RuleSet {
    pub rules: Rules,
    pub unusable: Vec<RuleFailure>,
}

/// Why a rule could not be changed.
#[derive(Debug, thiserror::Error)]
pub enum RuleBookError {
    #[error("a rule's name may use only {NAME_CHARACTERS}, not {0:?}")]
    BadName(String),
    #[error(
        "rules cannot be changed in this server: no rules directory is configured \
         (set [reports] rules_dir, or start it with --rules DIR)"
    )]
    NoDirectory,
    #[error("the rule cannot be used: {0}")]
    Invalid(String),
    #[error("no rule file {file} in {dir}{hint}", dir = .dir.display())]
    NotFound { file: String, dir: PathBuf, hint: &'static str },
    #[error("cannot change {path}: {source}", path = .path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the rules directory was changed but cannot be read again: {0}")]
    Reload(RuleError),
    #[error("the rule change stopped unexpectedly: {0}")]
    Interrupted(String),
}

/// What a saved rule replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Saved {
    /// No file of that name was in the directory before.
    pub created: bool,
    /// A built-in rule of the same name is replaced by it.
    pub overrides_builtin: bool,
}

/// The current [`RuleSet`], shared by the scheduler and the API.
#[derive(Debug, Clone)]
pub struct RuleBook {
    dir: Option<PathBuf>,
    current: Arc<watch::Sender<Arc<RuleSet>>>,
    /// One change at a time: a file written and the directory read back.
    changing: Arc<Mutex<()>>,
    builtin: Arc<BTreeSet<String>>,
}

impl RuleBook {
    /// The book of `rules`, loaded from `dir` (when given) at start.
    pub fn new(dir: Option<PathBuf>, rules: Rules, unusable: Vec<RuleFailure>) -> RuleBook {
        let builtin = Rules::builtin().map(|rules| rules.iter().map(|r| r.name().to_owned()).collect());
        let (current, _) = watch::channel(Arc::new(RuleSet { rules, unusable }));
        RuleBook {
            dir,
            current: Arc::new(current),
            changing: Arc::new(Mutex::new(())),
            builtin: Arc::new(builtin.unwrap_or_default()),
        }
    }

    /// The rules now.
    pub fn current(&self) -> Arc<RuleSet> {
        Arc::clone(&self.current.borrow())
    }

    /// Told of each new set.
    pub fn subscribe(&self) -> watch::Receiver<Arc<RuleSet>> {
        self.current.subscribe()
    }

    /// The directory rules are changed in, if any.
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// Saves `text` as the rule `name` (`<rules_dir>/<name>.sql`, replacing
    /// any file of that name, overriding a built-in rule of that name),
    /// after checking that it parses and plans on `engine`.
    pub async fn put(&self, name: &str, text: &str, engine: &QueryEngine) -> Result<Saved, RuleBookError> {
        let path = self.rule_path(name)?;
        let file = format!("{name}.sql");
        let rule = Rule::parse(&file, text, &path.display().to_string())
            .map_err(|error| RuleBookError::Invalid(error.to_string()))?;
        check_rule(engine, &rule, Timestamp::now())
            .await
            .map_err(|failure| RuleBookError::Invalid(format!("{file}: {}", failure.error)))?;
        let _one_at_a_time = self.changing.lock().await;
        let bytes = text.as_bytes().to_vec();
        let book = self.clone();
        let created = blocking(move || {
            let created = !path.exists();
            durable::replace_file(&path, &bytes).map_err(|(path, source)| RuleBookError::Write { path, source })?;
            book.reload_now()?;
            Ok(created)
        })
        .await?;
        tracing::info!(rule = name, created, "rule saved");
        Ok(Saved { created, overrides_builtin: self.builtin.contains(name) })
    }

    /// Removes the rule file `name` (a built-in rule it overrode runs again).
    pub async fn delete(&self, name: &str) -> Result<(), RuleBookError> {
        let path = self.rule_path(name)?;
        let _one_at_a_time = self.changing.lock().await;
        let hint = if self.builtin.contains(name) { "; built-in rules are replaced with PUT, not removed" } else { "" };
        let book = self.clone();
        blocking(move || {
            if !path.is_file() {
                let (file, dir) = (format!("{}.sql", path_stem(&path)), path.parent().unwrap_or(&path).to_owned());
                return Err(RuleBookError::NotFound { file, dir, hint });
            }
            durable::remove_file(&path).map_err(|(path, source)| RuleBookError::Write { path, source })?;
            book.reload_now()
        })
        .await?;
        tracing::info!(rule = name, "rule removed");
        Ok(())
    }

    /// Reads the rules directory again (after a hand edit).
    pub async fn reload(&self) -> Result<(), RuleBookError> {
        let _one_at_a_time = self.changing.lock().await;
        let book = self.clone();
        blocking(move || book.reload_now()).await
    }

    fn reload_now(&self) -> Result<(), RuleBookError> {
        let (rules, unusable) = Rules::load(self.dir.as_deref()).map_err(RuleBookError::Reload)?;
        let unusable: Vec<RuleFailure> = unusable.iter().map(RuleError::failure).collect();
        for failure in &unusable {
            tracing::warn!(rule = failure.rule, error = failure.error, "a rule file cannot be used and will not run");
        }
        self.current.send_replace(Arc::new(RuleSet { rules, unusable }));
        Ok(())
    }

    fn rule_path(&self, name: &str) -> Result<PathBuf, RuleBookError> {
        if !is_valid_name(name) {
            return Err(RuleBookError::BadName(name.to_owned()));
        }
        let dir = self.dir.as_ref().ok_or(RuleBookError::NoDirectory)?;
        Ok(dir.join(format!("{name}.sql")))
    }
}

fn path_stem(path: &Path) -> String {
    path.file_stem().map(|stem| stem.to_string_lossy().into_owned()).unwrap_or_default()
}

/// File work off the async threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, RuleBookError> + Send + 'static,
) -> Result<T, RuleBookError> {
    tokio::task::spawn_blocking(work).await.map_err(|e| RuleBookError::Interrupted(e.to_string()))?
}

/// Reads the rules directory again on each `SIGHUP` until `stopping`.
#[cfg(unix)]
pub(crate) async fn reload_on_hangup(book: RuleBook, mut stopping: watch::Receiver<bool>) {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hangups = match signal(SignalKind::hangup()) {
        Ok(hangups) => hangups,
        Err(error) => {
            tracing::warn!(%error, "cannot listen for SIGHUP; rules are read again only when changed through the API");
            return;
        }
    };
    loop {
        let received = tokio::select! {
            received = hangups.recv() => received,
            _ = stopping.wait_for(|stop| *stop) => return,
        };
        if received.is_none() {
            return;
        }
        match book.reload().await {
            Ok(()) => tracing::info!(rules = book.current().rules.len(), "rules read again (SIGHUP)"),
            Err(error) => tracing::error!(%error, "cannot read the rules again; the previous ones still run"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULE: &str = "-- description: Every event, for the test.\n-- severity: low\n-- schedule: 1h\n\
        -- lookback: 1h\n-- param: from\n-- param: to\n\
        SELECT event_id, time, 'x' AS finding FROM events \
        WHERE time >= to_timestamp_micros($from) AND time < to_timestamp_micros($to)\n";

    fn book(rules_dir: Option<PathBuf>) -> RuleBook {
        let (rules, unusable) = Rules::load(rules_dir.as_deref()).expect("rules");
        RuleBook::new(rules_dir, rules, unusable.iter().map(RuleError::failure).collect())
    }

    /// An empty store and its engine, and a book over an empty rules directory.
    struct Setup {
        _data: tempfile::TempDir,
        rules_dir: tempfile::TempDir,
        engine: QueryEngine,
        book: RuleBook,
    }

    fn setup() -> Setup {
        let data = tempfile::tempdir().expect("data dir");
        let rules_dir = tempfile::tempdir().expect("rules dir");
        agentrail_store::Store::open(data.path(), agentrail_store::StoreOptions::default()).expect("store");
        let engine = QueryEngine::open(data.path(), agentrail_query::QueryLimits::default()).expect("engine");
        let book = book(Some(rules_dir.path().to_owned()));
        Setup { _data: data, rules_dir, engine, book }
    }

    #[tokio::test]
    async fn a_rule_is_saved_seen_at_once_and_removed() {
        let Setup { _data, rules_dir, engine, book } = setup();
        let mut changes = book.subscribe();
        let before = book.current().rules.len();

        let saved = book.put("every_event", RULE, &engine).await.expect("saved");
        assert_eq!(saved, Saved { created: true, overrides_builtin: false });
        assert!(changes.has_changed().expect("open"));
        assert_eq!(changes.borrow_and_update().rules.len(), before + 1);
        assert_eq!(std::fs::read_to_string(rules_dir.path().join("every_event.sql")).expect("file"), RULE);

        let again = book.put("every_event", RULE, &engine).await.expect("replaced");
        assert!(!again.created);

        book.delete("every_event").await.expect("removed");
        assert!(book.current().rules.get("every_event").is_none());
        assert!(!rules_dir.path().join("every_event.sql").exists());
        let gone = book.delete("every_event").await.expect_err("already removed");
        assert!(matches!(gone, RuleBookError::NotFound { .. }), "{gone}");
    }

    #[tokio::test]
    async fn bad_names_bad_rules_and_no_directory_are_refused_and_nothing_is_written() {
        let Setup { _data, rules_dir, engine, book } = setup();
        for name in ["../escape", "a/b", "", ".hidden", "name.sql", "späße", &"x".repeat(129)] {
            let error = book.put(name, RULE, &engine).await.expect_err(name);
            assert!(matches!(error, RuleBookError::BadName(_)), "{name:?}: {error}");
        }
        let no_header = "SELECT event_id, time, 'x' AS finding FROM events";
        let no_column = RULE.replace("'x' AS finding", "'x' AS why");
        let bad_sql = RULE.replace("FROM events", "FROM no_such_table");
        let writes = RULE.replace("SELECT event_id", "DROP TABLE events; SELECT event_id");
        for (text, says) in [
            (no_header, "description"),
            (no_column.as_str(), "no `finding` column"),
            (bad_sql.as_str(), "no_such_table"),
            (writes.as_str(), "the rule cannot be used"),
        ] {
            let error = book.put("bad", text, &engine).await.expect_err(text);
            assert!(matches!(error, RuleBookError::Invalid(_)), "{error}");
            assert!(error.to_string().contains(says), "{error} should say {says}");
        }
        assert_eq!(std::fs::read_dir(rules_dir.path()).expect("list").count(), 0, "nothing was written");

        let builtin_only = self::book(None);
        let error = builtin_only.put("every_event", RULE, &engine).await.expect_err("no directory");
        assert!(matches!(error, RuleBookError::NoDirectory), "{error}");
        let error = builtin_only.delete("rate_spike").await.expect_err("no directory");
        assert!(matches!(error, RuleBookError::NoDirectory), "{error}");
    }

    #[tokio::test]
    async fn a_builtin_rule_is_overridden_and_comes_back_when_its_file_is_removed() {
        let Setup { _data, rules_dir: _rules_dir, engine, book } = setup();
        let builtin = book.current().rules.get("rate_spike").expect("built in").clone();

        let saved = book.put("rate_spike", RULE, &engine).await.expect("saved");
        assert!(saved.overrides_builtin && saved.created);
        assert_ne!(book.current().rules.get("rate_spike"), Some(&builtin));

        book.delete("rate_spike").await.expect("removed");
        assert_eq!(book.current().rules.get("rate_spike"), Some(&builtin));
        let error = book.delete("rate_spike").await.expect_err("a built-in rule has no file");
        assert!(error.to_string().contains("built-in rules are replaced with PUT"), "{error}");
    }

    #[tokio::test]
    async fn a_hand_edit_is_read_on_reload_and_a_broken_file_is_listed_not_run() {
        let Setup { _data, rules_dir, book, .. } = setup();
        std::fs::write(rules_dir.path().join("by_hand.sql"), RULE).expect("written");
        std::fs::write(rules_dir.path().join("broken.sql"), "SELECT 1").expect("written");
        assert!(book.current().rules.get("by_hand").is_none());
        book.reload().await.expect("reloaded");
        let set = book.current();
        assert!(set.rules.get("by_hand").is_some());
        assert!(set.rules.get("broken").is_none());
        assert_eq!(set.unusable.iter().map(|f| f.rule.as_str()).collect::<Vec<_>>(), ["broken"]);
    }
}
