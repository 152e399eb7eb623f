//! Statements over the PostgreSQL wire protocol, simple and extended.
//!
//! Every statement is sorted first ([`kind`]): one that reads is planned on
//! the query engine's context and run by the engine, within its limits (the
//! same timeout, memory and row limits as the read API) and audited; a
//! session statement (`SET`, `SHOW`, `BEGIN`, …) goes to datafusion-postgres'
//! own handling, which keeps client settings per connection; anything else
//! (DDL, DML, `COPY`, settings of the engine) is refused as read-only.

use std::fmt::Debug;
use std::sync::Arc;

use agentrail_event::Outcome;
use agentrail_query::{Answer, QueryEngine, QueryError};
use async_trait::async_trait;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::ParamValues;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast::{Set, Statement};
use datafusion_postgres::arrow_pg::datatypes::df::deserialize_parameters_with_server_types;
use datafusion_postgres::arrow_pg::datatypes::{arrow_schema_to_pg_fields, encode_recordbatch};
use datafusion_postgres::datafusion_pg_catalog::sql::PostgresCompatibilityParser;
use datafusion_postgres::hooks::{HookClient, QueryHook};
use datafusion_postgres::pgwire::api::portal::{Format, Portal};
use datafusion_postgres::pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use datafusion_postgres::pgwire::api::results::{QueryResponse, Response};
use datafusion_postgres::pgwire::api::stmt::QueryParser;
use datafusion_postgres::pgwire::api::store::PortalStore;
use datafusion_postgres::pgwire::api::{ClientInfo, ClientPortalStore, METADATA_APPLICATION_NAME, METADATA_USER, Type};
use datafusion_postgres::pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use datafusion_postgres::pgwire::messages::PgWireBackendMessage;
use datafusion_postgres::pgwire::types::format::FormatOptions;
use datafusion_postgres::{DfSessionService, Parser};
use futures::Sink;

use super::columns::with_text_maps;
use super::startup::Caller;
use crate::audit::{Auditor, WireRequest};

/// What a statement is, for this read-only server.
#[derive(Debug, PartialEq, Eq)]
enum Kind {
    /// Reads: planned and run by the engine.
    Read,
    /// Changes or shows this connection's settings, or opens and closes a
    /// (read-only) transaction.
    Session,
    /// Anything else, with the reason.
    Refused(String),
}

fn kind(statement: &Statement) -> Kind {
    match statement {
        Statement::Query(_)
        | Statement::Explain { .. }
        | Statement::ShowTables { .. }
        | Statement::ShowColumns { .. }
        | Statement::ShowFunctions { .. } => Kind::Read,
        Statement::Set(set) if sets_engine_option(set) => {
            Kind::Refused("the query engine's settings cannot be changed by a client".to_owned())
        }
        Statement::Set(_)
        | Statement::ShowVariable { .. }
        | Statement::ShowStatus { .. }
        | Statement::ShowCatalogs { .. }
        | Statement::StartTransaction { .. }
        | Statement::Commit { .. }
        | Statement::Rollback { .. } => Kind::Session,
        other => {
            let verb: String = other.to_string().split_whitespace().take(2).collect::<Vec<_>>().join(" ");
            Kind::Refused(format!("agentrail is read-only over SQL: {verb} … is not allowed (only queries are)"))
        }
    }
}

/// `SET datafusion.…`: the engine's own options are shared by every
/// connection and hold its limits.
fn sets_engine_option(set: &Set) -> bool {
    match set {
        Set::SingleAssignment { variable, .. } => variable.to_string().to_ascii_lowercase().contains("datafusion"),
        Set::ParenthesizedAssignments { .. } | Set::MultipleAssignments { .. } => true,
        _ => false,
    }
}

/// A refusal with its SQLSTATE.
fn refusal(code: &str, message: impl Into<String>) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new("ERROR".to_owned(), code.to_owned(), message.into())))
}

/// The SQLSTATE PostgreSQL would give each reason an answer was refused.
fn query_refusal(error: &QueryError) -> PgWireError {
    let code = match error {
        QueryError::NotReadOnly(_) => "25006", // read_only_sql_transaction
        QueryError::Timeout(_) => "57014",     // query_canceled
        QueryError::Memory { .. } => "53200",  // out_of_memory
        QueryError::TooManyRows(_) => "54000", // program_limit_exceeded
        QueryError::Sql(_) => "42000",         // syntax_error_or_access_rule_violation
        QueryError::Manifest(_) | QueryError::DataDir { .. } | QueryError::Shared(_) => "58030", // io_error
    };
    refusal(code, error.to_string())
}

/// Plans a statement that reads on the engine's context, with its map
/// columns as JSON text.
async fn plan_read(context: &SessionContext, statement: &Statement) -> Result<LogicalPlan, QueryError> {
    let plan = context
        .state()
        .statement_to_plan(DfStatement::Statement(Box::new(statement.clone())))
        .await
        .map_err(|e| QueryError::Sql(e.find_root().to_string()))?;
    with_text_maps(plan).map_err(|e| QueryError::Sql(e.to_string()))
}

/// The engine and the audit, shared by every connection.
pub(crate) struct Reader {
    engine: Arc<QueryEngine>,
    auditor: Option<Auditor>,
}

impl Reader {
    pub(crate) fn new(engine: Arc<QueryEngine>, auditor: Option<Auditor>) -> Reader {
        Reader { engine, auditor }
    }

    /// Runs a planned read within the engine's limits and audits it.
    async fn run(
        &self,
        client: &(dyn ClientInfo + Send + Sync),
        sql: &str,
        plan: Result<LogicalPlan, QueryError>,
    ) -> Result<Answer, QueryError> {
        let answer = match plan {
            Ok(plan) => match self.engine.refresh() {
                Ok(_) => self.engine.query_plan(plan).await,
                Err(error) => Err(error),
            },
            Err(error) => Err(error),
        };
        let (outcome, rows, reason) = match &answer {
            Ok(answer) => (Outcome::Success, Some(answer.rows()), None),
            Err(QueryError::NotReadOnly(reason)) => (Outcome::Denied, None, Some(reason.clone())),
            Err(error) => (Outcome::Failure, None, Some(error.to_string())),
        };
        self.audit(client, sql, outcome, rows, reason);
        answer
    }

    fn audit(
        &self,
        client: &(dyn ClientInfo + Send + Sync),
        sql: &str,
        outcome: Outcome,
        rows: Option<usize>,
        reason: Option<String>,
    ) {
        let Some(auditor) = &self.auditor else { return };
        let caller = client.session_extensions().get::<Caller>();
        let metadata = client.metadata();
        auditor.record_wire(WireRequest {
            action: "pg.query",
            token: caller.as_ref().and_then(|caller| caller.token.as_deref()),
            user: metadata.get(METADATA_USER).map(String::as_str),
            application: metadata.get(METADATA_APPLICATION_NAME).map(String::as_str),
            peer: client.socket_addr(),
            sql: Some(sql),
            rows,
            outcome,
            reason,
        });
    }
}

/// Rows for the client, in the formats it asked for.
fn encode(answer: Answer, format: &Format, client: &dyn ClientInfo) -> PgWireResult<QueryResponse> {
    let options = Arc::new(FormatOptions::from_client_metadata(client.metadata()));
    let fields = Arc::new(arrow_schema_to_pg_fields(&answer.schema, format, Some(options))?);
    let rows = {
        let fields = Arc::clone(&fields);
        answer.batches.into_iter().flat_map(move |batch| encode_recordbatch(Arc::clone(&fields), batch))
    };
    Ok(QueryResponse::new(fields, futures::stream::iter(rows)))
}

/// The statement type datafusion-postgres' parser keeps for a prepared
/// statement: its text, and the statement with its plan.
type Prepared = (String, Option<(Statement, LogicalPlan)>);

/// Binds a portal's parameters into its plan, decoded with the types the
/// server advertised for them at Parse.
fn bind(parser: &Parser, portal: &Portal<Prepared>, plan: &LogicalPlan) -> PgWireResult<LogicalPlan> {
    let api = |e: datafusion::error::DataFusionError| PgWireError::ApiError(Box::new(e));
    let mut inferred: Vec<(String, Option<DataType>)> = plan.get_parameter_types().map_err(api)?.into_iter().collect();
    if inferred.is_empty() {
        return Ok(plan.clone());
    }
    inferred.sort_by_key(|(id, _)| id.trim_start_matches('$').parse::<u32>().unwrap_or(u32::MAX));
    let advertised = parser.get_parameter_types(&portal.statement.statement)?;
    let advertised: Vec<Option<&Type>> = advertised.iter().map(Some).collect();
    let inferred: Vec<Option<&DataType>> = inferred.iter().map(|(_, datatype)| datatype.as_ref()).collect();
    let values: ParamValues = deserialize_parameters_with_server_types(portal, &inferred, &advertised)?;
    plan.clone().replace_params_with_values(&values).map_err(api)
}

/// The simple and extended query handlers of every connection.
pub(crate) struct Session {
    reader: Arc<Reader>,
    /// datafusion-postgres' session service: the Parse step (with
    /// [`ReadPlans`] first among its hooks) and session statements.
    inner: Arc<DfSessionService>,
    parser: Arc<Parser>,
    sql: PostgresCompatibilityParser,
}

impl Session {
    pub(crate) fn new(reader: Arc<Reader>) -> Session {
        let context = Arc::new(reader.engine.context().clone());
        let hooks: Vec<Arc<dyn QueryHook>> = vec![
            Arc::new(ReadPlans { reader: Arc::clone(&reader) }),
            Arc::new(datafusion_postgres::hooks::set_show::SetShowHook),
            Arc::new(datafusion_postgres::hooks::transactions::TransactionStatementHook),
        ];
        let inner = Arc::new(DfSessionService::new_with_hooks(context, hooks));
        let parser = inner.query_parser();
        Session { reader, inner, parser, sql: PostgresCompatibilityParser::new() }
    }
}

#[async_trait]
impl SimpleQueryHandler for Session {
    async fn do_query<C>(&self, client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let statements = self.sql.parse(query).map_err(|e| refusal("42601", e.to_string()))?;
        if statements.is_empty() {
            return Ok(vec![Response::EmptyQuery]);
        }
        let mut responses = Vec::with_capacity(statements.len());
        for statement in statements {
            let text = statement.to_string();
            match kind(&statement) {
                Kind::Read => {
                    let plan = plan_read(self.reader.engine.context(), &statement).await;
                    let answer = self.reader.run(&*client, &text, plan).await.map_err(|e| query_refusal(&e))?;
                    responses.push(Response::Query(encode(answer, &Format::UnifiedText, &*client)?));
                }
                Kind::Session => responses.extend(SimpleQueryHandler::do_query(&*self.inner, client, &text).await?),
                Kind::Refused(reason) => {
                    self.reader.audit(&*client, &text, Outcome::Denied, None, Some(reason.clone()));
                    return Err(refusal("25006", reason));
                }
            }
        }
        Ok(responses)
    }
}

#[async_trait]
impl ExtendedQueryHandler for Session {
    type Statement = Prepared;
    type QueryParser = Parser;

    fn query_parser(&self) -> Arc<Parser> {
        Arc::clone(&self.parser)
    }

    async fn do_query<C>(&self, client: &mut C, portal: &Portal<Prepared>, max_rows: usize) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Prepared>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let (text, parsed) = &portal.statement.statement;
        match parsed {
            Some((statement, plan)) if kind(statement) == Kind::Read => {
                let plan = bind(&self.parser, portal, plan)?;
                let answer = self.reader.run(&*client, text, Ok(plan)).await.map_err(|e| query_refusal(&e))?;
                Ok(Response::Query(encode(answer, &portal.result_column_format, &*client)?))
            }
            _ => ExtendedQueryHandler::do_query(&*self.inner, client, portal, max_rows).await,
        }
    }
}

/// The first hook at Parse: plans what reads on the engine's context (maps
/// as text, so Describe tells the client the columns it will get) and
/// refuses what may not run, before the client binds anything.
struct ReadPlans {
    reader: Arc<Reader>,
}

#[async_trait]
impl QueryHook for ReadPlans {
    async fn handle_simple_query(
        &self,
        _statement: &Statement,
        _context: &SessionContext,
        _client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        None
    }

    async fn handle_extended_parse_query(
        &self,
        statement: &Statement,
        _context: &SessionContext,
        client: &(dyn ClientInfo + Send + Sync),
    ) -> Option<PgWireResult<LogicalPlan>> {
        match kind(statement) {
            Kind::Read => Some(plan_read(self.reader.engine.context(), statement).await.map_err(|e| {
                self.reader.audit(client, &statement.to_string(), Outcome::Failure, None, Some(e.to_string()));
                query_refusal(&e)
            })),
            Kind::Session => None,
            Kind::Refused(reason) => {
                self.reader.audit(client, &statement.to_string(), Outcome::Denied, None, Some(reason.clone()));
                Some(Err(refusal("25006", reason)))
            }
        }
    }

    async fn handle_extended_query(
        &self,
        _statement: &Statement,
        _plan: &LogicalPlan,
        _params: &ParamValues,
        _context: &SessionContext,
        _client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind_of(sql: &str) -> Kind {
        let statements = PostgresCompatibilityParser::new().parse(sql).expect("parses");
        kind(&statements[0])
    }

    #[test]
    fn reads_run_session_statements_pass_and_writes_are_refused() {
        assert_eq!(kind_of("SELECT count(*) FROM events"), Kind::Read);
        assert_eq!(kind_of("EXPLAIN SELECT 1"), Kind::Read);
        assert_eq!(kind_of("SHOW TABLES"), Kind::Read);
        assert_eq!(kind_of("SET application_name = 'grafana'"), Kind::Session);
        assert_eq!(kind_of("SHOW search_path"), Kind::Session);
        assert_eq!(kind_of("BEGIN"), Kind::Session);
        assert_eq!(kind_of("COMMIT"), Kind::Session);
        for write in [
            "INSERT INTO events (event_id) VALUES ('x')",
            "DELETE FROM events",
            "CREATE TABLE t (a int)",
            "DROP TABLE events",
            "COPY events TO '/tmp/x'",
            "SET datafusion.runtime.memory_limit = '100G'",
            "SET datafusion.execution.batch_size = 1",
        ] {
            assert!(matches!(kind_of(write), Kind::Refused(_)), "{write} must be refused");
        }
    }
}
