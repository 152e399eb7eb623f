//! The durable writer: one thread owns the store, so appends are serial and
//! fsyncs are shared.
//!
//! Requests queue on a bounded channel. The thread takes one, then every
//! other one already waiting (up to a limit), appends them all to the log
//! and fsyncs once (group commit), then answers each. A full queue is not
//! waited on: the caller is told to come back later (503 + Retry-After), so
//! memory stays bounded under overload. Pending rows are sealed into
//! segments once old enough, and on shutdown.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use agentrail_event::{Event, Timestamp};
use agentrail_store::{
    AppendOutcome, CompactionDone, CompactionOutcome, CompactionPolicy, Finished, Quarantined, RetentionDone,
    RetentionOutcome, RetentionPolicy, SealFailure, SealedJob, Store, StoreError,
};
use tokio::sync::oneshot;

use crate::metrics::Metrics;

/// Why a batch was not made durable.
#[derive(Debug, Clone, thiserror::Error)]
pub enum WriteError {
    #[error("the write queue is full; retry shortly")]
    Overloaded,
    #[error("the store cannot write: {0}")]
    Unavailable(String),
    /// Retrying the same batch cannot help (it is too large to log).
    #[error("the batch cannot be stored: {0}")]
    Refused(String),
}

struct Request {
    events: Vec<Event>,
    rejects: Vec<Quarantined>,
    reply: oneshot::Sender<Result<AppendOutcome, WriteError>>,
}

type RetentionReply = oneshot::Sender<Result<RetentionOutcome, String>>;
type CompactionReply = oneshot::Sender<Result<CompactionOutcome, String>>;

/// Work on sealed files, run on a thread of its own.
enum Maintenance {
    /// Apply (or, dry, plan) retention as of now.
    Retention { policy: RetentionPolicy, dry_run: bool, reply: RetentionReply },
    /// Merge small segments (or, dry, say which).
    Compaction { policy: CompactionPolicy, dry_run: bool, reply: CompactionReply },
}

enum Message {
    Write(Request),
    Maintenance(Maintenance),
    /// Rotate the checkpoint signing key; answers the new public key.
    RotateKey(oneshot::Sender<Result<String, String>>),
    Shutdown,
}

/// Settings of the writer.
#[derive(Debug, Clone, Copy)]
pub struct WriterOptions {
    /// Requests that may wait for the writer; more are refused as overload.
    pub queue_depth: usize,
    /// Requests sharing one fsync, at most.
    pub max_group: usize,
    /// Pending rows older than this are sealed.
    pub seal_age: Duration,
}

impl Default for WriterOptions {
    fn default() -> Self {
        WriterOptions { queue_depth: 256, max_group: 128, seal_age: Duration::from_secs(30) }
    }
}

/// The handle requests are sent through. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Writer {
    sender: SyncSender<Message>,
    metrics: Metrics,
}

/// The writer thread, to join on shutdown.
#[derive(Debug)]
pub struct WriterThread {
    sender: SyncSender<Message>,
    handle: JoinHandle<Result<(), String>>,
}

impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Message::Write(_) => "Write",
            Message::Maintenance(Maintenance::Retention { .. }) => "Retention",
            Message::Maintenance(Maintenance::Compaction { .. }) => "Compaction",
            Message::RotateKey(_) => "RotateKey",
            Message::Shutdown => "Shutdown",
        })
    }
}

/// Starts the writer thread over `store`.
pub fn start(store: Store, options: WriterOptions, metrics: Metrics) -> (Writer, WriterThread) {
    let (sender, receiver) = mpsc::sync_channel(options.queue_depth);
    let handle = std::thread::Builder::new()
        .name("agentrail-writer".into())
        .spawn({
            let metrics = Arc::clone(&metrics);
            move || run(store, receiver, options, metrics)
        })
        .unwrap_or_else(|e| panic!("cannot start the writer thread: {e}"));
    (Writer { sender: sender.clone(), metrics }, WriterThread { sender, handle })
}

impl Writer {
    /// Makes a batch durable; resolves once it is fsynced (or refused). A
    /// full queue is refused at once ([`WriteError::Overloaded`]): an HTTP
    /// client is told to come back.
    pub async fn write(&self, events: Vec<Event>, rejects: Vec<Quarantined>) -> Result<AppendOutcome, WriteError> {
        let (reply, answer) = oneshot::channel();
        match self.enqueue(Message::Write(Request { events, rejects, reply })) {
            Ok(()) => Self::answer(answer).await,
            Err(TrySendError::Full(_)) => Err(WriteError::Overloaded),
            Err(TrySendError::Disconnected(_)) => Err(WriteError::Unavailable("the writer has stopped".into())),
        }
    }

    /// Like [`Writer::write`], but waits for room in the queue: a consumer
    /// that pulls its input (Kafka) slows down instead of being refused.
    pub async fn write_waiting(
        &self,
        events: Vec<Event>,
        rejects: Vec<Quarantined>,
    ) -> Result<AppendOutcome, WriteError> {
        let (reply, answer) = oneshot::channel();
        let mut message = Message::Write(Request { events, rejects, reply });
        let mut pause = Duration::from_millis(1);
        loop {
            match self.enqueue(message) {
                Ok(()) => return Self::answer(answer).await,
                Err(TrySendError::Full(returned)) => message = returned,
                Err(TrySendError::Disconnected(_)) => {
                    return Err(WriteError::Unavailable("the writer has stopped".into()));
                }
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(50));
        }
    }

    fn enqueue(&self, message: Message) -> Result<(), TrySendError<Message>> {
        // Counted before sending, so the writer's decrement never comes first.
        self.metrics.queue_depth.add(1);
        let sent = self.sender.try_send(message);
        if sent.is_err() {
            self.metrics.queue_depth.sub(1);
        }
        sent
    }

    /// Applies `policy` now (or only says what it would do): old files are
    /// read and rewritten on a thread of their own, so appends go on.
    pub async fn retention(&self, policy: RetentionPolicy, dry_run: bool) -> Result<RetentionOutcome, WriteError> {
        self.ask(|reply| Message::Maintenance(Maintenance::Retention { policy, dry_run, reply })).await
    }

    /// Merges small segments under `policy` now (or only says which): read
    /// and written on a thread of its own, so appends go on; listed by the
    /// writer between two group commits.
    pub async fn compact(&self, policy: CompactionPolicy, dry_run: bool) -> Result<CompactionOutcome, WriteError> {
        self.ask(|reply| Message::Maintenance(Maintenance::Compaction { policy, dry_run, reply })).await
    }

    /// Rotates the checkpoint signing key between two seals; the new public key.
    pub async fn rotate_key(&self) -> Result<String, WriteError> {
        self.ask(Message::RotateKey).await
    }

    /// Sends the writer a request made with a reply channel, and waits for
    /// the answer (a full queue is refused at once).
    async fn ask<T>(
        &self,
        message: impl FnOnce(oneshot::Sender<Result<T, String>>) -> Message,
    ) -> Result<T, WriteError> {
        let (reply, answer) = oneshot::channel();
        match self.enqueue(message(reply)) {
            Ok(()) => {
                answer.await.unwrap_or_else(|_| Err("the writer stopped".into())).map_err(WriteError::Unavailable)
            }
            Err(TrySendError::Full(_)) => Err(WriteError::Overloaded),
            Err(TrySendError::Disconnected(_)) => Err(WriteError::Unavailable("the writer has stopped".into())),
        }
    }

    async fn answer(answer: oneshot::Receiver<Result<AppendOutcome, WriteError>>) -> Result<AppendOutcome, WriteError> {
        answer.await.unwrap_or_else(|_| Err(WriteError::Unavailable("the writer stopped mid-write".into())))
    }
}

impl WriterThread {
    /// Seals what is pending and stops the thread.
    pub fn shutdown(self) -> Result<(), String> {
        // Blocks while the queue is full: shutdown waits for queued writes.
        let _ = self.sender.send(Message::Shutdown);
        self.handle.join().map_err(|_| "the writer thread panicked".to_owned())?
    }
}

/// Sealing on its own thread, so group commits never wait for Parquet.
#[derive(Default)]
struct Sealer {
    running: Option<JoinHandle<Result<SealedJob, Box<SealFailure>>>>,
    /// Files written, manifest not yet: retried before any later seal, whose
    /// log trim would otherwise pass over these rows.
    unlisted: Option<SealedJob>,
}

impl Sealer {
    /// Collects a finished job (or waits for it). Errors that cannot be
    /// retried stop the writer: a restart replays the log.
    fn collect(&mut self, store: &mut Store, metrics: &Metrics, wait: bool) -> Result<(), String> {
        if self.running.as_ref().is_some_and(|job| wait || job.is_finished())
            && let Some(job) = self.running.take()
        {
            match job.join() {
                Ok(Ok(sealed)) => self.unlisted = Some(sealed),
                Ok(Err(failure)) => {
                    tracing::error!(error = %failure.error, "sealing failed; the rows stay pending and in the log");
                    metrics.seal_failures.add(1);
                    store.restore(failure.job);
                }
                Err(_) => return Err("the sealing thread panicked; restart to replay the log".into()),
            }
        }
        if let Some(mut sealed) = self.unlisted.take() {
            match store.finish_seal(&mut sealed) {
                Ok(Finished::Listed { dropped }) => {
                    metrics.segments_sealed.add(sealed.segments.len() as u64);
                    metrics.duplicates.add(dropped as u64);
                }
                // Another node listed some of its events first: the rest is
                // pending again and sealed with the next job.
                Ok(Finished::Requeued { dropped }) => metrics.duplicates.add(dropped as u64),
                Err(error) if wait => return Err(format!("cannot update the manifest: {error}")),
                Err(error) => {
                    tracing::error!(%error, "cannot list sealed segments in the manifest; will retry");
                    self.unlisted = Some(sealed);
                }
            }
        }
        Ok(())
    }

    /// Starts sealing the pending rows if none is under way.
    fn start(&mut self, store: &mut Store) {
        if self.running.is_some() || self.unlisted.is_some() {
            return;
        }
        if let Some(job) = store.begin_seal() {
            match std::thread::Builder::new().name("agentrail-seal".into()).spawn(move || job.run()) {
                Ok(handle) => self.running = Some(handle),
                Err(error) => tracing::error!(%error, "cannot start a sealing thread"),
            }
        }
    }
}

type RetentionRun = JoinHandle<Result<(RetentionOutcome, RetentionDone), StoreError>>;
type CompactionRun = JoinHandle<Result<(CompactionOutcome, Option<CompactionDone>), StoreError>>;

/// A maintenance job on its thread, with whom to answer.
enum Running {
    Retention(RetentionRun, RetentionReply),
    Compaction(CompactionRun, CompactionReply),
}

impl Running {
    fn is_finished(&self) -> bool {
        match self {
            Running::Retention(job, _) => job.is_finished(),
            Running::Compaction(job, _) => job.is_finished(),
        }
    }
}

/// Retention and compaction read and write segments on a thread of their
/// own. One runs at a time (each rewrites segments the other may have
/// chosen); the others wait their turn in order.
#[derive(Default)]
struct Maintainer {
    running: Option<Running>,
    waiting: VecDeque<Maintenance>,
}

fn spawn<T: Send + 'static>(
    name: &str,
    work: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<JoinHandle<Result<T, StoreError>>, String> {
    std::thread::Builder::new()
        .name(format!("agentrail-{name}"))
        .spawn(work)
        .map_err(|error| format!("cannot start a {name} thread: {error}"))
}

impl Maintainer {
    fn request(&mut self, store: &Store, work: Maintenance) {
        self.waiting.push_back(work);
        self.start_next(store);
    }

    fn start_next(&mut self, store: &Store) {
        while self.running.is_none()
            && let Some(work) = self.waiting.pop_front()
        {
            let now = Timestamp::now();
            match work {
                Maintenance::Retention { policy, dry_run, reply } => {
                    let job = store.begin_retention(&policy, now);
                    let work = move || {
                        if dry_run { job.plan_only().map(|o| (o, RetentionDone::default())) } else { job.run() }
                    };
                    match spawn("retention", work) {
                        Ok(handle) => self.running = Some(Running::Retention(handle, reply)),
                        Err(error) => drop(reply.send(Err(error))),
                    }
                }
                Maintenance::Compaction { policy, dry_run, reply } => {
                    let job = store.begin_compaction(&policy, now);
                    if dry_run || job.is_empty() {
                        let _ = reply.send(Ok(job.plan_only()));
                        continue;
                    }
                    match spawn("compaction", move || job.run().map(|done| (done.outcome(), Some(done)))) {
                        Ok(handle) => self.running = Some(Running::Compaction(handle, reply)),
                        Err(error) => drop(reply.send(Err(error))),
                    }
                }
            }
        }
    }

    /// Makes a finished job durable (chain, manifest, files), answers, and
    /// starts the next.
    fn collect(&mut self, store: &mut Store, wait: bool) {
        if !self.running.as_ref().is_some_and(|job| wait || job.is_finished()) {
            return;
        }
        let panicked = |name: &str| format!("the {name} thread panicked");
        match self.running.take() {
            Some(Running::Retention(job, reply)) => {
                let result = match job.join() {
                    Ok(Ok((outcome, done))) => {
                        store.finish_retention(&done).map(|()| outcome).map_err(|e| e.to_string())
                    }
                    Ok(Err(error)) => Err(error.to_string()),
                    Err(_) => Err(panicked("retention")),
                };
                if let Err(error) = &result {
                    tracing::error!(%error, "retention failed; nothing was deleted that the chain does not record");
                }
                let _ = reply.send(result);
            }
            Some(Running::Compaction(job, reply)) => {
                let result = match job.join() {
                    Ok(Ok((outcome, done))) => {
                        let finished = done.map_or(Ok(()), |done| store.finish_compaction(&done));
                        finished.map(|()| outcome).map_err(|e| e.to_string())
                    }
                    Ok(Err(error)) => Err(error.to_string()),
                    Err(_) => Err(panicked("compaction")),
                };
                if let Err(error) = &result {
                    tracing::error!(%error, "compaction failed; the segments stay as they were");
                }
                let _ = reply.send(result);
            }
            None => {}
        }
        if !wait {
            self.start_next(store);
        }
    }

    /// Refuses what never started (the writer is stopping).
    fn refuse_waiting(&mut self) {
        for work in self.waiting.drain(..) {
            let refusal = "the server is stopping".to_owned();
            match work {
                Maintenance::Retention { reply, .. } => drop(reply.send(Err(refusal))),
                Maintenance::Compaction { reply, .. } => drop(reply.send(Err(refusal))),
            }
        }
    }
}

fn run(mut store: Store, receiver: Receiver<Message>, options: WriterOptions, metrics: Metrics) -> Result<(), String> {
    let mut sealer = Sealer::default();
    let mut maintainer = Maintainer::default();
    let mut oldest_pending: Option<Instant> = None;
    loop {
        sealer.collect(&mut store, &metrics, false)?;
        maintainer.collect(&mut store, false);
        if let Err(error) = store.collect_retired(Timestamp::now()) {
            tracing::error!(%error, "cannot delete merged-away segments; will retry");
        }
        // Rows become pending by a write, but also by the log's replay at
        // open and by a seal that failed or was requeued: their age counts
        // from when the writer first sees them, whatever brought them.
        oldest_pending = if store.has_pending() { oldest_pending.or_else(|| Some(Instant::now())) } else { None };
        if store.wants_seal() || oldest_pending.is_some_and(|t| t.elapsed() >= options.seal_age) {
            sealer.start(&mut store);
            if !store.has_pending() {
                oldest_pending = None;
            }
        }
        let first = match receiver.recv_timeout(Duration::from_millis(100)) {
            Ok(message) => message,
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => break,
        };
        let mut requests = Vec::new();
        let mut shutdown = false;
        let mut next = Some(first);
        while let Some(message) = next {
            match message {
                Message::Write(request) => {
                    metrics.queue_depth.sub(1);
                    requests.push(request);
                }
                Message::Maintenance(work) => {
                    metrics.queue_depth.sub(1);
                    maintainer.request(&store, work);
                }
                Message::RotateKey(reply) => {
                    metrics.queue_depth.sub(1);
                    let _ = reply.send(store.rotate_key().map_err(|e| e.to_string()));
                }
                Message::Shutdown => {
                    shutdown = true;
                    break;
                }
            }
            next = if requests.len() < options.max_group { receiver.try_recv().ok() } else { None };
        }
        metrics.last_group_size.set(requests.len() as u64);
        if !requests.is_empty() {
            let (batches, replies): (Vec<_>, Vec<_>) =
                requests.into_iter().map(|r| ((r.events, r.rejects), r.reply)).unzip();
            let started = Instant::now();
            match store.append_group(batches) {
                Ok(outcomes) => {
                    metrics.fsync_seconds.observe(started.elapsed().as_secs_f64());
                    metrics.wal_bytes.set(store.wal_bytes_written());
                    for (reply, outcome) in replies.into_iter().zip(outcomes) {
                        metrics.accepted.add(outcome.accepted as u64);
                        metrics.duplicates.add(outcome.duplicates as u64);
                        let _ = reply.send(Ok(outcome));
                    }
                }
                Err(error) => {
                    tracing::error!(%error, "write failed; nothing in this group is acknowledged");
                    let message = error.to_string();
                    for reply in replies {
                        let refusal = if error.is_retryable() {
                            WriteError::Unavailable(message.clone())
                        } else {
                            WriteError::Refused(message.clone())
                        };
                        let _ = reply.send(Err(refusal));
                    }
                }
            }
        }
        if shutdown {
            break;
        }
    }
    sealer.collect(&mut store, &metrics, true)?;
    maintainer.collect(&mut store, true);
    maintainer.refuse_waiting();
    seal(&mut store, &metrics);
    Ok(())
}

fn seal(store: &mut Store, metrics: &Metrics) {
    match store.seal() {
        Ok(segments) => metrics.segments_sealed.add(segments.len() as u64),
        // The rows stay in the log: a restart replays and seals them.
        Err(error) => tracing::error!(%error, "sealing failed; the rows stay in the write-ahead log"),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use agentrail_collect::builtin_normalizer;
    use axum::body::Body;
    use axum::http::{Request as HttpRequest, StatusCode};
    use tower::ServiceExt;

    use super::*;
    use crate::http::{HttpConfig, HttpLimits, router};

    fn post(body: &'static str) -> HttpRequest<Body> {
        HttpRequest::post("/v1/events").body(Body::from(body)).expect("request")
    }

    const RECORD: &str = r#"{"id":"gw-1","ts":"2026-11-20T10:00:00Z","agent_id":"a1","tool":"github.list_repos"}"#;

    /// A writer that cannot keep up: its one queue slot is taken and nothing
    /// drains it. Requests are refused at once with 503 and Retry-After (the
    /// queue, and so memory, stays bounded); once the slot frees, they queue
    /// and are answered.
    #[tokio::test]
    async fn a_full_queue_is_503_with_retry_after_never_a_client_error() {
        let (sender, receiver) = mpsc::sync_channel(1);
        let metrics = Metrics::default();
        let writer = Writer { sender: sender.clone(), metrics: Arc::clone(&metrics) };
        let config = HttpConfig {
            listen: ([127, 0, 0, 1], 0).into(),
            tokens: Vec::new(),
            limits: HttpLimits::default(),
            tls: None,
        };
        let app = router(Arc::new(builtin_normalizer().expect("built-ins")), writer, config, Arc::clone(&metrics));

        sender.try_send(Message::Shutdown).expect("fills the slot");
        let refused = app.clone().oneshot(post(RECORD)).await.expect("answers");
        assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(refused.headers().get("retry-after").and_then(|v| v.to_str().ok()), Some("1"));
        assert_eq!(metrics.overloaded.get(), 1);

        // The slot frees: the next request waits in the queue until answered.
        assert!(matches!(receiver.recv(), Ok(Message::Shutdown)));
        let pending = tokio::spawn(app.oneshot(post(RECORD)));
        let request = loop {
            match receiver.try_recv() {
                Ok(Message::Write(request)) => break request,
                Ok(Message::Shutdown | Message::Maintenance(_) | Message::RotateKey(_)) => {
                    panic!("unexpected message")
                }
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(10)).await,
            }
        };
        assert_eq!(request.events.len(), 1);
        let _ = request.reply.send(Ok(AppendOutcome { accepted: 1, duplicates: 0, quarantined: 0 }));
        let answered = pending.await.expect("task").expect("answers");
        assert_eq!(answered.status(), StatusCode::OK);
    }

    fn wait_for(what: &str, done: impl Fn() -> bool) {
        let start = Instant::now();
        while !done() {
            assert!(start.elapsed() < Duration::from_secs(20), "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Rows can be pending with no write to come: replayed from the log at
    /// open, or put back by a seal that failed (or that another node's
    /// listing overtook). They are sealed once `seal_age` old all the same,
    /// not left until the next write or the shutdown.
    #[test]
    fn pending_rows_no_write_brought_are_sealed_once_old_enough() {
        use agentrail_collect::SourceChoice;
        use agentrail_store::StoreOptions;

        let dir = tempfile::tempdir().expect("temp dir");
        let options = || StoreOptions { auto_seal: false, ..StoreOptions::default() };
        let records = (0..3).map(|n| RECORD.replace("gw-1", &format!("gw-{n}"))).collect::<Vec<_>>().join("\n");
        let events = builtin_normalizer().expect("built-ins").normalize_all(records.as_bytes(), &SourceChoice::Auto);
        let (mut store, _) = Store::open(dir.path(), options()).expect("opens");
        store.append(events.expect("normalizes"), Vec::new()).expect("durable");
        drop(store);

        // A file where the segments directory goes: the first seals fail.
        let in_the_way = dir.path().join("segments");
        std::fs::write(&in_the_way, b"in the way").expect("blocks");
        let (store, report) = Store::open(dir.path(), options()).expect("reopens");
        assert_eq!(report.replayed_events, 3);
        let metrics = Metrics::default();
        let writer_options = WriterOptions { seal_age: Duration::from_millis(50), ..WriterOptions::default() };
        let (_writer, thread) = start(store, writer_options, Arc::clone(&metrics));
        wait_for("a failed seal", || metrics.seal_failures.get() > 0);
        std::fs::remove_file(&in_the_way).expect("unblocks");
        wait_for("the seal of the rows put back", || metrics.segments_sealed.get() > 0);
        thread.shutdown().expect("stops");

        let (store, report) = Store::open(dir.path(), options()).expect("reopens");
        assert_eq!((store.manifest().total_rows(), report.replayed_events), (3, 0));
    }
}
