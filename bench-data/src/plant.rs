//! Shared machinery for planting incidents and anomalies: time slots after
//! the baseline period, fresh task contexts, and the answer-key bookkeeping.

use std::collections::BTreeMap;

use crate::calls::{CallIds, CallSpec, Env, TaskCtx, call};
use crate::ground_truth::{Anomaly, ExpandedEvent, Link, Rule};
use crate::ids::{Gen, Stream};
use crate::record::Emitted;
use crate::tasks::{ContextPlan, open};
use crate::time::{NANOS_PER_HOUR, NANOS_PER_MIN, Nanos, hour_of_day, weekday};
use crate::tools::Tool;

/// Plants records and keeps the answer key for them.
#[derive(Debug)]
pub struct Planner<'a> {
    pub env: Env<'a>,
    pub g: Gen,
    pub out: Vec<Emitted>,
    slots: Vec<Nanos>,
    next_slot: usize,
    pub anomalies: BTreeMap<Rule, Anomaly>,
}

impl<'a> Planner<'a> {
    /// A planner whose slots are whole hours in `[from, until)`, working hours first.
    pub fn new(seed: u64, env: Env<'a>, from: Nanos, until: Nanos) -> Self {
        let mut g = Gen::new(seed, Stream::Planted);
        let first = from + (NANOS_PER_HOUR - from.rem_euclid(NANOS_PER_HOUR)) % NANOS_PER_HOUR;
        let mut busy = Vec::new();
        let mut quiet = Vec::new();
        let mut hour = first;
        while hour + NANOS_PER_HOUR <= until {
            if (8..=20).contains(&hour_of_day(hour)) && weekday(hour) < 5 {
                busy.push(hour);
            } else {
                quiet.push(hour);
            }
            hour += NANOS_PER_HOUR;
        }
        shuffle(&mut g, &mut busy);
        shuffle(&mut g, &mut quiet);
        busy.extend(quiet);
        if busy.is_empty() {
            busy.push(first);
        }
        let anomalies = Rule::ALL
            .iter()
            .map(|&rule| {
                (
                    rule,
                    Anomaly {
                        rule,
                        event_ids: Vec::new(),
                        look_alike_event_ids: Vec::new(),
                        related_event_ids: Vec::new(),
                        description: String::new(),
                    },
                )
            })
            .collect();
        Planner { env, g, out: Vec::new(), slots: busy, next_slot: 0, anomalies }
    }

    /// The start of the next free hour (reused round-robin when there are more plants than hours).
    pub fn hour_slot(&mut self) -> Nanos {
        let slot = self.slots[self.next_slot % self.slots.len()];
        self.next_slot += 1;
        slot
    }

    /// An instant a few minutes into the next free hour.
    pub fn slot(&mut self) -> Nanos {
        let hour = self.hour_slot();
        hour + self.g.range_i64(3, 14) * NANOS_PER_MIN + self.g.range_i64(0, 60_000_000_000 - 1)
    }

    /// A context plan with fresh task, correlation and trace ids.
    pub fn plan(
        &mut self,
        agent: usize,
        actors: Vec<usize>,
        human: Option<usize>,
        lifetime_secs: i64,
        tools: &[Tool],
    ) -> ContextPlan {
        ContextPlan {
            agent,
            actors,
            human,
            task_id: format!("task-{}", self.g.lower_alnum(10)),
            correlation_id: format!("corr-{}", self.g.hex(16)),
            trace_id: self.g.trace_id(),
            lifetime_secs,
            tools: tools.to_vec(),
            stamps_correlation: false,
            obo_field: true,
            chat_has_correlation: true,
            extra_systems: Vec::new(),
        }
    }

    /// Opens a context; returns it with the ids of its issuance records (token grant, AssumeRole).
    pub fn open(&mut self, plan: &ContextPlan, at: Nanos) -> (TaskCtx, Vec<String>) {
        let before = self.out.len();
        let ctx = open(&self.env, &mut self.g, plan, at, &mut self.out);
        let ids = self.out[before..].iter().map(|e| e.event_id.clone()).collect();
        (ctx, ids)
    }

    /// Makes one call, up to 0.9 s after `at` (planted steps are whole seconds apart).
    pub fn call(&mut self, ctx: &TaskCtx, at: Nanos, spec: &CallSpec) -> CallIds {
        let at = at + self.g.range_i64(0, 899_999_999);
        call(&self.env, &mut self.g, ctx, at, spec, &mut self.out)
    }

    /// Adds evidence to a rule's entry.
    pub fn flag(&mut self, rule: Rule, event_ids: &[String], related: &[String]) {
        if let Some(entry) = self.anomalies.get_mut(&rule) {
            entry.event_ids.extend(event_ids.iter().cloned());
            entry.related_event_ids.extend(related.iter().cloned());
        }
    }

    /// Adds look-alikes to a rule's entry.
    pub fn look_alike(&mut self, rule: Rule, event_ids: &[String]) {
        if let Some(entry) = self.anomalies.get_mut(&rule) {
            entry.look_alike_event_ids.extend(event_ids.iter().cloned());
        }
    }
}

/// How incident expansion reaches a downstream record, from its id's source prefix.
pub fn downstream_link(event_id: &str) -> Link {
    if event_id.starts_with("aws.cloudtrail:") || event_id.starts_with("github:") {
        Link::CredentialId
    } else if event_id.starts_with("otel:") {
        Link::TraceId
    } else {
        Link::AgentTask
    }
}

/// Expanded entries for downstream ids.
pub fn expanded(ids: &[String]) -> Vec<ExpandedEvent> {
    ids.iter().map(|id| ExpandedEvent { event_id: id.clone(), link: downstream_link(id) }).collect()
}

fn shuffle<T>(g: &mut Gen, items: &mut [T]) {
    for i in (1..items.len()).rev() {
        let j = g.below(i + 1);
        items.swap(i, j);
    }
}
