//! Google Cloud Audit Logs `LogEntry` objects whose `protoPayload` is a
//! `type.googleapis.com/google.cloud.audit.AuditLog` (NDJSON).

use serde_json::Value;

use super::json::{F, Obj};
use crate::record::{Body, Emitted, Source};
use crate::time::{Nanos, Precision, rfc3339};
use crate::world::GCP_PROJECT;

/// Which audit log an entry goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuditLogKind {
    Activity,
    DataAccess,
}

impl AuditLogKind {
    pub fn log_name(self) -> String {
        match self {
            AuditLogKind::Activity => format!("projects/{GCP_PROJECT}/logs/cloudaudit.googleapis.com%2Factivity"),
            AuditLogKind::DataAccess => format!("projects/{GCP_PROJECT}/logs/cloudaudit.googleapis.com%2Fdata_access"),
        }
    }
}

/// One audit log entry.
#[derive(Debug, Clone)]
pub struct GcpEntry {
    pub insert_id: String,
    pub time: Nanos,
    pub received: Nanos,
    pub log: AuditLogKind,
    pub principal_email: String,
    pub service_account_key_name: Option<String>,
    /// Original authority first, as `serviceAccountDelegationInfo` lists it.
    pub delegation: Vec<String>,
    pub caller_ip: String,
    pub user_agent: String,
    pub service_name: &'static str,
    pub method_name: &'static str,
    pub resource_name: String,
    pub permission: &'static str,
    pub permission_type: &'static str,
    pub granted: bool,
    pub resource_type: &'static str,
    pub resource_labels: Vec<(&'static str, String)>,
    pub request: Value,
    pub operation_id: Option<String>,
}

impl GcpEntry {
    pub fn timestamp(&self) -> String {
        rfc3339(self.time, Precision::Nanos)
    }

    pub fn event_id(&self) -> String {
        format!("gcp.audit:{}:{}:{}", self.log.log_name(), self.insert_id, self.timestamp())
    }

    pub fn render(&self) -> Emitted {
        let delegation = if self.delegation.is_empty() {
            F::Skip
        } else {
            F::Arr(
                self.delegation
                    .iter()
                    .map(|p| {
                        F::Obj(Obj(vec![("firstPartyPrincipal", F::Obj(Obj(vec![("principalEmail", F::Str(p))])))]))
                    })
                    .collect(),
            )
        };
        let subject = if self.principal_email.ends_with(".gserviceaccount.com") {
            format!("serviceAccount:{}", self.principal_email)
        } else {
            format!("user:{}", self.principal_email)
        };
        let authentication = Obj(vec![
            ("principalEmail", F::Str(&self.principal_email)),
            ("serviceAccountKeyName", F::opt(self.service_account_key_name.as_deref())),
            ("serviceAccountDelegationInfo", delegation),
            ("principalSubject", F::Owned(subject)),
        ]);
        let status = if self.granted {
            F::Skip
        } else {
            F::Obj(Obj(vec![("code", F::Int(7)), ("message", F::Str("PERMISSION_DENIED"))]))
        };
        let timestamp = self.timestamp();
        let request_metadata = Obj(vec![
            ("callerIp", F::Str(&self.caller_ip)),
            ("callerSuppliedUserAgent", F::Str(&self.user_agent)),
            ("requestAttributes", F::Obj(Obj(vec![("time", F::Str(&timestamp)), ("auth", F::Obj(Obj::default()))]))),
            ("destinationAttributes", F::Obj(Obj::default())),
        ]);
        let authorization = Obj(vec![
            ("resource", F::Str(&self.resource_name)),
            ("permission", F::Str(self.permission)),
            ("granted", F::Bool(self.granted)),
            (
                "resourceAttributes",
                F::Obj(Obj(vec![("service", F::Str(self.service_name)), ("name", F::Str(&self.resource_name))])),
            ),
            ("permissionType", F::Str(self.permission_type)),
        ]);
        let payload = Obj(vec![
            ("@type", F::Str("type.googleapis.com/google.cloud.audit.AuditLog")),
            ("status", status),
            ("authenticationInfo", F::Obj(authentication)),
            ("requestMetadata", F::Obj(request_metadata)),
            ("serviceName", F::Str(self.service_name)),
            ("methodName", F::Str(self.method_name)),
            ("authorizationInfo", F::Arr(vec![F::Obj(authorization)])),
            ("resourceName", F::Str(&self.resource_name)),
            ("request", F::value(&self.request)),
        ]);
        let mut labels: Vec<(&str, F)> =
            self.resource_labels.iter().map(|(key, value)| (*key, F::Str(value))).collect();
        labels.push(("project_id", F::Str(GCP_PROJECT)));
        let severity = match (self.granted, self.log) {
            (false, _) => "ERROR",
            (true, AuditLogKind::Activity) => "NOTICE",
            (true, AuditLogKind::DataAccess) => "INFO",
        };
        let operation = self.operation_id.as_deref().map_or(F::Skip, |id| {
            F::Obj(Obj(vec![
                ("id", F::Str(id)),
                ("producer", F::Str(self.service_name)),
                ("first", F::Bool(true)),
                ("last", F::Bool(true)),
            ]))
        });
        let log_name = self.log.log_name();
        let line = Obj(vec![
            ("protoPayload", F::Obj(payload)),
            ("insertId", F::Str(&self.insert_id)),
            ("resource", F::Obj(Obj(vec![("type", F::Str(self.resource_type)), ("labels", F::Obj(Obj(labels)))]))),
            ("timestamp", F::Str(&timestamp)),
            ("severity", F::Str(severity)),
            ("logName", F::Str(&log_name)),
            ("operation", operation),
            ("receiveTimestamp", F::Owned(rfc3339(self.received, Precision::Nanos))),
        ])
        .line();
        Emitted { time: self.time, source: Source::Gcp, event_id: self.event_id(), body: Body::Line(line) }
    }
}
