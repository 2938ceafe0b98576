//! The ingest workers: bounded queues of write requests, group commit, acknowledgement
//! after commit.
//!
//! Events are sharded by entity over `XTRACE_INGEST_WORKERS` workers, so one entity is
//! always folded by the same worker while the workers' transactions run side by side on
//! PostgreSQL's cores. A request whose events land on several shards is answered when
//! every part has committed.
//!
//! Each worker gathers up to `XTRACE_INGEST_MAX_BATCH` request parts, waiting at most
//! `XTRACE_INGEST_MAX_DELAY_MS` for stragglers, and writes them in one transaction: read
//! the fold state of every touched trace and observation, apply the new events
//! (`fold`), derive usage and cost of the observations that changed, write the rows
//! (only if nobody changed them meanwhile: see migration 0055), and re-fold scores from
//! their log. Each request is answered after the commit, so an acknowledged request is
//! durable.
//!
//! Failures are classified by SQLSTATE: connection loss, restarts, serialization
//! failures, deadlocks and resource exhaustion are transient (retried with back-off, then
//! the requests get 503); a row changed by another writer is retried at once on fresh
//! state; anything else is a data error, and the batch is split in halves until the
//! request at fault is alone (it gets per-event 500 entries, its neighbours commit).
//! A panic while writing a batch fails that batch's requests (500) and the worker goes on.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::hash::{Hash, Hasher};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use serde_json::Value;
use sqlx::{PgConnection, PgPool};
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;
use tokio::time;

use super::event::{EntityKind, EventType, ValidEvent};
use super::fold::{self, Incoming, ObservationState, Src, TraceState};
use super::merge::{self, LoggedEvent, MergedObservation, MergedTrace};
use super::IngestError;
use crate::pricing::{Amounts, Pricing, UsageInput};
use crate::store::ingest::{
    self as store, EntityTable, FoldedRow, NewEvent, ObservationDerived, RowVersion, StoredState,
};

/// The events of one request, all of one project.
#[derive(Debug, Clone)]
pub struct WriteRequest {
    /// Project the events belong to.
    pub project_id: String,
    /// Validated events.
    pub events: Vec<ValidEvent>,
}

/// Why a request was not committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteFailure {
    /// The request itself cannot be written (the database refused it alone).
    Rejected,
    /// The database is unreachable; retry later.
    Unavailable,
    /// The worker failed on this batch (a bug); nothing of it was committed.
    Internal,
}

/// The time-series points of one `POST /v1/metrics/batch` request, all of one project.
#[derive(Debug, Clone)]
pub struct MetricsWrite {
    /// Project the points belong to.
    pub project_id: String,
    /// Validated points.
    pub points: Vec<crate::store::tsmetrics::MetricPoint>,
}

type Reply = oneshot::Sender<Result<(), WriteFailure>>;

enum Message {
    Write(WriteRequest, Reply),
    Metrics(MetricsWrite, Reply),
    Flush(oneshot::Sender<()>),
}

/// Liveness of the workers, for readiness.
#[derive(Debug, Default)]
struct Health {
    running: AtomicUsize,
    workers: AtomicUsize,
}

/// Decrements the running count when a worker ends, however it ends.
struct Running(Arc<Health>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.running.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Byte budget of request bodies in flight (in KiB permits).
#[derive(Debug)]
struct Budget {
    permits: Arc<Semaphore>,
    total_kib: u32,
}

/// Bytes admitted for one request; released when dropped (after the answer).
#[derive(Debug)]
pub struct Admission {
    permits: Vec<OwnedSemaphorePermit>,
    kib: u32,
    budget: Arc<Semaphore>,
    total_kib: u32,
}

fn kib(bytes: usize) -> u32 {
    u32::try_from(bytes.div_ceil(1024)).unwrap_or(u32::MAX)
}

impl Admission {
    /// Bytes admitted so far.
    pub fn bytes(&self) -> usize {
        self.kib as usize * 1024
    }

    /// Extends the admission to `bytes` in total; a full budget is an overload.
    pub fn grow_to(&mut self, bytes: usize) -> Result<(), IngestError> {
        let want = kib(bytes);
        if want <= self.kib {
            return Ok(());
        }
        let more = want - self.kib;
        if more > self.total_kib {
            return Err(IngestError::Overloaded);
        }
        let p = self
            .budget
            .clone()
            .try_acquire_many_owned(more)
            .map_err(|_| IngestError::Overloaded)?;
        self.permits.push(p);
        self.kib = want;
        Ok(())
    }
}

/// The sending side of the ingest queues, shared by every handler.
#[derive(Clone)]
pub struct IngestHandle {
    shards: Arc<Vec<mpsc::Sender<Message>>>,
    next_metrics: Arc<AtomicUsize>,
    budget: Arc<Budget>,
    health: Arc<Health>,
}

impl std::fmt::Debug for IngestHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (depth, capacity) = self.queue_depth();
        f.debug_struct("IngestHandle")
            .field("workers", &self.shards.len())
            .field("depth", &depth)
            .field("capacity", &capacity)
            .finish()
    }
}

fn shard_of(project: &str, kind: EntityKind, id: &str, n: usize) -> usize {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (project, kind, id).hash(&mut h);
    (h.finish() % n.max(1) as u64) as usize
}

fn combine(
    results: impl IntoIterator<Item = Result<(), WriteFailure>>,
) -> Result<(), WriteFailure> {
    let mut out = Ok(());
    for r in results {
        out = match (out, r) {
            (Err(WriteFailure::Unavailable), _) | (_, Err(WriteFailure::Unavailable)) => {
                Err(WriteFailure::Unavailable)
            }
            (Err(WriteFailure::Internal), _) | (_, Err(WriteFailure::Internal)) => {
                Err(WriteFailure::Internal)
            }
            (Err(e), _) | (_, Err(e)) => Err(e),
            (Ok(()), Ok(())) => Ok(()),
        };
    }
    out
}

impl IngestHandle {
    /// Admits a request of `bytes` (its body as read so far) against the byte budget of
    /// requests in flight; a full budget is an overload (503 + `Retry-After`).
    pub fn admit(&self, bytes: usize) -> Result<Admission, IngestError> {
        let mut a = Admission {
            permits: Vec::new(),
            kib: 0,
            budget: self.budget.permits.clone(),
            total_kib: self.budget.total_kib,
        };
        a.grow_to(bytes.max(1))?;
        Ok(a)
    }

    /// Queues `req` without waiting for room (a full queue is a 503) and waits for its
    /// commit. Events are split by entity over the workers; the answer comes when every
    /// part has committed.
    pub async fn write(&self, req: WriteRequest) -> Result<Result<(), WriteFailure>, IngestError> {
        let n = self.shards.len();
        let mut parts: Vec<Vec<ValidEvent>> = (0..n).map(|_| Vec::new()).collect();
        for e in req.events {
            parts[shard_of(&req.project_id, e.kind, &e.entity_id, n)].push(e);
        }
        let mut waits = Vec::new();
        for (shard, events) in parts.into_iter().enumerate() {
            if events.is_empty() {
                continue;
            }
            let (reply, rx) = oneshot::channel();
            let part = WriteRequest {
                project_id: req.project_id.clone(),
                events,
            };
            self.shards[shard]
                .try_send(Message::Write(part, reply))
                .map_err(|e| match e {
                    mpsc::error::TrySendError::Full(_) => IngestError::Overloaded,
                    mpsc::error::TrySendError::Closed(_) => IngestError::Unavailable,
                })?;
            waits.push(rx);
        }
        let mut results = Vec::with_capacity(waits.len());
        for rx in waits {
            // A reply dropped unanswered: the worker died with the batch.
            results.push(rx.await.unwrap_or(Err(WriteFailure::Internal)));
        }
        Ok(combine(results))
    }

    /// Queues time-series points like [`IngestHandle::write`]: a full queue is a 503, the
    /// answer comes after the commit.
    pub async fn write_metrics(
        &self,
        req: MetricsWrite,
    ) -> Result<Result<(), WriteFailure>, IngestError> {
        let (reply, rx) = oneshot::channel();
        let shard = self.next_metrics.fetch_add(1, Ordering::Relaxed) % self.shards.len();
        self.shards[shard]
            .try_send(Message::Metrics(req, reply))
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => IngestError::Overloaded,
                mpsc::error::TrySendError::Closed(_) => IngestError::Unavailable,
            })?;
        Ok(rx.await.unwrap_or(Err(WriteFailure::Internal)))
    }

    /// Queued messages and the queues' capacity (for `/metrics`).
    pub fn queue_depth(&self) -> (usize, usize) {
        self.shards.iter().fold((0, 0), |(d, c), tx| {
            let max = tx.max_capacity();
            (d + max - tx.capacity(), c + max)
        })
    }

    /// Body bytes admitted and the budget (for `/metrics`).
    pub fn bytes_in_flight(&self) -> (usize, usize) {
        let total = self.budget.total_kib as usize;
        let free = self.budget.permits.available_permits().min(total);
        ((total - free) * 1024, total * 1024)
    }

    /// Whether every worker is running (readiness).
    pub fn healthy(&self) -> bool {
        self.health.running.load(Ordering::Acquire) == self.health.workers.load(Ordering::Acquire)
    }

    /// Waits until everything queued before this call is committed (or failed).
    pub async fn flush(&self) {
        let mut waits = Vec::new();
        for tx in self.shards.iter() {
            let (done, rx) = oneshot::channel();
            if tx.send(Message::Flush(done)).await.is_ok() {
                waits.push(rx);
            }
        }
        for rx in waits {
            let _ = rx.await;
        }
    }

    /// [`IngestHandle::flush`] with a time limit; false when it timed out.
    pub async fn flush_within(&self, limit: Duration) -> bool {
        time::timeout(limit, self.flush()).await.is_ok()
    }
}

/// Worker settings.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Requests per transaction at most.
    pub max_batch: usize,
    /// How long a batch waits for more requests.
    pub max_delay: Duration,
    /// Queue capacity (requests, over all workers).
    pub queue: usize,
    /// Number of workers (entity shards).
    pub workers: usize,
    /// Request body bytes in flight at most.
    pub max_bytes_in_flight: usize,
}

/// Starts the workers; they end when every handle is dropped and the queues are drained.
pub fn spawn(pool: PgPool, pricing: Pricing, cfg: WorkerConfig) -> (IngestHandle, JoinHandle<()>) {
    let n = cfg.workers.max(1);
    let health = Arc::new(Health::default());
    health.workers.store(n, Ordering::Release);
    let mut shards = Vec::with_capacity(n);
    let mut tasks = Vec::with_capacity(n);
    for _ in 0..n {
        let (tx, rx) = mpsc::channel((cfg.queue / n).max(1));
        shards.push(tx);
        health.running.fetch_add(1, Ordering::AcqRel);
        let running = Running(health.clone());
        tasks.push(tokio::spawn(run(
            pool.clone(),
            pricing.clone(),
            cfg.clone(),
            rx,
            running,
        )));
    }
    let total_kib = kib(cfg.max_bytes_in_flight).max(1);
    let handle = IngestHandle {
        shards: Arc::new(shards),
        next_metrics: Arc::new(AtomicUsize::new(0)),
        budget: Arc::new(Budget {
            permits: Arc::new(Semaphore::new(total_kib as usize)),
            total_kib,
        }),
        health,
    };
    let all = tokio::spawn(async move {
        for t in tasks {
            if let Err(e) = t.await {
                tracing::error!(error = %e, "an ingest worker ended abnormally");
            }
        }
    });
    (handle, all)
}

async fn run(
    pool: PgPool,
    pricing: Pricing,
    cfg: WorkerConfig,
    mut rx: mpsc::Receiver<Message>,
    _running: Running,
) {
    let max = cfg.max_batch.max(1);
    let mut buf = Vec::with_capacity(max);
    loop {
        if rx.recv_many(&mut buf, max).await == 0 {
            break; // closed and drained
        }
        let deadline = time::Instant::now() + cfg.max_delay;
        while buf.len() < max && !matches!(buf.last(), Some(Message::Flush(_))) {
            let room = max - buf.len();
            match time::timeout_at(deadline, rx.recv_many(&mut buf, room)).await {
                Ok(n) if n > 0 => continue,
                _ => break,
            }
        }
        fault::maybe_kill_worker(&buf);
        let mut writes = Vec::new();
        let mut metrics = Vec::new();
        for msg in buf.drain(..) {
            match msg {
                Message::Write(req, reply) => writes.push((req, reply)),
                Message::Metrics(req, reply) => metrics.push((req, reply)),
                Message::Flush(done) => {
                    commit(&pool, &pricing, std::mem::take(&mut writes)).await;
                    commit_metrics(&pool, std::mem::take(&mut metrics)).await;
                    let _ = done.send(());
                }
            }
        }
        commit(&pool, &pricing, writes).await;
        commit_metrics(&pool, metrics).await;
    }
}

/// Writes `writes` in as few transactions as possible and answers each request. A panic
/// fails the requests of this call (500) and leaves the worker running.
async fn commit(pool: &PgPool, pricing: &Pricing, writes: Vec<(WriteRequest, Reply)>) {
    if writes.is_empty() {
        return;
    }
    let started = std::time::Instant::now();
    let n = writes.len();
    let (reqs, replies): (Vec<WriteRequest>, Vec<Reply>) = writes.into_iter().unzip();
    let outcome = AssertUnwindSafe(isolate((0..n).collect(), |group: Vec<usize>| {
        let reqs = &reqs;
        async move {
            let batch: Vec<&WriteRequest> = group.iter().map(|&i| &reqs[i]).collect();
            let res = write_batch(pool, pricing, &batch).await;
            (group, res)
        }
    }))
    .catch_unwind()
    .await;
    let results: Vec<Result<(), WriteFailure>> = match outcome {
        Ok(done) => {
            let mut results = vec![Err(WriteFailure::Internal); n];
            for (i, r) in done {
                results[i] = r;
            }
            results
        }
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            tracing::error!(panic = %what, requests = n, "ingest batch panicked; its requests fail");
            vec![Err(WriteFailure::Internal); n]
        }
    };
    let events: usize = reqs
        .iter()
        .zip(&results)
        .filter(|(_, r)| r.is_ok())
        .map(|(q, _)| q.events.len())
        .sum();
    crate::prom::global().observe_batch("events", n, events, started.elapsed());
    for (reply, res) in replies.into_iter().zip(results) {
        let _ = reply.send(res);
    }
    tracing::debug!(
        requests = n,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "ingest batch"
    );
}

/// Writes time-series points in one transaction per group (poison requests isolated
/// like events) and answers each request.
async fn commit_metrics(pool: &PgPool, writes: Vec<(MetricsWrite, Reply)>) {
    if writes.is_empty() {
        return;
    }
    let started = std::time::Instant::now();
    let n = writes.len();
    let results = isolate(writes, |group: Vec<(MetricsWrite, Reply)>| async move {
        let batches: Vec<(&str, &[crate::store::tsmetrics::MetricPoint])> = group
            .iter()
            .map(|(r, _)| (r.project_id.as_str(), r.points.as_slice()))
            .collect();
        let res = async {
            let mut tx = pool.begin().await.map_err(classify)?;
            crate::store::tsmetrics::insert_points(&mut tx, &batches)
                .await
                .map_err(classify)?;
            tx.commit().await.map_err(classify)
        }
        .await;
        (group, res)
    })
    .await;
    let points: usize = results
        .iter()
        .filter(|r| r.1.is_ok())
        .map(|r| r.0 .0.points.len())
        .sum();
    crate::prom::global().observe_batch("metric_points", n, points, started.elapsed());
    for ((_, reply), res) in results {
        let _ = reply.send(res);
    }
    tracing::debug!(
        requests = n,
        points,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "metrics batch"
    );
}

/// Outcome of one write attempt.
#[derive(Debug)]
pub enum BatchError {
    /// The database could not do it now; the same batch may succeed later.
    Transient(anyhow::Error),
    /// Another writer changed a row since its state was read: retry on fresh state.
    Conflict,
    /// Something in the batch cannot be written.
    Permanent(anyhow::Error),
}

/// Back-off of transient failures: 100 ms doubling, about 6 s in all.
const TRANSIENT_RETRIES: u32 = 6;
/// Conflicts are retried at once, this many times, then treated as transient.
const CONFLICT_RETRIES: u32 = 20;

/// Runs `write` on all items; on a permanent failure splits the items in halves until
/// each failing item is alone. Transient failures are retried with back-off, then
/// reported as `Unavailable` for the whole group; conflicts are retried at once.
pub async fn isolate<T, F, Fut>(items: Vec<T>, mut write: F) -> Vec<(T, Result<(), WriteFailure>)>
where
    F: FnMut(Vec<T>) -> Fut,
    Fut: Future<Output = (Vec<T>, Result<(), BatchError>)>,
{
    let mut done = Vec::new();
    let mut stack = vec![items];
    while let Some(group) = stack.pop() {
        let mut group = group;
        let (mut attempt, mut conflicts) = (0, 0);
        loop {
            let (g, res) = write(group).await;
            group = g;
            match res {
                Ok(()) => {
                    done.extend(group.into_iter().map(|t| (t, Ok(()))));
                    break;
                }
                Err(BatchError::Conflict) if conflicts < CONFLICT_RETRIES => {
                    conflicts += 1;
                    tracing::debug!(conflicts, "rows changed by another writer; re-folding");
                    if conflicts > 3 {
                        time::sleep(Duration::from_millis(rand::random::<u64>() % 20)).await;
                    }
                }
                Err(BatchError::Conflict) => {
                    tracing::warn!("ingest batch kept conflicting with another writer");
                    done.extend(
                        group
                            .into_iter()
                            .map(|t| (t, Err(WriteFailure::Unavailable))),
                    );
                    break;
                }
                Err(BatchError::Transient(e)) if attempt < TRANSIENT_RETRIES => {
                    attempt += 1;
                    tracing::warn!(error = %e, attempt, "ingest batch failed, retrying");
                    time::sleep(Duration::from_millis(50 << attempt)).await;
                }
                Err(BatchError::Transient(e)) => {
                    tracing::error!(error = %e, "ingest batch failed: database unavailable");
                    done.extend(
                        group
                            .into_iter()
                            .map(|t| (t, Err(WriteFailure::Unavailable))),
                    );
                    break;
                }
                Err(BatchError::Permanent(e)) if group.len() == 1 => {
                    tracing::error!(error = ?e, "ingest request rejected by the database");
                    done.extend(group.into_iter().map(|t| (t, Err(WriteFailure::Rejected))));
                    break;
                }
                Err(BatchError::Permanent(_)) => {
                    let second = group.split_off(group.len() / 2);
                    stack.push(second);
                    stack.push(group);
                    break;
                }
            }
        }
    }
    done
}

/// Whether a PostgreSQL error code means "try again later" rather than "this data
/// cannot be written": connection exceptions (08), insufficient resources (53),
/// operator intervention such as shutdown or restart (57P01–57P03) and statement
/// cancellation (57014), serialization failure and deadlock (40001, 40P01), a read-only
/// transaction during failover (25006), lock not available (55P03), system errors (58).
pub fn transient_sqlstate(code: &str) -> bool {
    code.starts_with("08")
        || code.starts_with("53")
        || code.starts_with("58")
        || matches!(
            code,
            "57P01" | "57P02" | "57P03" | "57014" | "40001" | "40P01" | "25006" | "55P03"
        )
}

/// Transient or permanent, by the error's kind and SQLSTATE.
pub fn classify(e: sqlx::Error) -> BatchError {
    let transient = match &e {
        sqlx::Error::Database(db) => db.code().is_some_and(|c| transient_sqlstate(&c)),
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Protocol(_) => true,
        _ => false,
    };
    if transient {
        BatchError::Transient(e.into())
    } else {
        BatchError::Permanent(e.into())
    }
}

/// An `anyhow` error from a layer that may wrap a database error (pricing).
fn classify_any(e: anyhow::Error) -> BatchError {
    match e.downcast::<sqlx::Error>() {
        Ok(db) => classify(db),
        Err(other) => BatchError::Permanent(other),
    }
}

type EntityKey<'a> = (&'a str, EntityKind, &'a str);

/// Advisory lock key of a score (bucketed so a batch takes at most 256 locks).
fn score_lock(project: &str, id: &str) -> i64 {
    use sha2::{Digest, Sha256};
    // A hash every instance (and build) computes alike.
    let mut h = Sha256::new();
    h.update(project.as_bytes());
    h.update([0]);
    h.update(id.as_bytes());
    const PREFIX: i64 = 0x7874_7363 << 16; // "xtsc"
    PREFIX | i64::from(h.finalize()[0])
}

/// One transaction: fold the touched traces and observations from their states, re-fold
/// the touched scores from the log, write everything.
async fn write_batch(
    pool: &PgPool,
    pricing: &Pricing,
    reqs: &[&WriteRequest],
) -> Result<(), BatchError> {
    // Entities in key order, each with its events in arrival order.
    let mut entities: BTreeMap<EntityKey<'_>, Vec<Src>> = BTreeMap::new();
    for (ri, req) in reqs.iter().enumerate() {
        for (ei, e) in req.events.iter().enumerate() {
            fault::maybe_panic(&e.entity_id);
            entities
                .entry((req.project_id.as_str(), e.kind, e.entity_id.as_str()))
                .or_default()
                .push((ri as u32, ei as u32));
        }
    }
    let event = |(r, e): Src| -> &ValidEvent { &reqs[r as usize].events[e as usize] };
    let mut tx = pool.begin().await.map_err(classify)?;

    // Scores: logged and re-folded, one writer per score at a time.
    let score_keys: Vec<i64> = entities
        .keys()
        .filter(|k| k.1 == EntityKind::Score)
        .map(|k| score_lock(k.0, k.2))
        .collect();
    store::lock_keys(&mut tx, &score_keys)
        .await
        .map_err(classify)?;
    write_scores(&mut tx, &entities, reqs).await?;

    // Traces.
    let trace_entities: Vec<(&EntityKey<'_>, &Vec<Src>)> = entities
        .iter()
        .filter(|(k, _)| k.1 == EntityKind::Trace)
        .collect();
    let mut traces: Vec<(&str, &str, TraceState, RowVersion)> =
        load(&mut tx, EntityTable::Traces, &trace_entities).await?;
    let mut trace_rows: Vec<(usize, MergedTrace)> = Vec::new();
    for (i, ((_, _, state, _), (_, events))) in traces.iter_mut().zip(&trace_entities).enumerate() {
        let mut applied = false;
        for &src in events.iter() {
            applied |= state.apply(incoming(event(src), src));
        }
        if applied {
            trace_rows.push((i, state.render(trace_entities[i].0 .2)));
        }
    }
    let io = |w: Option<Src>, field: &str| w.and_then(|src| event(src).body.get(field));
    let folded_traces: Vec<FoldedRow<'_, MergedTrace>> = trace_rows
        .iter()
        .map(|(i, t)| {
            let (project, _, state, version) = &traces[*i];
            FoldedRow {
                project_id: project,
                row: t,
                input: io(state.input.winner(), "input"),
                output: io(state.output.winner(), "output"),
                fold_seq: state.n as i32,
                fold_state: fold::encode(state),
                version: *version,
            }
        })
        .collect();
    if !store::write_traces(&mut tx, &folded_traces)
        .await
        .map_err(classify)?
        .complete()
    {
        return Err(BatchError::Conflict);
    }
    let sessions: std::collections::BTreeSet<(&str, &str, &str)> = trace_rows
        .iter()
        .filter_map(|(i, t)| {
            Some((
                traces[*i].0,
                t.session_id.as_deref()?,
                t.environment.as_str(),
            ))
        })
        .collect();
    store::insert_sessions(&mut tx, &dedupe_sessions(sessions))
        .await
        .map_err(classify)?;

    // Observations.
    let obs_entities: Vec<(&EntityKey<'_>, &Vec<Src>)> = entities
        .iter()
        .filter(|(k, _)| k.1 == EntityKind::Observation)
        .collect();
    let mut observations: Vec<(&str, &str, ObservationState, RowVersion)> =
        load(&mut tx, EntityTable::Observations, &obs_entities).await?;
    let mut obs_rows: Vec<(usize, MergedObservation)> = Vec::new();
    for (i, ((project, id, state, _), (_, events))) in
        observations.iter_mut().zip(&obs_entities).enumerate()
    {
        let mut applied = false;
        for &src in events.iter() {
            applied |= state.apply(incoming(event(src), src));
        }
        if applied {
            obs_rows.push((i, state.render(id, || fallback_trace_id(project, id))));
        }
    }
    let links: Vec<(&str, &str, i32)> = obs_rows
        .iter()
        .filter_map(|(i, o)| {
            Some((
                observations[*i].0,
                o.prompt_name.as_deref()?,
                o.prompt_version?,
            ))
        })
        .collect();
    let prompt_ids = store::find_prompt_ids(&mut tx, &links)
        .await
        .map_err(classify)?;
    let mut derived = Vec::with_capacity(obs_rows.len());
    let mut missing_io: Vec<(&str, &str)> = Vec::new();
    let mut plans = Vec::with_capacity(obs_rows.len());
    for (i, o) in &obs_rows {
        let (project, _, state, _) = &observations[*i];
        let input = io(state.input.winner(), "input");
        let output = io(state.output.winner(), "output");
        let spec = pricing
            .tokenizer_for(project, &usage_input(o, None, None, None))
            .await
            .map_err(classify_any)?;
        let needs_row = spec.as_ref().is_some_and(|spec| {
            let id = spec.id();
            (input.is_none() && state.input.is_set() && state.input.cached_tokens(&id).is_none())
                || (output.is_none()
                    && state.output.is_set()
                    && state.output.cached_tokens(&id).is_none())
        });
        if needs_row {
            missing_io.push((project, o.id.as_str()));
        }
        plans.push(spec);
    }
    let stored_io = if missing_io.is_empty() {
        HashMap::new()
    } else {
        store::load_observation_io(&mut tx, &missing_io)
            .await
            .map_err(classify)?
    };
    for ((i, o), spec) in obs_rows.iter().zip(plans) {
        let (project, id, state, _) = &mut observations[*i];
        let input = io(state.input.winner(), "input");
        let output = io(state.output.winner(), "output");
        let counts = match spec {
            None => None,
            Some(spec) => {
                let tid = spec.id();
                let key = (project.to_string(), id.to_string());
                let stored = stored_io.get(&key);
                let side = |new: Option<&Value>, reg: &fold::Io, stored: Option<&Value>| match (
                    new,
                    reg.cached_tokens(&tid),
                ) {
                    (Some(v), _) => Side::Count(v.clone()),
                    (None, Some(n)) => Side::Known(n),
                    (None, None) if !reg.is_set() => Side::Known(None),
                    (None, None) => stored.map_or(Side::Known(None), |v| Side::Count(v.clone())),
                };
                let a = side(input, &state.input, stored.and_then(|s| s.0.as_ref()));
                let b = side(output, &state.output, stored.and_then(|s| s.1.as_ref()));
                let (n_in, n_out) = count_tokens(&spec, a, b).await;
                state.input.cache_tokens(&tid, n_in);
                state.output.cache_tokens(&tid, n_out);
                Some((n_in, n_out))
            }
        };
        let mut d = derive(pricing, project, &usage_input(o, input, output, counts)).await?;
        if let (Some(name), Some(version)) = (&o.prompt_name, o.prompt_version) {
            d.prompt_id = prompt_ids
                .get(&(project.to_string(), name.clone(), version))
                .cloned();
        }
        derived.push(d);
    }
    let folded_obs: Vec<(FoldedRow<'_, MergedObservation>, &ObservationDerived)> = obs_rows
        .iter()
        .zip(&derived)
        .map(|((i, o), d)| {
            let (project, _, state, version) = &observations[*i];
            (
                FoldedRow {
                    project_id: project,
                    row: o,
                    input: io(state.input.winner(), "input"),
                    output: io(state.output.winner(), "output"),
                    fold_seq: state.n as i32,
                    fold_state: fold::encode(state),
                    version: *version,
                },
                d,
            )
        })
        .collect();
    if !store::write_observations(&mut tx, &folded_obs)
        .await
        .map_err(classify)?
        .complete()
    {
        return Err(BatchError::Conflict);
    }
    tx.commit().await.map_err(classify)?;
    Ok(())
}

fn incoming(e: &ValidEvent, src: Src) -> Incoming<'_> {
    Incoming {
        event_id: &e.event_id,
        event_type: e.event_type,
        timestamp: e.timestamp,
        body: &e.body,
        src,
    }
}

/// The fold states of `entities` (all of one table): stored ones decoded, rows written
/// before incremental folding rebuilt from their logged events (which are then deleted),
/// new entities empty.
async fn load<'a, S>(
    conn: &mut PgConnection,
    table: EntityTable,
    entities: &[(&EntityKey<'a>, &Vec<Src>)],
) -> Result<Vec<(&'a str, &'a str, S, RowVersion)>, BatchError>
where
    S: Default + Rebuild + for<'de> serde::Deserialize<'de>,
{
    let keys: Vec<(&str, &str)> = entities.iter().map(|(k, _)| (k.0, k.2)).collect();
    let stored: HashMap<(String, String), StoredState> = store::load_states(conn, table, &keys)
        .await
        .map_err(classify)?
        .into_iter()
        .map(|s| ((s.project_id.clone(), s.id.clone()), s))
        .collect();
    let mut out = Vec::with_capacity(entities.len());
    let mut legacy: Vec<usize> = Vec::new();
    for (k, _) in entities {
        let found = stored.get(&(k.0.to_string(), k.2.to_string()));
        let (state, version) = match found {
            None => (S::default(), RowVersion::New),
            Some(s) => match s.fold_state.as_deref().and_then(fold::decode::<S>) {
                Some(state) => (state, RowVersion::Existing(s.fold_seq)),
                None => {
                    legacy.push(out.len());
                    (S::default(), RowVersion::Existing(s.fold_seq))
                }
            },
        };
        out.push((k.0, k.2, state, version));
    }
    if !legacy.is_empty() {
        let kind = match table {
            EntityTable::Traces => EntityKind::Trace,
            EntityTable::Observations => EntityKind::Observation,
        };
        let lkeys: Vec<(&str, &str, &str)> = legacy
            .iter()
            .map(|&i| (out[i].0, kind.as_str(), out[i].1))
            .collect();
        let mut events: HashMap<(String, String), Vec<store::StoredEvent>> = HashMap::new();
        for e in store::list_entity_events(conn, &lkeys)
            .await
            .map_err(classify)?
        {
            events
                .entry((e.project_id.clone(), e.entity_id.clone()))
                .or_default()
                .push(e);
        }
        for &i in &legacy {
            let mut logged = events
                .remove(&(out[i].0.to_string(), out[i].1.to_string()))
                .unwrap_or_default();
            logged.sort_by_key(|e| e.seq);
            out[i].2.rebuild(&logged);
        }
        for (project, ids) in group_by_project(&legacy, &out) {
            store::delete_entity_events(&mut *conn, project, kind.as_str(), &ids)
                .await
                .map_err(classify)?;
        }
    }
    Ok(out)
}

fn group_by_project<'a, S>(
    idx: &[usize],
    out: &[(&'a str, &'a str, S, RowVersion)],
) -> BTreeMap<&'a str, Vec<String>> {
    let mut m: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for &i in idx {
        m.entry(out[i].0).or_default().push(out[i].1.to_string());
    }
    m
}

/// States that can be rebuilt from logged events (rows from before incremental folding).
trait Rebuild {
    fn rebuild(&mut self, logged: &[store::StoredEvent]);
}

fn rebuild_with(logged: &[store::StoredEvent], mut apply: impl FnMut(Incoming<'_>)) {
    for e in logged {
        let (Some(event_type), Value::Object(body)) = (EventType::parse(&e.event_type), &e.body)
        else {
            continue;
        };
        apply(Incoming {
            event_id: &e.event_id,
            event_type,
            timestamp: e.event_ts,
            body,
            src: (u32::MAX, u32::MAX),
        });
    }
}

impl Rebuild for TraceState {
    fn rebuild(&mut self, logged: &[store::StoredEvent]) {
        rebuild_with(logged, |e| {
            self.apply(e);
        });
        // The row already holds the input/output these events left.
        self.input.forget_winner();
        self.output.forget_winner();
    }
}

impl Rebuild for ObservationState {
    fn rebuild(&mut self, logged: &[store::StoredEvent]) {
        rebuild_with(logged, |e| {
            self.apply(e);
        });
        self.input.forget_winner();
        self.output.forget_winner();
    }
}

/// Logs the batch's score events and re-folds every touched score from its log.
async fn write_scores(
    tx: &mut PgConnection,
    entities: &BTreeMap<EntityKey<'_>, Vec<Src>>,
    reqs: &[&WriteRequest],
) -> Result<(), BatchError> {
    let mut seen = HashSet::new();
    let mut new_events = Vec::new();
    let mut keys = Vec::new();
    for (k, srcs) in entities.iter().filter(|(k, _)| k.1 == EntityKind::Score) {
        keys.push((k.0, k.1.as_str(), k.2));
        for &(r, i) in srcs {
            let e = &reqs[r as usize].events[i as usize];
            if !seen.insert((k.0, k.2, e.event_id.as_str())) {
                continue;
            }
            new_events.push(NewEvent {
                project_id: k.0,
                entity_kind: k.1.as_str(),
                entity_id: k.2,
                event_id: &e.event_id,
                event_type: e.event_type.as_str(),
                event_ts: e.timestamp,
                body: &e.body,
            });
        }
    }
    if keys.is_empty() {
        return Ok(());
    }
    store::insert_events(&mut *tx, &new_events)
        .await
        .map_err(classify)?;
    let stored = store::list_entity_events(&mut *tx, &keys)
        .await
        .map_err(classify)?;
    let mut grouped: BTreeMap<(String, String), Vec<LoggedEvent>> = BTreeMap::new();
    for s in stored {
        let (Some(event_type), Value::Object(body)) = (EventType::parse(&s.event_type), s.body)
        else {
            tracing::warn!(entity_id = %s.entity_id, "skipping an unreadable logged event");
            continue;
        };
        grouped
            .entry((s.project_id, s.entity_id))
            .or_default()
            .push(LoggedEvent {
                event_type,
                timestamp: s.event_ts,
                seq: s.seq,
                body,
            });
    }
    let score_events: Vec<_> = grouped
        .into_iter()
        .map(|((project, id), mut events)| {
            merge::sort_events(&mut events);
            (project, id, events)
        })
        .collect();
    let scores = super::score_config::fold_scores(&mut *tx, score_events)
        .await
        .map_err(classify)?;
    let score_rows: Vec<_> = scores.iter().map(|(p, s)| (p.as_str(), s)).collect();
    store::upsert_scores(&mut *tx, &score_rows)
        .await
        .map_err(classify)?;
    Ok(())
}

/// One row per (project, session): the first environment wins within a batch.
fn dedupe_sessions<'a>(
    set: std::collections::BTreeSet<(&'a str, &'a str, &'a str)>,
) -> Vec<(&'a str, &'a str, &'a str)> {
    let mut seen = HashSet::new();
    set.into_iter()
        .filter(|(p, s, _)| seen.insert((*p, *s)))
        .collect()
}

/// The trace id of an observation that never named one. Langfuse draws a random UUID;
/// this one is derived from the project and observation ids, so re-folding and
/// re-delivery keep the same value.
fn fallback_trace_id(project_id: &str, observation_id: &str) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(project_id.as_bytes());
    h.update([0]);
    h.update(observation_id.as_bytes());
    let digest = h.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .to_string()
}

fn amounts_json(a: &Amounts) -> Value {
    Value::Object(
        a.iter()
            .filter_map(|(k, v)| Some((k.clone(), Value::from(serde_json::Number::from_f64(*v)?))))
            .collect(),
    )
}

fn usage_input<'a>(
    o: &'a MergedObservation,
    input: Option<&'a Value>,
    output: Option<&'a Value>,
    token_counts: Option<(Option<u64>, Option<u64>)>,
) -> UsageInput<'a> {
    UsageInput {
        model: o.model.as_deref(),
        usage: o.usage.as_ref(),
        usage_details: o.usage_details.as_ref(),
        cost_details: o.cost_details.as_ref(),
        input,
        output,
        level_is_error: o.level == "ERROR",
        model_parameters: o.model_parameters.as_ref(),
        metadata: Some(&o.metadata),
        token_counts,
    }
}

/// One side (input or output) to tokenize, or its known count.
enum Side {
    Count(Value),
    Known(Option<u64>),
}

/// Token counts of both sides, counting off the async runtime (CPU work).
async fn count_tokens(
    spec: &crate::pricing::tokenize::TokenizerSpec,
    a: Side,
    b: Side,
) -> (Option<u64>, Option<u64>) {
    if let (Side::Known(x), Side::Known(y)) = (&a, &b) {
        return (*x, *y);
    }
    let spec = spec.clone();
    let counted = tokio::task::spawn_blocking(move || {
        let one = |s: Side| match s {
            Side::Count(v) => crate::pricing::tokenize::count(&spec, Some(&v)),
            Side::Known(n) => n,
        };
        (one(a), one(b))
    })
    .await;
    counted.unwrap_or_else(|e| {
        tracing::error!(error = %e, "tokenization failed; continuing without token counts");
        (None, None)
    })
}

/// Usage and cost of a merged observation through the pricing service.
async fn derive(
    pricing: &Pricing,
    project_id: &str,
    input: &UsageInput<'_>,
) -> Result<ObservationDerived, BatchError> {
    let out = pricing
        .derive(project_id, input)
        .await
        .map_err(classify_any)?;
    Ok(ObservationDerived {
        provided_usage_details: amounts_json(&out.provided_usage_details),
        usage_details: amounts_json(&out.usage_details),
        provided_cost_details: amounts_json(&out.provided_cost_details),
        cost_details: amounts_json(&out.cost_details),
        total_cost: out.total_cost,
        internal_model_id: out.internal_model_id,
        usage_pricing_tier_id: out.usage_pricing_tier_id,
        usage_pricing_tier_name: out.usage_pricing_tier_name,
        prompt_id: None,
    })
}

/// Faults injected by tests: a panic while folding a given entity (caught: the batch
/// fails), or a worker that dies when a batch holds a given entity (not caught). Both are
/// keyed by entity id, so tests running side by side do not hit each other's faults; off
/// unless a test switches them on (one atomic load per batch otherwise).
pub mod fault {
    use super::*;
    use std::sync::Mutex;

    static ARMED: AtomicBool = AtomicBool::new(false);
    static PANIC_ON: Mutex<Option<String>> = Mutex::new(None);
    static KILL_ON: Mutex<Option<String>> = Mutex::new(None);

    fn set(slot: &Mutex<Option<String>>, id: Option<&str>) {
        *slot.lock().unwrap_or_else(|p| p.into_inner()) = id.map(str::to_string);
        ARMED.store(true, Ordering::Release);
    }

    fn is(slot: &Mutex<Option<String>>, id: &str) -> bool {
        slot.lock().unwrap_or_else(|p| p.into_inner()).as_deref() == Some(id)
    }

    /// Makes the worker panic while folding an event of entity `id` (None: stop).
    pub fn panic_on_entity(id: Option<&str>) {
        set(&PANIC_ON, id);
    }

    /// Makes the worker that takes a batch holding entity `id` end (None: stop).
    pub fn kill_worker_on_entity(id: Option<&str>) {
        set(&KILL_ON, id);
    }

    pub(super) fn maybe_panic(entity_id: &str) {
        if ARMED.load(Ordering::Acquire) && is(&PANIC_ON, entity_id) {
            panic!("injected fault while folding {entity_id}");
        }
    }

    pub(super) fn maybe_kill_worker(batch: &[Message]) {
        if !ARMED.load(Ordering::Acquire) {
            return;
        }
        let hit = batch.iter().any(|m| match m {
            Message::Write(req, _) => req.events.iter().any(|e| is(&KILL_ON, &e.entity_id)),
            _ => false,
        });
        if hit {
            panic!("injected fault: the ingest worker ends");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_poison_item_is_isolated_and_its_neighbours_commit() {
        let mut calls = 0;
        let results = isolate((0..8).collect::<Vec<u32>>(), |group| {
            calls += 1;
            async move {
                let res = if group.contains(&5) {
                    Err(BatchError::Permanent(anyhow::anyhow!("poison")))
                } else {
                    Ok(())
                };
                (group, res)
            }
        })
        .await;
        let mut results = results;
        results.sort_by_key(|r| r.0);
        for (i, r) in results {
            let expected = if i == 5 {
                Err(WriteFailure::Rejected)
            } else {
                Ok(())
            };
            assert_eq!(r, expected, "item {i}");
        }
        assert!(
            calls <= 8,
            "halving needs log2(n) rounds per poison item, took {calls}"
        );
    }

    #[tokio::test]
    async fn transient_failures_are_retried_then_reported_unavailable() {
        let mut calls = 0;
        let results = isolate(vec![1, 2], |group| {
            calls += 1;
            let fail = calls <= 2;
            async move {
                let res = if fail {
                    Err(BatchError::Transient(anyhow::anyhow!("down")))
                } else {
                    Ok(())
                };
                (group, res)
            }
        })
        .await;
        assert!(
            results.iter().all(|r| r.1.is_ok()),
            "recovered after retries"
        );
        let results = isolate(vec![1], |group| async move {
            (group, Err(BatchError::Transient(anyhow::anyhow!("down"))))
        })
        .await;
        assert_eq!(results[0].1, Err(WriteFailure::Unavailable));
    }

    #[tokio::test]
    async fn conflicts_are_retried_until_they_clear() {
        let mut calls = 0;
        let results = isolate(vec![1], |group| {
            calls += 1;
            let res = if calls < 4 {
                Err(BatchError::Conflict)
            } else {
                Ok(())
            };
            async move { (group, res) }
        })
        .await;
        assert_eq!(results[0].1, Ok(()));
        assert_eq!(calls, 4);
    }

    #[test]
    fn sqlstates_are_classified_by_class() {
        for transient in [
            "08006", "08001", "57P01", "57P03", "40001", "40P01", "53300", "25006",
        ] {
            assert!(transient_sqlstate(transient), "{transient}");
        }
        for permanent in ["22P02", "23505", "22021", "42P01", "XX000", "23502"] {
            assert!(!transient_sqlstate(permanent), "{permanent}");
        }
    }

    #[test]
    fn parts_of_a_request_combine_to_the_worst_outcome() {
        use WriteFailure::*;
        assert_eq!(combine([Ok(()), Ok(())]), Ok(()));
        assert_eq!(combine([Ok(()), Err(Rejected)]), Err(Rejected));
        assert_eq!(combine([Err(Rejected), Err(Unavailable)]), Err(Unavailable));
        assert_eq!(combine([Err(Internal), Err(Rejected)]), Err(Internal));
    }

    #[test]
    fn fallback_trace_ids_are_stable_uuids() {
        let a = fallback_trace_id("p", "o");
        assert_eq!(a, fallback_trace_id("p", "o"));
        assert_ne!(a, fallback_trace_id("p2", "o"));
        assert_eq!(uuid::Uuid::parse_str(&a).unwrap().get_version_num(), 4);
    }

    #[test]
    fn score_locks_fall_in_256_buckets() {
        let keys: HashSet<i64> = (0..10_000)
            .map(|i| score_lock("p", &i.to_string()))
            .collect();
        assert!(keys.len() <= 256);
        assert_eq!(score_lock("p", "s"), score_lock("p", "s"));
    }
}
