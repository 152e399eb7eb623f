//! One generated vendor record on its way to the output files.

use std::rc::Rc;

use crate::time::Nanos;

/// The seven sources, named as agentrail names them (`event.source`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Source {
    Agent,
    Otel,
    CloudTrail,
    Okta,
    GitHub,
    K8s,
    Gcp,
}

impl Source {
    pub const ALL: [Source; 7] =
        [Source::Agent, Source::Otel, Source::CloudTrail, Source::Okta, Source::GitHub, Source::K8s, Source::Gcp];

    /// agentrail's source name, also the output file stem (`<name>.ndjson`).
    pub fn name(self) -> &'static str {
        match self {
            Source::Agent => "agent",
            Source::Otel => "otel",
            Source::CloudTrail => "aws.cloudtrail",
            Source::Okta => "okta",
            Source::GitHub => "github",
            Source::K8s => "k8s.audit",
            Source::Gcp => "gcp.audit",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

/// The rendered JSON of a record, in the shape its source file needs.
#[derive(Debug, Clone)]
pub enum Body {
    /// A complete line (gateway, Okta, GitHub, Kubernetes, GCP).
    Line(String),
    /// One OTLP log record; `resource_prefix` is the `ResourceLogs` object up
    /// to the opening bracket of `logRecords`, shared by all records of one
    /// emitting process so the writer can batch them into one request.
    Otel { resource_prefix: Rc<str>, record: String },
    /// One CloudTrail record; the writer wraps records into `{"Records":[…]}`
    /// documents per region, as CloudTrail delivers its log files.
    CloudTrail { region: &'static str, record: String },
}

/// The closing of an OTLP `ResourceLogs` object opened by a `resource_prefix`.
pub const OTEL_RESOURCE_SUFFIX: &str = "]}]}";

/// A generated record with its agentrail `event_id`.
#[derive(Debug, Clone)]
pub struct Emitted {
    pub time: Nanos,
    pub source: Source,
    pub event_id: String,
    pub body: Body,
}
