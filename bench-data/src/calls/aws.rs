//! The CloudTrail side of an agent's AWS calls, and the STS AssumeRole that starts its session.

use serde_json::{Value, json};

use super::{CallSpec, Credential, Env, GATEWAY_EGRESS_IPS, Outcome, TaskCtx, cloud_suffix};
use crate::ids::Gen;
use crate::record::Emitted;
use crate::sources::cloudtrail::{CloudTrailEvent, Identity};
use crate::time::{NANOS_PER_SEC, Nanos, Precision, epoch_secs, rfc3339};
use crate::tools::{Class, Target, Tool};
use crate::world::{AWS_PROD_ACCOUNT, GATEWAY_ROLE, GATEWAY_VERSION};

fn aws_denied_message(ctx_role: &str, session: &str, permission: &str, resource: &str) -> String {
    format!(
        "User: arn:aws:sts::{AWS_PROD_ACCOUNT}:assumed-role/{ctx_role}/{session} is not authorized to perform: {permission} on resource: {resource} because no session policy allows the {permission} action"
    )
}

/// CloudTrail `eventSource`, `eventName`, parameters and response for a tool.
fn aws_request(g: &mut Gen, tool: Tool, target: &Target, at: Nanos) -> (&'static str, &'static str, Value, Value) {
    let day = rfc3339(at, Precision::Seconds)[..10].to_owned();
    match (tool, target) {
        (Tool::AwsDescribeLogGroups, _) => {
            ("logs.amazonaws.com", "DescribeLogGroups", json!({ "logGroupNamePrefix": "/prod" }), Value::Null)
        }
        (Tool::AwsDescribeLogStreams, Target::LogGroup { name, .. }) => (
            "logs.amazonaws.com",
            "DescribeLogStreams",
            json!({ "logGroupName": name, "orderBy": "LastEventTime", "descending": true }),
            Value::Null,
        ),
        (Tool::AwsStartQuery, Target::LogGroup { name, .. }) => (
            "logs.amazonaws.com",
            "StartQuery",
            json!({
                "logGroupNames": [name],
                "startTime": epoch_secs(at) - 3600,
                "endTime": epoch_secs(at),
                "queryString": "fields @timestamp, @message | filter @message like /ERROR/ | sort @timestamp desc | limit 100",
            }),
            json!({ "queryId": g.uuid() }),
        ),
        (Tool::AwsPutRetentionPolicy, Target::LogGroup { name, .. }) => (
            "logs.amazonaws.com",
            "PutRetentionPolicy",
            json!({ "logGroupName": name, "retentionInDays": 30 }),
            Value::Null,
        ),
        (Tool::AwsDeleteLogGroup, Target::LogGroup { name, .. }) => {
            ("logs.amazonaws.com", "DeleteLogGroup", json!({ "logGroupName": name }), Value::Null)
        }
        (Tool::AwsListBuckets, _) => {
            ("s3.amazonaws.com", "ListBuckets", json!({ "Host": "s3.amazonaws.com" }), Value::Null)
        }
        (Tool::AwsGetBucketPolicy, Target::Bucket { name }) => (
            "s3.amazonaws.com",
            "GetBucketPolicy",
            json!({ "bucketName": name, "Host": format!("{name}.s3.amazonaws.com"), "policy": "" }),
            Value::Null,
        ),
        (Tool::AwsDeleteBucket, Target::Bucket { name }) => (
            "s3.amazonaws.com",
            "DeleteBucket",
            json!({ "bucketName": name, "Host": format!("{name}.s3.amazonaws.com") }),
            Value::Null,
        ),
        (Tool::AwsDescribeInstances, Target::Ec2 { instance, .. }) => (
            "ec2.amazonaws.com",
            "DescribeInstances",
            json!({ "instancesSet": { "items": [{ "instanceId": instance }] }, "filterSet": {} }),
            Value::Null,
        ),
        (Tool::AwsTerminateInstances, Target::Ec2 { instance, .. }) => (
            "ec2.amazonaws.com",
            "TerminateInstances",
            json!({ "instancesSet": { "items": [{ "instanceId": instance }] } }),
            json!({
                "requestId": g.uuid(),
                "instancesSet": { "items": [{
                    "instanceId": instance,
                    "currentState": { "code": 32, "name": "shutting-down" },
                    "previousState": { "code": 16, "name": "running" },
                }] },
            }),
        ),
        (Tool::AwsGetCostAndUsage, _) => (
            "ce.amazonaws.com",
            "GetCostAndUsage",
            json!({
                "timePeriod": { "start": format!("{}-01", &day[..7]), "end": day },
                "granularity": "DAILY",
                "metrics": ["UnblendedCost"],
                "groupBy": [{ "type": "DIMENSION", "key": "SERVICE" }],
            }),
            Value::Null,
        ),
        (Tool::AwsGetMetricData, _) => (
            "monitoring.amazonaws.com",
            "GetMetricData",
            json!({
                "startTime": rfc3339(at - 3_600 * NANOS_PER_SEC, Precision::Seconds),
                "endTime": rfc3339(at, Precision::Seconds),
                "metricDataQueries": [{ "id": "m1", "metricStat": { "metric": { "namespace": "AWS/ApplicationELB", "metricName": "HTTPCode_Target_5XX_Count" }, "period": 60, "stat": "Sum" } }],
            }),
            Value::Null,
        ),
        (Tool::AwsDescribeImages, Target::EcrRepo { repo, .. }) => {
            ("ecr.amazonaws.com", "DescribeImages", json!({ "repositoryName": repo, "maxResults": 100 }), Value::Null)
        }
        (Tool::AwsBatchDeleteImage, Target::EcrRepo { repo, digest, .. }) => (
            "ecr.amazonaws.com",
            "BatchDeleteImage",
            json!({ "repositoryName": repo, "imageIds": [{ "imageDigest": digest }] }),
            json!({ "imageIds": [{ "imageDigest": digest }], "failures": [] }),
        ),
        (Tool::AwsGetRole, Target::Role { name }) => {
            ("iam.amazonaws.com", "GetRole", json!({ "roleName": name }), Value::Null)
        }
        _ => ("sts.amazonaws.com", "GetCallerIdentity", Value::Null, Value::Null),
    }
}

fn aws_region(target: &Target) -> &'static str {
    match target {
        Target::LogGroup { region, .. }
        | Target::Ec2 { region, .. }
        | Target::EcrRepo { region, .. }
        | Target::Account { region } => region,
        _ => "us-east-1",
    }
}

fn aws_not_found(event_source: &str) -> (&'static str, &'static str) {
    match event_source {
        "logs.amazonaws.com" => ("ResourceNotFoundException", "The specified log group does not exist."),
        "s3.amazonaws.com" => ("NoSuchBucket", "The specified bucket does not exist"),
        "ec2.amazonaws.com" => ("Client.InvalidInstanceID.NotFound", "The instance ID does not exist"),
        "ecr.amazonaws.com" => ("RepositoryNotFoundException", "The repository does not exist in the registry"),
        _ => ("NoSuchEntity", "The role cannot be found."),
    }
}

/// The SDK user agent an agent's AWS calls carry.
pub fn aws_sdk_user_agent(event_source: &str) -> String {
    let api = event_source.trim_end_matches(".amazonaws.com");
    format!(
        "aws-sdk-go-v2/1.32.6 ua/2.1 os/linux lang/go#1.23.4 md/GOOS#linux md/GOARCH#amd64 api/{api}#1.44.0 m/E,g {GATEWAY_VERSION}"
    )
}

pub(super) fn cloudtrail_call(
    env: &Env,
    g: &mut Gen,
    ctx: &TaskCtx,
    at: Nanos,
    spec: &CallSpec,
    target: &Target,
    cred: &Credential,
) -> Emitted {
    let agent = &env.world.agents[spec.aws_identity_of.unwrap_or(ctx.agent)];
    let (event_source, event_name, params, response) = aws_request(g, spec.tool, target, at);
    let region = if event_source == "iam.amazonaws.com" || event_source == "ce.amazonaws.com" {
        "us-east-1"
    } else {
        aws_region(target)
    };
    let identity = match &spec.iam_user {
        Some(user_name) => Identity::IamUser {
            account: AWS_PROD_ACCOUNT,
            user_name: user_name.clone(),
            principal_id: format!("AIDA{}", &cred.jti[4..].to_uppercase()),
            access_key_id: cred.jti.clone(),
        },
        None => Identity::AssumedRole {
            account: AWS_PROD_ACCOUNT,
            role_path: "",
            role_name: agent.aws_role.clone(),
            role_id: agent.aws_role_id.clone(),
            session_name: agent.aws_session_name(),
            access_key_id: cred.jti.clone(),
            creation: cred.iat * NANOS_PER_SEC,
            mfa: false,
            source_identity: Some(agent.id.clone()),
            on_behalf_of: ctx.human.map(|h| env.world.humans[h].identity_store_user_id.clone()),
        },
    };
    let tool = spec.tool.spec();
    let error = match spec.outcome {
        Outcome::Success | Outcome::GatewayDenied => None,
        Outcome::NotFound => {
            let (code, message) = aws_not_found(event_source);
            Some((code, message.to_owned()))
        }
        Outcome::Throttled => Some(("ThrottlingException", "Rate exceeded".to_owned())),
        Outcome::DownstreamDenied => {
            let code =
                if event_source == "ec2.amazonaws.com" { "Client.UnauthorizedOperation" } else { "AccessDenied" };
            Some((
                code,
                aws_denied_message(&agent.aws_role, &agent.aws_session_name(), tool.permission, &target.resource()),
            ))
        }
        Outcome::Expired => {
            Some(("ExpiredTokenException", "The security token included in the request is expired".to_owned()))
        }
    };
    CloudTrailEvent {
        event_id: g.uuid(),
        time: at,
        identity,
        event_source,
        event_name,
        region,
        source_ip: (*g.pick(&GATEWAY_EGRESS_IPS)).to_owned(),
        user_agent: format!("{}{}", aws_sdk_user_agent(event_source), cloud_suffix(ctx)),
        error,
        request_parameters: params,
        response_elements: response,
        additional_event_data: Value::Null,
        request_id: g.uuid(),
        read_only: tool.class == Class::Read,
        resources: Value::Null,
        event_type: "AwsApiCall",
        recipient_account: AWS_PROD_ACCOUNT,
    }
    .render()
}

/// The AssumeRole call with which the gateway obtains an agent's AWS session.
pub fn assume_role(env: &Env, g: &mut Gen, ctx: &TaskCtx, at: Nanos, cred: &Credential) -> Emitted {
    let world = env.world;
    let agent = &world.agents[ctx.agent];
    let role_arn = format!("arn:aws:iam::{AWS_PROD_ACCOUNT}:role/{}", agent.aws_role);
    let session = agent.aws_session_name();
    let expiration = rfc3339(cred.exp * NANOS_PER_SEC, Precision::Seconds);
    let duration = cred.exp - cred.iat;
    CloudTrailEvent {
        event_id: g.uuid(),
        time: at,
        identity: Identity::AssumedRole {
            account: AWS_PROD_ACCOUNT,
            role_path: "",
            role_name: GATEWAY_ROLE.to_owned(),
            role_id: world.gateway_role_id.clone(),
            session_name: "gateway".to_owned(),
            access_key_id: world.gateway_access_key.clone(),
            creation: at - (at.rem_euclid(6 * 3_600 * NANOS_PER_SEC)),
            mfa: false,
            source_identity: None,
            on_behalf_of: None,
        },
        event_source: "sts.amazonaws.com",
        event_name: "AssumeRole",
        region: "us-east-1",
        source_ip: (*g.pick(&GATEWAY_EGRESS_IPS)).to_owned(),
        user_agent: aws_sdk_user_agent("sts.amazonaws.com"),
        error: None,
        request_parameters: json!({
            "roleArn": role_arn,
            "roleSessionName": session,
            "durationSeconds": duration,
            "sourceIdentity": agent.id,
        }),
        response_elements: json!({
            "credentials": {
                "accessKeyId": cred.jti,
                "sessionToken": "<redacted>",
                "expiration": expiration,
            },
            "assumedRoleUser": {
                "assumedRoleId": format!("{}:{session}", agent.aws_role_id),
                "arn": format!("arn:aws:sts::{AWS_PROD_ACCOUNT}:assumed-role/{}/{session}", agent.aws_role),
            },
            "sourceIdentity": agent.id,
        }),
        additional_event_data: Value::Null,
        request_id: g.uuid(),
        read_only: true,
        resources: json!([{ "accountId": AWS_PROD_ACCOUNT, "type": "AWS::IAM::Role", "ARN": role_arn }]),
        event_type: "AwsApiCall",
        recipient_account: AWS_PROD_ACCOUNT,
    }
    .render()
}
