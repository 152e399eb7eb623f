//! Okta System Log `LogEvent` objects (NDJSON), with the fields the System
//! Log API returns.

use serde_json::{Value, json};

use super::json::{F, Obj};
use crate::record::{Body, Emitted, Source};
use crate::time::{Nanos, Precision, rfc3339};

/// `actor` (and the shape of each `target`).
#[derive(Debug, Clone, PartialEq)]
pub struct OktaActor {
    pub id: String,
    /// `User`, `PublicClientApp`, `SystemPrincipal`, …
    pub kind: &'static str,
    pub alternate_id: String,
    pub display_name: String,
}

impl OktaActor {
    fn to_f(&self) -> F<'_> {
        F::Obj(Obj(vec![
            ("id", F::Str(&self.id)),
            ("type", F::Str(self.kind)),
            ("alternateId", F::Str(&self.alternate_id)),
            ("displayName", F::Str(&self.display_name)),
            ("detailEntry", F::Null),
        ]))
    }

    pub fn to_json(&self) -> Value {
        json!({ "id": self.id, "type": self.kind, "alternateId": self.alternate_id, "displayName": self.display_name, "detailEntry": null })
    }
}

/// Where the request came from.
#[derive(Debug, Clone, PartialEq)]
pub struct OktaClient {
    pub ip: String,
    pub raw_user_agent: String,
    pub browser: &'static str,
    pub os: &'static str,
    pub device: &'static str,
    pub city: &'static str,
    pub state: &'static str,
    pub country: &'static str,
}

/// One System Log event.
#[derive(Debug, Clone)]
pub struct OktaEvent {
    pub uuid: String,
    pub time: Nanos,
    pub event_type: &'static str,
    pub legacy_event_type: Option<&'static str>,
    pub display_message: &'static str,
    pub severity: &'static str,
    pub actor: OktaActor,
    pub client: OktaClient,
    /// `SUCCESS`, `FAILURE`, `DENY`, `ALLOW`, …
    pub result: &'static str,
    pub reason: Option<String>,
    pub targets: Vec<Value>,
    pub transaction_id: String,
    pub external_session_id: Option<String>,
    pub credential_type: Option<&'static str>,
    pub debug_data: Vec<(&'static str, String)>,
}

impl OktaEvent {
    pub fn event_id(&self) -> String {
        format!("okta:{}", self.uuid)
    }

    pub fn render(&self) -> Emitted {
        let c = &self.client;
        let geo = || {
            F::Obj(Obj(vec![
                ("city", F::Str(c.city)),
                ("state", F::Str(c.state)),
                ("country", F::Str(c.country)),
                ("postalCode", F::Null),
                ("geolocation", F::Null),
            ]))
        };
        let client = Obj(vec![
            (
                "userAgent",
                F::Obj(Obj(vec![
                    ("rawUserAgent", F::Str(&c.raw_user_agent)),
                    ("os", F::Str(c.os)),
                    ("browser", F::Str(c.browser)),
                ])),
            ),
            ("zone", F::Str("null")),
            ("device", F::Str(c.device)),
            ("id", F::Null),
            ("ipAddress", F::Str(&c.ip)),
            ("geographicalContext", geo()),
        ]);
        let session = self.external_session_id.as_deref();
        let authentication = Obj(vec![
            ("authenticationProvider", F::Null),
            ("credentialProvider", F::Null),
            ("credentialType", F::or_null(self.credential_type)),
            ("issuer", F::Null),
            ("interface", F::Null),
            ("authenticationStep", F::Int(0)),
            ("rootSessionId", F::or_null(session)),
            ("externalSessionId", F::or_null(session)),
        ]);
        let debug = Obj(self.debug_data.iter().map(|(key, value)| (*key, F::Str(value))).collect());
        let security = Obj(vec![
            ("asNumber", F::Null),
            ("asOrg", F::Null),
            ("isp", F::Null),
            ("domain", F::Null),
            ("isProxy", F::Null),
        ]);
        let ip_chain = Obj(vec![
            ("ip", F::Str(&c.ip)),
            ("geographicalContext", geo()),
            ("version", F::Str("V4")),
            ("source", F::Null),
        ]);
        let line = Obj(vec![
            ("actor", self.actor.to_f()),
            ("client", F::Obj(client)),
            ("device", F::Null),
            ("authenticationContext", F::Obj(authentication)),
            ("displayMessage", F::Str(self.display_message)),
            ("eventType", F::Str(self.event_type)),
            (
                "outcome",
                F::Obj(Obj(vec![("result", F::Str(self.result)), ("reason", F::or_null(self.reason.as_deref()))])),
            ),
            ("published", F::Owned(rfc3339(self.time, Precision::Millis))),
            ("securityContext", F::Obj(security)),
            ("severity", F::Str(self.severity)),
            ("debugContext", F::Obj(Obj(vec![("debugData", F::Obj(debug))]))),
            ("legacyEventType", F::or_null(self.legacy_event_type)),
            (
                "transaction",
                F::Obj(Obj(vec![
                    ("type", F::Str("WEB")),
                    ("id", F::Str(&self.transaction_id)),
                    ("detail", F::Obj(Obj::default())),
                ])),
            ),
            ("uuid", F::Str(&self.uuid)),
            ("version", F::Str("0")),
            ("request", F::Obj(Obj(vec![("ipChain", F::Arr(vec![F::Obj(ip_chain)]))]))),
            ("target", F::Arr(self.targets.iter().map(F::Value).collect())),
        ])
        .line();
        Emitted { time: self.time, source: Source::Okta, event_id: self.event_id(), body: Body::Line(line) }
    }
}
