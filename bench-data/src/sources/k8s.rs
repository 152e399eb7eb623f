//! Kubernetes `audit.k8s.io/v1` `Event` objects (NDJSON, as the API server's
//! log backend writes them).

use serde_json::{Value, json};

use super::json::{F, Obj};
use crate::record::{Body, Emitted, Source};
use crate::time::{Nanos, Precision, rfc3339};
use crate::tools::K8sObject;

/// `user` / `impersonatedUser`.
#[derive(Debug, Clone, PartialEq)]
pub struct K8sUser {
    pub username: String,
    pub uid: Option<String>,
    pub groups: Vec<String>,
    pub extra: Vec<(&'static str, Vec<String>)>,
}

impl K8sUser {
    fn to_f(&self) -> F<'_> {
        let extra = if self.extra.is_empty() {
            F::Skip
        } else {
            F::Obj(Obj(self
                .extra
                .iter()
                .map(|(key, values)| (*key, F::Arr(values.iter().map(|v| F::Str(v)).collect())))
                .collect()))
        };
        F::Obj(Obj(vec![
            ("username", F::Str(&self.username)),
            ("uid", F::opt(self.uid.as_deref())),
            ("groups", F::Arr(self.groups.iter().map(|g| F::Str(g)).collect())),
            ("extra", extra),
        ]))
    }
}

/// The audit stage of an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    RequestReceived,
    ResponseComplete,
}

impl Stage {
    pub fn name(self) -> &'static str {
        match self {
            Stage::RequestReceived => "RequestReceived",
            Stage::ResponseComplete => "ResponseComplete",
        }
    }
}

/// One audit event (one stage of one request).
#[derive(Debug, Clone)]
pub struct K8sEvent {
    pub audit_id: String,
    pub stage: Stage,
    /// `Metadata`, `Request` or `RequestResponse`.
    pub level: &'static str,
    pub verb: &'static str,
    pub request_uri: String,
    pub user: K8sUser,
    pub impersonated_user: Option<K8sUser>,
    pub source_ip: String,
    pub user_agent: String,
    pub object_ref: Option<K8sObject>,
    pub status_code: u16,
    pub received: Nanos,
    pub completed: Nanos,
    pub annotations: Vec<(&'static str, String)>,
}

impl K8sEvent {
    pub fn event_id(&self) -> String {
        format!("k8s.audit:{}:{}", self.audit_id, self.stage.name())
    }

    fn response_status(&self) -> Value {
        if self.stage == Stage::RequestReceived {
            return Value::Null;
        }
        let (resource, name) = match &self.object_ref {
            Some(o) => (o.resource, o.name.clone().unwrap_or_default()),
            None => ("", String::new()),
        };
        match self.status_code {
            403 => {
                let namespace = self.object_ref.as_ref().and_then(|o| o.namespace.clone()).unwrap_or_default();
                let group = self.object_ref.as_ref().map_or("", |o| o.api_group);
                json!({
                    "metadata": {},
                    "status": "Failure",
                    "message": format!(
                        "{resource} \"{name}\" is forbidden: User \"{}\" cannot {} resource \"{resource}\" in API group \"{group}\" in the namespace \"{namespace}\"",
                        self.user.username, self.verb
                    ),
                    "reason": "Forbidden",
                    "details": { "name": name, "kind": resource },
                    "code": 403,
                })
            }
            404 => json!({
                "metadata": {},
                "status": "Failure",
                "message": format!("{resource} \"{name}\" not found"),
                "reason": "NotFound",
                "details": { "name": name, "kind": resource },
                "code": 404,
            }),
            409 => json!({
                "metadata": {},
                "status": "Failure",
                "message": format!("Operation cannot be fulfilled on {resource} \"{name}\": the object has been modified; please apply your changes to the latest version and try again"),
                "reason": "Conflict",
                "details": { "name": name, "kind": resource },
                "code": 409,
            }),
            code => json!({ "metadata": {}, "code": code }),
        }
    }

    pub fn render(&self) -> Emitted {
        let object_ref = self.object_ref.as_ref().map_or(F::Skip, |o| {
            F::Obj(Obj(vec![
                ("resource", F::Str(o.resource)),
                ("namespace", F::opt(o.namespace.as_deref())),
                ("name", F::opt(o.name.as_deref())),
                ("apiGroup", if o.api_group.is_empty() { F::Skip } else { F::Str(o.api_group) }),
                ("apiVersion", F::Str(o.api_version)),
                ("subresource", F::opt(o.subresource)),
            ]))
        });
        let annotations = if self.stage == Stage::RequestReceived || self.annotations.is_empty() {
            F::Skip
        } else {
            F::Obj(Obj(self.annotations.iter().map(|(key, value)| (*key, F::Str(value))).collect()))
        };
        let failed = self.status_code >= 400 && self.stage == Stage::ResponseComplete;
        let status = if failed { self.response_status() } else { Value::Null };
        let response_status = if failed {
            F::Value(&status)
        } else if self.stage == Stage::RequestReceived {
            F::Skip
        } else {
            F::Obj(Obj(vec![("metadata", F::Obj(Obj::default())), ("code", F::Uint(u64::from(self.status_code)))]))
        };
        let stage_time = if self.stage == Stage::RequestReceived { self.received } else { self.completed };
        let line = Obj(vec![
            ("kind", F::Str("Event")),
            ("apiVersion", F::Str("audit.k8s.io/v1")),
            ("level", F::Str(self.level)),
            ("auditID", F::Str(&self.audit_id)),
            ("stage", F::Str(self.stage.name())),
            ("requestURI", F::Str(&self.request_uri)),
            ("verb", F::Str(self.verb)),
            ("user", self.user.to_f()),
            ("impersonatedUser", self.impersonated_user.as_ref().map_or(F::Skip, K8sUser::to_f)),
            ("sourceIPs", F::Arr(vec![F::Str(&self.source_ip)])),
            ("userAgent", F::Str(&self.user_agent)),
            ("objectRef", object_ref),
            ("responseStatus", response_status),
            ("requestReceivedTimestamp", F::Owned(rfc3339(self.received, Precision::Micros))),
            ("stageTimestamp", F::Owned(rfc3339(stage_time, Precision::Micros))),
            ("annotations", annotations),
        ])
        .line();
        Emitted { time: stage_time, source: Source::K8s, event_id: self.event_id(), body: Body::Line(line) }
    }
}
