//! Property tests of the code that reads untrusted input without the database: the
//! ingestion event validator and the OTLP decoder and mapper. Whatever the input, they
//! must return (an event, a rejection, a decode error, a budget error) and never panic.
//! Run them alone with `cargo test --lib proptests`; `PROPTEST_CASES=10000` runs longer.

use proptest::prelude::*;
use serde_json::{json, Map, Value};

use crate::ingest::{event::validate_event, Access};
use crate::otel::{self, decode, Encoding};

/// Arbitrary JSON, biased towards the strings and shapes the validator looks at.
fn json_value() -> impl Strategy<Value = Value> {
    let interesting = prop_oneof![
        Just("2024-01-01T00:00:00Z".to_string()),
        Just("+275760-09-13T00:00:00.000Z".to_string()),
        Just("-271821-04-20T00:00:00Z".to_string()),
        Just("99999999999999999999".to_string()),
        Just("trace-create".to_string()),
        Just("generation-create".to_string()),
        Just("score-create".to_string()),
        Just("sdk-log".to_string()),
        Just("a\u{0}b".to_string()),
        Just("é\u{1F4A5}".to_string()),
        ".{0,12}",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        interesting.prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop_oneof![
                        Just("id".to_string()),
                        Just("timestamp".to_string()),
                        Just("type".to_string()),
                        Just("body".to_string()),
                        Just("traceId".to_string()),
                        Just("name".to_string()),
                        Just("value".to_string()),
                        Just("startTime".to_string()),
                        Just("usage".to_string()),
                        Just("usageDetails".to_string()),
                        Just("costDetails".to_string()),
                        Just("dataType".to_string()),
                        Just("level".to_string()),
                        "[a-zA-Z]{1,8}",
                    ],
                    inner
                ),
                0..8
            )
            .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// An envelope whose parts are arbitrary but whose type is a real one most of the time.
fn envelope() -> impl Strategy<Value = Value> {
    (
        prop_oneof![
            Just("trace-create"),
            Just("span-create"),
            Just("span-update"),
            Just("generation-create"),
            Just("generation-update"),
            Just("event-create"),
            Just("score-create"),
            Just("sdk-log"),
            Just("agent-create"),
            Just("nonsense"),
        ],
        json_value(),
        json_value(),
        json_value(),
    )
        .prop_map(|(ty, id, ts, body)| json!({"id": id, "timestamp": ts, "type": ty, "body": body}))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn proptest_validator_is_total(raw in prop_oneof![envelope(), json_value()]) {
        for access in [Access::Full, Access::ScoresOnly] {
            let _ = validate_event(&raw, access);
        }
    }

    #[test]
    fn proptest_otlp_protobuf_decoder_and_mapper_are_total(
        body in prop::collection::vec(any::<u8>(), 0..512)
    ) {
        if let Ok(export) = decode::decode(Encoding::Protobuf, &body) {
            if otel::check_budget(&export).is_ok() {
                let _ = otel::export_to_events(&export, chrono::Utc::now());
            }
        }
    }

    #[test]
    fn proptest_otlp_json_decoder_and_mapper_are_total(
        spans in prop::collection::vec(
            (json_value(), prop::collection::vec(("[a-z_.0-9]{1,24}", json_value()), 0..6)),
            0..4
        ),
        trace in "[0-9a-f]{0,34}",
    ) {
        let spans: Vec<Value> = spans
            .into_iter()
            .map(|(name, attrs)| json!({
                "traceId": trace,
                "spanId": "00f067aa0ba902b7",
                "name": name,
                "startTimeUnixNano": "1714564800000000000",
                "attributes": attrs
                    .into_iter()
                    .map(|(k, v)| json!({"key": k, "value": {"stringValue": v.to_string()}}))
                    .collect::<Vec<_>>(),
            }))
            .collect();
        let body = json!({"resourceSpans": [{"scopeSpans": [{"scope": {"name": "langfuse-sdk"}, "spans": spans}]}]});
        if let Ok(export) = decode::decode(Encoding::Json, body.to_string().as_bytes()) {
            if otel::check_budget(&export).is_ok() {
                let _ = otel::export_to_events(&export, chrono::Utc::now());
            }
        }
    }

    #[test]
    fn proptest_flattened_attribute_keys_stay_within_budget(
        keys in prop::collection::vec(
            prop::collection::vec(prop_oneof!["[0-9]{1,5}", "[a-z]{1,3}"], 1..5),
            1..64
        )
    ) {
        use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
        use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
        use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
        let attributes = keys
            .into_iter()
            .map(|segments| KeyValue {
                key: format!("gen_ai.prompt.{}", segments.join(".")),
                key_strindex: 0,
                value: Some(AnyValue { value: Some(any_value::Value::StringValue("v".into())) }),
            })
            .collect();
        let export = ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans: vec![Span {
                        trace_id: vec![1; 16],
                        span_id: vec![2; 8],
                        attributes,
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        if otel::check_budget(&export).is_ok() {
            let events = otel::export_to_events(&export, chrono::Utc::now());
            // The budget bounds what the rebuild allocates: the events stay small.
            let size: usize = events.iter().map(|e| e.to_string().len()).sum();
            prop_assert!(size < 64 * otel::map::MAX_FLATTENED_ELEMENTS);
        }
    }
}
