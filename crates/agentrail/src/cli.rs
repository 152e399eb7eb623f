//! The command line.

use agentrail_shared::{CatalogConfig, StorageConfig};
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "agentrail", version, about = "The audit trail for AI agents", long_about = None)]
pub struct Cli {
    /// More log output on stderr (-v info, -vv debug); RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Try agentrail on generated data, in one command.
    ///
    /// Starts a server (HTTP with the incident web page, PostgreSQL) on a
    /// temporary data directory, generates three days of multi-system agent
    /// activity with planted incidents, ingests it over HTTP, then prints
    /// the web page's address, a replay of the most interesting incident and
    /// the anomaly report. Serves until ctrl-c; the data is removed at exit
    /// unless --data-dir names where to keep it.
    Demo(DemoArgs),
    /// Normalize audit records into agent-aware events, printed as NDJSON.
    ///
    /// Reads NDJSON, a JSON array, pretty-printed JSON documents, CloudTrail
    /// `{"Records": [...]}` files, Kubernetes EventLists and OTLP/JSON logs
    /// requests. Rejected records are reported on stderr with their position
    /// and reason. Exit status: 0 all normalized, 1 some rejected, 2 error.
    Normalize(NormalizeArgs),
    /// Store audit records durably: normalize, append to the write-ahead
    /// log (fsynced), seal into Parquet segments under the data directory.
    ///
    /// Events already stored (same event_id) are counted as duplicates and
    /// not stored again; rejected records go to the quarantine with their
    /// reason. Exit status: 0 all stored, 1 some rejected, 2 error.
    Ingest(IngestArgs),
    /// Run the server: HTTP (and Kafka) collectors in front of the durable
    /// store, and the read API (query, search, replay) over what it sealed.
    ///
    /// Defaults: data in ./data, HTTP on 127.0.0.1:7070. A batch is answered
    /// 200 only once it is in the write-ahead log and fsynced. Stops
    /// gracefully on SIGTERM or ctrl-c (stops accepting, seals, exits 0).
    Serve(ServeArgs),
    /// Run read-only SQL over the stored events (`events`) and rejected
    /// records (`quarantine`).
    ///
    /// Works on a data directory whether or not a server is writing to it;
    /// it sees the sealed segments. `SELECT column_name, data_type FROM
    /// information_schema.columns WHERE table_name = 'events'` lists the
    /// columns. Writes (DDL, DML, SET) are refused. Exit status: 0 answered,
    /// 2 refused or failed (the reason is on stderr).
    ///
    /// `--named NAME --param key=value` runs a named query (`agentrail
    /// queries` lists them) with its parameters bound as values.
    Query(QueryArgs),
    /// List the named queries: name, origin, what each answers, parameters.
    Queries(QueriesArgs),
    /// Search stored events with Tantivy query syntax: words in action,
    /// resource, message and raw; `field:value` for ids, source, outcome.
    ///
    /// Prints the newest matching events (a line each, or the JSON document
    /// the API answers). Exit status: 0 events found, 1 none, 2 error.
    Search(SearchArgs),
    /// Replay an incident: every stored event of one correlation id in time
    /// order, the delegation tree, the systems touched, each destructive
    /// action with its approval or the lack of one, scopes and credentials.
    ///
    /// `--expand` adds the events linked to the incident without carrying
    /// its id: the same trace id, the same credential inside its lifetime,
    /// or the same agent on the same task, transitively, each saying which
    /// link brought it in. Exit status: 0 events found, 1 none, 2 error.
    Replay(ReplayArgs),
    /// List the source mappings: name, origin, detection rule, columns filled.
    ///
    /// `agentrail sources check FILE` tells, for each record of FILE, which
    /// mapping it takes and why, and where each column comes from.
    Sources(SourcesArgs),
    /// Run the anomaly rules (built in, and `--rules DIR`) and print what
    /// deserves a look: findings grouped per rule, most severe first.
    ///
    /// Each rule looks back over its own window (its `lookback`), or all over
    /// `--since`. A rule that fails, or a rule file that cannot be used, is
    /// reported by name and the others still run. Exit status: 0 no
    /// findings, 1 findings, 2 error (a rule failed, or nothing could run).
    Report(ReportArgs),
    /// Prove the data directory was not tampered with: every segment and
    /// index part against the digest chain, the chain against its signed
    /// checkpoints, the checkpoints against the public key.
    ///
    /// Each problem names the file and says what happened to it: modified,
    /// missing, extra, reordered, bad_signature, rolled_back, unsigned or
    /// damaged. Pass your own copy of the public key (`--public-key`) and a
    /// checkpoint saved from an earlier run (`--trusted-checkpoint`) to rule
    /// out a replaced key and a rollback of everything. Exit status: 0
    /// verified, 1 problems found, 2 error.
    Verify(VerifyArgs),
    /// Delete events older than their retention, recording each deletion in
    /// the digest chain so `verify` still passes.
    ///
    /// A day's segment whose every source is expired is deleted; one where
    /// only some are is rewritten without their rows. Run it while no server
    /// writes to the directory (the server applies `[retention]` itself).
    /// Exit status: 0 done (or nothing to do), 2 error.
    Retention(RetentionArgs),
    /// Merge each day's small segments into fewer large ones (and their
    /// index parts), recording the merge in the digest chain so `verify`
    /// still passes.
    ///
    /// A day with `--min-segments` or more segments under half of
    /// `--target-rows` has them merged. Merged-away files are deleted after
    /// `--grace` (at once by default: run it while no server writes to the
    /// directory; the server compacts by itself, see `[compaction]`).
    /// Exit status: 0 done (or nothing to do), 2 error.
    Compact(CompactArgs),
    /// Make a new API token: prints the token once on stderr, and on stdout
    /// the `[[tokens]]` lines for the configuration, which keep only its
    /// SHA-256 (`agentrail token --name ci --role ingest >> agentrail.toml`).
    Token(TokenArgs),
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The data directory.
    #[arg(long, env = "AGENTRAIL_DATA_DIR", default_value = "data", value_name = "DIR")]
    pub data_dir: PathBuf,

    /// Look back this far for every rule (15m, 24h, 7d) instead of each
    /// rule's own look-back.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration_arg)]
    pub since: Option<std::time::Duration>,

    /// The end of the window: now unless given (RFC 3339), e.g. to report
    /// on a past day.
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,

    /// A directory of extra or replacement rules (*.sql).
    #[arg(long, env = "AGENTRAIL_RULES", value_name = "DIR")]
    pub rules: Option<PathBuf>,

    /// JSON, for machines; Markdown, for a chat channel or a ticket; or one
    /// self-contained HTML page with charts.
    #[arg(long, value_enum, default_value = "md")]
    pub format: ReportFormat,

    /// Where the server answers replays, e.g.
    /// http://agentrail:7070/api/v1/replay/ : each finding's correlation id
    /// becomes a link to it (otherwise the report shows the replay command).
    #[arg(long, env = "AGENTRAIL_REPLAY_URL", value_name = "URL")]
    pub replay_url: Option<String>,

    /// Stop each rule after this many seconds.
    #[arg(long, default_value_t = 120, value_name = "SECONDS")]
    pub timeout: u64,
}

/// Where the digest chain, its checkpoints and the signing key live.
#[derive(Debug, Clone, Args)]
pub struct IntegrityArgs {
    /// The digest chain and checkpoints (default: <data dir>/integrity).
    #[arg(long, env = "AGENTRAIL_INTEGRITY_DIR", value_name = "DIR")]
    pub integrity_dir: Option<PathBuf>,

    /// The checkpoint signing key, made on first use (default:
    /// <integrity dir>/checkpoint.key); its public half is <key>.pub.
    #[arg(long, env = "AGENTRAIL_KEY_FILE", value_name = "FILE")]
    pub key_file: Option<PathBuf>,
}

impl IntegrityArgs {
    pub fn options(&self) -> agentrail_store::IntegrityOptions {
        agentrail_store::IntegrityOptions { dir: self.integrity_dir.clone(), key_file: self.key_file.clone() }
    }
}

/// Reading a store several nodes share instead of a data directory (none
/// by default).
#[derive(Debug, Default, Args)]
pub struct SharedArgs {
    /// The shared store's object storage (s3://bucket/prefix, gs://, az://,
    /// file:///path): read everything every node listed in the catalog.
    #[arg(long, env = "AGENTRAIL_STORAGE", value_name = "URL")]
    pub storage: Option<String>,

    /// A setting of the object storage (endpoint=…, region=…,
    /// allow_http=true); repeat for more.
    #[arg(long = "storage-option", value_name = "KEY=VALUE", requires = "storage")]
    pub storage_options: Vec<String>,

    /// The catalog (postgres://user:password@host/db); the embedded one in
    /// the object storage when absent.
    #[arg(long, env = "AGENTRAIL_CATALOG", value_name = "URL", requires = "storage")]
    pub catalog: Option<String>,
}

impl SharedArgs {
    /// The `[storage]` and `[catalog]` these flags stand for, if any.
    pub fn configs(&self) -> anyhow::Result<Option<(StorageConfig, CatalogConfig)>> {
        let Some(url) = &self.storage else { return Ok(None) };
        let mut options = std::collections::BTreeMap::new();
        for option in &self.storage_options {
            let Some((key, value)) = option.split_once('=') else {
                anyhow::bail!("--storage-option takes KEY=VALUE, not {option:?}");
            };
            options.insert(key.trim().to_owned(), value.trim().to_owned());
        }
        Ok(Some((
            StorageConfig { url: url.clone(), options },
            CatalogConfig { url: self.catalog.clone(), ..CatalogConfig::default() },
        )))
    }
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The data directory.
    #[arg(long, env = "AGENTRAIL_DATA_DIR", default_value = "data", value_name = "DIR")]
    pub data_dir: PathBuf,

    #[command(flatten)]
    pub integrity: IntegrityArgs,

    /// The public key to verify with (hex, as exported to <key>.pub): keep a
    /// copy apart from the data, so a replaced key cannot pass.
    #[arg(long, value_name = "FILE")]
    pub public_key: Option<PathBuf>,

    /// A checkpoint saved earlier (the JSON output of verify, or of GET
    /// /api/v1/verify): the chain must still extend it.
    #[arg(long, value_name = "FILE")]
    pub trusted_checkpoint: Option<PathBuf>,

    /// Only segments of this day and later (YYYY-MM-DD or RFC 3339).
    #[arg(long, value_name = "DATE")]
    pub from: Option<String>,

    /// Only segments of this day and earlier (YYYY-MM-DD or RFC 3339).
    #[arg(long, value_name = "DATE")]
    pub to: Option<String>,

    /// A line per problem, or the whole report as JSON.
    #[arg(long, value_enum, default_value = "text")]
    pub format: SummaryFormat,
}

#[derive(Debug, Args)]
pub struct TokenArgs {
    /// The token's name: in logs, refusals and the audit events of its requests.
    #[arg(long, value_name = "NAME")]
    pub name: String,

    /// What it may do (repeatable): ingest (post events), analyst (query,
    /// search, replay, reports, verify), admin (an analyst's rights, and retention).
    #[arg(long = "role", value_enum, required = true, value_name = "ROLE")]
    pub roles: Vec<TokenRole>,

    /// Sources it may post (repeatable); any when absent.
    #[arg(long = "source", value_name = "NAME")]
    pub sources: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TokenRole {
    Ingest,
    Analyst,
    Admin,
}

#[derive(Debug, Args)]
pub struct RetentionArgs {
    /// The data directory.
    #[arg(long, env = "AGENTRAIL_DATA_DIR", default_value = "data", value_name = "DIR")]
    pub data_dir: PathBuf,

    #[command(flatten)]
    pub integrity: IntegrityArgs,

    /// How long every source's events are kept (e.g. 400d).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration_arg)]
    pub keep: Option<std::time::Duration>,

    /// A source's own retention, e.g. `--source openai.audit=90d` (repeatable).
    #[arg(long = "source", value_name = "NAME=DURATION", value_parser = parse_source_retention)]
    pub sources: Vec<(String, std::time::Duration)>,

    /// Say what would be deleted; delete nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// A summary, or JSON.
    #[arg(long, value_enum, default_value = "text")]
    pub format: SummaryFormat,
}

#[derive(Debug, Args)]
pub struct CompactArgs {
    /// The data directory.
    #[arg(long, env = "AGENTRAIL_DATA_DIR", default_value = "data", value_name = "DIR")]
    pub data_dir: PathBuf,

    #[command(flatten)]
    pub integrity: IntegrityArgs,

    /// Rows of a merged segment, at most; segments under half of it are small.
    #[arg(long, default_value_t = agentrail_store::CompactionPolicy::default().target_rows, value_name = "ROWS")]
    pub target_rows: u64,

    /// A day's small segments are merged once there are this many.
    #[arg(long, default_value_t = agentrail_store::CompactionPolicy::default().min_segments, value_name = "N")]
    pub min_segments: usize,

    /// How long merged-away files stay for queries already running elsewhere
    /// (e.g. 10m); they are deleted by the next `compact` or `serve` after
    /// it. Without it they are deleted at once.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration_arg)]
    pub grace: Option<std::time::Duration>,

    /// Say what would be merged; write nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// A summary, or JSON.
    #[arg(long, value_enum, default_value = "text")]
    pub format: SummaryFormat,
}

fn parse_source_retention(text: &str) -> Result<(String, std::time::Duration), String> {
    let (name, duration) = text.split_once('=').ok_or_else(|| format!("`{text}` is not NAME=DURATION"))?;
    if name.trim().is_empty() {
        return Err(format!("`{text}` names no source"));
    }
    Ok((name.trim().to_owned(), parse_duration_arg(duration)?))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    Json,
    Md,
    Html,
}

fn parse_duration_arg(text: &str) -> Result<std::time::Duration, String> {
    agentrail_report::duration::parse_duration(text)
}

#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// The data directory (with a shared store: where index parts are cached).
    #[arg(long, env = "AGENTRAIL_DATA_DIR", default_value = "data", value_name = "DIR")]
    pub data_dir: PathBuf,

    #[command(flatten)]
    pub shared: SharedArgs,

    /// Add the events linked through trace, credential or agent and task.
    #[arg(long)]
    pub expand: bool,

    /// A timeline for a terminal, or the JSON document the API answers.
    #[arg(long, value_enum, default_value = "text")]
    pub format: ReplayFormat,

    /// Stop each lookup after this many seconds.
    #[arg(long, default_value_t = 30, value_name = "SECONDS")]
    pub timeout: u64,

    /// The incident's correlation id.
    #[arg(value_name = "CORRELATION_ID")]
    pub correlation_id: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReplayFormat {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct QueryArgs {
    /// The data directory (with a shared store: where index parts are cached).
    #[arg(long, env = "AGENTRAIL_DATA_DIR", default_value = "data", value_name = "DIR")]
    pub data_dir: PathBuf,

    #[command(flatten)]
    pub shared: SharedArgs,

    /// How the answer is printed: an aligned table, a JSON array of row
    /// objects, or CSV with a header.
    #[arg(long, value_enum, default_value = "table")]
    pub format: QueryFormat,

    /// Stop the query after this many seconds.
    #[arg(long, default_value_t = 30, value_name = "SECONDS")]
    pub timeout: u64,

    /// Refuse answers with more rows than this.
    #[arg(long, default_value_t = 100_000, value_name = "ROWS")]
    pub max_rows: usize,

    /// Memory the query's operators may hold, in MiB.
    #[arg(long, default_value_t = 1024, value_name = "MIB")]
    pub memory_mib: usize,

    /// Run this named query instead of SQL (see `agentrail queries`).
    #[arg(long, value_name = "NAME", conflicts_with = "sql")]
    pub named: Option<String>,

    /// A named query's parameter, as `key=value` (repeatable).
    #[arg(long = "param", value_name = "KEY=VALUE", requires = "named", value_parser = parse_param)]
    pub params: Vec<(String, String)>,

    #[command(flatten)]
    pub queries: QueriesDirArg,

    /// The SQL statement.
    #[arg(value_name = "SQL", required_unless_present = "named")]
    pub sql: Option<String>,
}

fn parse_param(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => Ok((key.trim().to_owned(), value.to_owned())),
        _ => Err(format!("`{text}` is not key=value")),
    }
}

/// Where named queries come from beyond the built-in ones.
#[derive(Debug, Args)]
pub struct QueriesDirArg {
    /// A directory of extra or replacement named queries (*.sql).
    #[arg(long = "queries", env = "AGENTRAIL_QUERIES", value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct QueriesArgs {
    #[command(flatten)]
    pub queries: QueriesDirArg,
}

#[derive(Debug, Args)]
pub struct SearchArgs {
    /// The data directory (with a shared store: where index parts are cached).
    #[arg(long, env = "AGENTRAIL_DATA_DIR", default_value = "data", value_name = "DIR")]
    pub data_dir: PathBuf,

    #[command(flatten)]
    pub shared: SharedArgs,

    /// Only events at or after this time (RFC 3339).
    #[arg(long, value_name = "TIME")]
    pub from: Option<String>,

    /// Only events before this time (RFC 3339).
    #[arg(long, value_name = "TIME")]
    pub to: Option<String>,

    /// Most events printed, newest first.
    #[arg(long, default_value_t = agentrail_query::DEFAULT_SEARCH_LIMIT, value_name = "N")]
    pub limit: usize,

    /// A line per event, or the JSON document the API answers.
    #[arg(long, value_enum, default_value = "text")]
    pub format: ReplayFormat,

    /// Stop the search after this many seconds.
    #[arg(long, default_value_t = 30, value_name = "SECONDS")]
    pub timeout: u64,

    /// The search, e.g. `delete* AND source:aws.cloudtrail` or `credential_id:AKIAEXAMPLE`.
    #[arg(value_name = "QUERY")]
    pub query: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum QueryFormat {
    Table,
    Json,
    Csv,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// A TOML configuration file (data_dir, listen, [limits], [[tokens]], [query], [kafka], [reports], [integrity], [retention], [audit], [tls], [syslog], [postgres]).
    #[arg(long, env = "AGENTRAIL_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// The data directory; overrides the configuration file.
    #[arg(long, env = "AGENTRAIL_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// The HTTP address; overrides the configuration file.
    #[arg(long, env = "AGENTRAIL_LISTEN", value_name = "ADDR")]
    pub listen: Option<std::net::SocketAddr>,

    /// The PostgreSQL wire protocol's address (default 127.0.0.1:5433),
    /// or `off`; overrides `[postgres]` of the configuration file.
    #[arg(long, env = "AGENTRAIL_PG_LISTEN", value_name = "ADDR|off")]
    pub pg_listen: Option<PgListen>,

    #[command(flatten)]
    pub queries: QueriesDirArg,

    /// A directory of extra or replacement anomaly rules (*.sql) for the
    /// report scheduler; overrides `[reports] rules_dir`.
    #[arg(long, env = "AGENTRAIL_RULES", value_name = "DIR")]
    pub rules: Option<PathBuf>,

    /// Where the digest chain and the signing key live; override
    /// `[integrity]` of the configuration file.
    #[command(flatten)]
    pub integrity: IntegrityArgs,

    #[command(flatten)]
    pub mapping: MappingArgs,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Records to generate, over the three days before today (UTC).
    #[arg(long, default_value_t = 30_000, value_parser = clap::value_parser!(u32).range(100..=5_000_000))]
    pub events: u32,

    /// The generator's seed: the same seed, the same data.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,

    /// The HTTP address (the web page and the API).
    #[arg(long, default_value = "127.0.0.1:7070", value_name = "ADDR")]
    pub listen: std::net::SocketAddr,

    /// The PostgreSQL wire protocol's address, or `off`.
    #[arg(long, default_value = "127.0.0.1:5433", value_name = "ADDR|off")]
    pub pg_listen: PgListen,

    /// Keep the data in this (new or empty) directory instead of a
    /// temporary one removed at exit.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

/// `--pg-listen`: an address, or `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PgListen {
    Off,
    At(std::net::SocketAddr),
}

impl std::str::FromStr for PgListen {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        if text.eq_ignore_ascii_case("off") {
            return Ok(PgListen::Off);
        }
        text.parse().map(PgListen::At).map_err(|_| format!("{text:?} is neither an address (HOST:PORT) nor `off`"))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SummaryFormat {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct IngestArgs {
    /// The data directory (created if missing).
    #[arg(long, env = "AGENTRAIL_DATA_DIR", default_value = "data", value_name = "DIR")]
    pub data_dir: PathBuf,

    /// `auto` to detect each record's source, or a source name.
    #[arg(long, default_value = "auto", value_name = "auto|NAME")]
    pub source: String,

    /// The summary printed at the end.
    #[arg(long, value_enum, default_value = "text")]
    pub format: SummaryFormat,

    #[command(flatten)]
    pub integrity: IntegrityArgs,

    #[command(flatten)]
    pub mapping: MappingArgs,

    /// Input files; `-` or none reads standard input.
    #[arg(value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct SourcesArgs {
    #[command(subcommand)]
    pub command: Option<SourcesCommand>,

    #[command(flatten)]
    pub mapping: MappingArgs,
}

#[derive(Debug, Subcommand)]
pub enum SourcesCommand {
    /// For each record of the input: every mapping's detection conditions
    /// (held or not), the mapping taken and why (flagging others that also
    /// matched), and for each column the value, the alternative that gave it
    /// and those tried before. Exit status: 0 every record normalized, 1 some
    /// did not, 2 error.
    Check(CheckArgs),
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// `auto` to detect each record's source, or a source name.
    #[arg(long, default_value = "auto", value_name = "auto|NAME")]
    pub source: String,

    /// `text` for people, `json` (one object per record) for tools.
    #[arg(long, value_enum, default_value = "text")]
    pub format: SummaryFormat,

    /// Show every mapping's detection, not only those that matched.
    #[arg(long)]
    pub all: bool,

    #[command(flatten)]
    pub mapping: MappingArgs,

    /// Input files; `-` or none reads standard input.
    #[arg(value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

/// Where mapping and redaction rules come from.
#[derive(Debug, Args)]
pub struct MappingArgs {
    /// A directory of extra or replacement source mappings (*.toml).
    #[arg(long, env = "AGENTRAIL_MAPPINGS", value_name = "DIR")]
    pub mappings: Option<PathBuf>,

    /// Redaction rules replacing the built-in ones.
    #[arg(long, env = "AGENTRAIL_REDACTION", value_name = "FILE")]
    pub redaction: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct NormalizeArgs {
    /// `auto` to detect each record's source, or a source name (see `agentrail sources`).
    #[arg(long, default_value = "auto", value_name = "auto|NAME")]
    pub source: String,

    /// Largest record accepted, in bytes.
    #[arg(long, default_value_t = 1024 * 1024, value_name = "BYTES")]
    pub max_record_bytes: usize,

    #[command(flatten)]
    pub mapping: MappingArgs,

    /// Input files; `-` or none reads standard input.
    #[arg(value_name = "FILE")]
    pub files: Vec<PathBuf>,
}
