//! The agent-aware event, at the centre of agentrail.
//!
//! Every audit record agentrail accepts, whether a CloudTrail record, an Okta
//! System Log event, a Kubernetes audit event or an agent gateway's log line,
//! becomes one [`Event`]: who acted, as which agent, on whose behalf, for which
//! task, with which credential and scope, and whether it was approved. The
//! column names are a public contract shared by the CLI's JSON, the HTTP API,
//! SQL and the reports.
//!
//! This crate holds the type and its three faces, kept in step by tests:
//! - the Rust type [`Event`] with its closed vocabularies ([`ActionClass`],
//!   [`Outcome`], [`ActorType`], [`CredentialType`]) and [`Timestamp`];
//! - the Arrow schema [`event_schema`] and [`EventBatchBuilder`], which turns
//!   events into `RecordBatch`es for Parquet and DataFusion;
//! - the JSON Schema in `schemas/agent_event.schema.json` ([`JSON_SCHEMA`]).
//!
//! It does no I/O and knows nothing of sources, storage or transports: every
//! other crate depends on it, it depends on none of them.

mod batch;
mod event;
mod kinds;
mod schema;
mod timestamp;

pub use batch::{EventBatchBuilder, events_to_batch};
pub use event::Event;
pub use kinds::{ActionClass, ActorType, CredentialType, Outcome, UnknownKind};
pub use schema::{attributes_type, columns, event_schema, list_item_field, timestamp_type};
pub use timestamp::{Timestamp, TimestampError, civil_from_days, days_from_civil};

/// The JSON Schema of an event as printed by `agentrail normalize` and the API.
pub const JSON_SCHEMA: &str = include_str!("../../../schemas/agent_event.schema.json");
