//! Turning events into Arrow `RecordBatch`es of [`event_schema`].

use std::sync::Arc;

use arrow_array::builder::{
    ListBuilder, MapBuilder, StringBuilder, StringDictionaryBuilder, TimestampMicrosecondBuilder, UInt32Builder,
};
use arrow_array::types::Int32Type;
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::ArrowError;

use crate::event::Event;
use crate::schema::{event_schema, list_item_field};
use crate::timestamp::Timestamp;

/// Appends events column by column and finishes them into a `RecordBatch`.
///
/// Reusable: [`EventBatchBuilder::finish`] resets the builders.
pub struct EventBatchBuilder {
    event_id: StringBuilder,
    time: TimestampMicrosecondBuilder,
    ingest_time: TimestampMicrosecondBuilder,
    source: StringDictionaryBuilder<Int32Type>,
    action: StringBuilder,
    action_class: StringBuilder,
    resource: StringBuilder,
    outcome: StringBuilder,
    actor_type: StringBuilder,
    actor_id: StringBuilder,
    agent_id: StringBuilder,
    agent_role: StringBuilder,
    on_behalf_of: StringBuilder,
    delegation_chain: ListBuilder<StringBuilder>,
    task_id: StringBuilder,
    session_id: StringBuilder,
    correlation_id: StringBuilder,
    trace_id: StringBuilder,
    request_id: StringBuilder,
    scopes: ListBuilder<StringBuilder>,
    permission: StringBuilder,
    credential_type: StringBuilder,
    credential_id: StringBuilder,
    credential_issued_at: TimestampMicrosecondBuilder,
    credential_expires_at: TimestampMicrosecondBuilder,
    approval_id: StringBuilder,
    approved_by: StringBuilder,
    src_ip: StringBuilder,
    user_agent: StringBuilder,
    reason: StringBuilder,
    message: StringBuilder,
    attributes: MapBuilder<StringBuilder, StringBuilder>,
    raw: StringBuilder,
    redactions: UInt32Builder,
    rows: usize,
}

impl Default for EventBatchBuilder {
    fn default() -> Self {
        let timestamps = || TimestampMicrosecondBuilder::new().with_timezone("UTC");
        let list = || ListBuilder::new(StringBuilder::new()).with_field(list_item_field());
        EventBatchBuilder {
            event_id: StringBuilder::new(),
            time: timestamps(),
            ingest_time: timestamps(),
            source: StringDictionaryBuilder::new(),
            action: StringBuilder::new(),
            action_class: StringBuilder::new(),
            resource: StringBuilder::new(),
            outcome: StringBuilder::new(),
            actor_type: StringBuilder::new(),
            actor_id: StringBuilder::new(),
            agent_id: StringBuilder::new(),
            agent_role: StringBuilder::new(),
            on_behalf_of: StringBuilder::new(),
            delegation_chain: list(),
            task_id: StringBuilder::new(),
            session_id: StringBuilder::new(),
            correlation_id: StringBuilder::new(),
            trace_id: StringBuilder::new(),
            request_id: StringBuilder::new(),
            scopes: list(),
            permission: StringBuilder::new(),
            credential_type: StringBuilder::new(),
            credential_id: StringBuilder::new(),
            credential_issued_at: timestamps(),
            credential_expires_at: timestamps(),
            approval_id: StringBuilder::new(),
            approved_by: StringBuilder::new(),
            src_ip: StringBuilder::new(),
            user_agent: StringBuilder::new(),
            reason: StringBuilder::new(),
            message: StringBuilder::new(),
            attributes: MapBuilder::new(None, StringBuilder::new(), StringBuilder::new()),
            raw: StringBuilder::new(),
            redactions: UInt32Builder::new(),
            rows: 0,
        }
    }
}

impl std::fmt::Debug for EventBatchBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventBatchBuilder").field("rows", &self.rows).finish_non_exhaustive()
    }
}

fn append_time(builder: &mut TimestampMicrosecondBuilder, value: Option<Timestamp>) {
    builder.append_option(value.map(Timestamp::as_micros));
}

fn append_list(builder: &mut ListBuilder<StringBuilder>, values: &[String]) {
    for value in values {
        builder.values().append_value(value);
    }
    builder.append(true);
}

impl EventBatchBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Rows appended since the last [`EventBatchBuilder::finish`].
    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    pub fn append(&mut self, event: &Event) -> Result<(), ArrowError> {
        self.event_id.append_value(&event.event_id);
        self.time.append_value(event.time.as_micros());
        append_time(&mut self.ingest_time, event.ingest_time);
        self.source.append(&event.source)?;
        self.action.append_value(&event.action);
        self.action_class.append_value(event.action_class.as_str());
        self.resource.append_option(event.resource.as_deref());
        self.outcome.append_value(event.outcome.as_str());
        self.actor_type.append_value(event.actor_type.as_str());
        self.actor_id.append_option(event.actor_id.as_deref());
        self.agent_id.append_option(event.agent_id.as_deref());
        self.agent_role.append_option(event.agent_role.as_deref());
        self.on_behalf_of.append_option(event.on_behalf_of.as_deref());
        append_list(&mut self.delegation_chain, &event.delegation_chain);
        self.task_id.append_option(event.task_id.as_deref());
        self.session_id.append_option(event.session_id.as_deref());
        self.correlation_id.append_option(event.correlation_id.as_deref());
        self.trace_id.append_option(event.trace_id.as_deref());
        self.request_id.append_option(event.request_id.as_deref());
        append_list(&mut self.scopes, &event.scopes);
        self.permission.append_option(event.permission.as_deref());
        self.credential_type.append_value(event.credential_type.as_str());
        self.credential_id.append_option(event.credential_id.as_deref());
        append_time(&mut self.credential_issued_at, event.credential_issued_at);
        append_time(&mut self.credential_expires_at, event.credential_expires_at);
        self.approval_id.append_option(event.approval_id.as_deref());
        self.approved_by.append_option(event.approved_by.as_deref());
        self.src_ip.append_option(event.src_ip.as_deref());
        self.user_agent.append_option(event.user_agent.as_deref());
        self.reason.append_option(event.reason.as_deref());
        self.message.append_option(event.message.as_deref());
        for (key, value) in &event.attributes {
            self.attributes.keys().append_value(key);
            self.attributes.values().append_value(value);
        }
        self.attributes.append(true)?;
        self.raw.append_value(&event.raw);
        self.redactions.append_value(event.redactions);
        self.rows += 1;
        Ok(())
    }

    /// Finishes the appended rows into a batch of [`event_schema`] and resets.
    pub fn finish(&mut self) -> Result<RecordBatch, ArrowError> {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.event_id.finish()),
            Arc::new(self.time.finish()),
            Arc::new(self.ingest_time.finish()),
            Arc::new(self.source.finish()),
            Arc::new(self.action.finish()),
            Arc::new(self.action_class.finish()),
            Arc::new(self.resource.finish()),
            Arc::new(self.outcome.finish()),
            Arc::new(self.actor_type.finish()),
            Arc::new(self.actor_id.finish()),
            Arc::new(self.agent_id.finish()),
            Arc::new(self.agent_role.finish()),
            Arc::new(self.on_behalf_of.finish()),
            Arc::new(self.delegation_chain.finish()),
            Arc::new(self.task_id.finish()),
            Arc::new(self.session_id.finish()),
            Arc::new(self.correlation_id.finish()),
            Arc::new(self.trace_id.finish()),
            Arc::new(self.request_id.finish()),
            Arc::new(self.scopes.finish()),
            Arc::new(self.permission.finish()),
            Arc::new(self.credential_type.finish()),
            Arc::new(self.credential_id.finish()),
            Arc::new(self.credential_issued_at.finish()),
            Arc::new(self.credential_expires_at.finish()),
            Arc::new(self.approval_id.finish()),
            Arc::new(self.approved_by.finish()),
            Arc::new(self.src_ip.finish()),
            Arc::new(self.user_agent.finish()),
            Arc::new(self.reason.finish()),
            Arc::new(self.message.finish()),
            Arc::new(self.attributes.finish()),
            Arc::new(self.raw.finish()),
            Arc::new(self.redactions.finish()),
        ];
        self.rows = 0;
        RecordBatch::try_new(event_schema(), columns)
    }
}

/// Builds one batch from a slice of events.
pub fn events_to_batch<'a>(events: impl IntoIterator<Item = &'a Event>) -> Result<RecordBatch, ArrowError> {
    let mut builder = EventBatchBuilder::new();
    for event in events {
        builder.append(event)?;
    }
    builder.finish()
}

#[cfg(test)]
mod tests {
    use arrow_array::cast::AsArray;
    use arrow_array::types::TimestampMicrosecondType;

    use super::*;
    use crate::kinds::ActionClass;

    fn sample(id: &str) -> Event {
        let mut event = Event::new(
            id.to_owned(),
            Timestamp::from_micros(1_700_000_000_000_000),
            "agent".to_owned(),
            "tools/call".to_owned(),
            "{}".to_owned(),
        );
        event.action_class = ActionClass::Delete;
        event.delegation_chain = vec!["alice".into(), "planner".into()];
        event.attributes.insert("k".into(), "v".into());
        event.credential_expires_at = Some(Timestamp::from_micros(1_700_000_360_000_000));
        event
    }

    #[test]
    fn batch_matches_schema_and_values() -> Result<(), ArrowError> {
        let events = [sample("a"), sample("b")];
        let batch = events_to_batch(&events)?;
        assert_eq!(batch.schema(), event_schema());
        assert_eq!(batch.num_rows(), 2);
        let ids = batch.column(0).as_string::<i32>();
        assert_eq!(ids.value(1), "b");
        let expires = batch
            .column_by_name("credential_expires_at")
            .map(|c| c.as_primitive::<TimestampMicrosecondType>().value(0));
        assert_eq!(expires, Some(1_700_000_360_000_000));
        let chain = batch.column_by_name("delegation_chain").map(|c| c.as_list::<i32>().value(0).len());
        assert_eq!(chain, Some(2));
        Ok(())
    }

    #[test]
    fn builder_is_reusable() -> Result<(), ArrowError> {
        let mut builder = EventBatchBuilder::new();
        builder.append(&sample("a"))?;
        assert_eq!(builder.finish()?.num_rows(), 1);
        assert!(builder.is_empty());
        builder.append(&sample("b"))?;
        assert_eq!(builder.finish()?.num_rows(), 1);
        Ok(())
    }
}
