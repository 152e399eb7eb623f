//! Raw audit records in, agent-aware events out.
//!
//! Every collector of agentrail (HTTP, Kafka, files) hands its bytes to a
//! [`Normalizer`], which runs each record through the same steps:
//!
//! 1. **decode** ([`decode`]): split the input into records, whatever its
//!    shape: NDJSON, a JSON array, pretty-printed documents, a CloudTrail
//!    `Records` file, an OTLP/JSON logs request ([`otlp`]), syslog lines
//!    (RFC 5424 and 3164, [`syslog`]). Each record keeps
//!    its position (line, record) so a rejection can say where it was.
//! 2. **detect** ([`Registry`]): pick the source mapping whose `[detect]`
//!    rules match, in priority order, unless the caller named one. A record
//!    no mapping recognises is rejected, never guessed.
//! 3. **map** ([`mapping`]): fill the event's columns from the record as the
//!    mapping file says: first non-empty of several paths, templates,
//!    constants, globs to vocabulary words, regex extraction, RFC 8693 `act`
//!    chains, W3C `traceparent`, time formats. Mappings are TOML files in
//!    `schemas/sources/`, embedded here and overridable from a directory, so
//!    a new source is a file, not a recompile.
//! 4. **redact** ([`Redactor`]): remove bearer tokens, JWTs, cloud and SaaS
//!    keys, private keys and secret-named fields from every column, the
//!    attributes and the raw record; keep the credential's id.
//! 5. **id and attributes**: the source's own id qualified by the source, or a
//!    content hash; every field not copied into a column is kept, flattened,
//!    in `attributes`.
//!
//! [`check`] runs the same steps and says why: which mapping each record
//! took, and where each column came from (`agentrail sources check`).
//!
//! The crate does no I/O: mapping and redaction files arrive as text, input as
//! bytes. That keeps it fast to test and safe to fuzz (see `fuzz/`).

pub mod check;
pub mod decode;
mod flatten;
mod glob;
pub mod json;
pub mod mapping;
mod normalize;
pub mod otlp;
pub mod otlp_proto;
mod path;
mod redact;
mod registry;
pub mod syslog;

pub use decode::{DecodeLimits, DecodeProblem, DecodedRecord, Position};
pub use flatten::AttributeLimits;
pub use json::Json;
pub use mapping::{Column, Mapping, MappingError};
pub use normalize::{Limits, Normalizer, RejectReason, Rejection, SourceChoice};
pub use path::{FieldPath, PathError};
pub use redact::{BUILTIN_REDACTION, RedactionConfigError, Redactor, Triggers};
pub use registry::{BUILTIN_MAPPINGS, Registry};

/// A normalizer with the built-in mappings, redaction rules and limits.
pub fn builtin_normalizer() -> Result<Normalizer, BuiltinError> {
    Ok(Normalizer::new(Registry::builtin()?, Redactor::builtin()?, Limits::default()))
}

/// A built-in file that does not load: a bug, caught by the tests.
#[derive(Debug, thiserror::Error)]
pub enum BuiltinError {
    #[error(transparent)]
    Mapping(#[from] MappingError),
    #[error(transparent)]
    Redaction(#[from] RedactionConfigError),
}
