//! OpenTelemetry ingestion (COMPAT-NOTES §5): the pure part. `decode` turns an OTLP/HTTP
//! body (protobuf or OTLP/JSON, optionally gzipped) into opentelemetry-proto's
//! `ExportTraceServiceRequest`; `map` turns its spans into Langfuse ingestion events exactly
//! as Langfuse's OtelIngestionProcessor does, reading attributes through `attributes`
//! (value conversion, JavaScript semantics), `types` (observation type), `io`
//! (input/output) and `conventions` (everything else). The HTTP handler in `api::otel`
//! hands the events to `ingest::submit`, so OTLP and the ingestion API share one write
//! path and one merge. Nothing here touches the database.

pub mod attributes;
pub mod conventions;
pub mod decode;
pub mod io;
pub mod map;
pub mod types;

pub use decode::{DecodeError, Encoding};
pub use map::{check_budget, export_to_events, BudgetError};

#[cfg(test)]
mod tests;
