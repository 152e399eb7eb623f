//! The Cloud Audit Logs side of an agent's Google Cloud calls.

use serde_json::Value;

use super::{CallSpec, Env, GATEWAY_EGRESS_IPS, Outcome, TaskCtx, github_repo_id};
use crate::ids::Gen;
use crate::record::Emitted;
use crate::sources::gcp::{AuditLogKind, GcpEntry};
use crate::time::Nanos;
use crate::tools::{Target, Tool};
use crate::world::{GATEWAY_ROLE, GATEWAY_VERSION, GCP_PROJECT};

/// Where and how Cloud Audit Logs records a tool's call.
struct Method {
    service: &'static str,
    method: &'static str,
    log: AuditLogKind,
    permission_type: &'static str,
    resource_type: &'static str,
    labels: Vec<(&'static str, String)>,
    resource: String,
}

fn method(
    service: &'static str,
    method: &'static str,
    log: AuditLogKind,
    permission_type: &'static str,
    resource_type: &'static str,
    labels: Vec<(&'static str, String)>,
    resource: String,
) -> Method {
    Method { service, method, log, permission_type, resource_type, labels, resource }
}

/// GCP `serviceName`, `methodName`, log, permission type, resource type and labels for a tool.
fn gcp_method(tool: Tool, target: &Target) -> Method {
    let project = format!("projects/{GCP_PROJECT}");
    match (tool, target) {
        (Tool::GcpDeleteInstance, Target::GcpInstance { zone, name }) => method(
            "compute.googleapis.com",
            "v1.compute.instances.delete",
            AuditLogKind::Activity,
            "ADMIN_WRITE",
            "gce_instance",
            vec![("instance_id", format!("{}", github_repo_id(name) * 7_919)), ("zone", (*zone).to_owned())],
            format!("{project}/zones/{zone}/instances/{name}"),
        ),
        (Tool::GcpDeleteSink, Target::GcpSink { name }) => method(
            "logging.googleapis.com",
            "google.logging.v2.ConfigServiceV2.DeleteSink",
            AuditLogKind::Activity,
            "ADMIN_WRITE",
            "logging_sink",
            vec![("name", name.clone()), ("destination", String::new())],
            format!("{project}/sinks/{name}"),
        ),
        (Tool::GcpGetObject, Target::GcsObject { bucket, object }) => method(
            "storage.googleapis.com",
            "storage.objects.get",
            AuditLogKind::DataAccess,
            "DATA_READ",
            "gcs_bucket",
            vec![("bucket_name", bucket.clone()), ("location", "us-central1".to_owned())],
            format!("projects/_/buckets/{bucket}/objects/{object}"),
        ),
        (Tool::GcpListSinks, _) => method(
            "logging.googleapis.com",
            "google.logging.v2.ConfigServiceV2.ListSinks",
            AuditLogKind::DataAccess,
            "ADMIN_READ",
            "logging_sink",
            vec![("name", String::new()), ("destination", String::new())],
            project,
        ),
        (Tool::GcpRunQuery, _) => method(
            "bigquery.googleapis.com",
            "google.cloud.bigquery.v2.JobService.InsertJob",
            AuditLogKind::DataAccess,
            "DATA_READ",
            "bigquery_project",
            vec![("location", "US".to_owned())],
            format!("{project}/jobs/"),
        ),
        (Tool::GcpGetIamPolicy, _) => method(
            "cloudresourcemanager.googleapis.com",
            "GetIamPolicy",
            AuditLogKind::DataAccess,
            "ADMIN_READ",
            "project",
            Vec::new(),
            project,
        ),
        _ => method(
            "compute.googleapis.com",
            "v1.compute.instances.list",
            AuditLogKind::DataAccess,
            "ADMIN_READ",
            "gce_instance",
            vec![("instance_id", String::new()), ("zone", "us-central1-a".to_owned())],
            format!("{project}/zones/us-central1-a/instances"),
        ),
    }
}

pub(super) fn gcp_call(env: &Env, g: &mut Gen, ctx: &TaskCtx, at: Nanos, spec: &CallSpec, target: &Target) -> Emitted {
    let world = env.world;
    let agent = &world.agents[ctx.agent];
    let Method { service, method, log, permission_type, resource_type, labels, mut resource } =
        gcp_method(spec.tool, target);
    if spec.tool == Tool::GcpRunQuery {
        resource.push_str(&format!("job_{}", g.mixed_alnum(27)));
    }
    let mut delegation = Vec::new();
    if let Some(h) = ctx.human {
        delegation.push(world.humans[h].email.clone());
    }
    delegation.push(format!("{GATEWAY_ROLE}@{GCP_PROJECT}.iam.gserviceaccount.com"));
    let corr = if ctx.stamps_correlation { format!(" corr/{}", ctx.correlation_id) } else { String::new() };
    let operation_id = (log == AuditLogKind::Activity).then(|| format!("operation-{}-{}", at / 1_000_000, g.hex(20)));
    GcpEntry {
        insert_id: g.lower_alnum(12),
        time: at,
        received: at + g.range_i64(20, 900) * 1_000_000,
        log,
        principal_email: agent.gcp_service_account(),
        service_account_key_name: None,
        delegation,
        caller_ip: (*g.pick(&GATEWAY_EGRESS_IPS)).to_owned(),
        user_agent: format!("google-api-go-client/0.5 {GATEWAY_VERSION} task/{}{corr},gzip(gfe)", ctx.task_id),
        service_name: service,
        method_name: method,
        resource_name: resource,
        permission: spec.tool.spec().permission,
        permission_type,
        granted: !matches!(spec.outcome, Outcome::DownstreamDenied | Outcome::Expired),
        resource_type,
        resource_labels: labels,
        request: Value::Null,
        operation_id,
    }
    .render()
}
