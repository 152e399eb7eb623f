//! The driver: plans the planted incidents and anomalies, then walks the
//! time range minute by minute, merging planted records, background agent
//! tasks and people/service traffic, and hands records to the sink in time
//! order. Memory stays bounded by a few minutes of records.

use std::collections::BTreeMap;
use std::io;

use crate::agent_sim::{AgentSim, AgentSimPlan};
use crate::anomalies;
use crate::background::{Background, volume_weight};
use crate::calls::{Env, OtelResources};
use crate::ground_truth::{GroundTruth, Rule};
use crate::ids::{Gen, Stream};
use crate::incidents;
use crate::plant::Planner;
use crate::record::{Emitted, Source};
use crate::sink::Sink;
use crate::time::{NANOS_PER_DAY, NANOS_PER_HOUR, NANOS_PER_MIN, Nanos, Precision, parse_date, rfc3339};
use crate::world::{AgentKind, World};

/// The default first day of generated data.
pub const DEFAULT_START: &str = "2026-11-16";
/// Share of all records that are gateway calls of background agents.
const GATEWAY_SHARE: f64 = 0.075;
/// Records are released once no later record can precede them (a tool
/// decision may be logged up to 90 s before its call).
const RELEASE_LAG: Nanos = 3 * NANOS_PER_MIN;

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub seed: u64,
    /// Target number of records over all sources.
    pub events: usize,
    pub days: u32,
    /// Midnight UTC of the first day.
    pub start: Nanos,
}

impl Config {
    /// `events` records over three days from 2026-11-16.
    pub fn new(seed: u64, events: usize) -> Self {
        Config { seed, events, days: 3, start: parse_date(DEFAULT_START).unwrap_or(0) }
    }

    /// The end of the baseline period: the first third of the days (at least one).
    pub fn baseline_until(&self) -> Nanos {
        self.start + i64::from((self.days / 3).max(1)) * NANOS_PER_DAY
    }

    pub fn end(&self) -> Nanos {
        self.start + i64::from(self.days) * NANOS_PER_DAY
    }
}

/// Why generation failed.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    #[error("writing output failed: {0}")]
    Io(#[from] io::Error),
}

/// Progress, reported after every simulated minute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    pub written: u64,
    pub target: u64,
    pub simulated_until: Nanos,
}

/// Number of planted incidents for a run of `events` records.
pub fn incident_count(events: usize) -> usize {
    (3 + events / 500_000).min(40)
}

/// Number of times each anomaly is planted.
fn anomaly_rounds(events: usize) -> usize {
    (events / 1_000_000).clamp(1, 5)
}

fn rule_description(rule: Rule, baseline_until: &str) -> String {
    match rule {
        Rule::DestructiveWithoutApproval => "An agent's delete (action class delete) with no human approval: the gateway record has no `approval`, and the agent's preceding tool_decision came from `config`. Look-alikes were approved by a person (gateway `approval`, tool_decision source `user_temporary`). Incidents contribute their unapproved and approved deletes.".to_owned(),
        Rule::ScopeViolation => "An agent asked for a permission its credential's scope does not include: refused by the gateway, by Kubernetes (403) or by AWS (AccessDenied). Look-alikes: in-scope calls, a 404 and a throttled call.".to_owned(),
        Rule::LongLivedToken => "An agent's token lives longer than one hour (here 8 h). Look-alike: 55 minutes. Static keys (no expiry) are listed as related.".to_owned(),
        Rule::StaticApiKey => "An agent presents a long-term AWS access key (AKIA…, token type api_key). Look-alike: the same agent with a temporary ASIA session key.".to_owned(),
        Rule::SharedCredential => "One credential id used by two agent ids (a session key copied into another agent's config). Look-alike: one agent restarting with a new session id and the same credential.".to_owned(),
        Rule::MissingOnBehalfOf => "An agent acting with no human anywhere: no on_behalf_of, a client-credentials token whose subject is the agent's client id, no RFC 8693 act chain (GitHub server-to-server token, no CloudTrail onBehalfOf, no Kubernetes impersonatedUser). Look-alike: no on_behalf_of field, but token.sub is the person and act names the agents.".to_owned(),
        Rule::ExpiredCredentialUse => "A credential used after its exp (the incidents' stale session keys, each a decoy of its incident). Look-alike: a use shortly before exp.".to_owned(),
        Rule::NewSystemForAgent => format!("An agent touches a source it never touched before {baseline_until} (review-bot, GitHub-only, calls AWS). Look-alikes: the same agent on GitHub and another agent on a source it used in the baseline."),
        Rule::RateSpike => format!("One agent's gateway calls (records of source `agent`) in one UTC clock hour are at least 10 times its mean per hour over the baseline period (start to {baseline_until}) and at least 30. No other agent-hour meets both. Look-alike: another agent's busy hour at about three times its rate."),
    }
}

/// Generates the data into `sink` and returns the answer key.
pub fn generate(
    config: &Config,
    sink: &mut dyn Sink,
    progress: &mut dyn FnMut(Progress),
) -> Result<GroundTruth, GenerateError> {
    if config.days < 2 {
        return Err(GenerateError::InvalidConfig(
            "--days must be at least 2 (the first day is the baseline)".to_owned(),
        ));
    }
    if config.events == 0 {
        return Err(GenerateError::InvalidConfig("--events must be positive".to_owned()));
    }
    let world = World::new(config.seed);
    let otel = OtelResources::new(&world);
    let env = Env { world: &world, otel: &otel };
    let start = config.start;
    let end = config.end();
    let baseline_until = config.baseline_until();

    // Plant first: the planted records are few and their ids go into the answer key.
    let mut planner =
        Planner::new(config.seed, Env { world: &world, otel: &otel }, baseline_until, end - 2 * NANOS_PER_HOUR);
    let spike_hour = planner.hour_slot();
    let busy_hour = planner.hour_slot();
    let incidents: Vec<_> = (0..incident_count(config.events)).map(|i| incidents::plant(&mut planner, i)).collect();
    for _ in 0..anomaly_rounds(config.events) {
        anomalies::plant_all(&mut planner);
        let at = planner.slot();
        anomalies::new_system_for_agent(&mut planner, at);
    }
    let assistants: Vec<(usize, std::rc::Rc<str>)> = world
        .agents
        .iter()
        .enumerate()
        .filter(|(_, a)| a.kind == AgentKind::CodingAssistant)
        .map(|(i, _)| (i, otel.agents[i].clone()))
        .collect();
    let assistant_count = assistants.len();
    let mut background = Background::new(config.seed, assistants);
    let mut planted = std::mem::take(&mut planner.out);
    for index in 0..assistant_count {
        let at = start + planner.g.range_i64(20, 100) * NANOS_PER_MIN;
        if let Some(record) = background.assistant_record(&world, at, index) {
            planted.push(record);
        }
    }
    planted.sort_by_key(|e| e.time);

    let metrics = world.agent_by_base("metrics-bot");
    let finops = world.agent_by_base("finops-bot");
    let mut sim = AgentSim::new(
        config.seed,
        &world,
        &AgentSimPlan {
            start,
            end,
            gateway_calls: GATEWAY_SHARE * config.events as f64,
            spike: (metrics, spike_hour),
            busy: (finops, busy_hour),
        },
    );

    // The volume curve: cumulative weights per minute.
    let minutes = usize::try_from((end - start) / NANOS_PER_MIN).unwrap_or(0);
    let mut cumulative = Vec::with_capacity(minutes + 1);
    let mut total = 0.0;
    cumulative.push(0.0);
    for m in 0..minutes {
        total += volume_weight(start + m as i64 * NANOS_PER_MIN);
        cumulative.push(total);
    }
    let target_total = config.events as u64;
    let mut filler_gen = Gen::new(config.seed, Stream::Background);
    let mut pending: Vec<Emitted> = Vec::new();
    let mut planted_iter = planted.into_iter().peekable();
    let mut generated: u64 = 0;
    let mut written: u64 = 0;
    let mut per_source = [0_u64; 7];
    let mut release =
        |pending: &mut Vec<Emitted>, until: Nanos, sink: &mut dyn Sink, written: &mut u64| -> io::Result<()> {
            pending.sort_by_key(|e| e.time);
            let cut = pending.partition_point(|e| e.time < until);
            for emitted in pending.drain(..cut) {
                per_source[emitted.source.index()] += 1;
                sink.record(emitted)?;
                *written += 1;
            }
            Ok(())
        };
    for m in 0..minutes {
        let window_start = start + m as i64 * NANOS_PER_MIN;
        let window_end = window_start + NANOS_PER_MIN;
        while let Some(next) = planted_iter.next_if(|e| e.time < window_end) {
            pending.push(next);
            generated += 1;
        }
        let before = pending.len();
        sim.emit_until(&env, window_end, &mut pending);
        generated += (pending.len() - before) as u64;
        let target = if m + 1 == minutes {
            target_total
        } else {
            (target_total as f64 * cumulative[m + 1] / total).round() as u64
        };
        while generated < target {
            let at = window_start + filler_gen.range_i64(0, NANOS_PER_MIN - 1);
            let before = pending.len();
            background.emit(&world, at, usize::try_from(target - generated).unwrap_or(1), &mut pending);
            generated += (pending.len() - before).max(1) as u64;
        }
        release(&mut pending, window_end - RELEASE_LAG, sink, &mut written)?;
        progress(Progress { written, target: target_total, simulated_until: window_end });
    }
    pending.extend(planted_iter);
    release(&mut pending, Nanos::MAX, sink, &mut written)?;
    sink.finish()?;
    progress(Progress { written, target: target_total, simulated_until: end });

    let baseline_text = rfc3339(baseline_until, Precision::Seconds);
    let mut anomalies = planner.anomalies;
    if let Some(entry) = anomalies.get_mut(&Rule::RateSpike) {
        entry.event_ids = sim.spike.gateway_ids.clone();
        entry.related_event_ids = sim.spike.related_ids.clone();
        entry.look_alike_event_ids = sim.busy.gateway_ids.clone();
        entry.look_alike_event_ids.extend(sim.busy.related_ids.iter().cloned());
    }
    for (rule, entry) in anomalies.iter_mut() {
        entry.description = rule_description(*rule, &baseline_text);
        if *rule == Rule::RateSpike {
            entry.description.push_str(&format!(
                " Planted: {} from {} ({} calls that hour, baseline rate about {:.1} tasks per hour).",
                world.agents[metrics].id,
                rfc3339(spike_hour, Precision::Seconds),
                sim.spike.gateway_ids.len(),
                sim.spike_rate
            ));
        }
    }
    let events_per_source: BTreeMap<String, u64> =
        Source::ALL.iter().map(|s| (s.name().to_owned(), per_source[s.index()])).collect();
    Ok(GroundTruth {
        seed: config.seed,
        start: rfc3339(start, Precision::Seconds),
        days: config.days,
        baseline_until: baseline_text,
        events_per_source,
        incidents,
        anomalies: anomalies.into_values().collect(),
    })
}
