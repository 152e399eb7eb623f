//! The tools agents call through the gateway, what each needs (permission,
//! class) and which resource it touches.

use crate::ids::Gen;
use crate::record::Source;
use crate::world::{AWS_PROD_ACCOUNT, GCP_PROJECT, GITHUB_ORG, World};

/// A downstream system reachable through the gateway.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum System {
    Aws,
    K8s,
    GitHub,
    Gcp,
    Okta,
}

impl System {
    /// The gateway record's `system` field.
    pub fn name(self) -> &'static str {
        match self {
            System::Aws => "aws",
            System::K8s => "kubernetes",
            System::GitHub => "github",
            System::Gcp => "gcp",
            System::Okta => "okta",
        }
    }

    /// The audit source that logs this system's actions.
    pub fn source(self) -> Source {
        match self {
            System::Aws => Source::CloudTrail,
            System::K8s => Source::K8s,
            System::GitHub => Source::GitHub,
            System::Gcp => Source::Gcp,
            System::Okta => Source::Okta,
        }
    }
}

/// Read, write or destructive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    Read,
    Write,
    Delete,
}

/// Every tool the simulated gateway exposes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tool {
    AwsDescribeLogGroups,
    AwsDescribeLogStreams,
    AwsStartQuery,
    AwsPutRetentionPolicy,
    AwsDeleteLogGroup,
    AwsListBuckets,
    AwsGetBucketPolicy,
    AwsDeleteBucket,
    AwsDescribeInstances,
    AwsTerminateInstances,
    AwsGetCostAndUsage,
    AwsGetMetricData,
    AwsDescribeImages,
    AwsBatchDeleteImage,
    AwsGetRole,
    K8sListPods,
    K8sGetDeployment,
    K8sGetPodLogs,
    K8sListEvents,
    K8sPatchDeployment,
    K8sScaleDeployment,
    K8sDeleteDeployment,
    K8sDeletePod,
    K8sDeleteNamespace,
    GhGetRepo,
    GhListPulls,
    GhSearchCode,
    GhClone,
    GhPush,
    GhCreatePull,
    GhMergePull,
    GhDeleteRepo,
    GhDeleteBranchProtection,
    GhUpdateMember,
    GcpListInstances,
    GcpGetObject,
    GcpListSinks,
    GcpRunQuery,
    GcpGetIamPolicy,
    GcpDeleteInstance,
    GcpDeleteSink,
    OktaListUsers,
    OktaGetUser,
    OktaListGroups,
}

/// Static facts about a tool.
#[derive(Clone, Copy, Debug)]
pub struct ToolSpec {
    pub name: &'static str,
    pub system: System,
    pub permission: &'static str,
    pub class: Class,
}

const fn spec(name: &'static str, system: System, permission: &'static str, class: Class) -> ToolSpec {
    ToolSpec { name, system, permission, class }
}

impl Tool {
    /// Every tool.
    pub const ALL: [Tool; 44] = [
        Tool::AwsDescribeLogGroups,
        Tool::AwsDescribeLogStreams,
        Tool::AwsStartQuery,
        Tool::AwsPutRetentionPolicy,
        Tool::AwsDeleteLogGroup,
        Tool::AwsListBuckets,
        Tool::AwsGetBucketPolicy,
        Tool::AwsDeleteBucket,
        Tool::AwsDescribeInstances,
        Tool::AwsTerminateInstances,
        Tool::AwsGetCostAndUsage,
        Tool::AwsGetMetricData,
        Tool::AwsDescribeImages,
        Tool::AwsBatchDeleteImage,
        Tool::AwsGetRole,
        Tool::K8sListPods,
        Tool::K8sGetDeployment,
        Tool::K8sGetPodLogs,
        Tool::K8sListEvents,
        Tool::K8sPatchDeployment,
        Tool::K8sScaleDeployment,
        Tool::K8sDeleteDeployment,
        Tool::K8sDeletePod,
        Tool::K8sDeleteNamespace,
        Tool::GhGetRepo,
        Tool::GhListPulls,
        Tool::GhSearchCode,
        Tool::GhClone,
        Tool::GhPush,
        Tool::GhCreatePull,
        Tool::GhMergePull,
        Tool::GhDeleteRepo,
        Tool::GhDeleteBranchProtection,
        Tool::GhUpdateMember,
        Tool::GcpListInstances,
        Tool::GcpGetObject,
        Tool::GcpListSinks,
        Tool::GcpRunQuery,
        Tool::GcpGetIamPolicy,
        Tool::GcpDeleteInstance,
        Tool::GcpDeleteSink,
        Tool::OktaListUsers,
        Tool::OktaGetUser,
        Tool::OktaListGroups,
    ];

    /// The tool a gateway record's `tool` field names.
    pub fn by_name(name: &str) -> Option<Tool> {
        Tool::ALL.into_iter().find(|t| t.spec().name == name)
    }

    pub fn spec(self) -> ToolSpec {
        use Class::{Delete, Read, Write};
        use System::{Aws, Gcp, GitHub, K8s, Okta};
        match self {
            Tool::AwsDescribeLogGroups => spec("aws.logs.describe_log_groups", Aws, "logs:DescribeLogGroups", Read),
            Tool::AwsDescribeLogStreams => spec("aws.logs.describe_log_streams", Aws, "logs:DescribeLogStreams", Read),
            Tool::AwsStartQuery => spec("aws.logs.start_query", Aws, "logs:StartQuery", Read),
            Tool::AwsPutRetentionPolicy => spec("aws.logs.put_retention_policy", Aws, "logs:PutRetentionPolicy", Write),
            Tool::AwsDeleteLogGroup => spec("aws.logs.delete_log_group", Aws, "logs:DeleteLogGroup", Delete),
            Tool::AwsListBuckets => spec("aws.s3.list_buckets", Aws, "s3:ListAllMyBuckets", Read),
            Tool::AwsGetBucketPolicy => spec("aws.s3.get_bucket_policy", Aws, "s3:GetBucketPolicy", Read),
            Tool::AwsDeleteBucket => spec("aws.s3.delete_bucket", Aws, "s3:DeleteBucket", Delete),
            Tool::AwsDescribeInstances => spec("aws.ec2.describe_instances", Aws, "ec2:DescribeInstances", Read),
            Tool::AwsTerminateInstances => spec("aws.ec2.terminate_instances", Aws, "ec2:TerminateInstances", Delete),
            Tool::AwsGetCostAndUsage => spec("aws.ce.get_cost_and_usage", Aws, "ce:GetCostAndUsage", Read),
            Tool::AwsGetMetricData => spec("aws.cloudwatch.get_metric_data", Aws, "cloudwatch:GetMetricData", Read),
            Tool::AwsDescribeImages => spec("aws.ecr.describe_images", Aws, "ecr:DescribeImages", Read),
            Tool::AwsBatchDeleteImage => spec("aws.ecr.batch_delete_image", Aws, "ecr:BatchDeleteImage", Delete),
            Tool::AwsGetRole => spec("aws.iam.get_role", Aws, "iam:GetRole", Read),
            Tool::K8sListPods => spec("kubernetes.pods.list", K8s, "pods:list", Read),
            Tool::K8sGetDeployment => spec("kubernetes.deployments.get", K8s, "deployments.apps:get", Read),
            Tool::K8sGetPodLogs => spec("kubernetes.pods.logs", K8s, "pods/log:get", Read),
            Tool::K8sListEvents => spec("kubernetes.events.list", K8s, "events:list", Read),
            Tool::K8sPatchDeployment => spec("kubernetes.deployments.patch", K8s, "deployments.apps:patch", Write),
            Tool::K8sScaleDeployment => {
                spec("kubernetes.deployments.scale", K8s, "deployments.apps/scale:patch", Write)
            }
            Tool::K8sDeleteDeployment => spec("kubernetes.deployments.delete", K8s, "deployments.apps:delete", Delete),
            Tool::K8sDeletePod => spec("kubernetes.pods.delete", K8s, "pods:delete", Delete),
            Tool::K8sDeleteNamespace => spec("kubernetes.namespaces.delete", K8s, "namespaces:delete", Delete),
            Tool::GhGetRepo => spec("github.repos.get", GitHub, "metadata:read", Read),
            Tool::GhListPulls => spec("github.pulls.list", GitHub, "pull_requests:read", Read),
            Tool::GhSearchCode => spec("github.search.code", GitHub, "contents:read", Read),
            Tool::GhClone => spec("github.git.clone", GitHub, "contents:read", Read),
            Tool::GhPush => spec("github.git.push", GitHub, "contents:write", Write),
            Tool::GhCreatePull => spec("github.pulls.create", GitHub, "pull_requests:write", Write),
            Tool::GhMergePull => spec("github.pulls.merge", GitHub, "contents:write", Write),
            Tool::GhDeleteRepo => spec("github.repos.delete", GitHub, "administration:write", Delete),
            Tool::GhDeleteBranchProtection => {
                spec("github.branches.delete_protection", GitHub, "administration:write", Delete)
            }
            Tool::GhUpdateMember => spec("github.orgs.update_membership", GitHub, "members:write", Write),
            Tool::GcpListInstances => spec("gcp.compute.instances.list", Gcp, "compute.instances.list", Read),
            Tool::GcpGetObject => spec("gcp.storage.objects.get", Gcp, "storage.objects.get", Read),
            Tool::GcpListSinks => spec("gcp.logging.sinks.list", Gcp, "logging.sinks.list", Read),
            Tool::GcpRunQuery => spec("gcp.bigquery.jobs.insert", Gcp, "bigquery.jobs.create", Read),
            Tool::GcpGetIamPolicy => {
                spec("gcp.resourcemanager.get_iam_policy", Gcp, "resourcemanager.projects.getIamPolicy", Read)
            }
            Tool::GcpDeleteInstance => spec("gcp.compute.instances.delete", Gcp, "compute.instances.delete", Delete),
            Tool::GcpDeleteSink => spec("gcp.logging.sinks.delete", Gcp, "logging.sinks.delete", Delete),
            Tool::OktaListUsers => spec("okta.users.list", Okta, "okta.users.read", Read),
            Tool::OktaGetUser => spec("okta.users.get", Okta, "okta.users.read", Read),
            Tool::OktaListGroups => spec("okta.groups.list", Okta, "okta.groups.read", Read),
        }
    }

    /// A harmless read on `system`, used to exercise every system an agent has.
    pub fn probe(system: System) -> Tool {
        match system {
            System::Aws => Tool::AwsDescribeLogGroups,
            System::K8s => Tool::K8sListPods,
            System::GitHub => Tool::GhClone,
            System::Gcp => Tool::GcpListInstances,
            System::Okta => Tool::OktaListUsers,
        }
    }
}

pub const LOG_GROUPS: [&str; 14] = [
    "/aws/lambda/orders-processor",
    "/aws/lambda/thumbnailer",
    "/aws/eks/prod-eks/cluster",
    "/aws/rds/instance/orders-db/postgresql",
    "/aws/apigateway/public-api",
    "/ecs/billing-svc",
    "/prod/api",
    "/prod/payments",
    "/prod/checkout",
    "/prod/search-indexer",
    "/staging/api",
    "/staging/worker",
    "/aws/vpc/flow-logs",
    "/aws/containerinsights/prod-eks/application",
];
pub const S3_BUCKETS: [&str; 7] = [
    "acme-prod-artifacts",
    "acme-prod-logs-418295730164",
    "acme-data-lake-raw",
    "acme-tf-state",
    "acme-backups-prod",
    "acme-static-web",
    "acme-ml-features",
];
pub const ECR_REPOS: [&str; 5] = ["api", "web", "payments-api", "worker", "search-indexer"];
pub const IAM_ROLES: [&str; 5] = [
    "eks-node-group-role",
    "lambda-orders-processor",
    "github-actions-deploy",
    "karpenter-controller",
    "agent-deployer",
];
pub const NAMESPACES: [&str; 6] = ["prod", "staging", "payments", "monitoring", "data", "search"];
pub const DEPLOYMENTS: [&str; 8] =
    ["api", "web", "payments-api", "worker", "orders-consumer", "search-indexer", "grafana", "prometheus-server"];
pub const REPOS: [&str; 10] = [
    "api",
    "web",
    "payments-service",
    "infra-terraform",
    "helm-charts",
    "agent-playbooks",
    "docs",
    "legacy-billing",
    "data-pipelines",
    "mobile-app",
];
pub const GCP_SINKS: [&str; 4] = ["audit-to-bigquery", "prod-errors-to-pubsub", "legacy-export", "security-siem"];
pub const GCS_BUCKETS: [&str; 3] = ["acme-analytics-raw", "acme-ml-datasets", "acme-reports"];

/// What a call touches, with enough detail for every vendor's record.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    LogGroup { region: &'static str, name: String },
    Bucket { name: String },
    Ec2 { region: &'static str, instance: String },
    EcrRepo { region: &'static str, repo: String, digest: String },
    Account { region: &'static str },
    Role { name: String },
    K8s(K8sObject),
    Repo { repo: String },
    GcpInstance { zone: &'static str, name: String },
    GcpSink { name: String },
    GcsObject { bucket: String, object: String },
    GcpProject,
    Okta { path: &'static str },
}

/// A Kubernetes object reference.
#[derive(Debug, Clone, PartialEq)]
pub struct K8sObject {
    pub resource: &'static str,
    pub subresource: Option<&'static str>,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub api_group: &'static str,
    pub api_version: &'static str,
}

impl Target {
    /// The gateway record's `resource` string (ARN, URL path, full name).
    pub fn resource(&self) -> String {
        match self {
            Target::LogGroup { region, name } => format!("arn:aws:logs:{region}:{AWS_PROD_ACCOUNT}:log-group:{name}"),
            Target::Bucket { name } => format!("arn:aws:s3:::{name}"),
            Target::Ec2 { region, instance } => format!("arn:aws:ec2:{region}:{AWS_PROD_ACCOUNT}:instance/{instance}"),
            Target::EcrRepo { region, repo, .. } => {
                format!("arn:aws:ecr:{region}:{AWS_PROD_ACCOUNT}:repository/{repo}")
            }
            Target::Account { region } => format!("arn:aws:::{region}:{AWS_PROD_ACCOUNT}"),
            Target::Role { name } => format!("arn:aws:iam::{AWS_PROD_ACCOUNT}:role/{name}"),
            Target::K8s(object) => object.uri_path(),
            Target::Repo { repo } => format!("{GITHUB_ORG}/{repo}"),
            Target::GcpInstance { zone, name } => format!("projects/{GCP_PROJECT}/zones/{zone}/instances/{name}"),
            Target::GcpSink { name } => format!("projects/{GCP_PROJECT}/sinks/{name}"),
            Target::GcsObject { bucket, object } => format!("projects/_/buckets/{bucket}/objects/{object}"),
            Target::GcpProject => format!("projects/{GCP_PROJECT}"),
            Target::Okta { path } => format!("https://example.okta.com{path}"),
        }
    }
}

impl K8sObject {
    /// The request path (without query), e.g. `/apis/apps/v1/namespaces/prod/deployments/api`.
    pub fn uri_path(&self) -> String {
        let mut path = if self.api_group.is_empty() {
            format!("/api/{}", self.api_version)
        } else {
            format!("/apis/{}/{}", self.api_group, self.api_version)
        };
        if let Some(namespace) = &self.namespace
            && self.resource != "namespaces"
        {
            path.push_str(&format!("/namespaces/{namespace}"));
        }
        path.push('/');
        path.push_str(self.resource);
        if let Some(name) = &self.name {
            path.push('/');
            path.push_str(name);
        }
        if let Some(sub) = self.subresource {
            path.push('/');
            path.push_str(sub);
        }
        path
    }
}

fn region(g: &mut Gen) -> &'static str {
    crate::world::AWS_REGIONS[g.weighted(&crate::world::AWS_REGION_WEIGHTS)]
}

fn k8s(resource: &'static str, namespace: Option<String>, name: Option<String>) -> Target {
    let (api_group, api_version) = match resource {
        "deployments" => ("apps", "v1"),
        _ => ("", "v1"),
    };
    Target::K8s(K8sObject { resource, subresource: None, namespace, name, api_group, api_version })
}

/// Picks a plausible target for `tool` from the world's resource pools.
pub fn pick_target(tool: Tool, world: &World, g: &mut Gen) -> Target {
    match tool {
        Tool::AwsDescribeLogGroups => Target::LogGroup { region: region(g), name: "*".to_owned() },
        Tool::AwsDescribeLogStreams | Tool::AwsStartQuery | Tool::AwsPutRetentionPolicy | Tool::AwsDeleteLogGroup => {
            Target::LogGroup { region: region(g), name: (*g.pick(&LOG_GROUPS)).to_owned() }
        }
        Tool::AwsListBuckets => Target::Account { region: "us-east-1" },
        Tool::AwsGetBucketPolicy | Tool::AwsDeleteBucket => Target::Bucket { name: (*g.pick(&S3_BUCKETS)).to_owned() },
        Tool::AwsDescribeInstances | Tool::AwsTerminateInstances => {
            Target::Ec2 { region: region(g), instance: g.pick(&world.ec2_instances).clone() }
        }
        Tool::AwsGetCostAndUsage => Target::Account { region: "us-east-1" },
        Tool::AwsGetMetricData => Target::Account { region: region(g) },
        Tool::AwsDescribeImages | Tool::AwsBatchDeleteImage => Target::EcrRepo {
            region: "us-east-1",
            repo: (*g.pick(&ECR_REPOS)).to_owned(),
            digest: format!("sha256:{}", g.hex(64)),
        },
        Tool::AwsGetRole => Target::Role { name: (*g.pick(&IAM_ROLES)).to_owned() },
        Tool::K8sListPods => k8s("pods", Some((*g.pick(&NAMESPACES)).to_owned()), None),
        Tool::K8sListEvents => k8s("events", Some((*g.pick(&NAMESPACES)).to_owned()), None),
        Tool::K8sGetDeployment | Tool::K8sPatchDeployment | Tool::K8sDeleteDeployment => {
            k8s("deployments", Some((*g.pick(&NAMESPACES)).to_owned()), Some((*g.pick(&DEPLOYMENTS)).to_owned()))
        }
        Tool::K8sScaleDeployment => {
            let mut target =
                k8s("deployments", Some((*g.pick(&NAMESPACES)).to_owned()), Some((*g.pick(&DEPLOYMENTS)).to_owned()));
            if let Target::K8s(object) = &mut target {
                object.subresource = Some("scale");
            }
            target
        }
        Tool::K8sGetPodLogs | Tool::K8sDeletePod => {
            let deployment = *g.pick(&DEPLOYMENTS);
            let pod = format!("{deployment}-{}-{}", g.hex(10), g.lower_alnum(5));
            let mut target = k8s("pods", Some((*g.pick(&NAMESPACES)).to_owned()), Some(pod));
            if tool == Tool::K8sGetPodLogs
                && let Target::K8s(object) = &mut target
            {
                object.subresource = Some("log");
            }
            target
        }
        Tool::K8sDeleteNamespace => k8s("namespaces", None, Some(format!("preview-{}", g.lower_alnum(6)))),
        Tool::GhGetRepo
        | Tool::GhListPulls
        | Tool::GhSearchCode
        | Tool::GhClone
        | Tool::GhPush
        | Tool::GhCreatePull
        | Tool::GhMergePull
        | Tool::GhDeleteRepo
        | Tool::GhDeleteBranchProtection => Target::Repo { repo: (*g.pick(&REPOS)).to_owned() },
        Tool::GhUpdateMember => Target::Repo { repo: String::new() },
        Tool::GcpListInstances | Tool::GcpGetIamPolicy | Tool::GcpRunQuery => Target::GcpProject,
        Tool::GcpDeleteInstance => {
            let (zone, name) = g.pick(&world.gcp_instances).clone();
            Target::GcpInstance { zone, name }
        }
        Tool::GcpListSinks => Target::GcpProject,
        Tool::GcpDeleteSink => Target::GcpSink { name: (*g.pick(&GCP_SINKS)).to_owned() },
        Tool::GcpGetObject => Target::GcsObject {
            bucket: (*g.pick(&GCS_BUCKETS)).to_owned(),
            object: format!("exports/dt=2026-11-{:02}/part-{:05}.parquet", g.range_i64(1, 28), g.range_i64(0, 400)),
        },
        Tool::OktaListUsers | Tool::OktaGetUser => Target::Okta { path: "/api/v1/users" },
        Tool::OktaListGroups => Target::Okta { path: "/api/v1/groups" },
    }
}
