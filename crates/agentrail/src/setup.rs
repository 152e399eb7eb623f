//! Logging, the normalizer's configuration from files, and opening a data
//! directory for writing or for queries.

use std::fs;
use std::path::Path;

use agentrail_collect::{Limits, Normalizer, Redactor, Registry, SourceChoice};
use agentrail_query::{NamedQueries, QueryEngine, QueryLimits};
use agentrail_shared::Shared;
use agentrail_store::{Store, StoreOptions};
use anyhow::Context;
use tracing_subscriber::EnvFilter;

use crate::cli::{MappingArgs, QueriesDirArg, SharedArgs};

/// Logs go to stderr; stdout is for data.
pub fn init_tracing(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false).init();
}

/// The built-in mappings with a directory's files on top, and the redaction rules.
pub fn normalizer(args: &MappingArgs, limits: Limits) -> anyhow::Result<Normalizer> {
    let mut files = Vec::new();
    if let Some(dir) = &args.mappings {
        let entries = fs::read_dir(dir).with_context(|| format!("cannot read mappings directory {}", dir.display()))?;
        let mut paths: Vec<_> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        paths.sort();
        for path in paths {
            let text = fs::read_to_string(&path).with_context(|| format!("cannot read mapping {}", path.display()))?;
            files.push((path.display().to_string(), text));
        }
        tracing::info!(count = files.len(), dir = %dir.display(), "loaded mapping files");
    }
    let registry = Registry::with_overrides(files)?;
    let redactor = match &args.redaction {
        Some(path) => Redactor::from_toml(&path.display().to_string(), &read_text(path)?)?,
        None => Redactor::builtin()?,
    };
    Ok(Normalizer::new(registry, redactor, limits))
}

/// The `--source` choice, checked against the loaded mappings.
pub fn source_choice(normalizer: &Normalizer, source: &str) -> anyhow::Result<SourceChoice> {
    let choice = SourceChoice::parse(source);
    normalizer.check_choice(&choice).with_context(|| {
        let names: Vec<&str> = normalizer.registry().mappings().iter().map(|m| m.name.as_str()).collect();
        format!("--source takes `auto` or one of: {}", names.join(", "))
    })?;
    Ok(choice)
}

/// Opens a data directory for reading, refusing a path that is not one;
/// or, given a shared store, everything its catalog lists (index parts
/// cached under the data directory).
pub fn query_engine(data_dir: &Path, shared: &SharedArgs, limits: QueryLimits) -> anyhow::Result<QueryEngine> {
    if let Some((storage, catalog)) = shared.configs()? {
        let shared = Shared::open(&storage, &catalog)?;
        let poll = std::time::Duration::from_secs(1);
        return Ok(QueryEngine::open_shared(&shared, &data_dir.join("cache"), poll, limits)?);
    }
    if !data_dir.is_dir() {
        anyhow::bail!("{} is not a data directory (see --data-dir)", data_dir.display());
    }
    Ok(QueryEngine::open(data_dir, limits)?)
}

/// The built-in named queries, with a directory's on top.
pub fn named_queries(args: &QueriesDirArg) -> anyhow::Result<NamedQueries> {
    Ok(match &args.dir {
        Some(dir) => NamedQueries::with_dir(dir)?,
        None => NamedQueries::builtin()?,
    })
}

/// A runtime for one command's queries (they run on the engine's own threads).
pub fn query_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread().enable_all().build().context("cannot start the runtime")
}

/// Opens a data directory for writing, saying what recovery found.
pub fn open_store(data_dir: &Path, options: StoreOptions) -> anyhow::Result<Store> {
    let (store, report) = Store::open(data_dir, options)
        .with_context(|| format!("cannot open the data directory {}", data_dir.display()))?;
    if report.replayed_events > 0 {
        eprintln!("agentrail: recovered {} acknowledged events from the write-ahead log", report.replayed_events);
    }
    if report.torn_tail_bytes > 0 {
        eprintln!("agentrail: cut {} bytes of an unacknowledged write from the log's end", report.torn_tail_bytes);
    }
    for damage in &report.wal_damage {
        eprintln!(
            "agentrail: write-ahead log damage in {} at byte {}: {}",
            damage.file.display(),
            damage.offset,
            damage.reason
        );
    }
    Ok(store)
}

fn read_text(path: &Path) -> anyhow::Result<String> {
    fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}
