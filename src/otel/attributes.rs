//! OTLP attribute values as plain JSON, and the JavaScript-flavoured tests Langfuse's
//! mapper applies to them (truthiness, "meaningful value", `JSON.stringify`, `Number()`).
//! Everything in `conventions` and `map` reads attributes through these helpers so that
//! "is this attribute set?" means the same thing everywhere.

use opentelemetry_proto::tonic::common::v1::{any_value::Value as AnyKind, AnyValue, KeyValue};
use serde_json::{Map, Value};

/// Attributes of a span, resource, scope or span event: key → plain JSON value.
pub type Attrs = Map<String, Value>;

/// Converts OTLP key/value pairs to a map (a later duplicate key wins, as in Langfuse).
pub fn to_attrs(kvs: &[KeyValue]) -> Attrs {
    let mut out = Attrs::new();
    for kv in kvs {
        out.insert(kv.key.clone(), any_to_json(kv.value.as_ref()));
    }
    out
}

/// One OTLP `AnyValue` as Langfuse reads it (§5.2): strings, numbers, booleans and arrays
/// become plain JSON; non-finite doubles become `"NaN"`/`"Infinity"`/`"-Infinity"`;
/// key/value lists, bytes and empty values become the JSON text of their OTLP/JSON form.
pub fn any_to_json(value: Option<&AnyValue>) -> Value {
    match value.and_then(|v| v.value.as_ref()) {
        Some(AnyKind::StringValue(s)) => Value::String(s.clone()),
        Some(AnyKind::BoolValue(b)) => Value::Bool(*b),
        Some(AnyKind::IntValue(i)) => Value::from(*i),
        Some(AnyKind::DoubleValue(d)) => double_to_json(*d),
        Some(AnyKind::ArrayValue(a)) => {
            Value::Array(a.values.iter().map(|v| any_to_json(Some(v))).collect())
        }
        Some(AnyKind::KvlistValue(_))
        | Some(AnyKind::BytesValue(_))
        | Some(AnyKind::StringValueStrindex(_)) => {
            let raw = value.expect("matched a present value");
            Value::String(serde_json::to_string(raw).unwrap_or_else(|_| "{}".into()))
        }
        None => Value::String("{}".into()),
    }
}

fn double_to_json(d: f64) -> Value {
    if d.is_nan() {
        Value::String("NaN".into())
    } else if d.is_infinite() {
        Value::String(if d > 0.0 { "Infinity" } else { "-Infinity" }.into())
    } else {
        serde_json::Number::from_f64(d)
            .map(Value::Number)
            .unwrap_or(Value::Null)
    }
}

/// JavaScript truthiness: absent, `null`, `false`, `0`, `""` are false.
pub fn truthy(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_f64().is_some_and(|f| f != 0.0),
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Array(_)) | Some(Value::Object(_)) => true,
    }
}

/// Langfuse's `hasMeaningfulValue`: not absent, `null`, `""`, `[]` or `{}`.
pub fn meaningful(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => false,
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::Object(o)) => !o.is_empty(),
        Some(_) => true,
    }
}

/// The value when it is present and not `null` (JavaScript `??` semantics).
pub fn present(v: Option<&Value>) -> Option<&Value> {
    v.filter(|v| !v.is_null())
}

/// `typeof v === "string" ? v : JSON.stringify(v)`.
pub fn js_stringify(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// JavaScript `String(v)` / `v.toString()`: numbers without a trailing `.0`, arrays joined
/// with commas, objects as `[object Object]`.
pub fn js_to_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => i.to_string(),
            (None, Some(f)) if f.fract() == 0.0 && f.abs() < 1e21 => format!("{f:.0}"),
            (None, Some(f)) => f.to_string(),
            _ => n.to_string(),
        },
        Value::Array(a) => a
            .iter()
            .map(|x| {
                if x.is_null() {
                    String::new()
                } else {
                    js_to_string(x)
                }
            })
            .collect::<Vec<_>>()
            .join(","),
        Value::Object(_) => "[object Object]".into(),
    }
}

/// JavaScript `Number(v)`, `None` where that gives `NaN`.
pub fn js_number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
        Value::Null => Some(0.0),
        Value::String(s) => {
            let t = s.trim();
            if t.is_empty() {
                Some(0.0)
            } else {
                t.parse::<f64>().ok().filter(|f| f.is_finite())
            }
        }
        Value::Array(a) if a.is_empty() => Some(0.0),
        Value::Array(a) if a.len() == 1 => js_number(&a[0]),
        _ => None,
    }
}

/// A number as JSON, integral values as integers (token counts stay `12`, not `12.0`).
pub fn number_value(f: f64) -> Value {
    if f.fract() == 0.0 && f.abs() < 9.0e15 {
        Value::from(f as i64)
    } else {
        serde_json::Number::from_f64(f)
            .map(Value::Number)
            .unwrap_or(Value::Null)
    }
}

/// `JSON.parse` of a string attribute; non-strings are returned as they are.
pub fn parse_json_attr(v: &Value) -> Option<Value> {
    match v {
        Value::String(s) => serde_json::from_str(s).ok(),
        other => Some(other.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::{ArrayValue, KeyValueList};
    use serde_json::json;

    fn av(v: AnyKind) -> AnyValue {
        AnyValue { value: Some(v) }
    }

    #[test]
    fn any_values_convert_like_langfuse() {
        let cases: Vec<(AnyValue, Value)> = vec![
            (av(AnyKind::StringValue("x".into())), json!("x")),
            (av(AnyKind::IntValue(42)), json!(42)),
            (av(AnyKind::DoubleValue(0.5)), json!(0.5)),
            (av(AnyKind::DoubleValue(f64::NAN)), json!("NaN")),
            (
                av(AnyKind::DoubleValue(f64::NEG_INFINITY)),
                json!("-Infinity"),
            ),
            (av(AnyKind::BoolValue(true)), json!(true)),
            (
                av(AnyKind::ArrayValue(ArrayValue {
                    values: vec![
                        av(AnyKind::StringValue("a".into())),
                        av(AnyKind::IntValue(1)),
                    ],
                })),
                json!(["a", 1]),
            ),
            (AnyValue { value: None }, json!("{}")),
        ];
        for (input, expected) in cases {
            assert_eq!(any_to_json(Some(&input)), expected, "{input:?}");
        }
    }

    #[test]
    fn kvlist_becomes_json_text() {
        let v = av(AnyKind::KvlistValue(KeyValueList {
            values: vec![KeyValue {
                key: "k".into(),
                value: Some(av(AnyKind::StringValue("v".into()))),
                ..Default::default()
            }],
        }));
        let Value::String(text) = any_to_json(Some(&v)) else {
            panic!("kvlist must become a string");
        };
        let parsed: Value = serde_json::from_str(&text).expect("valid JSON text");
        assert_eq!(parsed["kvlistValue"]["values"][0]["key"], json!("k"));
    }

    #[test]
    fn javascript_semantics() {
        assert!(!truthy(Some(&json!(0))));
        assert!(!truthy(Some(&json!(""))));
        assert!(truthy(Some(&json!("0"))));
        assert!(truthy(Some(&json!([]))));
        assert!(meaningful(Some(&json!(0))));
        assert!(!meaningful(Some(&json!({}))));
        assert_eq!(js_to_string(&json!(1.0)), "1");
        assert_eq!(js_to_string(&json!(0.7)), "0.7");
        assert_eq!(js_to_string(&json!(["stop", "length"])), "stop,length");
        assert_eq!(js_number(&json!("12")), Some(12.0));
        assert_eq!(js_number(&json!("abc")), None);
        assert_eq!(number_value(12.0), json!(12));
        assert_eq!(js_stringify(&json!({"a": 1})), r#"{"a":1}"#);
    }
}
