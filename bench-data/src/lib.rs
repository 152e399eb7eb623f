//! # agentrail-bench-data
//!
//! A deterministic generator of realistic multi-day audit activity of
//! people, services and AI agents (orchestrators delegating to sub-agents)
//! across the seven sources agentrail reads, each record in its vendor's
//! native format: the agentrail gateway (`agent`), OTLP/JSON logs (`otel`),
//! AWS CloudTrail, Okta System Log, GitHub audit log, Kubernetes audit
//! events and Google Cloud Audit Logs.
//!
//! ## What it plants
//!
//! Inside ordinary traffic (mostly reads, some failures, CloudTrail and
//! Kubernetes heavy) it plants *incidents* — a person asks an orchestrator
//! for a task, it delegates to a sub-agent, and they act across systems with
//! destructive steps — and *anomalies* with clean look-alikes. The answer
//! key ([`GroundTruth`]) lists, per incident, the records that carry its
//! correlation id, the records an incident expansion must add (by trace id,
//! by credential inside its validity window, by agent and task) and decoys
//! that must stay out; per anomaly rule, the records it must flag and the
//! look-alikes it must not.
//!
//! ## How it is built
//!
//! * [`world`] — the organisation: people, agents, accounts, clusters.
//! * [`tools`] — the gateway's tools, their permissions and targets.
//! * [`calls`] / [`tasks`] — one agent call as every system logs it.
//! * [`sources`] — one writer per vendor format.
//! * [`agent_sim`] / [`background`] — streaming background traffic.
//! * [`plant`], [`incidents`], [`anomalies`] — what is planted.
//! * [`mod@generate`] / [`sink`] — the minute-by-minute driver and the outputs.
//! * [`ground_truth`] — the answer-key types.
//!
//! Determinism: every random choice comes from ChaCha8 streams seeded by the
//! seed (one stream per purpose), no clock is read for the data, and JSON
//! objects keep insertion order, so a seed always yields the same bytes.
//! Memory stays bounded by a few minutes of records plus the planted ones.

pub mod agent_sim;
pub mod anomalies;
pub mod background;
pub mod calls;
pub mod generate;
pub mod ground_truth;
pub mod ids;
pub mod incidents;
pub mod plant;
pub mod record;
pub mod sink;
pub mod sources;
pub mod tasks;
pub mod time;
pub mod tools;
pub mod world;

pub use generate::{Config, GenerateError, Progress, generate};
pub use ground_truth::{Anomaly, ExpandedEvent, GroundTruth, Incident, Link, Rule};
pub use record::Source;
pub use sink::{FileSink, MixedSink, Sink};

/// `mixed.ndjson` of a three-day run from 2026-11-16, in memory (for benches).
///
/// Returns an empty buffer only if `events` is zero.
pub fn mixed_ndjson(seed: u64, events: usize) -> Vec<u8> {
    let mut sink = MixedSink::default();
    match generate(&Config::new(seed, events), &mut sink, &mut |_| {}) {
        Ok(_) => sink.bytes,
        Err(_) => Vec::new(),
    }
}
