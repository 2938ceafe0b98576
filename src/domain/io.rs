//! Rendering of stored free-form values on the read side, as Langfuse does it: `input`,
//! `output` and each top-level metadata value were strings in Langfuse's store and are
//! `JSON.parse`d on read when possible. Ours are JSONB, so only JSON *strings* are
//! candidates: a string that parses as JSON comes back parsed, any other value unchanged.

use serde_json::Value;

/// Renders `input`/`output`: a JSON string holding JSON text becomes that value.
pub fn render(v: Option<Value>) -> Value {
    match v {
        None => Value::Null,
        Some(Value::String(s)) => parse_or_string(s),
        Some(other) => other,
    }
}

/// Renders metadata: each top-level string value that holds JSON text is parsed.
/// Non-object metadata (not written by our ingestion) is returned as is.
pub fn render_metadata(v: Option<Value>) -> Value {
    match v {
        Some(Value::Object(map)) => Value::Object(
            map.into_iter()
                .map(|(k, v)| match v {
                    Value::String(s) => (k, parse_or_string(s)),
                    other => (k, other),
                })
                .collect(),
        ),
        Some(other) => other,
        None => Value::Object(Default::default()),
    }
}

fn parse_or_string(s: String) -> Value {
    // JSON.parse accepts surrounding whitespace; serde_json does too.
    match serde_json::from_str::<Value>(&s) {
        Ok(parsed) => parsed,
        Err(_) => Value::String(s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strings_holding_json_come_back_parsed() {
        assert_eq!(render(Some(json!("{\"a\":1}"))), json!({"a": 1}));
        assert_eq!(render(Some(json!("123"))), json!(123));
        assert_eq!(render(Some(json!("true"))), json!(true));
        assert_eq!(render(Some(json!("[1, 2]"))), json!([1, 2]));
    }

    #[test]
    fn plain_strings_and_structures_are_unchanged() {
        assert_eq!(render(Some(json!("hello"))), json!("hello"));
        assert_eq!(render(Some(json!({"k": "1"}))), json!({"k": "1"}));
        assert_eq!(render(None), Value::Null);
    }

    #[test]
    fn metadata_values_are_parsed_one_level_deep() {
        let m = render_metadata(Some(json!({"a": "1", "b": "x", "c": {"d": "2"}})));
        assert_eq!(m, json!({"a": 1, "b": "x", "c": {"d": "2"}}));
        assert_eq!(render_metadata(None), json!({}));
    }
}
