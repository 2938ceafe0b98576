//! Read-side projections of stored usage and cost maps (COMPAT-NOTES §4.7 item 6):
//! `input` = sum of keys containing "input" (None when there is none), `output` likewise,
//! `total` = the `total` key or 0. Langfuse's observations API derives `promptTokens`,
//! `completionTokens`, `totalTokens` and `calculated*Cost` this way.

use serde_json::Value;

/// Input/output/total reduced from a usage or cost map.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Reduced {
    /// Sum of keys containing "input", if any.
    pub input: Option<f64>,
    /// Sum of keys containing "output", if any.
    pub output: Option<f64>,
    /// The `total` key, 0 when absent.
    pub total: f64,
}

/// Reduces a stored `{key: number}` map (non-numeric entries are ignored).
pub fn reduce(details: &Value) -> Reduced {
    let Some(map) = details.as_object() else {
        return Reduced::default();
    };
    let sum = |needle: &str| {
        map.iter()
            .filter(|(k, _)| k.contains(needle))
            .filter_map(|(_, v)| v.as_f64())
            .fold(None, |acc: Option<f64>, v| Some(acc.unwrap_or(0.0) + v))
    };
    Reduced {
        input: sum("input"),
        output: sum("output"),
        total: map.get("total").and_then(Value::as_f64).unwrap_or(0.0),
    }
}

/// A JSON number that prints integers without a fraction (`3`, not `3.0`), as JS does.
pub fn number(f: f64) -> Value {
    if f.fract() == 0.0 && f.abs() < 9.0e15 {
        Value::from(f as i64)
    } else {
        serde_json::Number::from_f64(f)
            .map(Value::Number)
            .unwrap_or(Value::Null)
    }
}

/// A stored details map with every number normalised by [`number`].
pub fn normalise_map(details: Value) -> Value {
    match details {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter_map(|(k, v)| v.as_f64().map(|f| (k, number(f))))
                .collect(),
        ),
        _ => Value::Object(Default::default()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reduces_by_key_substring() {
        let r = reduce(
            &json!({"input": 10, "input_cached_tokens": 2, "cache_read_input_tokens": 1,
            "output": 5, "output_reasoning": 3, "total": 21}),
        );
        assert_eq!(r.input, Some(13.0));
        assert_eq!(r.output, Some(8.0));
        assert_eq!(r.total, 21.0);
    }

    #[test]
    fn missing_keys_are_none_and_total_zero() {
        let r = reduce(&json!({}));
        assert_eq!(
            r,
            Reduced {
                input: None,
                output: None,
                total: 0.0
            }
        );
    }

    #[test]
    fn integers_print_without_fraction() {
        assert_eq!(number(3.0).to_string(), "3");
        assert_eq!(number(0.25).to_string(), "0.25");
    }
}
