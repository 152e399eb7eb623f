//! Background activity of the AI agents: tasks started at a steady rate per
//! agent, orchestrators delegating to sub-agents, every call going through
//! the gateway. Streams: only the tasks in flight are kept in memory.
//!
//! Background agents are clean on purpose: scopes cover every permission,
//! credentials live at most 55 minutes and are never shared or used after
//! they expire, every action has a human behind it, nothing is deleted, and
//! each agent touches all of its systems in its first hours. That is what
//! lets the ground truth list every event an anomaly rule should fire on.

use std::collections::VecDeque;

use crate::calls::{CallSpec, Decision, Env, Outcome, TaskCtx, call, chat_log, delegate, invoke_log};
use crate::ids::{Gen, Stream};
use crate::record::Emitted;
use crate::tasks::{ContextPlan, open};
use crate::time::{NANOS_PER_HOUR, NANOS_PER_SEC, Nanos};
use crate::tools::{Class, Tool};
use crate::world::{AgentKind, World};

/// Credential lifetimes of background tasks (all ≤ 55 minutes).
pub const BACKGROUND_LIFETIMES: [i64; 4] = [900, 1800, 2700, 3300];
/// Latest step of a background task, relative to its start (shorter than any lifetime).
const MAX_TASK_SPAN: Nanos = 10 * 60 * NANOS_PER_SEC;

/// The playbooks (tool sequences) an agent picks its background tasks from.
pub fn playbooks(base: &str) -> &'static [&'static [Tool]] {
    use Tool::*;
    match base {
        "deploy-orch" => &[&[GhGetRepo, GhListPulls], &[K8sGetDeployment], &[AwsDescribeImages, GhGetRepo]],
        "deploy-bot" => &[
            &[GhClone, K8sGetDeployment, K8sPatchDeployment, K8sListPods],
            &[AwsDescribeImages, K8sScaleDeployment, K8sListPods],
            &[GcpListInstances, GcpGetObject],
            &[GhClone, GhPush, GhCreatePull],
        ],
        "cleanup-bot" => &[
            &[AwsDescribeLogGroups, AwsDescribeLogStreams, AwsPutRetentionPolicy],
            &[K8sListPods, K8sListEvents],
            &[GcpListInstances, GcpListSinks],
            &[GhClone, GhListPulls],
        ],
        "triage-orch" => &[&[AwsDescribeLogGroups, GhSearchCode], &[OktaGetUser], &[AwsGetMetricData, K8sListEvents]],
        "logscan-bot" => &[
            &[AwsDescribeLogStreams, AwsStartQuery, AwsStartQuery],
            &[K8sGetPodLogs, K8sListEvents],
            &[GcpRunQuery, GcpListSinks],
            &[AwsGetMetricData, K8sListPods],
        ],
        "review-bot" => &[&[GhClone, GhSearchCode, GhListPulls], &[GhClone, GhCreatePull]],
        "finops-bot" => &[
            &[AwsGetCostAndUsage, AwsDescribeInstances],
            &[GcpRunQuery, GcpListInstances],
            &[AwsListBuckets, AwsGetBucketPolicy],
        ],
        "metrics-bot" => &[&[AwsGetMetricData], &[K8sListPods]],
        "access-bot" => &[&[OktaListUsers, OktaListGroups, GhGetRepo], &[OktaGetUser, GhUpdateMember], &[GhClone]],
        _ => &[],
    }
}

/// Every tool an agent may call in the background (its scopes).
pub fn agent_tools(world: &World, agent: usize) -> Vec<Tool> {
    let a = &world.agents[agent];
    let mut tools: Vec<Tool> = playbooks(a.base).iter().flat_map(|p| p.iter().copied()).collect();
    tools.extend(a.systems.iter().map(|&s| Tool::probe(s)));
    tools
}

fn mean_playbook_len(base: &str) -> f64 {
    let books = playbooks(base);
    if books.is_empty() {
        return 1.0;
    }
    books.iter().map(|b| b.len() as f64).sum::<f64>() / books.len() as f64
}

#[derive(Debug, Clone)]
enum StepKind {
    Call(Box<CallSpec>),
    /// Open the sub-agent's context and delegate to it.
    Delegate(Box<ContextPlan>),
    Chat,
    Invoke,
}

#[derive(Debug, Clone)]
struct Step {
    at: Nanos,
    ctx: usize,
    kind: StepKind,
}

#[derive(Debug)]
struct ActiveTask {
    contexts: Vec<TaskCtx>,
    steps: VecDeque<Step>,
}

/// Why a scheduled task exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flavor {
    Normal,
    /// Touch every system of the agent (and its sub-agents) once.
    WarmUp,
}

/// Which agent-hour to record ids for (the rate-spike anomaly and its look-alike).
#[derive(Debug, Clone, Default)]
pub struct HourWatch {
    pub agent: usize,
    pub hour_start: Nanos,
    pub gateway_ids: Vec<String>,
    pub related_ids: Vec<String>,
}

impl HourWatch {
    fn observe(&mut self, agent: usize, at: Nanos, gateway: &str, related: &[String]) {
        if agent == self.agent && at >= self.hour_start && at < self.hour_start + NANOS_PER_HOUR {
            self.gateway_ids.push(gateway.to_owned());
            self.related_ids.extend(related.iter().cloned());
        }
    }
}

/// Parameters of the background agent simulation.
#[derive(Debug, Clone)]
pub struct AgentSimPlan {
    pub start: Nanos,
    pub end: Nanos,
    /// Gateway calls the background agents should make in total (roughly).
    pub gateway_calls: f64,
    /// The agent whose hourly rate spikes (at least 15×) and the hour.
    pub spike: (usize, Nanos),
    /// A look-alike: another agent's busy hour (about 3× its rate).
    pub busy: (usize, Nanos),
}

/// The simulation state.
#[derive(Debug)]
pub struct AgentSim {
    g: Gen,
    rates_per_hour: Vec<f64>,
    next_start: Vec<Nanos>,
    scheduled: VecDeque<(Nanos, usize, Flavor)>,
    active: Vec<ActiveTask>,
    end: Nanos,
    pub spike: HourWatch,
    pub busy: HourWatch,
    /// Baseline rate of the spiking agent, tasks per hour.
    pub spike_rate: f64,
}

impl AgentSim {
    pub fn new(seed: u64, world: &World, plan: &AgentSimPlan) -> Self {
        let mut g = Gen::new(seed, Stream::AgentTasks);
        let hours = ((plan.end - plan.start) as f64 / NANOS_PER_HOUR as f64).max(1.0);
        let total_weight: f64 = world.agents.iter().map(|a| a.weight).sum::<f64>().max(1e-9);
        let metrics_share = 0.04;
        let mut rates_per_hour: Vec<f64> = world
            .agents
            .iter()
            .map(|a| {
                let per_task = match a.kind {
                    AgentKind::Orchestrator => {
                        let child_len =
                            a.children.iter().map(|&c| mean_playbook_len(world.agents[c].base)).sum::<f64>()
                                / a.children.len().max(1) as f64;
                        mean_playbook_len(a.base) + 1.0 + child_len
                    }
                    _ => mean_playbook_len(a.base),
                };
                plan.gateway_calls * (1.0 - metrics_share) * a.weight / total_weight / per_task / hours
            })
            .collect();
        let (spike_agent, spike_hour) = plan.spike;
        let spike_rate = (plan.gateway_calls * metrics_share / hours).max(2.0);
        rates_per_hour[spike_agent] = spike_rate;
        let spike_extra = (14.0 * spike_rate).max(40.0).ceil() as usize;
        let (busy_agent, busy_hour) = plan.busy;
        let busy_extra = (2.0 * rates_per_hour[busy_agent]).ceil().max(1.0) as usize;
        let next_start = rates_per_hour
            .iter()
            .map(
                |&rate| {
                    if rate > 0.0 { plan.start + (g.exponential(3600.0 / rate) * 1e9) as Nanos } else { Nanos::MAX }
                },
            )
            .collect();
        let mut scheduled: Vec<(Nanos, usize, Flavor)> = Vec::new();
        for (index, agent) in world.agents.iter().enumerate() {
            if matches!(agent.kind, AgentKind::Orchestrator | AgentKind::Standalone) {
                let at = plan.start + g.range_i64(5 * 60, 150 * 60) * NANOS_PER_SEC;
                scheduled.push((at, index, Flavor::WarmUp));
            }
        }
        for (agent, hour, extra) in [(spike_agent, spike_hour, spike_extra), (busy_agent, busy_hour, busy_extra)] {
            let gap = NANOS_PER_HOUR / (extra as i64 + 1);
            for k in 0..extra {
                let jitter = g.range_i64(0, gap / 2);
                scheduled.push((hour + gap * (k as i64 + 1) - gap / 4 + jitter, agent, Flavor::Normal));
            }
        }
        scheduled.sort_by_key(|item| (item.0, item.1));
        AgentSim {
            g,
            rates_per_hour,
            next_start,
            scheduled: scheduled.into(),
            active: Vec::new(),
            end: plan.end,
            spike: HourWatch { agent: spike_agent, hour_start: spike_hour, ..HourWatch::default() },
            busy: HourWatch { agent: busy_agent, hour_start: busy_hour, ..HourWatch::default() },
            spike_rate,
        }
    }

    /// Emits every step due before `until`.
    pub fn emit_until(&mut self, env: &Env, until: Nanos, out: &mut Vec<Emitted>) {
        let until = until.min(self.end);
        loop {
            // The earliest due start among scheduled and Poisson arrivals.
            let next_scheduled = self.scheduled.front().map(|s| (s.0, s.1));
            let next_poisson = self
                .next_start
                .iter()
                .enumerate()
                .filter(|(_, at)| **at < until)
                .min_by_key(|(index, at)| (**at, *index))
                .map(|(index, at)| (*at, index));
            let pick = match (next_scheduled, next_poisson) {
                (Some(s), Some(p)) => Some(if s <= p { (s, true) } else { (p, false) }),
                (Some(s), None) => Some((s, true)),
                (None, Some(p)) => Some((p, false)),
                (None, None) => None,
            };
            let Some(((at, agent), scheduled)) = pick else { break };
            if at >= until {
                break;
            }
            let flavor = if scheduled {
                self.scheduled.pop_front().map_or(Flavor::Normal, |s| s.2)
            } else {
                let rate = self.rates_per_hour[agent];
                self.next_start[agent] = at + ((self.g.exponential(3600.0 / rate) * 1e9) as Nanos).max(NANOS_PER_SEC);
                Flavor::Normal
            };
            let task = self.start_task(env, agent, at, flavor, out);
            self.active.push(task);
        }
        let mut still_active = Vec::with_capacity(self.active.len());
        let tasks = std::mem::take(&mut self.active);
        for mut task in tasks {
            while task.steps.front().is_some_and(|s| s.at < until) {
                if let Some(step) = task.steps.pop_front() {
                    self.run_step(env, &mut task, step, out);
                }
            }
            if !task.steps.is_empty() {
                still_active.push(task);
            }
        }
        self.active = still_active;
    }

    fn run_step(&mut self, env: &Env, task: &mut ActiveTask, step: Step, out: &mut Vec<Emitted>) {
        let g = &mut self.g;
        match step.kind {
            StepKind::Call(spec) => {
                let ctx = &task.contexts[step.ctx];
                let ids = call(env, g, ctx, step.at, &spec, out);
                let mut related = ids.downstream.clone();
                related.extend(ids.otel.iter().cloned());
                self.spike.observe(ctx.agent, step.at, &ids.gateway, &related);
                self.busy.observe(ctx.agent, step.at, &ids.gateway, &related);
            }
            StepKind::Delegate(plan) => {
                let sub_ctx = open(env, g, &plan, step.at + 50_000_000, out);
                let parent = &task.contexts[step.ctx];
                delegate(env, g, parent, step.at, sub_ctx.agent, out);
                task.contexts.push(sub_ctx);
            }
            StepKind::Chat => {
                let ctx = &task.contexts[step.ctx];
                out.push(chat_log(env, g, ctx, step.at));
            }
            StepKind::Invoke => {
                let ctx = &task.contexts[step.ctx];
                let summary = format!("task {} received", ctx.task_id);
                out.push(invoke_log(env, g, ctx, step.at, ctx.agent, &summary));
            }
        }
    }

    fn background_call(g: &mut Gen, tool: Tool) -> CallSpec {
        let mut spec = CallSpec::new(tool);
        let roll = g.unit();
        spec.outcome = if tool.spec().class != Class::Read {
            Outcome::Success
        } else if roll < 0.025 {
            Outcome::NotFound
        } else if roll < 0.04 {
            Outcome::Throttled
        } else {
            Outcome::Success
        };
        if tool.spec().class == Class::Write && g.chance(0.3) {
            spec.decision = Some(Decision::Config);
        }
        spec
    }

    fn start_task(&mut self, env: &Env, agent: usize, at: Nanos, flavor: Flavor, out: &mut Vec<Emitted>) -> ActiveTask {
        let world = env.world;
        let g = &mut self.g;
        let a = &world.agents[agent];
        let human = if a.owners.is_empty() { None } else { Some(a.owners[g.below(a.owners.len())]) };
        let task_id = format!("task-{}", g.lower_alnum(10));
        let correlation_id = format!("corr-{}", g.hex(16));
        let trace_id = g.trace_id();
        let lifetime = *g.pick(&BACKGROUND_LIFETIMES);
        let base_plan = |agent_index: usize, actors: Vec<usize>| ContextPlan {
            agent: agent_index,
            actors,
            human,
            task_id: task_id.clone(),
            correlation_id: correlation_id.clone(),
            trace_id: trace_id.clone(),
            lifetime_secs: lifetime,
            tools: agent_tools(world, agent_index),
            stamps_correlation: world.agents[agent_index].stamps_correlation,
            obo_field: true,
            chat_has_correlation: true,
            extra_systems: Vec::new(),
        };
        let ctx = open(env, g, &base_plan(agent, vec![agent]), at, out);
        let mut steps = VecDeque::new();
        let mut t = at + g.range_i64(200, 2_000) * 1_000_000;
        let advance = |g: &mut Gen, t: &mut Nanos| {
            *t += ((g.exponential(18.0) + 1.0) * 1e9) as Nanos;
            *t = (*t).min(at + MAX_TASK_SPAN);
            *t
        };
        if a.emits_otel {
            steps.push_back(Step { at: t, ctx: 0, kind: StepKind::Invoke });
        }
        let own: Vec<Tool> = match flavor {
            Flavor::WarmUp => a.systems.iter().map(|&s| Tool::probe(s)).collect(),
            Flavor::Normal => {
                let books = playbooks(a.base);
                if books.is_empty() { Vec::new() } else { books[g.below(books.len())].to_vec() }
            }
        };
        let own_count = if a.kind == AgentKind::Orchestrator && flavor == Flavor::Normal {
            own.len().min(1 + g.below(2))
        } else {
            own.len()
        };
        for tool in own.into_iter().take(own_count) {
            let at_step = advance(g, &mut t);
            if a.emits_otel && g.chance(0.35) {
                steps.push_back(Step { at: at_step, ctx: 0, kind: StepKind::Chat });
            }
            let spec = Self::background_call(g, tool);
            steps.push_back(Step { at: advance(g, &mut t), ctx: 0, kind: StepKind::Call(Box::new(spec)) });
        }
        if a.kind == AgentKind::Orchestrator {
            let children: Vec<usize> = match flavor {
                Flavor::WarmUp => a.children.clone(),
                Flavor::Normal if a.children.is_empty() => Vec::new(),
                Flavor::Normal => vec![a.children[g.below(a.children.len())]],
            };
            for child in children {
                let sub = &world.agents[child];
                let ctx_index = steps.iter().filter(|s| matches!(s.kind, StepKind::Delegate(_))).count() + 1;
                let plan = base_plan(child, vec![agent, child]);
                steps.push_back(Step { at: advance(g, &mut t), ctx: 0, kind: StepKind::Delegate(Box::new(plan)) });
                let tools: Vec<Tool> = match flavor {
                    Flavor::WarmUp => sub.systems.iter().map(|&s| Tool::probe(s)).collect(),
                    Flavor::Normal => {
                        let books = playbooks(sub.base);
                        if books.is_empty() { Vec::new() } else { books[g.below(books.len())].to_vec() }
                    }
                };
                for tool in tools {
                    if sub.emits_otel && g.chance(0.35) {
                        steps.push_back(Step { at: advance(g, &mut t), ctx: ctx_index, kind: StepKind::Chat });
                    }
                    let spec = Self::background_call(g, tool);
                    steps.push_back(Step {
                        at: advance(g, &mut t),
                        ctx: ctx_index,
                        kind: StepKind::Call(Box::new(spec)),
                    });
                }
            }
        }
        if a.emits_otel {
            steps.push_back(Step { at: advance(g, &mut t), ctx: 0, kind: StepKind::Chat });
        }
        ActiveTask { contexts: vec![ctx], steps }
    }
}
