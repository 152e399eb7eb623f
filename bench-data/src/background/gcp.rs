//! Cloud Audit Logs of people and service accounts in the analytics project.

use serde_json::{Value, json};

use super::{browser_ua, human_ip, pick_human};
use crate::ids::{Gen, derived_hex};
use crate::record::Emitted;
use crate::sources::gcp::{AuditLogKind, GcpEntry};
use crate::time::Nanos;
use crate::tools::GCS_BUCKETS;
use crate::world::{GCP_PROJECT, Team, World};

const GCLOUD_UA: &str = "google-cloud-sdk gcloud/502.0.0 command/gcloud.compute.instances.list invocation-id/{id} environment/None environment-version/None client-os/MACOSX client-os-ver/24.1.0 client-pltf-arch/arm,gzip(gfe)";
const TERRAFORM_UA: &str = "Terraform/1.9.8 (+https://www.terraform.io) Terraform-Plugin-SDK/2.33.0 terraform-provider-google/6.12.0,gzip(gfe)";

struct Method {
    service: &'static str,
    method: &'static str,
    permission: &'static str,
    permission_type: &'static str,
    log: AuditLogKind,
    resource_type: &'static str,
}

const METHODS: [Method; 9] = [
    Method {
        service: "compute.googleapis.com",
        method: "v1.compute.instances.list",
        permission: "compute.instances.list",
        permission_type: "ADMIN_READ",
        log: AuditLogKind::DataAccess,
        resource_type: "gce_instance",
    },
    Method {
        service: "storage.googleapis.com",
        method: "storage.objects.get",
        permission: "storage.objects.get",
        permission_type: "DATA_READ",
        log: AuditLogKind::DataAccess,
        resource_type: "gcs_bucket",
    },
    Method {
        service: "storage.googleapis.com",
        method: "storage.objects.list",
        permission: "storage.objects.list",
        permission_type: "DATA_READ",
        log: AuditLogKind::DataAccess,
        resource_type: "gcs_bucket",
    },
    Method {
        service: "bigquery.googleapis.com",
        method: "google.cloud.bigquery.v2.JobService.InsertJob",
        permission: "bigquery.jobs.create",
        permission_type: "DATA_READ",
        log: AuditLogKind::DataAccess,
        resource_type: "bigquery_project",
    },
    Method {
        service: "cloudresourcemanager.googleapis.com",
        method: "GetIamPolicy",
        permission: "resourcemanager.projects.getIamPolicy",
        permission_type: "ADMIN_READ",
        log: AuditLogKind::DataAccess,
        resource_type: "project",
    },
    Method {
        service: "compute.googleapis.com",
        method: "v1.compute.instances.insert",
        permission: "compute.instances.create",
        permission_type: "ADMIN_WRITE",
        log: AuditLogKind::Activity,
        resource_type: "gce_instance",
    },
    Method {
        service: "compute.googleapis.com",
        method: "v1.compute.instances.delete",
        permission: "compute.instances.delete",
        permission_type: "ADMIN_WRITE",
        log: AuditLogKind::Activity,
        resource_type: "gce_instance",
    },
    Method {
        service: "cloudresourcemanager.googleapis.com",
        method: "SetIamPolicy",
        permission: "resourcemanager.projects.setIamPolicy",
        permission_type: "ADMIN_WRITE",
        log: AuditLogKind::Activity,
        resource_type: "project",
    },
    Method {
        service: "iam.googleapis.com",
        method: "google.iam.admin.v1.CreateServiceAccountKey",
        permission: "iam.serviceAccountKeys.create",
        permission_type: "ADMIN_WRITE",
        log: AuditLogKind::Activity,
        resource_type: "service_account",
    },
];

fn resource(g: &mut Gen, world: &World, method: &Method) -> (String, Vec<(&'static str, String)>) {
    let project = format!("projects/{GCP_PROJECT}");
    match method.resource_type {
        "gce_instance" => {
            let (zone, name) = g.pick(&world.gcp_instances).clone();
            if method.method.ends_with(".list") {
                (
                    format!("{project}/zones/{zone}/instances"),
                    vec![("instance_id", String::new()), ("zone", zone.to_owned())],
                )
            } else {
                (
                    format!("{project}/zones/{zone}/instances/{name}"),
                    vec![("instance_id", g.digits(19)), ("zone", zone.to_owned())],
                )
            }
        }
        "gcs_bucket" => {
            let bucket = *g.pick(&GCS_BUCKETS);
            let object = if method.method.ends_with(".get") {
                format!("/objects/exports/dt=2026-11-{:02}/part-{:05}.parquet", g.range_i64(1, 28), g.range_i64(0, 400))
            } else {
                String::new()
            };
            (
                format!("projects/_/buckets/{bucket}{object}"),
                vec![("bucket_name", bucket.to_owned()), ("location", "us-central1".to_owned())],
            )
        }
        "bigquery_project" => {
            (format!("{project}/jobs/job_{}", g.mixed_alnum(27)), vec![("location", "US".to_owned())])
        }
        "service_account" => (
            format!("{project}/serviceAccounts/etl-runner@{GCP_PROJECT}.iam.gserviceaccount.com"),
            vec![
                ("email_id", format!("etl-runner@{GCP_PROJECT}.iam.gserviceaccount.com")),
                ("unique_id", g.digits(21)),
            ],
        ),
        _ => (project, Vec::new()),
    }
}

/// One background audit log entry.
pub fn record(world: &World, g: &mut Gen, seed: u64, at: Nanos, human: bool) -> Emitted {
    let weights = if human {
        [0.30, 0.18, 0.10, 0.18, 0.08, 0.05, 0.04, 0.04, 0.03]
    } else {
        [0.16, 0.30, 0.16, 0.22, 0.02, 0.06, 0.05, 0.02, 0.01]
    };
    let method = &METHODS[g.weighted(&weights)];
    let (resource_name, labels) = resource(g, world, method);
    let (principal, key, ip, user_agent, granted) = if human {
        let h = pick_human(world, g, &[Team::Data, Team::Developer, Team::Platform, Team::Security]);
        let person = &world.humans[h];
        let ip = human_ip(world, g, h);
        let ua = if g.chance(0.5) {
            GCLOUD_UA.replace("{id}", &g.uuid())
        } else {
            format!("{},gzip(gfe)", browser_ua(world, h))
        };
        let writes = method.log == AuditLogKind::Activity;
        let denied = (writes && matches!(person.team, Team::Security | Team::Data)) || g.chance(0.015);
        (person.email.clone(), None, ip, ua, !denied)
    } else {
        let roll = g.unit();
        if roll < 0.35 {
            (
                format!("airflow@{GCP_PROJECT}.iam.gserviceaccount.com"),
                None,
                format!("10.128.{}.{}", g.range_i64(0, 3), g.range_i64(2, 250)),
                "gl-python/3.11.10 grpc/1.68.1 gax/2.24.0 gapic/3.27.0 gccl/3.27.0,gzip(gfe)".to_owned(),
                true,
            )
        } else if roll < 0.65 {
            (
                format!("gke-nodes@{GCP_PROJECT}.iam.gserviceaccount.com"),
                None,
                format!("10.128.{}.{}", g.range_i64(0, 3), g.range_i64(2, 250)),
                "grpc-java-netty/1.68.1,gzip(gfe)".to_owned(),
                true,
            )
        } else if roll < 0.85 {
            // Terraform authenticates with a downloaded service-account key.
            let key = format!(
                "//iam.googleapis.com/projects/{GCP_PROJECT}/serviceAccounts/terraform@{GCP_PROJECT}.iam.gserviceaccount.com/keys/{}",
                derived_hex(seed, "terraform-key", 0, 40)
            );
            (
                format!("terraform@{GCP_PROJECT}.iam.gserviceaccount.com"),
                Some(key),
                format!("4.227.{}.{}", g.range_i64(1, 254), g.range_i64(1, 254)),
                TERRAFORM_UA.to_owned(),
                true,
            )
        } else {
            (
                "service-482910374652@compute-system.iam.gserviceaccount.com".to_owned(),
                None,
                "private".to_owned(),
                "GCE Managed Instance Group for GKE".to_owned(),
                !g.chance(0.01),
            )
        }
    };
    GcpEntry {
        insert_id: g.lower_alnum(12),
        time: at,
        received: at + g.range_i64(20, 900) * 1_000_000,
        log: method.log,
        principal_email: principal,
        service_account_key_name: key,
        delegation: Vec::new(),
        caller_ip: ip,
        user_agent,
        service_name: method.service,
        method_name: method.method,
        resource_name,
        permission: method.permission,
        permission_type: method.permission_type,
        granted,
        resource_type: method.resource_type,
        resource_labels: labels,
        request: if method.method == "SetIamPolicy" {
            json!({ "@type": "type.googleapis.com/google.iam.v1.SetIamPolicyRequest", "resource": GCP_PROJECT })
        } else {
            Value::Null
        },
        operation_id: (method.log == AuditLogKind::Activity)
            .then(|| format!("operation-{}-{}", at / 1_000_000, g.hex(20))),
    }
    .render()
}
