//! agentrail's query side: SQL over what the store sealed.
//!
//! ```text
//!  manifest ─► SegmentTable `events` / `quarantine` (only listed segments)
//!           ─► scan: time predicates drop whole segments (manifest min/max),
//!              id equality / IN and search('…') go to each segment's index
//!              part: no match skips the file, few matches read only those
//!              rows (Parquet row selection); Parquet prunes row groups and
//!              pages (statistics, page index, bloom filters on ids);
//!              footers and open parts cached per engine
//!  SQL ─► read-only check (no DDL, DML, statements) ─► plan ─► stream
//!      ─► limits: timeout (cancels the plan), memory pool, row cap
//! ```
//!
//! Around the engine: [`replay`] (one incident and what links to it),
//! [`search`] (the newest events matching a search), [`named`] (the SQL
//! files of `queries/`, run by name with bound parameters).
//!
//! The engine reads a data directory whether or not a server is writing to
//! it: sealed segments never change and the manifest is replaced
//! atomically, so a query sees one consistent set of segments. Events still
//! in the write-ahead log (not yet sealed) are not visible here yet.

pub mod engine;
pub mod format;
pub mod lookup;
pub mod named;
pub mod named_functions;
pub mod replay;
pub mod search;
pub mod table;
pub mod yielding;

pub use engine::{Answer, QueryEngine, QueryError, QueryLimits};
pub use format::{OutputFormat, render};
pub use named::{NamedQueries, NamedQuery, NamedQueryError, Param};
pub use replay::{Expansion, Link, Replay, replay};
pub use search::{DEFAULT_SEARCH_LIMIT, SearchAnswer, SearchRequest, search};
pub use table::{SegmentTable, TimeBounds};
