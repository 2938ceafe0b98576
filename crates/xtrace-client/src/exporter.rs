//! Background batching exporter of ingestion events.
//!
//! [`Exporter::enqueue`] never waits: it puts the event on a bounded buffer and returns.
//! A task sends the buffer to `POST /api/public/ingestion` when it holds
//! `max_batch_events` events or `flush_interval` has passed, one request at a time.
//! Requests answered 408/429/5xx, timeouts and connection failures are retried with
//! exponential backoff and jitter (honouring `Retry-After`); the envelope ids make a
//! retried batch harmless. Events the server refuses (the `errors` of its 207 answer) or
//! that fail after the last retry are counted, kept in [`Exporter::take_errors`] and
//! passed to the `on_error` callback. When the buffer is full, new events are dropped,
//! counted and logged rather than letting memory grow.

use std::collections::hash_map::RandomState;
use std::collections::VecDeque;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::Method;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::client::{api_error, Client};
use crate::error::retryable_status;
use crate::events::{IngestionEvent, IngestionResponse};

/// Most recent event errors kept for [`Exporter::take_errors`].
const MAX_KEPT_ERRORS: usize = 1000;

/// Callback receiving each event error.
pub type ErrorCallback = Arc<dyn Fn(&EventError) + Send + Sync>;

/// Settings of an [`Exporter`].
#[derive(Clone)]
pub struct ExporterConfig {
    /// Events per request, at most (default 100).
    pub max_batch_events: usize,
    /// Longest time an event waits before being sent (default 1 s).
    pub flush_interval: Duration,
    /// Events the buffer holds before new ones are dropped (default 10 000).
    pub buffer_capacity: usize,
    /// Retries of a failed request before its events are given up (default 6).
    pub max_retries: u32,
    /// First backoff (default 250 ms); doubles each retry.
    pub initial_backoff: Duration,
    /// Longest backoff, also the cap on `Retry-After` (default 10 s).
    pub max_backoff: Duration,
    /// Called for every event the server refused or that could not be delivered.
    pub on_error: Option<ErrorCallback>,
}

impl Default for ExporterConfig {
    fn default() -> Self {
        Self {
            max_batch_events: 100,
            flush_interval: Duration::from_secs(1),
            buffer_capacity: 10_000,
            max_retries: 6,
            initial_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(10),
            on_error: None,
        }
    }
}

impl std::fmt::Debug for ExporterConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExporterConfig")
            .field("max_batch_events", &self.max_batch_events)
            .field("flush_interval", &self.flush_interval)
            .field("buffer_capacity", &self.buffer_capacity)
            .field("max_retries", &self.max_retries)
            .field("initial_backoff", &self.initial_backoff)
            .field("max_backoff", &self.max_backoff)
            .field("on_error", &self.on_error.as_ref().map(|_| "Fn"))
            .finish()
    }
}

impl ExporterConfig {
    /// Sets the error callback.
    pub fn on_error(mut self, f: impl Fn(&EventError) + Send + Sync + 'static) -> Self {
        self.on_error = Some(Arc::new(f));
        self
    }
}

/// An event that was not stored.
#[derive(Debug, Clone, PartialEq)]
pub struct EventError {
    /// Envelope id of the event.
    pub event_id: String,
    /// The event's status in the 207 answer, or the request's status when the whole
    /// request failed; `None` for transport failures (timeout, connection refused).
    pub status: Option<u16>,
    /// Why.
    pub message: String,
}

/// Counters of an [`Exporter`] (a snapshot).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExporterStats {
    /// Events accepted by `enqueue`.
    pub enqueued: u64,
    /// Events the server reported as stored.
    pub sent: u64,
    /// Events the server refused, or given up after the last retry.
    pub failed: u64,
    /// Events dropped because the buffer was full or the exporter shut down.
    pub dropped: u64,
    /// Requests retried.
    pub retries: u64,
    /// Requests that got an answer with per-event results.
    pub batches: u64,
}

#[derive(Default)]
struct Counters {
    enqueued: AtomicU64,
    sent: AtomicU64,
    failed: AtomicU64,
    dropped: AtomicU64,
    retries: AtomicU64,
    batches: AtomicU64,
}

struct Shared {
    counters: Counters,
    errors: Mutex<VecDeque<EventError>>,
    on_error: Option<ErrorCallback>,
}

impl Shared {
    fn report(&self, e: EventError) {
        self.counters.failed.fetch_add(1, Ordering::Relaxed);
        if let Some(cb) = &self.on_error {
            cb(&e);
        }
        let mut errors = self.errors.lock().unwrap_or_else(|p| p.into_inner());
        if errors.len() == MAX_KEPT_ERRORS {
            errors.pop_front();
        }
        errors.push_back(e);
    }
}

enum Msg {
    Event(Box<IngestionEvent>),
    Flush(oneshot::Sender<()>),
    Shutdown(oneshot::Sender<()>),
}

/// Batching exporter; see the [module docs](self). Cheap to clone (clones feed the same
/// buffer). Dropping every clone flushes what is buffered in the background; call
/// [`Exporter::shutdown`] to wait for it.
#[derive(Clone)]
pub struct Exporter {
    tx: mpsc::Sender<Msg>,
    shared: Arc<Shared>,
    task: Arc<Mutex<Option<JoinHandle<()>>>>,
}

impl std::fmt::Debug for Exporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exporter")
            .field("stats", &self.stats())
            .finish()
    }
}

impl Exporter {
    pub(crate) fn spawn(client: Client, config: ExporterConfig) -> Self {
        let capacity = config.buffer_capacity.max(1);
        let (tx, rx) = mpsc::channel(capacity);
        let shared = Arc::new(Shared {
            counters: Counters::default(),
            errors: Mutex::new(VecDeque::new()),
            on_error: config.on_error.clone(),
        });
        let worker = Worker {
            client,
            config,
            shared: shared.clone(),
            rng: Rng::new(),
        };
        let task = tokio::spawn(worker.run(rx));
        Self {
            tx,
            shared,
            task: Arc::new(Mutex::new(Some(task))),
        }
    }

    /// Queues an event without waiting. Returns `false` (and counts it in `dropped`)
    /// when the buffer is full or the exporter has shut down.
    pub fn enqueue(&self, event: IngestionEvent) -> bool {
        match self.tx.try_send(Msg::Event(Box::new(event))) {
            Ok(()) => {
                self.shared
                    .counters
                    .enqueued
                    .fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(e) => {
                let n = self.shared.counters.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                let why = match e {
                    mpsc::error::TrySendError::Full(_) => "buffer full",
                    mpsc::error::TrySendError::Closed(_) => "exporter shut down",
                };
                // One line for the first drop, then one per 1000, so a stuck server
                // cannot flood the log.
                if n == 1 || n.is_multiple_of(1000) {
                    tracing::warn!(dropped_total = n, "xtrace-client: event dropped ({why})");
                }
                false
            }
        }
    }

    /// Sends everything queued before this call and waits until the server answered
    /// (or the retries are exhausted).
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Msg::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }

    /// Flushes, then stops the background task; later `enqueue` calls drop their event.
    /// Waits for the task to end.
    pub async fn shutdown(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Msg::Shutdown(done)).await.is_ok() {
            let _ = wait.await;
        }
        let task = self.task.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(t) = task {
            let _ = t.await;
        }
    }

    /// The counters.
    pub fn stats(&self) -> ExporterStats {
        let c = &self.shared.counters;
        ExporterStats {
            enqueued: c.enqueued.load(Ordering::Relaxed),
            sent: c.sent.load(Ordering::Relaxed),
            failed: c.failed.load(Ordering::Relaxed),
            dropped: c.dropped.load(Ordering::Relaxed),
            retries: c.retries.load(Ordering::Relaxed),
            batches: c.batches.load(Ordering::Relaxed),
        }
    }

    /// Takes the event errors recorded so far (the latest 1000).
    pub fn take_errors(&self) -> Vec<EventError> {
        let mut errors = self.shared.errors.lock().unwrap_or_else(|p| p.into_inner());
        errors.drain(..).collect()
    }
}

struct Worker {
    client: Client,
    config: ExporterConfig,
    shared: Arc<Shared>,
    rng: Rng,
}

impl Worker {
    async fn run(mut self, mut rx: mpsc::Receiver<Msg>) {
        let max = self.config.max_batch_events.max(1);
        let mut buf: Vec<IngestionEvent> = Vec::with_capacity(max);
        let mut tick =
            tokio::time::interval(self.config.flush_interval.max(Duration::from_millis(1)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tokio::select! {
                msg = rx.recv() => match msg {
                    Some(Msg::Event(e)) => {
                        buf.push(*e);
                        if buf.len() >= max {
                            self.send_all(&mut buf).await;
                            tick.reset();
                        }
                    }
                    Some(Msg::Flush(done)) => {
                        self.send_all(&mut buf).await;
                        let _ = done.send(());
                    }
                    Some(Msg::Shutdown(done)) => {
                        rx.close();
                        // Events queued before the close are still delivered.
                        while let Ok(m) = rx.try_recv() {
                            match m {
                                Msg::Event(e) => buf.push(*e),
                                Msg::Flush(d) | Msg::Shutdown(d) => { let _ = d.send(()); }
                            }
                        }
                        self.send_all(&mut buf).await;
                        let _ = done.send(());
                        return;
                    }
                    None => {
                        self.send_all(&mut buf).await;
                        return;
                    }
                },
                _ = tick.tick() => self.send_all(&mut buf).await,
            }
        }
    }

    async fn send_all(&mut self, buf: &mut Vec<IngestionEvent>) {
        let max = self.config.max_batch_events.max(1);
        while !buf.is_empty() {
            let rest = buf.split_off(buf.len().min(max));
            let batch = std::mem::replace(buf, rest);
            self.send_batch(batch).await;
        }
    }

    /// Sends one batch, retrying what may succeed later; every event ends as sent or
    /// reported.
    async fn send_batch(&mut self, batch: Vec<IngestionEvent>) {
        let body = serde_json::json!({ "batch": batch });
        let mut attempt: u32 = 0;
        loop {
            let req = self
                .client
                .request(Method::POST, &["api", "public", "ingestion"])
                .json(&body);
            let failure = match req.send().await {
                Ok(res) => {
                    let status = res.status().as_u16();
                    let retry_after = res
                        .headers()
                        .get(reqwest::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<u64>().ok())
                        .map(Duration::from_secs);
                    match res.bytes().await {
                        Ok(bytes) if (200..300).contains(&status) => {
                            self.record_answer(&batch, &bytes);
                            return;
                        }
                        Ok(bytes) => {
                            let err = api_error(status, &bytes);
                            if status == 413 && batch.len() > 1 {
                                // Too large: send the halves separately.
                                let mut first = batch;
                                let second = first.split_off(first.len() / 2);
                                Box::pin(self.send_batch(first)).await;
                                Box::pin(self.send_batch(second)).await;
                                return;
                            }
                            if !retryable_status(status) {
                                self.fail_all(&batch, Some(status), &err.to_string());
                                return;
                            }
                            (Some(status), err.to_string(), retry_after)
                        }
                        Err(e) => (Some(status), e.to_string(), retry_after),
                    }
                }
                Err(e) => (None, e.to_string(), None),
            };
            let (status, message, retry_after) = failure;
            if attempt >= self.config.max_retries {
                tracing::warn!(
                    events = batch.len(),
                    attempts = attempt + 1,
                    "xtrace-client: giving up on an ingestion batch: {message}"
                );
                self.fail_all(&batch, status, &message);
                return;
            }
            let wait = self.backoff(attempt, retry_after);
            tracing::debug!(
                attempt,
                ?wait,
                "xtrace-client: ingestion failed, retrying: {message}"
            );
            self.shared.counters.retries.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    fn record_answer(&self, batch: &[IngestionEvent], bytes: &[u8]) {
        self.shared.counters.batches.fetch_add(1, Ordering::Relaxed);
        let answer: IngestionResponse = match serde_json::from_slice(bytes) {
            Ok(a) => a,
            Err(_) => {
                // A 2xx without the 207 body: the server took the request as a whole.
                self.shared
                    .counters
                    .sent
                    .fetch_add(batch.len() as u64, Ordering::Relaxed);
                return;
            }
        };
        self.shared
            .counters
            .sent
            .fetch_add(answer.successes.len() as u64, Ordering::Relaxed);
        for e in answer.errors {
            let mut message = e.message.unwrap_or_else(|| "refused".into());
            match e.error {
                Some(serde_json::Value::String(s)) => message = format!("{message}: {s}"),
                Some(serde_json::Value::Null) | None => {}
                Some(v) => message = format!("{message}: {v}"),
            }
            tracing::warn!(event_id = %e.id, status = e.status, "xtrace-client: event refused: {message}");
            self.shared.report(EventError {
                event_id: e.id,
                status: Some(e.status),
                message,
            });
        }
    }

    fn fail_all(&self, batch: &[IngestionEvent], status: Option<u16>, message: &str) {
        tracing::warn!(
            events = batch.len(),
            ?status,
            "xtrace-client: ingestion batch not delivered: {message}"
        );
        for ev in batch {
            self.shared.report(EventError {
                event_id: ev.id.clone(),
                status,
                message: message.to_string(),
            });
        }
    }

    /// `initial × 2^attempt` capped at `max_backoff`, with jitter in [½, 1] of it; a
    /// `Retry-After` (capped likewise) is a lower bound.
    fn backoff(&mut self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let cap = self.config.max_backoff;
        let base = self
            .config
            .initial_backoff
            .saturating_mul(1u32 << attempt.min(20))
            .min(cap);
        let jittered = base.mul_f64(0.5 + 0.5 * self.rng.unit());
        match retry_after {
            Some(ra) => jittered.max(ra.min(cap)),
            None => jittered,
        }
    }
}

/// Small xorshift generator seeded from the process's random hasher keys; enough for
/// jitter, and no extra dependency.
struct Rng(u64);

impl Rng {
    fn new() -> Self {
        let mut h = RandomState::new().build_hasher();
        h.write_u64(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0),
        );
        Self(h.finish() | 1)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        (x >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_is_capped_and_jittered() {
        let client = Client::new("http://127.0.0.1:9/", "t").unwrap();
        let mut w = Worker {
            client,
            config: ExporterConfig {
                initial_backoff: Duration::from_millis(100),
                max_backoff: Duration::from_secs(1),
                ..ExporterConfig::default()
            },
            shared: Arc::new(Shared {
                counters: Counters::default(),
                errors: Mutex::new(VecDeque::new()),
                on_error: None,
            }),
            rng: Rng::new(),
        };
        for _ in 0..100 {
            let b0 = w.backoff(0, None);
            assert!(b0 >= Duration::from_millis(50) && b0 <= Duration::from_millis(100));
            let b3 = w.backoff(3, None);
            assert!(b3 >= Duration::from_millis(400) && b3 <= Duration::from_millis(800));
            let b9 = w.backoff(9, None);
            assert!(b9 >= Duration::from_millis(500) && b9 <= Duration::from_secs(1));
            let ra = w.backoff(0, Some(Duration::from_secs(30)));
            assert_eq!(ra, Duration::from_secs(1));
        }
        let distinct: std::collections::HashSet<_> = (0..20).map(|_| w.backoff(2, None)).collect();
        assert!(distinct.len() > 1, "backoff is jittered");
    }
}
