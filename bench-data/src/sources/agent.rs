//! agentrail's generic gateway / MCP tool-server record (NDJSON).
//!
//! `token.act` follows RFC 8693: the outermost `act.sub` is the current
//! actor, nested ones are earlier actors, so the delegation chain is
//! `[sub, innermost act.sub, …, outermost act.sub]`.

use super::json::{F, Obj};
use crate::record::{Body, Emitted, Source};
use crate::time::{Nanos, Precision, rfc3339};

/// The credential the agent presented, as the gateway logs it (never the secret).
#[derive(Debug, Clone, PartialEq)]
pub struct GatewayToken {
    pub jti: String,
    /// `oauth`, `api_key`, `session` or `workload`.
    pub kind: &'static str,
    pub iat: i64,
    /// Absent for static API keys, which do not expire.
    pub exp: Option<i64>,
    pub scope: String,
    pub sub: String,
    /// Agents that acted, earliest first; the last one is the current actor.
    pub actors: Vec<String>,
}

/// A human-in-the-loop approval.
#[derive(Debug, Clone, PartialEq)]
pub struct Approval {
    pub id: String,
    pub approved_by: String,
}

/// One gateway record.
#[derive(Debug, Clone)]
pub struct GatewayRecord {
    pub id: String,
    pub time: Nanos,
    pub agent_id: String,
    pub agent_role: String,
    pub on_behalf_of: Option<String>,
    pub task_id: Option<String>,
    pub session_id: String,
    pub correlation_id: Option<String>,
    pub trace_id: String,
    pub span_id: String,
    pub request_id: String,
    pub method: &'static str,
    pub tool: String,
    pub system: &'static str,
    pub resource: String,
    pub outcome: &'static str,
    pub permission: String,
    pub token: Option<GatewayToken>,
    pub approval: Option<Approval>,
    pub src_ip: String,
    pub user_agent: String,
    pub reason: Option<String>,
    pub message: String,
}

fn act_chain(actors: &[String]) -> F<'_> {
    let mut act = F::Skip;
    for actor in actors {
        act = if act.skipped_field() {
            F::Obj(Obj(vec![("sub", F::Str(actor))]))
        } else {
            F::Obj(Obj(vec![("sub", F::Str(actor)), ("act", act)]))
        };
    }
    act
}

impl GatewayRecord {
    pub fn event_id(&self) -> String {
        format!("agent:{}", self.id)
    }

    pub fn render(&self) -> Emitted {
        let token = self.token.as_ref().map_or(F::Skip, |t| {
            F::Obj(Obj(vec![
                ("jti", F::Str(&t.jti)),
                ("type", F::Str(t.kind)),
                ("iat", F::Int(t.iat)),
                ("exp", t.exp.map_or(F::Skip, F::Int)),
                ("scope", F::Str(&t.scope)),
                ("sub", F::Str(&t.sub)),
                ("act", act_chain(&t.actors)),
            ]))
        });
        let approval = self.approval.as_ref().map_or(F::Skip, |a| {
            F::Obj(Obj(vec![
                ("id", F::Str(&a.id)),
                ("approved_by", F::Str(&a.approved_by)),
                ("decision", F::Str("approved")),
            ]))
        });
        let line = Obj(vec![
            ("id", F::Str(&self.id)),
            ("ts", F::Owned(rfc3339(self.time, Precision::Micros))),
            ("agent_id", F::Str(&self.agent_id)),
            ("agent_role", F::Str(&self.agent_role)),
            ("on_behalf_of", F::opt(self.on_behalf_of.as_deref())),
            ("task_id", F::opt(self.task_id.as_deref())),
            ("session_id", F::Str(&self.session_id)),
            ("correlation_id", F::opt(self.correlation_id.as_deref())),
            ("traceparent", F::Owned(format!("00-{}-{}-01", self.trace_id, self.span_id))),
            ("request_id", F::Str(&self.request_id)),
            ("method", F::Str(self.method)),
            ("tool", F::Str(&self.tool)),
            ("system", F::Str(self.system)),
            ("resource", F::Str(&self.resource)),
            ("outcome", F::Str(self.outcome)),
            ("permission", F::Str(&self.permission)),
            ("token", token),
            ("approval", approval),
            ("src_ip", F::Str(&self.src_ip)),
            ("user_agent", F::Str(&self.user_agent)),
            ("reason", F::opt(self.reason.as_deref())),
            ("message", F::Str(&self.message)),
        ])
        .line();
        Emitted { time: self.time, source: Source::Agent, event_id: self.event_id(), body: Body::Line(line) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn act_chain_outermost_is_current() {
        let actors = ["orch".to_owned(), "sub".to_owned()];
        let chain = Obj(vec![("act", act_chain(&actors))]).line();
        assert_eq!(chain, r#"{"act":{"sub":"sub","act":{"sub":"orch"}}}"#);
    }
}
