//! Named queries as table functions, so a SQL client runs them by name:
//!
//! ```sql
//! SELECT * FROM replay_timeline('inc-7f3a');
//! SELECT action, count(*) FROM agent_activity('deploy-bot') GROUP BY action;
//! ```
//!
//! The arguments are the query's parameters in the order its header
//! declares them (trailing ones with a default may be left out). Each query
//! is planned once, when registered; a call binds its arguments into that
//! plan as values, as [`NamedQueries::run`] does, so an argument can never
//! change the statement.

use std::sync::Arc;

use datafusion::catalog::view::ViewTable;
use datafusion::catalog::{TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::common::{ScalarValue, plan_err};
use datafusion::error::Result;
use datafusion::logical_expr::{Expr, LogicalPlan};

use crate::engine::QueryEngine;
use crate::named::{NamedQueries, NamedQuery};

/// A named query that could not be registered, and why.
#[derive(Debug)]
pub struct Unregistered {
    pub name: String,
    pub reason: String,
}

impl NamedQueries {
    /// Registers every named query as a table function of `engine`'s
    /// context. A query that cannot be planned (a column its file names
    /// that `events` lacks) is left out and returned with the reason; the
    /// others are registered.
    pub async fn register_functions(&self, engine: &QueryEngine) -> Vec<Unregistered> {
        let mut unregistered = Vec::new();
        for query in self.iter() {
            match engine.plan_read_only(&query.sql).await {
                Ok(plan) => {
                    engine.context().register_udtf(&query.name, Arc::new(NamedFunction { query: query.clone(), plan }))
                }
                Err(error) => unregistered.push(Unregistered { name: query.name.clone(), reason: error.to_string() }),
            }
        }
        unregistered
    }
}

#[derive(Debug)]
struct NamedFunction {
    query: NamedQuery,
    /// The query planned with its `$parameters` as placeholders.
    plan: LogicalPlan,
}

impl NamedFunction {
    fn signature(&self) -> String {
        let params: Vec<String> = self
            .query
            .params
            .iter()
            .map(|p| if p.default.is_some() { format!("[{}]", p.name) } else { p.name.clone() })
            .collect();
        format!("{}({})", self.query.name, params.join(", "))
    }
}

impl TableFunctionImpl for NamedFunction {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let exprs = args.exprs();
        if exprs.len() > self.query.params.len() {
            return plan_err!(
                "{} takes at most {} arguments, not {}",
                self.signature(),
                self.query.params.len(),
                exprs.len()
            );
        }
        let mut given = Vec::with_capacity(exprs.len());
        for (param, expr) in self.query.params.iter().zip(exprs) {
            let value = match expr {
                Expr::Literal(value, _) if !value.is_null() => value.to_string(),
                other => {
                    return plan_err!(
                        "{}: {} must be a value (a quoted text), not {other}",
                        self.signature(),
                        param.name
                    );
                }
            };
            given.push((param.name.clone(), value));
        }
        let bound = match self.query.bind(&given) {
            Ok(bound) => bound,
            Err(error) => return plan_err!("{}: {error}", self.signature()),
        };
        let values: Vec<(String, ScalarValue)> =
            bound.into_iter().map(|(name, value)| (name, ScalarValue::Utf8(Some(value)))).collect();
        let plan = self.plan.clone().with_param_values(values)?;
        Ok(Arc::new(ViewTable::new(plan, Some(self.query.sql.clone()))))
    }
}
