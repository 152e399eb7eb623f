//! The whole path of a record: decode, detect, map, redact, id, attributes.

use std::borrow::Cow;

use agentrail_event::Event;
use sha2::{Digest, Sha256};

use crate::decode::{self, DecodeLimits, DecodeProblem, DecodedRecord, Position};
use crate::flatten::{self, AttributeLimits};
use crate::json::Json;
use crate::mapping::{Column, ColumnKind, MapError, Mapping};
use crate::redact::{Redactor, Triggers};
use crate::registry::Registry;

/// Which mapping to use for the records of an input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceChoice {
    /// Detect each record's source (`--source auto`).
    Auto,
    /// Use this mapping for every record.
    Named(String),
}

impl SourceChoice {
    pub fn parse(text: &str) -> Self {
        if text == "auto" { SourceChoice::Auto } else { SourceChoice::Named(text.to_owned()) }
    }
}

/// Limits applied to each record.
#[derive(Debug, Clone, Copy, Default)]
pub struct Limits {
    pub decode: DecodeLimits,
    pub attributes: AttributeLimits,
}

/// Why a record was not turned into an event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RejectReason {
    #[error(transparent)]
    Decode(#[from] DecodeProblem),
    #[error("no source mapping recognises this record (tried {tried}); name one with --source")]
    UnknownSource { tried: String },
    #[error("no source mapping is named `{0}`")]
    NoSuchSource(String),
    #[error("{mapping}: {error}")]
    Map { mapping: String, error: MapError },
}

/// A rejected record: where it was, why, and its bytes for quarantine.
#[derive(Debug, Clone)]
pub struct Rejection {
    pub position: Position,
    pub reason: RejectReason,
    /// The source the record was taken for, when known.
    pub source: Option<String>,
    pub raw: Vec<u8>,
}

impl From<decode::DecodeRejection<'_>> for Rejection {
    fn from(rejection: decode::DecodeRejection<'_>) -> Self {
        Rejection {
            position: rejection.position,
            reason: RejectReason::Decode(rejection.problem),
            source: None,
            raw: rejection.raw.into_owned(),
        }
    }
}

/// Turns raw input into events. Cheap to share between threads.
#[derive(Debug)]
pub struct Normalizer {
    registry: Registry,
    redactor: Redactor,
    limits: Limits,
}

impl Normalizer {
    pub fn new(registry: Registry, redactor: Redactor, limits: Limits) -> Self {
        Normalizer { registry, redactor, limits }
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    pub fn redactor(&self) -> &Redactor {
        &self.redactor
    }

    /// Checks a `--source` choice before any input is read.
    pub fn check_choice(&self, choice: &SourceChoice) -> Result<(), RejectReason> {
        match choice {
            SourceChoice::Named(name) if self.registry.get(name).is_none() => {
                Err(RejectReason::NoSuchSource(name.clone()))
            }
            _ => Ok(()),
        }
    }

    /// Normalizes every record of `input`, calling `emit` once per record in
    /// input order with its event or its rejection.
    pub fn normalize(&self, input: &[u8], choice: &SourceChoice, emit: &mut dyn FnMut(Result<Event, Rejection>)) {
        self.normalize_with(input, self.limits.decode, choice, emit);
    }

    /// Normalizes all of `input` into events, or returns the first record's
    /// rejection: for inputs that are expected to be clean (samples, fixtures).
    // The event is the larger variant; boxing the rejection would save nothing.
    #[allow(clippy::result_large_err)]
    pub fn normalize_all(&self, input: &[u8], choice: &SourceChoice) -> Result<Vec<Event>, Rejection> {
        let mut events = Vec::new();
        let mut first_rejection = None;
        self.normalize(input, choice, &mut |result| match result {
            Ok(event) => events.push(event),
            Err(rejection) => {
                first_rejection.get_or_insert(rejection);
            }
        });
        first_rejection.map_or(Ok(events), Err)
    }

    /// [`Normalizer::normalize`] with other decode limits, for callers that
    /// feed a long stream in chunks.
    pub fn normalize_with(
        &self,
        input: &[u8],
        limits: DecodeLimits,
        choice: &SourceChoice,
        emit: &mut dyn FnMut(Result<Event, Rejection>),
    ) {
        decode::decode(input, limits, &mut |decoded| {
            emit(match decoded {
                Ok(record) => self.normalize_record(record, choice),
                Err(rejection) => Err(rejection.into()),
            })
        });
    }

    /// The mapping a record takes: the one named (by the caller, or by its
    /// envelope), else the first whose `[detect]` matches.
    pub(crate) fn choose(
        &self,
        value: &Json<'_>,
        choice: &SourceChoice,
        implied_source: Option<&str>,
    ) -> Result<&Mapping, RejectReason> {
        let named: Option<&str> = match choice {
            SourceChoice::Named(name) => Some(name),
            SourceChoice::Auto => implied_source,
        };
        match named {
            Some(name) => self.registry.get(name).ok_or_else(|| RejectReason::NoSuchSource(name.to_owned())),
            None => self
                .registry
                .detect(value)
                .ok_or_else(|| RejectReason::UnknownSource { tried: self.registry.detectable_names() }),
        }
    }

    /// Normalizes one decoded record.
    // The event is the larger variant; boxing the rejection would save nothing.
    #[allow(clippy::result_large_err)]
    pub fn normalize_record(&self, record: DecodedRecord<'_>, choice: &SourceChoice) -> Result<Event, Rejection> {
        let DecodedRecord { position, mut value, text, implied_source } = record;
        let reject = |reason: RejectReason, source: Option<&str>, value: &Json<'_>| Rejection {
            position,
            reason,
            source: source.map(str::to_owned),
            raw: text.map_or_else(|| value.to_json_string().into_bytes(), |t| t.as_bytes().to_vec()),
        };
        let mapping = match self.choose(&value, choice, implied_source) {
            Ok(mapping) => mapping,
            Err(reason) => return Err(reject(reason, None, &value)),
        };
        let mapped = match mapping.apply(&value) {
            Ok(mapped) => mapped,
            Err(error) => {
                let reason = RejectReason::Map { mapping: mapping.name.clone(), error };
                return Err(reject(reason, Some(&mapping.name), &value));
            }
        };
        let mut event = mapped.event;

        // The text to store: the record's own line, or (out of an envelope)
        // its serialization. One scan of it says which redaction rules apply.
        let mut raw: Cow<'_, str> = match text {
            Some(t) => Cow::Borrowed(t),
            None => Cow::Owned(value.to_json_string()),
        };
        let triggers = self.redactor.scan(raw.as_bytes());
        let mut redactions = 0;
        if !triggers.is_none() {
            redactions += self.redact_columns(&mut event, triggers);
            let in_record = self.redactor.redact_value_with(&mut value, triggers);
            if in_record > 0 {
                raw = Cow::Owned(value.to_json_string());
            }
            redactions += in_record;
        }
        if raw.len() > self.limits.decode.max_record_bytes {
            let reason = DecodeProblem::TooLarge { size: raw.len(), limit: self.limits.decode.max_record_bytes };
            return Err(reject(reason.into(), Some(&mapping.name), &value));
        }
        if !mapped.has_own_id {
            event.event_id = content_id(&mapping.name, &value);
        }
        let skip: Vec<&str> = mapped.copied.iter().map(|p| p.dotted()).collect();
        event.attributes = flatten::flatten(&value, &skip, self.limits.attributes);
        event.raw = raw.into_owned();
        event.redactions = redactions;
        Ok(event)
    }

    /// Redacts every text and list column; the credential id keeps ids and
    /// hashes anything secret.
    fn redact_columns(&self, event: &mut Event, triggers: Triggers) -> u32 {
        let mut count = 0;
        for &column in Column::ALL {
            match column.kind() {
                ColumnKind::Text if column == Column::CredentialId => {
                    if let Some(id) = event.credential_id.as_deref().and_then(|id| self.redactor.credential_id(id)) {
                        event.credential_id = Some(id);
                        count += 1;
                    }
                }
                ColumnKind::Text => {
                    let slot = match column {
                        Column::EventId => Some(&mut event.event_id),
                        Column::Action => Some(&mut event.action),
                        other => other.text_slot(event).and_then(Option::as_mut),
                    };
                    if let Some(text) = slot
                        && let Some((redacted, n)) = self.redactor.redact_text_with(text, triggers)
                    {
                        *text = redacted;
                        count += n;
                    }
                }
                ColumnKind::List => {
                    let list = if column == Column::Scopes { &mut event.scopes } else { &mut event.delegation_chain };
                    for item in list.iter_mut() {
                        if let Some((redacted, n)) = self.redactor.redact_text_with(item, triggers) {
                            *item = redacted;
                            count += n;
                        }
                    }
                }
                ColumnKind::Time | ColumnKind::Vocabulary => {}
            }
        }
        count
    }
}

/// The id of a record whose source gives none: the source and a SHA-256 of
/// the record's canonical (re-serialized) JSON, so the same record re-sent
/// with other whitespace or inside another envelope gets the same id.
fn content_id(source: &str, value: &Json<'_>) -> String {
    let mut hasher = Sha256::new();
    hasher.update(source.as_bytes());
    hasher.update([0]);
    hasher.update(value.to_json_string().as_bytes());
    format!("{source}:sha256:{}", hex::encode(&hasher.finalize()[..16]))
}
