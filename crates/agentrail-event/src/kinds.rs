//! The closed vocabularies of the event: action class, outcome, actor type
//! and credential type. Each is stored as its lower-case name (`Utf8`), so
//! SQL reads `WHERE action_class = 'delete'`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A value outside a closed vocabulary.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` is not a valid {kind} (expected one of: {expected})")]
pub struct UnknownKind {
    pub kind: &'static str,
    pub value: String,
    pub expected: &'static str,
}

macro_rules! vocabulary {
    ($(#[$meta:meta])* $name:ident, $kind:literal, default = $default:ident, { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($variant,)+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stored, lower-case name.
            pub const fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl Default for $name {
            fn default() -> Self { $name::$default }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { f.write_str(self.as_str()) }
        }

        impl FromStr for $name {
            type Err = UnknownKind;
            fn from_str(text: &str) -> Result<Self, UnknownKind> {
                match text {
                    $($text => Ok($name::$variant),)+
                    _ => Err(UnknownKind {
                        kind: $kind,
                        value: text.to_owned(),
                        expected: concat!($($text, " "),+),
                    }),
                }
            }
        }
    };
}

vocabulary!(
    /// What kind of change an action makes; `delete` and `admin` are the
    /// destructive classes the anomaly rules watch.
    ActionClass, "action_class", default = Other, {
        Read => "read",
        Write => "write",
        Delete => "delete",
        Admin => "admin",
        Auth => "auth",
        Other => "other",
    }
);

vocabulary!(
    /// How the action ended.
    Outcome, "outcome", default = Unknown, {
        Success => "success",
        Failure => "failure",
        Denied => "denied",
        Unknown => "unknown",
    }
);

vocabulary!(
    /// Who acted: an AI agent, a person, a non-agent service, or not known.
    ActorType, "actor_type", default = Unknown, {
        Agent => "agent",
        Human => "human",
        Service => "service",
        Unknown => "unknown",
    }
);

vocabulary!(
    /// What kind of credential authenticated the action.
    CredentialType, "credential_type", default = Unknown, {
        ApiKey => "api_key",
        Oauth => "oauth",
        Mtls => "mtls",
        Workload => "workload",
        Session => "session",
        Password => "password",
        Unknown => "unknown",
    }
);

impl ActionClass {
    /// Delete and admin actions: what needs an approval.
    pub const fn is_destructive(self) -> bool {
        matches!(self, ActionClass::Delete | ActionClass::Admin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for v in CredentialType::ALL {
            assert_eq!(v.as_str().parse::<CredentialType>(), Ok(*v));
        }
        for v in ActionClass::ALL {
            assert_eq!(v.as_str().parse::<ActionClass>(), Ok(*v));
        }
    }

    #[test]
    fn unknown_name_says_what_is_allowed() {
        let error = "deleted".parse::<ActionClass>().unwrap_err();
        assert!(error.to_string().contains("read write delete admin auth other"), "{error}");
    }

    #[test]
    fn serde_uses_the_stored_names() {
        assert_eq!(serde_json::to_string(&CredentialType::ApiKey).ok(), Some("\"api_key\"".to_owned()));
    }
}
