//! Logging and the normalizer's configuration from files.

use std::fs;
use std::path::Path;

use agentrail_collect::{Limits, Normalizer, Redactor, Registry, SourceChoice};
use anyhow::Context;
use tracing_subscriber::EnvFilter;

use crate::cli::MappingArgs;

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

fn read_text(path: &Path) -> anyhow::Result<String> {
    fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}
