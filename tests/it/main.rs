//! End-to-end tests: the real `agentrail` binary, driven as a user drives it.

mod api;
mod audit;
mod compaction;
mod compat;
mod demo;
mod harness;
mod ingest;
mod kafka;
mod normalize;
mod postgres;
mod query;
mod replay;
mod report;
mod retention;
mod rules;
mod scheduler;
mod serve;
mod shared;
mod syslog;
mod tls;
mod verify;
mod web;
