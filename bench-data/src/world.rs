//! The simulated organisation: people, AI agents, accounts, clusters,
//! repositories and projects. Built once per seed; everything else picks
//! its actors and resources from here.

use crate::ids::{Gen, Stream};
use crate::tools::System;

pub const COMPANY_DOMAIN: &str = "example.com";
pub const OKTA_ORG: &str = "example.okta.com";
pub const GITHUB_ORG: &str = "example-corp";
pub const GITHUB_ORG_ID: u64 = 90_412_337;
pub const GITHUB_BUSINESS: &str = "example-enterprise";
pub const AWS_PROD_ACCOUNT: &str = "418295730164";
pub const AWS_STAGING_ACCOUNT: &str = "730335128841";
pub const IDENTITY_STORE_ARN: &str = "arn:aws:identitystore::418295730164:identitystore/d-9067642ac7";
pub const K8S_CLUSTER: &str = "prod-eks";
pub const GCP_PROJECT: &str = "acme-analytics-prod";
pub const GCP_PROJECT_NUMBER: &str = "482910374652";
pub const GATEWAY_VERSION: &str = "agentrail-gateway/1.4.2";
pub const GATEWAY_ROLE: &str = "agentrail-gateway";
pub const AWS_REGIONS: [&str; 3] = ["us-east-1", "us-west-2", "eu-west-1"];
pub const AWS_REGION_WEIGHTS: [f64; 3] = [0.72, 0.18, 0.10];

const FIRST_NAMES: [&str; 40] = [
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory", "niaj", "olivia",
    "peggy", "rupert", "sybil", "trent", "victor", "walter", "yasmin", "zoe", "arjun", "beatriz", "chen", "dmitri",
    "emeka", "fatima", "gustavo", "hana", "ines", "jonas", "kenji", "leila", "mateo", "nora", "omar", "priya",
    "quentin", "rosa", "sanjay",
];
const LAST_NAMES: [&str; 40] = [
    "nguyen",
    "smith",
    "garcia",
    "kim",
    "okafor",
    "muller",
    "rossi",
    "tanaka",
    "novak",
    "silva",
    "brown",
    "patel",
    "lopez",
    "schmidt",
    "dubois",
    "kowalski",
    "jensen",
    "moreau",
    "haddad",
    "ivanova",
    "wright",
    "sato",
    "costa",
    "fischer",
    "andersen",
    "ali",
    "reyes",
    "berg",
    "chowdhury",
    "park",
    "weber",
    "santos",
    "lindqvist",
    "mensah",
    "hughes",
    "romero",
    "kaur",
    "ng",
    "murphy",
    "varga",
];

/// What a person does, which decides which systems they use and how.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Team {
    Platform,
    Sre,
    Developer,
    Data,
    Security,
    ItAdmin,
    Finance,
}

const TEAMS: [(Team, f64); 7] = [
    (Team::Developer, 0.40),
    (Team::Platform, 0.14),
    (Team::Sre, 0.12),
    (Team::Data, 0.12),
    (Team::Security, 0.08),
    (Team::ItAdmin, 0.07),
    (Team::Finance, 0.07),
];

impl Team {
    pub fn k8s_group(self) -> &'static str {
        match self {
            Team::Platform => "platform-admins",
            Team::Sre => "sre-oncall",
            Team::Developer => "developers",
            Team::Data => "data-eng",
            Team::Security => "security-readonly",
            Team::ItAdmin => "it-admins",
            Team::Finance => "finance",
        }
    }

    pub fn sso_permission_set(self) -> &'static str {
        match self {
            Team::Platform | Team::Sre => "AdministratorAccess",
            Team::Developer | Team::Data => "PowerUserAccess",
            Team::Security => "SecurityAudit",
            Team::ItAdmin | Team::Finance => "ReadOnlyAccess",
        }
    }
}

/// A person with accounts in every system.
#[derive(Debug, Clone)]
pub struct Human {
    pub first: &'static str,
    pub email: String,
    pub display_name: String,
    pub team: Team,
    pub okta_id: String,
    pub identity_store_user_id: String,
    pub github_login: String,
    pub github_id: u64,
    pub home_ip: String,
    pub browser: &'static str,
    pub os: &'static str,
    pub sso_role: String,
    pub sso_role_id: String,
}

/// Where an agent sits in a delegation tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AgentKind {
    Orchestrator,
    SubAgent,
    Standalone,
    /// A Claude-Code-style coding assistant seen only through its OpenTelemetry events.
    CodingAssistant,
}

/// An AI agent and its identities in every system it may touch.
#[derive(Debug, Clone)]
pub struct Agent {
    pub id: String,
    pub base: &'static str,
    pub display_name: &'static str,
    pub role: &'static str,
    pub kind: AgentKind,
    pub parent: Option<usize>,
    pub children: Vec<usize>,
    pub systems: Vec<System>,
    pub emits_otel: bool,
    pub framework_ua: &'static str,
    pub owners: Vec<usize>,
    /// Relative share of background agent activity.
    pub weight: f64,
    /// Whether its SDKs put `corr/<id> task/<id>` into cloud user agents.
    pub stamps_correlation: bool,
    pub okta_client_id: String,
    pub github_app_id: u64,
    pub github_installation_id: u64,
    pub k8s_sa_uid: String,
    pub aws_role: String,
    pub aws_role_id: String,
    pub pod_ip: String,
    /// For coding assistants: the developer it works for.
    pub developer: Option<usize>,
}

impl Agent {
    pub fn gcp_service_account(&self) -> String {
        format!("agent-{}@{GCP_PROJECT}.iam.gserviceaccount.com", self.id)
    }

    pub fn k8s_username(&self) -> String {
        format!("system:serviceaccount:agents:{}", self.id)
    }

    pub fn aws_session_name(&self) -> String {
        format!("agent-{}", self.id)
    }

    pub fn has(&self, system: System) -> bool {
        self.systems.contains(&system)
    }
}

struct AgentTemplate {
    base: &'static str,
    display_name: &'static str,
    role: &'static str,
    kind: AgentKind,
    parent: Option<&'static str>,
    systems: &'static [System],
    emits_otel: bool,
    framework_ua: &'static str,
    owner_team: Team,
    weight: f64,
    stamps_correlation: bool,
}

const AGENT_TEMPLATES: [AgentTemplate; 9] = [
    AgentTemplate {
        base: "deploy-orch",
        display_name: "Release orchestrator",
        role: "release-orchestrator",
        kind: AgentKind::Orchestrator,
        parent: None,
        systems: &[System::GitHub, System::K8s, System::Aws],
        emits_otel: true,
        framework_ua: "langgraph-python/0.2.61",
        owner_team: Team::Platform,
        weight: 1.6,
        stamps_correlation: false,
    },
    AgentTemplate {
        base: "deploy-bot",
        display_name: "Deployer",
        role: "deployer",
        kind: AgentKind::SubAgent,
        parent: Some("deploy-orch"),
        systems: &[System::Aws, System::K8s, System::GitHub, System::Gcp],
        emits_otel: true,
        framework_ua: "langgraph-python/0.2.61",
        owner_team: Team::Platform,
        weight: 0.0,
        stamps_correlation: false,
    },
    AgentTemplate {
        base: "cleanup-bot",
        display_name: "Janitor",
        role: "janitor",
        kind: AgentKind::SubAgent,
        parent: Some("deploy-orch"),
        systems: &[System::Aws, System::K8s, System::Gcp, System::GitHub],
        emits_otel: true,
        framework_ua: "langgraph-python/0.2.61",
        owner_team: Team::Platform,
        weight: 0.0,
        stamps_correlation: false,
    },
    AgentTemplate {
        base: "triage-orch",
        display_name: "Incident triage orchestrator",
        role: "incident-triage",
        kind: AgentKind::Orchestrator,
        parent: None,
        systems: &[System::Aws, System::GitHub, System::Okta, System::K8s],
        emits_otel: true,
        framework_ua: "claude-agent-sdk-python/0.1.6",
        owner_team: Team::Sre,
        weight: 1.4,
        stamps_correlation: true,
    },
    AgentTemplate {
        base: "logscan-bot",
        display_name: "Log analyst",
        role: "log-analyst",
        kind: AgentKind::SubAgent,
        parent: Some("triage-orch"),
        systems: &[System::Aws, System::Gcp, System::K8s],
        emits_otel: true,
        framework_ua: "claude-agent-sdk-python/0.1.6",
        owner_team: Team::Sre,
        weight: 0.0,
        stamps_correlation: true,
    },
    AgentTemplate {
        base: "review-bot",
        display_name: "Code reviewer",
        role: "code-reviewer",
        kind: AgentKind::SubAgent,
        parent: Some("triage-orch"),
        systems: &[System::GitHub],
        emits_otel: true,
        framework_ua: "claude-agent-sdk-python/0.1.6",
        owner_team: Team::Developer,
        weight: 0.0,
        stamps_correlation: true,
    },
    AgentTemplate {
        base: "finops-bot",
        display_name: "Cost analyst",
        role: "cost-analyst",
        kind: AgentKind::Standalone,
        parent: None,
        systems: &[System::Aws, System::Gcp],
        emits_otel: true,
        framework_ua: "openai-agents-python/0.6.1",
        owner_team: Team::Finance,
        weight: 0.9,
        stamps_correlation: true,
    },
    AgentTemplate {
        base: "metrics-bot",
        display_name: "Metrics reporter",
        role: "metrics-reporter",
        kind: AgentKind::Standalone,
        parent: None,
        systems: &[System::Aws, System::K8s],
        emits_otel: false,
        framework_ua: "agentrail-cron/0.9.0",
        owner_team: Team::Sre,
        weight: 0.0,
        stamps_correlation: false,
    },
    AgentTemplate {
        base: "access-bot",
        display_name: "Access reviewer",
        role: "access-reviewer",
        kind: AgentKind::Standalone,
        parent: None,
        systems: &[System::Okta, System::GitHub],
        emits_otel: true,
        framework_ua: "openai-agents-python/0.6.1",
        owner_team: Team::Security,
        weight: 0.7,
        stamps_correlation: false,
    },
];

const BROWSERS: [(&str, &str); 4] =
    [("CHROME", "Mac OS X"), ("CHROME", "Windows 10"), ("SAFARI", "Mac OS X"), ("FIREFOX", "Linux")];

/// The whole simulated organisation.
#[derive(Debug, Clone)]
pub struct World {
    pub humans: Vec<Human>,
    pub agents: Vec<Agent>,
    pub gateway_role_id: String,
    pub gateway_access_key: String,
    pub nodes: Vec<String>,
    pub node_uids: Vec<String>,
    pub ec2_instances: Vec<String>,
    pub gcp_instances: Vec<(&'static str, String)>,
}

impl World {
    pub fn new(seed: u64) -> Self {
        let mut g = Gen::new(seed, Stream::World);
        let humans = build_humans(&mut g);
        let agents = build_agents(&mut g, &humans);
        let nodes =
            (0..12).map(|_| format!("ip-10-0-{}-{}.ec2.internal", g.range_i64(16, 95), g.range_i64(2, 250))).collect();
        let node_uids = (0..12).map(|_| g.uuid()).collect();
        let ec2_instances = (0..24).map(|_| format!("i-0{}", g.hex(16))).collect();
        let zones = ["us-central1-a", "us-central1-b", "us-central1-f"];
        let gcp_names = ["etl-worker", "dataproc-m", "ml-train-a100", "airflow-scheduler", "jupyter"];
        let gcp_instances = (0..12)
            .map(|i| (*g.pick(&zones), format!("{}-{}", gcp_names[i % gcp_names.len()], g.lower_alnum(4))))
            .collect();
        World {
            humans,
            agents,
            gateway_role_id: g.aws_principal("AROA"),
            gateway_access_key: g.aws_key("ASIA"),
            nodes,
            node_uids,
            ec2_instances,
            gcp_instances,
        }
    }

    pub fn agent_by_base(&self, base: &str) -> usize {
        self.agents.iter().position(|a| a.base == base).unwrap_or(0)
    }

    /// Humans of a team, in a stable order.
    pub fn team(&self, team: Team) -> Vec<usize> {
        (0..self.humans.len()).filter(|&i| self.humans[i].team == team).collect()
    }
}

fn build_humans(g: &mut Gen) -> Vec<Human> {
    let weights: Vec<f64> = TEAMS.iter().map(|t| t.1).collect();
    FIRST_NAMES
        .iter()
        .enumerate()
        .map(|(i, first)| {
            // The first seven people cover every team, the rest are drawn by weight.
            let team = if i < TEAMS.len() { TEAMS[i].0 } else { TEAMS[g.weighted(&weights)].0 };
            let last = LAST_NAMES[(i * 7 + 3) % LAST_NAMES.len()];
            let (browser, os) = *g.pick(&BROWSERS);
            let sso_role = format!("AWSReservedSSO_{}_{}", team.sso_permission_set(), g.hex(16));
            Human {
                first,
                email: format!("{first}@{COMPANY_DOMAIN}"),
                display_name: format!("{} {}", capitalise(first), capitalise(last)),
                team,
                okta_id: g.okta_id("00u"),
                identity_store_user_id: g.uuid(),
                github_login: format!("{first}-{last}"),
                github_id: g.range_u64(1_000_000, 180_000_000),
                home_ip: format!(
                    "{}.{}.{}.{}",
                    g.pick(&[73, 98, 24, 71, 86, 174, 108]),
                    g.range_i64(1, 254),
                    g.range_i64(1, 254),
                    g.range_i64(1, 254)
                ),
                browser,
                os,
                sso_role,
                sso_role_id: g.aws_principal("AROA"),
            }
        })
        .collect()
}

fn build_agents(g: &mut Gen, humans: &[Human]) -> Vec<Agent> {
    let mut agents: Vec<Agent> = AGENT_TEMPLATES
        .iter()
        .map(|t| {
            let owners: Vec<usize> = (0..humans.len()).filter(|&i| humans[i].team == t.owner_team).collect();
            Agent {
                id: format!("{}-{}", t.base, g.hex(4)),
                base: t.base,
                display_name: t.display_name,
                role: t.role,
                kind: t.kind,
                parent: None,
                children: Vec::new(),
                systems: t.systems.to_vec(),
                emits_otel: t.emits_otel,
                framework_ua: t.framework_ua,
                owners,
                weight: t.weight,
                stamps_correlation: t.stamps_correlation,
                okta_client_id: g.okta_id("0oa"),
                github_app_id: g.range_u64(300_000, 1_100_000),
                github_installation_id: g.range_u64(40_000_000, 60_000_000),
                k8s_sa_uid: g.uuid(),
                aws_role: format!("agent-{}", t.role),
                aws_role_id: g.aws_principal("AROA"),
                pod_ip: format!("10.42.{}.{}", g.range_i64(0, 15), g.range_i64(2, 250)),
                developer: None,
            }
        })
        .collect();
    for (index, template) in AGENT_TEMPLATES.iter().enumerate() {
        if let Some(parent_base) = template.parent
            && let Some(parent) = agents.iter().position(|a| a.base == parent_base)
        {
            agents[index].parent = Some(parent);
            agents[parent].children.push(index);
        }
    }
    let developers: Vec<usize> = (0..humans.len()).filter(|&i| humans[i].team == Team::Developer).take(4).collect();
    for developer in developers {
        let first = humans[developer].first;
        agents.push(Agent {
            id: format!("claude-code-{first}"),
            base: "claude-code",
            display_name: "Claude Code",
            role: "coding-assistant",
            kind: AgentKind::CodingAssistant,
            parent: None,
            children: Vec::new(),
            systems: Vec::new(),
            emits_otel: true,
            framework_ua: "claude-cli/2.0.37 (external, cli)",
            owners: vec![developer],
            weight: 0.0,
            stamps_correlation: false,
            okta_client_id: g.okta_id("0oa"),
            github_app_id: 0,
            github_installation_id: 0,
            k8s_sa_uid: g.uuid(),
            aws_role: String::new(),
            aws_role_id: String::new(),
            pod_ip: String::new(),
            developer: Some(developer),
        });
    }
    agents
}

fn capitalise(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}
