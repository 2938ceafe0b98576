//! OTLP/HTTP request bodies → `ExportTraceServiceRequest` (COMPAT-NOTES §5.1): optional
//! gzip, then protobuf (`application/x-protobuf`, what the Python SDK sends) or OTLP/JSON
//! (`application/json`, what the JS SDK sends).
//!
//! OTLP/JSON is read with opentelemetry-proto's serde support after a normalisation pass
//! on the JSON tree, because Langfuse accepts more than the crate does: ids as byte arrays
//! or Node `{"type":"Buffer","data":[…]}` objects, upper-case hex, `null` fields, and
//! nanosecond timestamps as floats or protobufjs `{low, high}` longs. The same pass checks
//! the structure Langfuse checks (arrays where arrays belong, ids present) so a wrong
//! payload, typically OTLP logs posted to the traces URL, gets Langfuse's 400.

use std::io::Read;

use flate2::read::MultiGzDecoder;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use serde_json::{Map, Value};

/// Which OTLP encoding a request uses (and its answer must use).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// `application/x-protobuf`.
    Protobuf,
    /// `application/json` (OTLP/JSON).
    Json,
}

impl Encoding {
    /// The encoding named by a `Content-Type` header, as loosely as Langfuse matches it
    /// (`application/json; charset=utf-8` is JSON).
    pub fn from_content_type(content_type: Option<&str>) -> Option<Self> {
        let ct = content_type?.to_ascii_lowercase();
        if ct.contains("application/x-protobuf") {
            Some(Encoding::Protobuf)
        } else if ct.contains("application/json") {
            Some(Encoding::Json)
        } else {
            None
        }
    }
}

/// Why a body was rejected; each maps to Langfuse's `400 {"error": …}` text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Neither protobuf nor JSON.
    #[error("Invalid content type")]
    InvalidContentType,
    /// `Content-Encoding: gzip` but the body is not gzip.
    #[error("Failed to decompress request body")]
    Decompress,
    /// The decompressed body exceeds the limit.
    #[error("decompressed body exceeds {limit} bytes")]
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// Not a protobuf `ExportTraceServiceRequest`.
    #[error("Failed to parse OTel Protobuf Trace")]
    Protobuf,
    /// Not JSON.
    #[error("Failed to parse OTel JSON Trace")]
    Json,
    /// Decodable, but not a trace export (missing ids, wrong shapes).
    #[error("Invalid OTLP trace export: {0}")]
    Invalid(String),
}

/// Whether a `Content-Encoding` header asks for gunzip.
pub fn is_gzip(content_encoding: Option<&str>) -> bool {
    content_encoding.is_some_and(|e| e.to_ascii_lowercase().contains("gzip"))
}

/// Gunzips `body`, refusing output larger than `limit` bytes.
pub fn gunzip(body: &[u8], limit: usize) -> Result<Vec<u8>, DecodeError> {
    let mut out = Vec::new();
    let mut reader = MultiGzDecoder::new(body).take(limit as u64 + 1);
    reader
        .read_to_end(&mut out)
        .map_err(|_| DecodeError::Decompress)?;
    if out.len() > limit {
        return Err(DecodeError::TooLarge { limit });
    }
    Ok(out)
}

/// Decodes a (decompressed) body in `encoding` and checks its structure.
pub fn decode(encoding: Encoding, body: &[u8]) -> Result<ExportTraceServiceRequest, DecodeError> {
    let request = match encoding {
        Encoding::Protobuf => {
            ExportTraceServiceRequest::decode(body).map_err(|_| DecodeError::Protobuf)?
        }
        Encoding::Json => decode_json(body)?,
    };
    check_ids(&request)?;
    Ok(request)
}

fn decode_json(body: &[u8]) -> Result<ExportTraceServiceRequest, DecodeError> {
    let mut root: Value = serde_json::from_slice(body).map_err(|_| DecodeError::Json)?;
    let Value::Object(obj) = &mut root else {
        return Err(DecodeError::Json);
    };
    strip_nulls_in_map(obj);
    normalise_export(obj)?;
    serde_json::from_value(root).map_err(|e| DecodeError::Invalid(e.to_string()))
}

fn strip_nulls_in_map(obj: &mut Map<String, Value>) {
    obj.retain(|_, v| !v.is_null());
    for v in obj.values_mut() {
        strip_nulls(v);
    }
}

fn strip_nulls(v: &mut Value) {
    match v {
        Value::Object(o) => strip_nulls_in_map(o),
        Value::Array(a) => a.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}

fn invalid(msg: impl Into<String>) -> DecodeError {
    DecodeError::Invalid(msg.into())
}

fn array_field<'a>(
    obj: &'a mut Map<String, Value>,
    key: &str,
    at: &str,
) -> Result<Option<&'a mut Vec<Value>>, DecodeError> {
    match obj.get_mut(key) {
        None => Ok(None),
        Some(Value::Array(a)) => Ok(Some(a)),
        Some(_) => Err(invalid(format!("{at}.{key} must be an array"))),
    }
}

fn object<'a>(v: &'a mut Value, at: &str) -> Result<&'a mut Map<String, Value>, DecodeError> {
    v.as_object_mut()
        .ok_or_else(|| invalid(format!("{at} must be an object")))
}

fn normalise_export(root: &mut Map<String, Value>) -> Result<(), DecodeError> {
    let Some(resource_spans) = array_field(root, "resourceSpans", "export")? else {
        return Ok(());
    };
    for (r, rs) in resource_spans.iter_mut().enumerate() {
        let at = format!("resourceSpans[{r}]");
        let rs = object(rs, &at)?;
        if let Some(resource) = rs.get_mut("resource") {
            let resource = object(resource, &format!("{at}.resource"))?;
            check_attributes(resource, &format!("{at}.resource"))?;
        }
        let Some(scope_spans) = array_field(rs, "scopeSpans", &at)? else {
            continue;
        };
        for (s, ss) in scope_spans.iter_mut().enumerate() {
            let at = format!("{at}.scopeSpans[{s}]");
            let ss = object(ss, &at)?;
            if let Some(scope) = ss.get_mut("scope") {
                let scope = object(scope, &format!("{at}.scope"))?;
                check_attributes(scope, &format!("{at}.scope"))?;
            }
            let Some(spans) = array_field(ss, "spans", &at)? else {
                continue;
            };
            for (i, span) in spans.iter_mut().enumerate() {
                normalise_span(
                    object(span, &format!("{at}.spans[{i}]"))?,
                    &format!("{at}.spans[{i}]"),
                )?;
            }
        }
    }
    Ok(())
}

fn check_attributes(obj: &mut Map<String, Value>, at: &str) -> Result<(), DecodeError> {
    if let Some(attrs) = array_field(obj, "attributes", at)? {
        for (i, kv) in attrs.iter().enumerate() {
            let ok = kv
                .as_object()
                .is_some_and(|o| o.get("key").is_some_and(Value::is_string));
            if !ok {
                return Err(invalid(format!(
                    "{at}.attributes[{i}] must be a {{key, value}} object"
                )));
            }
        }
    }
    Ok(())
}

fn normalise_span(span: &mut Map<String, Value>, at: &str) -> Result<(), DecodeError> {
    for key in ["traceId", "spanId"] {
        let Some(id) = span.get(key) else {
            return Err(invalid(format!("{at}.{key} is required")));
        };
        let hex = id_to_hex(id).ok_or_else(|| invalid(format!("{at}.{key} is not a valid id")))?;
        span.insert(key.into(), Value::String(hex));
    }
    if let Some(parent) = span.get("parentSpanId") {
        let hex = id_to_hex(parent)
            .ok_or_else(|| invalid(format!("{at}.parentSpanId is not a valid id")))?;
        span.insert("parentSpanId".into(), Value::String(hex));
    }
    for key in ["startTimeUnixNano", "endTimeUnixNano"] {
        normalise_nanos(span, key);
    }
    check_attributes(span, at)?;
    for list in ["events", "links"] {
        if let Some(items) = array_field(span, list, at)? {
            for (i, item) in items.iter_mut().enumerate() {
                let at = format!("{at}.{list}[{i}]");
                let item = object(item, &at)?;
                check_attributes(item, &at)?;
                normalise_nanos(item, "timeUnixNano");
                for id_key in ["traceId", "spanId"] {
                    if let Some(hex) = item.get(id_key).and_then(id_to_hex) {
                        item.insert(id_key.into(), Value::String(hex));
                    } else {
                        item.remove(id_key);
                    }
                }
            }
        }
    }
    if let Some(status) = span.get("status") {
        if !status.is_object() {
            return Err(invalid(format!("{at}.status must be an object")));
        }
    }
    Ok(())
}

/// A span id in any form Langfuse accepts, as lowercase hex; `None` when unusable.
fn id_to_hex(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => {
            let s = s.trim().to_ascii_lowercase();
            (s.len() % 2 == 0 && s.bytes().all(|b| b.is_ascii_hexdigit())).then_some(s)
        }
        Value::Array(items) => bytes_to_hex(items),
        Value::Object(o) => match o.get("data") {
            Some(Value::Array(items)) => bytes_to_hex(items),
            _ => None,
        },
        _ => None,
    }
}

fn bytes_to_hex(items: &[Value]) -> Option<String> {
    let bytes: Option<Vec<u8>> = items
        .iter()
        .map(|b| b.as_u64().and_then(|n| u8::try_from(n).ok()))
        .collect();
    bytes.map(hex::encode)
}

/// Nanosecond timestamps as decimal strings (the crate also takes integers, not floats
/// or `{low, high}` longs); anything unreadable is dropped and resolved like a missing one.
fn normalise_nanos(obj: &mut Map<String, Value>, key: &str) {
    let Some(v) = obj.get(key) else { return };
    let nanos: Option<u64> = match v {
        Value::Number(n) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| *f >= 0.0 && f.is_finite())
                .map(|f| f as u64)
        }),
        Value::String(s) => s.trim().parse::<u64>().ok(),
        Value::Object(o) => {
            let high = o.get("high").and_then(Value::as_i64);
            let low = o.get("low").and_then(Value::as_i64);
            match (high, low) {
                (Some(h), Some(l)) => Some(((h as u64) << 32) | (l as u64 & 0xffff_ffff)),
                _ => None,
            }
        }
        _ => None,
    };
    match nanos {
        Some(n) => {
            obj.insert(key.into(), Value::String(n.to_string()));
        }
        None => {
            obj.remove(key);
        }
    }
}

fn check_ids(request: &ExportTraceServiceRequest) -> Result<(), DecodeError> {
    for rs in &request.resource_spans {
        for ss in &rs.scope_spans {
            for span in &ss.spans {
                if span.trace_id.is_empty() {
                    return Err(invalid("span traceId is required"));
                }
                if span.span_id.is_empty() {
                    return Err(invalid("span spanId is required"));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::GzEncoder;
    use flate2::Compression;
    use std::io::Write;

    const TRACE: &str = "0af7651916cd43dd8448eb211c80319c";
    const SPAN: &str = "b7ad6b7169203331";

    fn json_export(span: Value) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "resourceSpans": [{
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "svc"}}]},
                "scopeSpans": [{"scope": {"name": "s"}, "spans": [span]}]
            }]
        }))
        .unwrap()
    }

    #[test]
    fn content_types_are_matched_loosely() {
        let cases = [
            (Some("application/json"), Some(Encoding::Json)),
            (
                Some("application/json; charset=utf-8"),
                Some(Encoding::Json),
            ),
            (Some("Application/X-Protobuf"), Some(Encoding::Protobuf)),
            (Some("text/plain"), None),
            (None, None),
        ];
        for (ct, expected) in cases {
            assert_eq!(Encoding::from_content_type(ct), expected, "{ct:?}");
        }
    }

    #[test]
    fn otlp_json_with_hex_ids_and_string_nanos() {
        let body = json_export(serde_json::json!({
            "traceId": TRACE, "spanId": SPAN, "parentSpanId": "",
            "name": "n", "kind": 1,
            "startTimeUnixNano": "1700000000123456789", "endTimeUnixNano": 1700000001000000000u64,
            "attributes": [
                {"key": "i", "value": {"intValue": "7"}},
                {"key": "d", "value": {"doubleValue": 0.5}},
                {"key": "a", "value": {"arrayValue": {"values": [{"stringValue": "x"}]}}}
            ],
            "status": {"code": 2, "message": "boom"}
        }));
        let req = decode(Encoding::Json, &body).expect("valid OTLP/JSON");
        let span = &req.resource_spans[0].scope_spans[0].spans[0];
        assert_eq!(hex::encode(&span.trace_id), TRACE);
        assert_eq!(hex::encode(&span.span_id), SPAN);
        assert!(span.parent_span_id.is_empty());
        assert_eq!(span.start_time_unix_nano, 1_700_000_000_123_456_789);
        assert_eq!(span.end_time_unix_nano, 1_700_000_001_000_000_000);
        assert_eq!(span.attributes.len(), 3);
        assert_eq!(span.status.as_ref().unwrap().code, 2);
    }

    #[test]
    fn json_ids_as_buffers_arrays_and_upper_case() {
        let trace_bytes: Vec<Value> = hex::decode(TRACE)
            .unwrap()
            .into_iter()
            .map(Value::from)
            .collect();
        let body = json_export(serde_json::json!({
            "traceId": {"type": "Buffer", "data": trace_bytes},
            "spanId": SPAN.to_uppercase(),
            "parentSpanId": [1, 2, 3, 4, 5, 6, 7, 8],
            "startTimeUnixNano": {"low": 1, "high": 1},
            "name": null
        }));
        let req = decode(Encoding::Json, &body).expect("accepted forms");
        let span = &req.resource_spans[0].scope_spans[0].spans[0];
        assert_eq!(hex::encode(&span.trace_id), TRACE);
        assert_eq!(hex::encode(&span.span_id), SPAN);
        assert_eq!(hex::encode(&span.parent_span_id), "0102030405060708");
        assert_eq!(span.start_time_unix_nano, (1u64 << 32) | 1);
    }

    #[test]
    fn invalid_exports_are_rejected_with_a_reason() {
        let unparsable: Vec<(&str, Vec<u8>)> = vec![
            ("not json", b"{nope".to_vec()),
            ("json array", b"[]".to_vec()),
        ];
        for (name, body) in unparsable {
            assert_eq!(
                decode(Encoding::Json, &body).unwrap_err(),
                DecodeError::Json,
                "{name}"
            );
        }
        let invalid: Vec<(&str, Value)> = vec![
            (
                "missing span id",
                serde_json::json!({"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": TRACE}]}]}]}),
            ),
            (
                "attributes as a map",
                serde_json::json!({"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": TRACE, "spanId": SPAN, "attributes": {"a": 1}}]}]}]}),
            ),
            (
                "non-hex id",
                serde_json::json!({"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "zz", "spanId": SPAN}]}]}]}),
            ),
            (
                "scopeSpans as an object",
                serde_json::json!({"resourceSpans": [{"scopeSpans": {"spans": []}}]}),
            ),
            (
                "resourceSpans as a string",
                serde_json::json!({"resourceSpans": "x"}),
            ),
            (
                "events as an object",
                serde_json::json!({"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": TRACE, "spanId": SPAN, "events": {}}]}]}]}),
            ),
        ];
        for (name, body) in invalid {
            let got = decode(Encoding::Json, &serde_json::to_vec(&body).unwrap());
            assert!(
                matches!(got, Err(DecodeError::Invalid(_))),
                "{name}: {got:?}"
            );
        }
        // No resourceSpans at all (e.g. an empty logs export): an empty export, as Langfuse.
        let empty = decode(Encoding::Json, br#"{"resourceLogs":[]}"#).expect("empty export");
        assert!(empty.resource_spans.is_empty());
    }

    #[test]
    fn protobuf_garbage_and_missing_ids() {
        assert_eq!(
            decode(Encoding::Protobuf, b"\xff\xff\xff garbage").unwrap_err(),
            DecodeError::Protobuf
        );
        use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
        let req = ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans: vec![Span {
                        trace_id: vec![1; 16],
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        assert!(matches!(
            decode(Encoding::Protobuf, &req.encode_to_vec()),
            Err(DecodeError::Invalid(_))
        ));
    }

    #[test]
    fn gunzip_round_trip_limit_and_garbage() {
        let mut enc = GzEncoder::new(Vec::new(), Compression::default());
        enc.write_all(&[b'a'; 1000]).unwrap();
        let gz = enc.finish().unwrap();
        assert_eq!(gunzip(&gz, 1000).unwrap().len(), 1000);
        assert_eq!(
            gunzip(&gz, 999).unwrap_err(),
            DecodeError::TooLarge { limit: 999 }
        );
        assert_eq!(
            gunzip(b"not gzip", 100).unwrap_err(),
            DecodeError::Decompress
        );
    }
}
