//! The columns a mapping may fill, their kinds, and how a value is written
//! into an [`Event`].

use agentrail_event::{ActionClass, ActorType, CredentialType, Event, Outcome, Timestamp, columns};

/// What a column holds, which decides how a mapped value is converted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    Text,
    List,
    Time,
    /// A closed vocabulary; the value must be one of its names.
    Vocabulary,
}

macro_rules! mappable_columns {
    ($($variant:ident => ($name:path, $kind:ident)),+ $(,)?) => {
        /// A column of the event that a mapping file can fill.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Column { $($variant),+ }

        impl Column {
            pub const ALL: &'static [Column] = &[$(Column::$variant),+];

            pub fn name(self) -> &'static str {
                match self { $(Column::$variant => $name),+ }
            }

            pub fn kind(self) -> ColumnKind {
                match self { $(Column::$variant => ColumnKind::$kind),+ }
            }

            pub fn from_name(name: &str) -> Option<Column> {
                match name { $(n if n == $name => Some(Column::$variant),)+ _ => None }
            }
        }
    };
}

mappable_columns! {
    EventId => (columns::EVENT_ID, Text),
    Time => (columns::TIME, Time),
    Action => (columns::ACTION, Text),
    ActionClass => (columns::ACTION_CLASS, Vocabulary),
    Resource => (columns::RESOURCE, Text),
    Outcome => (columns::OUTCOME, Vocabulary),
    ActorType => (columns::ACTOR_TYPE, Vocabulary),
    ActorId => (columns::ACTOR_ID, Text),
    AgentId => (columns::AGENT_ID, Text),
    AgentRole => (columns::AGENT_ROLE, Text),
    OnBehalfOf => (columns::ON_BEHALF_OF, Text),
    DelegationChain => (columns::DELEGATION_CHAIN, List),
    TaskId => (columns::TASK_ID, Text),
    SessionId => (columns::SESSION_ID, Text),
    CorrelationId => (columns::CORRELATION_ID, Text),
    TraceId => (columns::TRACE_ID, Text),
    RequestId => (columns::REQUEST_ID, Text),
    Scopes => (columns::SCOPES, List),
    Permission => (columns::PERMISSION, Text),
    CredentialType => (columns::CREDENTIAL_TYPE, Vocabulary),
    CredentialId => (columns::CREDENTIAL_ID, Text),
    CredentialIssuedAt => (columns::CREDENTIAL_ISSUED_AT, Time),
    CredentialExpiresAt => (columns::CREDENTIAL_EXPIRES_AT, Time),
    ApprovalId => (columns::APPROVAL_ID, Text),
    ApprovedBy => (columns::APPROVED_BY, Text),
    SrcIp => (columns::SRC_IP, Text),
    UserAgent => (columns::USER_AGENT, Text),
    Reason => (columns::REASON, Text),
    Message => (columns::MESSAGE, Text),
}

/// One list of the text columns and their event fields, for both accessors.
macro_rules! text_slots {
    ($($variant:ident => $field:ident),+ $(,)?) => {
        impl Column {
            /// The slot of a text column in the event, `None` for other kinds.
            pub fn text_slot(self, event: &mut Event) -> Option<&mut Option<String>> {
                match self { $(Column::$variant => Some(&mut event.$field),)+ _ => None }
            }

            /// The value of a text column, `None` for other kinds.
            pub fn text_ref(self, event: &Event) -> Option<&Option<String>> {
                match self { $(Column::$variant => Some(&event.$field),)+ _ => None }
            }
        }
    };
}

text_slots! {
    Resource => resource,
    ActorId => actor_id,
    AgentId => agent_id,
    AgentRole => agent_role,
    OnBehalfOf => on_behalf_of,
    TaskId => task_id,
    SessionId => session_id,
    CorrelationId => correlation_id,
    TraceId => trace_id,
    RequestId => request_id,
    Permission => permission,
    CredentialId => credential_id,
    ApprovalId => approval_id,
    ApprovedBy => approved_by,
    SrcIp => src_ip,
    UserAgent => user_agent,
    Reason => reason,
    Message => message,
}

impl Column {
    /// Whether `value` is a valid value of this vocabulary column.
    pub fn accepts(self, value: &str) -> bool {
        match self {
            Column::ActionClass => value.parse::<ActionClass>().is_ok(),
            Column::Outcome => value.parse::<Outcome>().is_ok(),
            Column::ActorType => value.parse::<ActorType>().is_ok(),
            Column::CredentialType => value.parse::<CredentialType>().is_ok(),
            _ => true,
        }
    }

    /// The current value of a text or vocabulary column, for `column = "…"` getters.
    pub fn read_text(self, event: &Event) -> Option<String> {
        let text = match self {
            Column::EventId => Some(event.event_id.clone()),
            Column::Action => Some(event.action.clone()),
            Column::ActionClass => Some(event.action_class.as_str().to_owned()),
            Column::Outcome => Some(event.outcome.as_str().to_owned()),
            Column::ActorType => Some(event.actor_type.as_str().to_owned()),
            Column::CredentialType => Some(event.credential_type.as_str().to_owned()),
            other => other.text_ref(event).and_then(Clone::clone),
        };
        text.filter(|t| !t.is_empty())
    }

    /// Writes a text or vocabulary value. Returns false when the value is not
    /// valid for the column (an unknown vocabulary word).
    pub fn write_text(self, event: &mut Event, value: String) -> bool {
        match self {
            Column::EventId => event.event_id = value,
            Column::Action => event.action = value,
            Column::ActionClass => match value.parse() {
                Ok(v) => event.action_class = v,
                Err(_) => return false,
            },
            Column::Outcome => match value.parse() {
                Ok(v) => event.outcome = v,
                Err(_) => return false,
            },
            Column::ActorType => match value.parse() {
                Ok(v) => event.actor_type = v,
                Err(_) => return false,
            },
            Column::CredentialType => match value.parse() {
                Ok(v) => event.credential_type = v,
                Err(_) => return false,
            },
            other => match other.text_slot(event) {
                Some(slot) => *slot = Some(value),
                None => return false,
            },
        }
        true
    }

    pub fn write_list(self, event: &mut Event, values: Vec<String>) {
        match self {
            Column::DelegationChain => event.delegation_chain = values,
            Column::Scopes => event.scopes = values,
            _ => {}
        }
    }

    pub fn write_time(self, event: &mut Event, value: Timestamp) {
        match self {
            Column::Time => event.time = value,
            Column::CredentialIssuedAt => event.credential_issued_at = Some(value),
            Column::CredentialExpiresAt => event.credential_expires_at = Some(value),
            _ => {}
        }
    }
}
