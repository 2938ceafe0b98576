//! The ingest worker: a bounded channel of write requests (one per HTTP request), group
//! commit, and acknowledgement after commit.
//!
//! The worker gathers up to `XTRACE_INGEST_MAX_BATCH` requests, waiting at most
//! `XTRACE_INGEST_MAX_DELAY_MS` for stragglers, and writes them in one transaction:
//! append the events to the log, re-read every logged event of each touched entity, fold
//! them (`merge`), derive usage and cost, upsert the rows. Each request is answered after
//! the commit, so an acknowledged request is durable. A batch that fails is retried when
//! the database is unreachable, otherwise split in halves until the failing request is
//! alone: that request gets the error, its neighbours commit.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::future::Future;
use std::time::Duration;

use serde_json::Value;
use sqlx::PgPool;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time;

use super::event::{EntityKind, EventType, ValidEvent};
use super::merge::{self, LoggedEvent};
use crate::error::ApiError;
use crate::pricing::{Amounts, Pricing, UsageInput};
use crate::store::ingest::{self as store, MergedObservation, NewEvent, ObservationDerived};

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
    /// The request itself cannot be written (it failed alone).
    Rejected,
    /// The database is unreachable; retry later.
    Unavailable,
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

/// The sending side of the ingest queue, shared by every handler.
#[derive(Clone)]
pub struct IngestHandle {
    tx: mpsc::Sender<Message>,
}

impl std::fmt::Debug for IngestHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IngestHandle")
            .field("capacity", &self.tx.capacity())
            .finish()
    }
}

impl IngestHandle {
    /// Queues `req` without waiting for room (a full queue is a 503) and waits for its
    /// commit.
    pub async fn write(&self, req: WriteRequest) -> Result<Result<(), WriteFailure>, ApiError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .try_send(Message::Write(req, reply))
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => ApiError::Overloaded,
                mpsc::error::TrySendError::Closed(_) => ApiError::Unavailable,
            })?;
        rx.await.map_err(|_| ApiError::Unavailable)
    }

    /// Queues time-series points like [`IngestHandle::write`]: a full queue is a 503, the
    /// answer comes after the commit.
    pub async fn write_metrics(
        &self,
        req: MetricsWrite,
    ) -> Result<Result<(), WriteFailure>, ApiError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .try_send(Message::Metrics(req, reply))
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => ApiError::Overloaded,
                mpsc::error::TrySendError::Closed(_) => ApiError::Unavailable,
            })?;
        rx.await.map_err(|_| ApiError::Unavailable)
    }

    /// Queued messages and the queue's capacity (for `/metrics`).
    pub fn queue_depth(&self) -> (usize, usize) {
        let max = self.tx.max_capacity();
        (max - self.tx.capacity(), max)
    }

    /// Waits until everything queued before this call is committed (or failed).
    pub async fn flush(&self) {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Message::Flush(tx)).await.is_ok() {
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
    /// Queue capacity (requests).
    pub queue: usize,
}

/// Starts the worker; it ends when every handle is dropped and the queue is drained.
pub fn spawn(pool: PgPool, pricing: Pricing, cfg: WorkerConfig) -> (IngestHandle, JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(cfg.queue.max(1));
    let task = tokio::spawn(run(pool, pricing, cfg, rx));
    (IngestHandle { tx }, task)
}

async fn run(pool: PgPool, pricing: Pricing, cfg: WorkerConfig, mut rx: mpsc::Receiver<Message>) {
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

/// Writes `writes` in as few transactions as possible and answers each request.
async fn commit(pool: &PgPool, pricing: &Pricing, writes: Vec<(WriteRequest, Reply)>) {
    if writes.is_empty() {
        return;
    }
    let started = std::time::Instant::now();
    let n = writes.len();
    let results = isolate(writes, |group: Vec<(WriteRequest, Reply)>| async move {
        let reqs: Vec<&WriteRequest> = group.iter().map(|(r, _)| r).collect();
        let res = write_batch(pool, pricing, &reqs).await;
        (group, res)
    })
    .await;
    let events: usize = results
        .iter()
        .filter(|r| r.1.is_ok())
        .map(|r| r.0 .0.events.len())
        .sum();
    crate::prom::global().observe_batch("events", n, events, started.elapsed());
    for ((_, reply), res) in results {
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
    /// The database could not be reached; the same batch may succeed later.
    Transient(anyhow::Error),
    /// Something in the batch cannot be written.
    Permanent(anyhow::Error),
}

const TRANSIENT_RETRIES: u32 = 3;

/// Runs `write` on all items; on a permanent failure splits the items in halves until
/// each failing item is alone. Transient failures are retried with back-off, then
/// reported as `Unavailable` for the whole group.
pub async fn isolate<T, F, Fut>(items: Vec<T>, mut write: F) -> Vec<(T, Result<(), WriteFailure>)>
where
    F: FnMut(Vec<T>) -> Fut,
    Fut: Future<Output = (Vec<T>, Result<(), BatchError>)>,
{
    let mut done = Vec::new();
    let mut stack = vec![items];
    while let Some(group) = stack.pop() {
        let mut group = group;
        let mut attempt = 0;
        loop {
            let (g, res) = write(group).await;
            group = g;
            match res {
                Ok(()) => {
                    done.extend(group.into_iter().map(|t| (t, Ok(()))));
                    break;
                }
                Err(BatchError::Transient(e)) if attempt < TRANSIENT_RETRIES => {
                    attempt += 1;
                    tracing::warn!(error = %e, attempt, "ingest batch failed, retrying");
                    time::sleep(Duration::from_millis(100 << attempt)).await;
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

fn classify(e: sqlx::Error) -> BatchError {
    match e {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
            BatchError::Transient(e.into())
        }
        other => BatchError::Permanent(other.into()),
    }
}

type EntityKey = (String, EntityKind, String);

/// One transaction: log the events, re-fold every touched entity, upsert the rows.
async fn write_batch(
    pool: &PgPool,
    pricing: &Pricing,
    reqs: &[&WriteRequest],
) -> Result<(), BatchError> {
    // Deduplicate log keys across the batch: the first occurrence wins, like the
    // `on conflict do nothing` of a later re-delivery.
    let mut seen = HashSet::new();
    let mut new_events = Vec::new();
    let mut touched: BTreeSet<EntityKey> = BTreeSet::new();
    for req in reqs {
        for e in &req.events {
            let key = (
                req.project_id.as_str(),
                e.kind,
                e.entity_id.as_str(),
                e.event_id.as_str(),
            );
            if !seen.insert(key) {
                continue;
            }
            touched.insert((req.project_id.clone(), e.kind, e.entity_id.clone()));
            new_events.push(NewEvent {
                project_id: &req.project_id,
                entity_kind: e.kind.as_str(),
                entity_id: &e.entity_id,
                event_id: &e.event_id,
                event_type: e.event_type.as_str(),
                event_ts: e.timestamp,
                body: Value::Object(e.body.clone()),
            });
        }
    }
    let mut tx = pool.begin().await.map_err(classify)?;
    store::insert_events(&mut tx, &new_events)
        .await
        .map_err(classify)?;
    let keys: Vec<(&str, &str, &str)> = touched
        .iter()
        .map(|(p, k, id)| (p.as_str(), k.as_str(), id.as_str()))
        .collect();
    let stored = store::list_entity_events(&mut tx, &keys)
        .await
        .map_err(classify)?;
    let mut grouped: BTreeMap<EntityKey, Vec<LoggedEvent>> = BTreeMap::new();
    for s in stored {
        let (Some(kind), Some(event_type), Value::Object(body)) = (
            EntityKind::parse(&s.entity_kind),
            EventType::parse(&s.event_type),
            s.body,
        ) else {
            tracing::warn!(entity_id = %s.entity_id, "skipping an unreadable logged event");
            continue;
        };
        grouped
            .entry((s.project_id, kind, s.entity_id))
            .or_default()
            .push(LoggedEvent {
                event_type,
                timestamp: s.event_ts,
                seq: s.seq,
                body,
            });
    }

    let mut traces = Vec::new();
    let mut observations = Vec::new();
    let mut score_events = Vec::new();
    for ((project, kind, id), mut events) in grouped {
        merge::sort_events(&mut events);
        match kind {
            EntityKind::Trace => traces.push((project, merge::fold_trace(&id, &events))),
            EntityKind::Observation => {
                let o = merge::fold_observation(&id, &events, || fallback_trace_id(&project, &id));
                observations.push((project, o));
            }
            EntityKind::Score => score_events.push((project, id, events)),
        }
    }
    let scores = super::score_config::fold_scores(&mut tx, score_events)
        .await
        .map_err(classify)?;

    let links: Vec<(&str, &str, i32)> = observations
        .iter()
        .filter_map(|(p, o)| Some((p.as_str(), o.prompt_name.as_deref()?, o.prompt_version?)))
        .collect();
    let prompt_ids = store::find_prompt_ids(&mut tx, &links)
        .await
        .map_err(classify)?;
    let mut derived = Vec::with_capacity(observations.len());
    for (project, o) in &observations {
        let mut d = derive(pricing, project, o).await?;
        if let (Some(name), Some(version)) = (&o.prompt_name, o.prompt_version) {
            d.prompt_id = prompt_ids
                .get(&(project.clone(), name.clone(), version))
                .cloned();
        }
        derived.push(d);
    }

    let trace_rows: Vec<_> = traces.iter().map(|(p, t)| (p.as_str(), t)).collect();
    store::upsert_traces(&mut tx, &trace_rows)
        .await
        .map_err(classify)?;
    let sessions: BTreeSet<(&str, &str, &str)> = traces
        .iter()
        .filter_map(|(p, t)| Some((p.as_str(), t.session_id.as_deref()?, t.environment.as_str())))
        .collect();
    let sessions: Vec<_> = dedupe_sessions(sessions);
    store::insert_sessions(&mut tx, &sessions)
        .await
        .map_err(classify)?;
    let obs_rows: Vec<_> = observations
        .iter()
        .zip(&derived)
        .map(|((p, o), d)| (p.as_str(), o, d))
        .collect();
    store::upsert_observations(&mut tx, &obs_rows)
        .await
        .map_err(classify)?;
    let score_rows: Vec<_> = scores.iter().map(|(p, s)| (p.as_str(), s)).collect();
    store::upsert_scores(&mut tx, &score_rows)
        .await
        .map_err(classify)?;
    tx.commit().await.map_err(classify)?;
    Ok(())
}

/// One row per (project, session): the first environment wins within a batch.
fn dedupe_sessions<'a>(
    set: BTreeSet<(&'a str, &'a str, &'a str)>,
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

/// Usage and cost of a merged observation through the pricing service.
async fn derive(
    pricing: &Pricing,
    project_id: &str,
    o: &MergedObservation,
) -> Result<ObservationDerived, BatchError> {
    let input = UsageInput {
        model: o.model.as_deref(),
        usage: o.usage.as_ref(),
        usage_details: o.usage_details.as_ref(),
        cost_details: o.cost_details.as_ref(),
        input: o.input.as_ref(),
        output: o.output.as_ref(),
        level_is_error: o.level == "ERROR",
        model_parameters: o.model_parameters.as_ref(),
        metadata: Some(&o.metadata),
    };
    let out = pricing
        .derive(project_id, &input)
        .await
        .map_err(BatchError::Permanent)?;
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

    #[test]
    fn fallback_trace_ids_are_stable_uuids() {
        let a = fallback_trace_id("p", "o");
        assert_eq!(a, fallback_trace_id("p", "o"));
        assert_ne!(a, fallback_trace_id("p2", "o"));
        assert_eq!(uuid::Uuid::parse_str(&a).unwrap().get_version_num(), 4);
    }
}
