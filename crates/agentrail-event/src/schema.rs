//! The Arrow schema of the event table: column names, types and nullability.

use std::sync::{Arc, LazyLock};

use arrow_schema::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};

/// Column names in table order. The order is the design's column table, with
/// `redactions` appended.
pub mod columns {
    pub const EVENT_ID: &str = "event_id";
    pub const TIME: &str = "time";
    pub const INGEST_TIME: &str = "ingest_time";
    pub const SOURCE: &str = "source";
    pub const ACTION: &str = "action";
    pub const ACTION_CLASS: &str = "action_class";
    pub const RESOURCE: &str = "resource";
    pub const OUTCOME: &str = "outcome";
    pub const ACTOR_TYPE: &str = "actor_type";
    pub const ACTOR_ID: &str = "actor_id";
    pub const AGENT_ID: &str = "agent_id";
    pub const AGENT_ROLE: &str = "agent_role";
    pub const ON_BEHALF_OF: &str = "on_behalf_of";
    pub const DELEGATION_CHAIN: &str = "delegation_chain";
    pub const TASK_ID: &str = "task_id";
    pub const SESSION_ID: &str = "session_id";
    pub const CORRELATION_ID: &str = "correlation_id";
    pub const TRACE_ID: &str = "trace_id";
    pub const REQUEST_ID: &str = "request_id";
    pub const SCOPES: &str = "scopes";
    pub const PERMISSION: &str = "permission";
    pub const CREDENTIAL_TYPE: &str = "credential_type";
    pub const CREDENTIAL_ID: &str = "credential_id";
    pub const CREDENTIAL_ISSUED_AT: &str = "credential_issued_at";
    pub const CREDENTIAL_EXPIRES_AT: &str = "credential_expires_at";
    pub const APPROVAL_ID: &str = "approval_id";
    pub const APPROVED_BY: &str = "approved_by";
    pub const SRC_IP: &str = "src_ip";
    pub const USER_AGENT: &str = "user_agent";
    pub const REASON: &str = "reason";
    pub const MESSAGE: &str = "message";
    pub const ATTRIBUTES: &str = "attributes";
    pub const RAW: &str = "raw";
    pub const REDACTIONS: &str = "redactions";
}

/// `Timestamp(Microsecond, "UTC")`, the type of every time column.
pub fn timestamp_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

/// The item field of the `List<Utf8>` columns.
pub fn list_item_field() -> Arc<Field> {
    Arc::new(Field::new("item", DataType::Utf8, true))
}

/// `Map<Utf8, Utf8>` with arrow-rs' default entry names, as `MapBuilder` writes it.
pub fn attributes_type() -> DataType {
    let entries =
        Fields::from(vec![Field::new("keys", DataType::Utf8, false), Field::new("values", DataType::Utf8, true)]);
    DataType::Map(Arc::new(Field::new("entries", DataType::Struct(entries), false)), false)
}

static EVENT_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    use columns::*;
    let text = |name: &str| Field::new(name, DataType::Utf8, true);
    let required_text = |name: &str| Field::new(name, DataType::Utf8, false);
    let time = |name: &str, nullable: bool| Field::new(name, timestamp_type(), nullable);
    let list = |name: &str| Field::new(name, DataType::List(list_item_field()), false);
    Arc::new(Schema::new(vec![
        required_text(EVENT_ID),
        time(TIME, false),
        time(INGEST_TIME, true),
        Field::new(SOURCE, DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)), false),
        required_text(ACTION),
        required_text(ACTION_CLASS),
        text(RESOURCE),
        required_text(OUTCOME),
        required_text(ACTOR_TYPE),
        text(ACTOR_ID),
        text(AGENT_ID),
        text(AGENT_ROLE),
        text(ON_BEHALF_OF),
        list(DELEGATION_CHAIN),
        text(TASK_ID),
        text(SESSION_ID),
        text(CORRELATION_ID),
        text(TRACE_ID),
        text(REQUEST_ID),
        list(SCOPES),
        text(PERMISSION),
        required_text(CREDENTIAL_TYPE),
        text(CREDENTIAL_ID),
        time(CREDENTIAL_ISSUED_AT, true),
        time(CREDENTIAL_EXPIRES_AT, true),
        text(APPROVAL_ID),
        text(APPROVED_BY),
        text(SRC_IP),
        text(USER_AGENT),
        text(REASON),
        text(MESSAGE),
        Field::new(ATTRIBUTES, attributes_type(), false),
        required_text(RAW),
        Field::new(REDACTIONS, DataType::UInt32, false),
    ]))
});

/// The schema of the `events` table. Cheap to call: the schema is built once.
pub fn event_schema() -> SchemaRef {
    Arc::clone(&EVENT_SCHEMA)
}
