//! AWS CloudTrail records (`eventVersion` 1.09). The per-source file holds
//! one `{"Records":[…]}` document per line, as CloudTrail delivers its files;
//! `mixed.ndjson` holds bare records.

use serde_json::Value;

use super::json::{F, Obj};
use crate::record::{Body, Emitted, Source};
use crate::time::{Nanos, Precision, rfc3339};
use crate::world::IDENTITY_STORE_ARN;

/// `userIdentity`.
#[derive(Debug, Clone, PartialEq)]
pub enum Identity {
    IamUser {
        account: &'static str,
        user_name: String,
        principal_id: String,
        access_key_id: String,
    },
    AssumedRole {
        account: &'static str,
        role_path: &'static str,
        role_name: String,
        role_id: String,
        session_name: String,
        access_key_id: String,
        creation: Nanos,
        mfa: bool,
        source_identity: Option<String>,
        /// IAM Identity Center user id (trusted identity propagation).
        on_behalf_of: Option<String>,
    },
    AwsService {
        invoked_by: &'static str,
    },
    IdentityCenterUser {
        account: &'static str,
        user_id: String,
        credential_id: String,
    },
}

impl Identity {
    fn to_f(&self) -> F<'_> {
        let obj = match self {
            Identity::IamUser { account, user_name, principal_id, access_key_id } => Obj(vec![
                ("type", F::Str("IAMUser")),
                ("principalId", F::Str(principal_id)),
                ("arn", F::Owned(format!("arn:aws:iam::{account}:user/{user_name}"))),
                ("accountId", F::Str(account)),
                ("accessKeyId", F::Str(access_key_id)),
                ("userName", F::Str(user_name)),
            ]),
            Identity::AssumedRole {
                account,
                role_path,
                role_name,
                role_id,
                session_name,
                access_key_id,
                creation,
                mfa,
                source_identity,
                on_behalf_of,
            } => {
                let issuer = Obj(vec![
                    ("type", F::Str("Role")),
                    ("principalId", F::Str(role_id)),
                    ("arn", F::Owned(format!("arn:aws:iam::{account}:role/{role_path}{role_name}"))),
                    ("accountId", F::Str(account)),
                    ("userName", F::Str(role_name)),
                ]);
                let attributes = Obj(vec![
                    ("creationDate", F::Owned(rfc3339(*creation, Precision::Seconds))),
                    ("mfaAuthenticated", F::Str(if *mfa { "true" } else { "false" })),
                ]);
                let session_context = Obj(vec![
                    ("sessionIssuer", F::Obj(issuer)),
                    ("attributes", F::Obj(attributes)),
                    ("sourceIdentity", F::opt(source_identity.as_deref())),
                ]);
                Obj(vec![
                    ("type", F::Str("AssumedRole")),
                    ("principalId", F::Owned(format!("{role_id}:{session_name}"))),
                    ("arn", F::Owned(format!("arn:aws:sts::{account}:assumed-role/{role_name}/{session_name}"))),
                    ("accountId", F::Str(account)),
                    ("accessKeyId", F::Str(access_key_id)),
                    ("sessionContext", F::Obj(session_context)),
                    (
                        "onBehalfOf",
                        on_behalf_of.as_ref().map_or(F::Skip, |user| {
                            F::Obj(Obj(vec![
                                ("userId", F::Str(user)),
                                ("identityStoreArn", F::Str(IDENTITY_STORE_ARN)),
                            ]))
                        }),
                    ),
                ])
            }
            Identity::AwsService { invoked_by } => {
                Obj(vec![("type", F::Str("AWSService")), ("invokedBy", F::Str(invoked_by))])
            }
            Identity::IdentityCenterUser { account, user_id, credential_id } => Obj(vec![
                ("type", F::Str("IdentityCenterUser")),
                ("accountId", F::Str(account)),
                (
                    "onBehalfOf",
                    F::Obj(Obj(vec![("userId", F::Str(user_id)), ("identityStoreArn", F::Str(IDENTITY_STORE_ARN))])),
                ),
                ("credentialId", F::Str(credential_id)),
            ]),
        };
        F::Obj(obj)
    }
}

/// One CloudTrail record.
#[derive(Debug, Clone)]
pub struct CloudTrailEvent {
    pub event_id: String,
    pub time: Nanos,
    pub identity: Identity,
    pub event_source: &'static str,
    pub event_name: &'static str,
    pub region: &'static str,
    pub source_ip: String,
    pub user_agent: String,
    pub error: Option<(&'static str, String)>,
    pub request_parameters: Value,
    pub response_elements: Value,
    pub additional_event_data: Value,
    pub request_id: String,
    pub read_only: bool,
    pub resources: Value,
    /// `AwsApiCall`, `AwsConsoleSignIn` or `AwsServiceEvent`.
    pub event_type: &'static str,
    pub recipient_account: &'static str,
}

impl CloudTrailEvent {
    pub fn agentrail_id(&self) -> String {
        format!("aws.cloudtrail:{}", self.event_id)
    }

    pub fn render(&self) -> Emitted {
        let by_service = matches!(self.identity, Identity::AwsService { .. });
        let tls = if by_service || self.event_type != "AwsApiCall" {
            F::Skip
        } else {
            let host = if self.event_source == "s3.amazonaws.com" {
                format!("s3.{}.amazonaws.com", self.region)
            } else {
                format!("{}.{}.amazonaws.com", self.event_source.trim_end_matches(".amazonaws.com"), self.region)
            };
            F::Obj(Obj(vec![
                ("tlsVersion", F::Str("TLSv1.3")),
                ("cipherSuite", F::Str("TLS_AES_128_GCM_SHA256")),
                ("clientProvidedHostHeader", F::Owned(host)),
            ]))
        };
        let (error_code, error_message) = match &self.error {
            Some((code, message)) => (F::Str(code), F::Str(message)),
            None => (F::Skip, F::Skip),
        };
        // CloudTrail writes explicit nulls when a call has no parameters or returns nothing.
        let response = if self.error.is_some() { F::Null } else { explicit(&self.response_elements) };
        let record = Obj(vec![
            ("eventVersion", F::Str("1.09")),
            ("userIdentity", self.identity.to_f()),
            ("eventTime", F::Owned(rfc3339(self.time, Precision::Seconds))),
            ("eventSource", F::Str(self.event_source)),
            ("eventName", F::Str(self.event_name)),
            ("awsRegion", F::Str(self.region)),
            ("sourceIPAddress", F::Str(&self.source_ip)),
            ("userAgent", F::Str(&self.user_agent)),
            ("errorCode", error_code),
            ("errorMessage", error_message),
            ("requestParameters", explicit(&self.request_parameters)),
            ("responseElements", response),
            ("additionalEventData", F::value(&self.additional_event_data)),
            ("requestID", F::Str(&self.request_id)),
            ("eventID", F::Str(&self.event_id)),
            ("readOnly", F::Bool(self.read_only)),
            ("resources", F::value(&self.resources)),
            ("eventType", F::Str(self.event_type)),
            ("managementEvent", F::Bool(true)),
            ("recipientAccountId", F::Str(self.recipient_account)),
            ("eventCategory", F::Str("Management")),
            ("tlsDetails", tls),
        ])
        .line();
        Emitted {
            time: self.time,
            source: Source::CloudTrail,
            event_id: self.agentrail_id(),
            body: Body::CloudTrail { region: self.region, record },
        }
    }
}

/// A value, or an explicit JSON null.
fn explicit(value: &Value) -> F<'_> {
    if value.is_null() { F::Null } else { F::Value(value) }
}
