//! One writer per source: each turns a typed description of an audited
//! action into that vendor's native JSON record and agentrail `event_id`.

pub mod agent;
pub mod cloudtrail;
pub mod gcp;
pub mod github;
pub mod json;
pub mod k8s;
pub mod okta;
pub mod otel;
