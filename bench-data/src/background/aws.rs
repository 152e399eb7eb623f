//! CloudTrail records of people (IAM Identity Center sessions) and services
//! (node roles, Lambda, Karpenter, CI, AWS Config, AWS services themselves).

use serde_json::{Value, json};

use super::{browser_ua, human_ip, pick_human, shift_index};
use crate::ids::{Gen, derived_aws_key};
use crate::record::Emitted;
use crate::sources::cloudtrail::{CloudTrailEvent, Identity};
use crate::time::{NANOS_PER_HOUR, NANOS_PER_SEC, Nanos, Precision, rfc3339};
use crate::tools::{ECR_REPOS, IAM_ROLES, LOG_GROUPS, S3_BUCKETS};
use crate::world::{AWS_PROD_ACCOUNT, AWS_REGION_WEIGHTS, AWS_REGIONS, Team, World};

const CLI_MAC: &str = "aws-cli/2.22.13 md/awscrt#0.22.0 ua/2.0 os/macos#24.1.0 md/arch#arm64 lang/python#3.12.6 md/pyimpl#CPython cfg/retry-mode#standard md/installer#source md/prompt#off";
const CLI_CI: &str = "aws-cli/2.22.13 md/awscrt#0.22.0 ua/2.0 os/linux#6.5.0-1025-azure md/arch#x86_64 lang/python#3.12.6 md/pyimpl#CPython cfg/retry-mode#standard md/installer#exe md/distrib#ubuntu.22 md/prompt#off";
const BOTO_LAMBDA: &str = "Boto3/1.35.74 md/Botocore#1.35.74 ua/2.0 os/linux#5.10.227-239.884.amzn2.x86_64 md/arch#x86_64 lang/python#3.12.7 md/pyimpl#CPython exec-env/AWS_Lambda_python3.12 cfg/retry-mode#legacy Botocore/1.35.74";
const GO_SDK_NODE: &str = "aws-sdk-go-v2/1.30.3 os/linux lang/go#1.22.5 md/GOOS#linux md/GOARCH#amd64 api/ecr#1.30.3";
const KARPENTER: &str = "aws-sdk-go-v2/1.32.6 ua/2.1 os/linux lang/go#1.23.4 md/GOOS#linux md/GOARCH#amd64 api/ec2#1.187.0 m/E karpenter.sh-v1.1.0";
const TERRAFORM: &str = "APN/1.0 HashiCorp/1.0 Terraform/1.9.8 (+https://www.terraform.io) terraform-provider-aws/5.80.0 (+https://registry.terraform.io/providers/hashicorp/aws) aws-sdk-go-v2/1.32.6 ua/2.1 os/linux lang/go#1.23.3 md/GOOS#linux md/GOARCH#amd64";

fn region(g: &mut Gen) -> &'static str {
    AWS_REGIONS[g.weighted(&AWS_REGION_WEIGHTS)]
}

/// A read-mostly catalogue of calls: (eventSource, eventName, readOnly).
fn human_call(g: &mut Gen) -> (&'static str, &'static str, bool) {
    const READS: [(&str, &str); 14] = [
        ("ec2.amazonaws.com", "DescribeInstances"),
        ("ec2.amazonaws.com", "DescribeSecurityGroups"),
        ("logs.amazonaws.com", "DescribeLogGroups"),
        ("logs.amazonaws.com", "StartQuery"),
        ("s3.amazonaws.com", "ListBuckets"),
        ("s3.amazonaws.com", "GetBucketPolicy"),
        ("iam.amazonaws.com", "GetRole"),
        ("iam.amazonaws.com", "ListRoles"),
        ("cloudformation.amazonaws.com", "DescribeStacks"),
        ("lambda.amazonaws.com", "ListFunctions20150331"),
        ("rds.amazonaws.com", "DescribeDBInstances"),
        ("sts.amazonaws.com", "GetCallerIdentity"),
        ("ce.amazonaws.com", "GetCostAndUsage"),
        ("eks.amazonaws.com", "DescribeCluster"),
    ];
    const WRITES: [(&str, &str); 6] = [
        ("logs.amazonaws.com", "CreateLogGroup"),
        ("logs.amazonaws.com", "PutRetentionPolicy"),
        ("ec2.amazonaws.com", "RunInstances"),
        ("ec2.amazonaws.com", "StopInstances"),
        ("lambda.amazonaws.com", "UpdateFunctionCode20150331v2"),
        ("s3.amazonaws.com", "PutBucketPolicy"),
    ];
    const DELETES: [(&str, &str); 3] = [
        ("logs.amazonaws.com", "DeleteLogGroup"),
        ("ec2.amazonaws.com", "TerminateInstances"),
        ("s3.amazonaws.com", "DeleteBucket"),
    ];
    let roll = g.unit();
    if roll < 0.82 {
        let (s, n) = *g.pick(&READS);
        (s, n, true)
    } else if roll < 0.96 {
        let (s, n) = *g.pick(&WRITES);
        (s, n, false)
    } else {
        let (s, n) = *g.pick(&DELETES);
        (s, n, false)
    }
}

fn parameters(g: &mut Gen, world: &World, event_name: &str, at: Nanos) -> (Value, Value) {
    let log_group = *g.pick(&LOG_GROUPS);
    let bucket = *g.pick(&S3_BUCKETS);
    let instance = g.pick(&world.ec2_instances).clone();
    match event_name {
        "DescribeInstances" => (json!({ "instancesSet": {}, "filterSet": {}, "maxResults": 1000 }), Value::Null),
        "DescribeSecurityGroups" => {
            (json!({ "securityGroupSet": {}, "securityGroupIdSet": {}, "filterSet": {} }), Value::Null)
        }
        "DescribeLogGroups" => (json!({ "logGroupNamePrefix": "/prod" }), Value::Null),
        "StartQuery" => (
            json!({ "logGroupNames": [log_group], "startTime": at / NANOS_PER_SEC - 3600, "endTime": at / NANOS_PER_SEC, "queryString": "fields @timestamp, @message | sort @timestamp desc | limit 20" }),
            json!({ "queryId": g.uuid() }),
        ),
        "ListBuckets" => (json!({ "Host": "s3.amazonaws.com" }), Value::Null),
        "GetBucketPolicy" | "PutBucketPolicy" | "DeleteBucket" | "GetBucketAcl" => {
            (json!({ "bucketName": bucket, "Host": format!("{bucket}.s3.amazonaws.com") }), Value::Null)
        }
        "GetRole" => (json!({ "roleName": g.pick(&IAM_ROLES) }), Value::Null),
        "ListRoles" | "ListFunctions20150331" | "DescribeDBInstances" | "GetCallerIdentity" => {
            (Value::Null, Value::Null)
        }
        "DescribeStacks" => (json!({ "stackName": "prod-network" }), Value::Null),
        "GetCostAndUsage" => (
            json!({ "timePeriod": { "start": "2026-11-01", "end": rfc3339(at, Precision::Seconds)[..10].to_owned() }, "granularity": "MONTHLY", "metrics": ["BlendedCost"] }),
            Value::Null,
        ),
        "DescribeCluster" => (json!({ "name": "prod-eks" }), Value::Null),
        "CreateLogGroup" => (json!({ "logGroupName": format!("/prod/{}", g.lower_alnum(6)) }), Value::Null),
        "PutRetentionPolicy" => (json!({ "logGroupName": log_group, "retentionInDays": 90 }), Value::Null),
        "DeleteLogGroup" => (json!({ "logGroupName": format!("/dev/scratch-{}", g.lower_alnum(5)) }), Value::Null),
        "RunInstances" => (
            json!({ "instancesSet": { "items": [{ "imageId": format!("ami-0{}", g.hex(16)), "minCount": 1, "maxCount": 1 }] }, "instanceType": "m7i.large" }),
            json!({ "requestId": g.uuid(), "reservationId": format!("r-0{}", g.hex(16)), "instancesSet": { "items": [{ "instanceId": format!("i-0{}", g.hex(16)) }] } }),
        ),
        "StopInstances" | "TerminateInstances" => (
            json!({ "instancesSet": { "items": [{ "instanceId": instance }] } }),
            json!({ "requestId": g.uuid(), "instancesSet": { "items": [{ "instanceId": instance }] } }),
        ),
        "UpdateFunctionCode20150331v2" | "GetFunction20150331v2" => {
            (json!({ "functionName": "orders-processor", "publish": true }), Value::Null)
        }
        "GetAuthorizationToken" => (json!({ "registryIds": [AWS_PROD_ACCOUNT] }), Value::Null),
        "BatchGetImage" | "PutImage" | "InitiateLayerUpload" => (
            json!({ "repositoryName": g.pick(&ECR_REPOS), "imageIds": [{ "imageTag": format!("v1.{}.{}", g.below(40), g.below(20)) }] }),
            Value::Null,
        ),
        "Decrypt" | "GenerateDataKey" => (
            json!({ "encryptionAlgorithm": "SYMMETRIC_DEFAULT", "encryptionContext": { "aws:lambda:FunctionArn": format!("arn:aws:lambda:us-east-1:{AWS_PROD_ACCOUNT}:function:orders-processor") } }),
            Value::Null,
        ),
        "GetSecretValue" => (json!({ "secretId": "prod/orders/db-credentials" }), Value::Null),
        "CreateLogStream" => (
            json!({ "logGroupName": "/aws/lambda/orders-processor", "logStreamName": format!("2026/11/16/[$LATEST]{}", g.hex(32)) }),
            Value::Null,
        ),
        "DescribeTable" => (json!({ "tableName": "orders" }), Value::Null),
        "CreateFleet" => (
            json!({ "CreateFleetRequest": { "Type": "instant", "TargetCapacitySpecification": { "TotalTargetCapacity": 1 } } }),
            json!({ "CreateFleetResponse": { "fleetId": format!("fleet-{}", g.uuid()) } }),
        ),
        "DescribeServices" | "UpdateService" => {
            (json!({ "cluster": "prod", "services": ["billing-svc"] }), Value::Null)
        }
        _ => (Value::Null, Value::Null),
    }
}

fn denied_message(arn: &str, action: &str) -> String {
    format!(
        "User: {arn} is not authorized to perform: {action} because no identity-based policy allows the {action} action"
    )
}

#[allow(clippy::too_many_arguments)]
fn event(
    g: &mut Gen,
    at: Nanos,
    identity: Identity,
    event_source: &'static str,
    event_name: &'static str,
    region: &'static str,
    source_ip: String,
    user_agent: String,
    read_only: bool,
    params: (Value, Value),
    error: Option<(&'static str, String)>,
) -> Emitted {
    CloudTrailEvent {
        event_id: g.uuid(),
        time: at,
        identity,
        event_source,
        event_name,
        region,
        source_ip,
        user_agent,
        error,
        request_parameters: params.0,
        response_elements: params.1,
        additional_event_data: Value::Null,
        request_id: g.uuid(),
        read_only,
        resources: Value::Null,
        event_type: "AwsApiCall",
        recipient_account: AWS_PROD_ACCOUNT,
    }
    .render()
}

/// One background CloudTrail record.
pub fn record(world: &World, g: &mut Gen, seed: u64, at: Nanos, human: bool) -> Emitted {
    if human { human_record(world, g, seed, at) } else { service_record(world, g, seed, at) }
}

fn human_record(world: &World, g: &mut Gen, seed: u64, at: Nanos) -> Emitted {
    let teams = [Team::Platform, Team::Sre, Team::Developer, Team::Data, Team::Security, Team::Finance];
    let h = pick_human(world, g, &teams);
    let person = &world.humans[h];
    let shift = shift_index(at);
    let key = derived_aws_key(seed, &format!("sso/{}", person.email), shift, "ASIA");
    let creation = at - at.rem_euclid(8 * NANOS_PER_HOUR) + (h as i64 % 50) * 60 * NANOS_PER_SEC;
    let identity = Identity::AssumedRole {
        account: AWS_PROD_ACCOUNT,
        role_path: "aws-reserved/sso.amazonaws.com/",
        role_name: person.sso_role.clone(),
        role_id: person.sso_role_id.clone(),
        session_name: person.email.clone(),
        access_key_id: key,
        creation: creation.min(at),
        mfa: false,
        source_identity: None,
        on_behalf_of: None,
    };
    let ip = human_ip(world, g, h);
    let roll = g.unit();
    if roll < 0.04 {
        // Console sign-in through IAM Identity Center.
        return CloudTrailEvent {
            event_id: g.uuid(),
            time: at,
            identity,
            event_source: "signin.amazonaws.com",
            event_name: "ConsoleLogin",
            region: "us-east-1",
            source_ip: ip,
            user_agent: browser_ua(world, h).to_owned(),
            error: None,
            request_parameters: Value::Null,
            response_elements: json!({ "ConsoleLogin": "Success" }),
            additional_event_data: json!({ "MobileVersion": "No", "MFAUsed": "No" }),
            request_id: g.uuid(),
            read_only: false,
            resources: Value::Null,
            event_type: "AwsConsoleSignIn",
            recipient_account: AWS_PROD_ACCOUNT,
        }
        .render();
    }
    if roll < 0.07 {
        // An application using trusted identity propagation acts for the person.
        let (source, name) =
            if g.chance(0.5) { ("qbusiness.amazonaws.com", "ChatSync") } else { ("s3.amazonaws.com", "GetDataAccess") };
        let identity = Identity::IdentityCenterUser {
            account: AWS_PROD_ACCOUNT,
            user_id: person.identity_store_user_id.clone(),
            credential_id: g.base64url(64),
        };
        let params = if name == "ChatSync" {
            (json!({ "applicationId": "3f6b2a9e-1c4d-4e8f-9a7b-5d2c0e1f8a64" }), Value::Null)
        } else {
            (json!({ "target": "s3://acme-data-lake-raw/finance/*", "permission": "READ" }), Value::Null)
        };
        return event(g, at, identity, source, name, "us-east-1", ip, "AWS Internal".to_owned(), true, params, None);
    }
    let (event_source, event_name, read_only) = human_call(g);
    let console = g.chance(0.35);
    let user_agent = if console {
        "AWS Internal".to_owned()
    } else {
        let command = format!("{}.{}", event_source.trim_end_matches(".amazonaws.com"), kebab(event_name));
        format!("{CLI_MAC} md/command#{command}")
    };
    let region = if matches!(event_source, "iam.amazonaws.com" | "ce.amazonaws.com" | "sts.amazonaws.com") {
        "us-east-1"
    } else {
        region(g)
    };
    let read_only_person = matches!(person.team, Team::Security | Team::Finance);
    let role_arn = format!("arn:aws:sts::{AWS_PROD_ACCOUNT}:assumed-role/{}/{}", person.sso_role, person.email);
    let service = event_source.trim_end_matches(".amazonaws.com");
    let error = if (!read_only && read_only_person) || g.chance(0.012) {
        let code = if event_source == "ec2.amazonaws.com" { "Client.UnauthorizedOperation" } else { "AccessDenied" };
        Some((code, denied_message(&role_arn, &format!("{service}:{event_name}"))))
    } else if g.chance(0.015) {
        Some(("ResourceNotFoundException", "The specified resource does not exist.".to_owned()))
    } else {
        None
    };
    let params = parameters(g, world, event_name, at);
    event(g, at, identity, event_source, event_name, region, ip, user_agent, read_only, params, error)
}

fn kebab(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for (i, c) in name.trim_end_matches(char::is_numeric).trim_end_matches("v").chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('-');
            }
            out.push(c.to_ascii_lowercase());
        } else if c.is_ascii_alphabetic() {
            out.push(c);
        }
    }
    out
}

fn node_ip(node: &str) -> String {
    node.trim_start_matches("ip-").trim_end_matches(".ec2.internal").replace('-', ".")
}

fn service_record(world: &World, g: &mut Gen, seed: u64, at: Nanos) -> Emitted {
    let shift = shift_index(at);
    let kind = g.weighted(&[0.30, 0.18, 0.08, 0.14, 0.14, 0.06, 0.10]);
    match kind {
        0 => {
            // EKS worker nodes pulling images and describing themselves.
            let index = g.below(world.nodes.len());
            let instance = world.ec2_instances[index % world.ec2_instances.len()].clone();
            let (source, name) = *g.pick(&[
                ("ecr.amazonaws.com", "GetAuthorizationToken"),
                ("ecr.amazonaws.com", "BatchGetImage"),
                ("ec2.amazonaws.com", "DescribeInstances"),
                ("ec2.amazonaws.com", "DescribeNetworkInterfaces"),
            ]);
            let identity = Identity::AssumedRole {
                account: AWS_PROD_ACCOUNT,
                role_path: "",
                role_name: "eks-node-group-role".to_owned(),
                role_id: "AROAWD4X6P2KQ7NODEGRP".to_owned(),
                session_name: instance.clone(),
                access_key_id: derived_aws_key(seed, &format!("node/{instance}"), shift, "ASIA"),
                creation: at - at.rem_euclid(6 * NANOS_PER_HOUR),
                mfa: false,
                source_identity: None,
                on_behalf_of: None,
            };
            let params = parameters(g, world, name, at);
            event(
                g,
                at,
                identity,
                source,
                name,
                "us-east-1",
                node_ip(&world.nodes[index]),
                GO_SDK_NODE.to_owned(),
                true,
                params,
                None,
            )
        }
        1 => {
            let (source, name) = *g.pick(&[
                ("kms.amazonaws.com", "Decrypt"),
                ("secretsmanager.amazonaws.com", "GetSecretValue"),
                ("logs.amazonaws.com", "CreateLogStream"),
                ("dynamodb.amazonaws.com", "DescribeTable"),
            ]);
            let identity = Identity::AssumedRole {
                account: AWS_PROD_ACCOUNT,
                role_path: "service-role/",
                role_name: "lambda-orders-processor".to_owned(),
                role_id: "AROAWD4X6P2KLAMBDAORD".to_owned(),
                session_name: "orders-processor".to_owned(),
                access_key_id: derived_aws_key(
                    seed,
                    "lambda/orders-processor",
                    at as u64 / (15 * 60 * NANOS_PER_SEC as u64),
                    "ASIA",
                ),
                creation: at - at.rem_euclid(15 * 60 * NANOS_PER_SEC),
                mfa: false,
                source_identity: None,
                on_behalf_of: None,
            };
            let error = g.chance(0.01).then(|| ("ThrottlingException", "Rate exceeded".to_owned()));
            let params = parameters(g, world, name, at);
            let ip = format!("34.228.{}.{}", g.range_i64(1, 254), g.range_i64(1, 254));
            event(
                g,
                at,
                identity,
                source,
                name,
                "us-east-1",
                ip,
                BOTO_LAMBDA.to_owned(),
                name != "CreateLogStream",
                params,
                error,
            )
        }
        2 => {
            let (source, name, read_only) = *g.pick(&[
                ("ec2.amazonaws.com", "CreateFleet", false),
                ("ec2.amazonaws.com", "DescribeInstanceTypes", true),
                ("ec2.amazonaws.com", "TerminateInstances", false),
                ("ec2.amazonaws.com", "CreateTags", false),
                ("pricing.amazonaws.com", "GetProducts", true),
            ]);
            let identity = Identity::AssumedRole {
                account: AWS_PROD_ACCOUNT,
                role_path: "",
                role_name: "karpenter-controller".to_owned(),
                role_id: "AROAWD4X6P2KKARPENTER".to_owned(),
                session_name: (shift * 28_800).to_string(),
                access_key_id: derived_aws_key(seed, "karpenter", shift, "ASIA"),
                creation: at - at.rem_euclid(8 * NANOS_PER_HOUR),
                mfa: false,
                source_identity: None,
                on_behalf_of: None,
            };
            let params = parameters(g, world, name, at);
            let ip = format!("10.0.{}.{}", g.range_i64(16, 95), g.range_i64(2, 250));
            event(g, at, identity, source, name, "us-east-1", ip, KARPENTER.to_owned(), read_only, params, None)
        }
        3 => {
            let (invoked_by, source, name) = *g.pick(&[
                ("lambda.amazonaws.com", "sts.amazonaws.com", "AssumeRole"),
                ("ecs-tasks.amazonaws.com", "sts.amazonaws.com", "AssumeRole"),
                ("s3.amazonaws.com", "kms.amazonaws.com", "GenerateDataKey"),
                ("rds.amazonaws.com", "kms.amazonaws.com", "Decrypt"),
            ]);
            let params = if name == "AssumeRole" {
                let role =
                    if invoked_by == "lambda.amazonaws.com" { "lambda-orders-processor" } else { "ecs-billing-task" };
                (
                    json!({ "roleArn": format!("arn:aws:iam::{AWS_PROD_ACCOUNT}:role/service-role/{role}"), "roleSessionName": g.hex(32) }),
                    json!({ "credentials": { "accessKeyId": g.aws_key("ASIA"), "sessionToken": "<redacted>", "expiration": rfc3339(at + 12 * NANOS_PER_HOUR, Precision::Seconds) } }),
                )
            } else {
                (
                    json!({ "keyId": format!("arn:aws:kms:us-east-1:{AWS_PROD_ACCOUNT}:key/{}", g.uuid()), "encryptionAlgorithm": "SYMMETRIC_DEFAULT" }),
                    Value::Null,
                )
            };
            CloudTrailEvent {
                event_id: g.uuid(),
                time: at,
                identity: Identity::AwsService { invoked_by },
                event_source: source,
                event_name: name,
                region: "us-east-1",
                source_ip: invoked_by.to_owned(),
                user_agent: invoked_by.to_owned(),
                error: None,
                request_parameters: params.0,
                response_elements: params.1,
                additional_event_data: Value::Null,
                request_id: g.uuid(),
                read_only: true,
                resources: Value::Null,
                event_type: "AwsApiCall",
                recipient_account: AWS_PROD_ACCOUNT,
            }
            .render()
        }
        4 => {
            let (source, name) = *g.pick(&[
                ("ec2.amazonaws.com", "DescribeSecurityGroups"),
                ("ec2.amazonaws.com", "DescribeVpcs"),
                ("s3.amazonaws.com", "GetBucketAcl"),
                ("iam.amazonaws.com", "ListRoles"),
                ("lambda.amazonaws.com", "GetFunction20150331v2"),
            ]);
            let identity = Identity::AssumedRole {
                account: AWS_PROD_ACCOUNT,
                role_path: "aws-service-role/config.amazonaws.com/",
                role_name: "AWSServiceRoleForConfig".to_owned(),
                role_id: "AROAWD4X6P2KCONFIGSVC".to_owned(),
                session_name: "AWSConfig-Describe".to_owned(),
                access_key_id: derived_aws_key(seed, "config", shift, "ASIA"),
                creation: at - at.rem_euclid(NANOS_PER_HOUR),
                mfa: false,
                source_identity: None,
                on_behalf_of: None,
            };
            let region = if source == "iam.amazonaws.com" { "us-east-1" } else { region(g) };
            let params = parameters(g, world, name, at);
            event(
                g,
                at,
                identity,
                source,
                name,
                region,
                "config.amazonaws.com".to_owned(),
                "config.amazonaws.com".to_owned(),
                true,
                params,
                None,
            )
        }
        5 => {
            // A legacy CI user with a long-term access key.
            let (source, name, read_only) = *g.pick(&[
                ("ecr.amazonaws.com", "InitiateLayerUpload", false),
                ("ecr.amazonaws.com", "PutImage", false),
                ("ecs.amazonaws.com", "DescribeServices", true),
                ("ecs.amazonaws.com", "UpdateService", false),
            ]);
            let identity = Identity::IamUser {
                account: AWS_PROD_ACCOUNT,
                user_name: "ci-deployer".to_owned(),
                principal_id: "AIDAWD4X6P2KCIDEPLOY1".to_owned(),
                access_key_id: derived_aws_key(seed, "ci-deployer", 0, "AKIA"),
            };
            let params = parameters(g, world, name, at);
            let ip = format!("20.57.{}.{}", g.range_i64(1, 254), g.range_i64(1, 254));
            let command = format!("{}.{}", source.trim_end_matches(".amazonaws.com"), kebab(name));
            event(
                g,
                at,
                identity,
                source,
                name,
                "us-east-1",
                ip,
                format!("{CLI_CI} md/command#{command}"),
                read_only,
                params,
                None,
            )
        }
        _ => {
            let (source, name, read_only) = *g.pick(&[
                ("cloudformation.amazonaws.com", "DescribeStacks", true),
                ("lambda.amazonaws.com", "UpdateFunctionCode20150331v2", false),
                ("lambda.amazonaws.com", "GetFunction20150331v2", true),
                ("s3.amazonaws.com", "GetBucketPolicy", true),
            ]);
            let identity = Identity::AssumedRole {
                account: AWS_PROD_ACCOUNT,
                role_path: "",
                role_name: "github-actions-deploy".to_owned(),
                role_id: "AROAWD4X6P2KGHACTIONS".to_owned(),
                session_name: "GitHubActions".to_owned(),
                access_key_id: derived_aws_key(seed, "gha", at as u64 / NANOS_PER_HOUR as u64, "ASIA"),
                creation: at - at.rem_euclid(NANOS_PER_HOUR),
                mfa: false,
                source_identity: None,
                on_behalf_of: None,
            };
            let params = parameters(g, world, name, at);
            let ip = format!("4.227.{}.{}", g.range_i64(1, 254), g.range_i64(1, 254));
            event(g, at, identity, source, name, "us-east-1", ip, TERRAFORM.to_owned(), read_only, params, None)
        }
    }
}
