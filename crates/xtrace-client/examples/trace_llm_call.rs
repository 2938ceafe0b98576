//! Traces a (fake) LLM call and pushes a GPU metric.
//!
//!     XTRACE_URL=http://127.0.0.1:8742 \
//!     XTRACE_PUBLIC_KEY=pk-lf-... XTRACE_SECRET_KEY=sk-lf-... \
//!     cargo run -p xtrace-client --example trace_llm_call
//!
//! Without the key pair, `XTRACE_TOKEN` (the server's `API_BEARER_TOKEN`) is used.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::json;
use xtrace_client::{Client, ExporterConfig, MetricPoint, TraceBody, Usage};

/// Stands in for a model call: answers after a short delay with token counts.
async fn fake_llm(prompt: &str) -> (String, Usage) {
    tokio::time::sleep(Duration::from_millis(120)).await;
    let answer = format!("You said: {prompt}");
    let input = prompt.split_whitespace().count() as u64;
    let output = answer.split_whitespace().count() as u64;
    (answer, Usage::tokens(input, output))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let url = std::env::var("XTRACE_URL").unwrap_or_else(|_| "http://127.0.0.1:8742".into());
    let client = match (
        std::env::var("XTRACE_PUBLIC_KEY"),
        std::env::var("XTRACE_SECRET_KEY"),
    ) {
        (Ok(pk), Ok(sk)) => Client::with_keys(&url, &pk, &sk)?,
        _ => Client::new(&url, &std::env::var("XTRACE_TOKEN")?)?,
    };
    let exporter = client.exporter(ExporterConfig::default().on_error(|e| {
        eprintln!("event {} not stored: {}", e.event_id, e.message);
    }));

    let question = "What is the capital of France?";
    let trace = exporter.trace_with(TraceBody {
        name: Some("qa".into()),
        user_id: Some("example-user".into()),
        input: Some(json!(question)),
        tags: Some(vec!["example".into()]),
        ..TraceBody::default()
    });
    let span = trace.span("pipeline");
    let generation = span.generation("llm", "gpt-4o-mini");
    generation.update(xtrace_client::ObservationBody {
        input: Some(json!([{"role": "user", "content": question}])),
        model_parameters: Some(
            json!({"temperature": 0.2})
                .as_object()
                .cloned()
                .unwrap_or_default(),
        ),
        ..Default::default()
    });
    let (answer, usage) = fake_llm(question).await;
    generation.end_with(json!({"role": "assistant", "content": answer}), usage);
    span.end();
    trace.end(json!(answer));
    trace.score("helpfulness", 0.9);

    // GPU telemetry of the node that served the call.
    let report = client
        .push_metrics(&[MetricPoint {
            name: "gpu_utilization".into(),
            labels: HashMap::from([
                ("node_id".into(), "node-1".into()),
                ("gpu_index".into(), "0".into()),
            ]),
            value: 87.5,
            timestamp: chrono::Utc::now(),
        }])
        .await?;
    println!("metrics: {} accepted", report.accepted);

    exporter.shutdown().await;
    let stats = exporter.stats();
    println!(
        "trace {}: {} events sent, {} failed, {} dropped",
        trace.id(),
        stats.sent,
        stats.failed,
        stats.dropped
    );
    let detail = client.get_trace(trace.id()).await?;
    println!(
        "stored: {} observations, total cost {:?} USD",
        detail.observations.len(),
        detail.total_cost
    );
    Ok(())
}
