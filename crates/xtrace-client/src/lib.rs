//! Rust client for [xtrace](https://github.com/lipish/xtrace) and any Langfuse server.
//!
//! - **Tracing**: typed Langfuse ingestion events ([`IngestionEvent`]) and a background
//!   batching [`Exporter`] (bounded buffer, flush by size and interval, retries with
//!   backoff and jitter, per-event errors surfaced), with handles to start a trace, nest
//!   spans and generations and end them with output and usage.
//! - **Read API**: traces, observations, sessions, scores, prompts (cached, with
//!   `{{variable}}` compilation), datasets and their items.
//! - **Time-series metrics** (xtrace only): GPU/node telemetry written with
//!   [`Client::push_metrics`] and read with [`Client::query_metrics`].
//!
//! No server dependency: HTTP is `reqwest` with rustls.
//!
//! # Authentication
//!
//! [`Client::new`] takes xtrace's admin bearer token (`API_BEARER_TOKEN`), which acts on
//! the server's default project. [`Client::with_keys`] takes a project key pair and sends
//! it as Basic auth, as the Langfuse SDKs do; it works with Langfuse Cloud and
//! self-hosted Langfuse too (the time-series metrics routes exist only on xtrace).
//!
//! # Quick start
//!
//! ```no_run
//! use xtrace_client::{Client, TraceListQuery};
//!
//! # async fn run() -> Result<(), xtrace_client::Error> {
//! let client = Client::new("http://127.0.0.1:8742/", "YOUR_TOKEN")?;
//! client.healthz().await?;
//!
//! let traces = client.list_traces(&TraceListQuery::default()).await?;
//! println!("{} traces on the first page", traces.data.len());
//!
//! let now = chrono::Utc::now();
//! client
//!     .push_metrics(&[xtrace_client::MetricPoint {
//!         name: "gpu_utilization".to_string(),
//!         labels: std::collections::HashMap::from([
//!             ("node_id".to_string(), "node-1".to_string()),
//!             ("gpu_index".to_string(), "0".to_string()),
//!         ]),
//!         value: 85.0,
//!         timestamp: now,
//!     }])
//!     .await?;
//! # Ok(()) }
//! ```
//!
//! # Tracing an LLM call
//!
//! ```no_run
//! use serde_json::json;
//! use xtrace_client::{Client, ExporterConfig, Usage};
//!
//! # async fn run() -> Result<(), xtrace_client::Error> {
//! let client = Client::with_keys("http://127.0.0.1:8742", "pk-lf-...", "sk-lf-...")?;
//! let exporter = client.exporter(ExporterConfig::default());
//!
//! let trace = exporter.trace("chat");
//! let span = trace.span("retrieve");
//! span.end_with_output(json!(["doc-1", "doc-2"]));
//! let generation = trace.generation("answer", "gpt-4o-mini");
//! generation.end_with(json!({"role": "assistant", "content": "hello"}), Usage::tokens(12, 3));
//! trace.end(json!("hello"));
//!
//! // Nothing above waited for the network; this waits for delivery.
//! exporter.shutdown().await;
//! assert_eq!(exporter.stats().failed, 0);
//! # Ok(()) }
//! ```
//!
//! # Prompts
//!
//! ```
//! use std::collections::HashMap;
//! use xtrace_client::{Prompt, PromptContent};
//!
//! let prompt = Prompt {
//!     prompt: PromptContent::Text("Translate {{text}} into {{ language }}.".into()),
//!     ..Prompt::default()
//! };
//! let vars = HashMap::from([("text", "hello"), ("language", "French")]);
//! assert_eq!(
//!     prompt.compile(&vars).as_text(),
//!     Some("Translate hello into French.")
//! );
//! ```
//!
//! Fetched prompts are cached for 60 s ([`ClientBuilder::prompt_cache_ttl`]):
//!
//! ```no_run
//! # async fn run(client: xtrace_client::Client) -> Result<(), xtrace_client::Error> {
//! use xtrace_client::PromptSelector;
//! let p = client.get_prompt("greeting", PromptSelector::Production).await?;
//! let staging = client
//!     .get_prompt("greeting", PromptSelector::Label("staging".into()))
//!     .await?;
//! let v1 = client.get_prompt("greeting", PromptSelector::Version(1)).await?;
//! # let _ = (p, staging, v1); Ok(()) }
//! ```

#![warn(missing_docs)]

mod client;
mod error;
pub mod events;
pub mod exporter;
mod handles;
pub mod prompts;
pub mod types;

pub use client::{Client, ClientBuilder, DEFAULT_PROMPT_CACHE_TTL, DEFAULT_TIMEOUT};
pub use error::Error;
pub use events::{
    new_id, EventKind, IngestionError, IngestionEvent, IngestionResponse, IngestionSuccess, Level,
    ObservationBody, ScoreBody, ScoreDataType, ScoreValue, TraceBody, Usage,
};
pub use exporter::{EventError, Exporter, ExporterConfig, ExporterStats};
pub use handles::{GenerationHandle, SpanHandle, TraceHandle};
pub use prompts::{
    compile_template, ChatItem, ChatMessage, CompiledPrompt, CreatePrompt, Prompt, PromptContent,
    PromptMeta, PromptSelector,
};
pub use types::*;

/// The README's examples, compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
