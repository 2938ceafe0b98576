//! Normalising what clients send for usage and cost (COMPAT-NOTES §4.7): the legacy
//! `usage` object (incl. OpenAI-style `promptTokens`), `usageDetails` (plain map, OpenAI
//! Chat Completions and Responses shapes) and `costDetails`, into plain key → amount maps.
//!
//! Pure functions only. They never fail: entries that are not non-negative numbers are
//! dropped (rejecting malformed events is the ingest validator's job, not this module's).

use serde_json::{Map, Value};

use super::Amounts;

/// The legacy `usage` object after Langfuse's transform.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LegacyUsage {
    /// Input units.
    pub input: Option<f64>,
    /// Output units.
    pub output: Option<f64>,
    /// Total units.
    pub total: Option<f64>,
    /// Unit (`TOKENS`, `CHARACTERS`, …); stored nowhere visible, the API reports `TOKENS`.
    pub unit: Option<String>,
    /// Input cost in USD.
    pub input_cost: Option<f64>,
    /// Output cost in USD.
    pub output_cost: Option<f64>,
    /// Total cost in USD.
    pub total_cost: Option<f64>,
}

/// Usage and cost as the client provided them, before any derivation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Provided {
    /// Provided usage (legacy `usage` overlaid by `usageDetails`).
    pub usage: Amounts,
    /// Provided cost (legacy `usage.*Cost` overlaid by `costDetails`).
    pub cost: Amounts,
}

/// A non-negative finite number, from a JSON number or a numeric string.
fn amount(v: &Value) -> Option<f64> {
    let n = match v {
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => s.trim().parse::<f64>().ok()?,
        _ => return None,
    };
    (n.is_finite() && n >= 0.0).then_some(n)
}

/// A non-negative JSON number (no strings), as the OpenAI shapes require.
fn strict_amount(v: &Value) -> Option<f64> {
    v.as_f64().filter(|n| n.is_finite() && *n >= 0.0)
}

/// Parses the legacy `usage` object. OpenAI-style keys (`promptTokens`, `completionTokens`,
/// `totalTokens`) win when any is present, and then costs are dropped, as in Langfuse.
pub fn legacy_usage(v: Option<&Value>) -> LegacyUsage {
    let Some(Value::Object(m)) = v else {
        return LegacyUsage::default();
    };
    let get = |k: &str| m.get(k).and_then(amount);
    if ["promptTokens", "completionTokens", "totalTokens"]
        .iter()
        .any(|k| m.contains_key(*k))
    {
        return LegacyUsage {
            input: get("promptTokens"),
            output: get("completionTokens"),
            total: get("totalTokens"),
            unit: Some("TOKENS".into()),
            ..LegacyUsage::default()
        };
    }
    LegacyUsage {
        input: get("input"),
        output: get("output"),
        total: get("total"),
        unit: m.get("unit").and_then(Value::as_str).map(str::to_string),
        input_cost: m.get("inputCost").and_then(amount),
        output_cost: m.get("outputCost").and_then(amount),
        total_cost: m.get("totalCost").and_then(amount),
    }
}

/// Keys of the two OpenAI usage shapes: (input, output, input details, output details).
const OPENAI_SHAPES: [(&str, &str, &str, &str); 2] = [
    (
        "prompt_tokens",
        "completion_tokens",
        "prompt_tokens_details",
        "completion_tokens_details",
    ),
    (
        "input_tokens",
        "output_tokens",
        "input_tokens_details",
        "output_tokens_details",
    ),
];

/// Maps an OpenAI Chat Completions or Responses usage object (strict key set, all three
/// counts present) to `{input, output, total, input_<k>, output_<k>}`; each detail is
/// subtracted from input/output, floored at 0. None when `m` is not such an object.
fn openai_usage(m: &Map<String, Value>) -> Option<Amounts> {
    'shapes: for (input_key, output_key, input_details, output_details) in OPENAI_SHAPES {
        let allowed = [
            input_key,
            output_key,
            "total_tokens",
            input_details,
            output_details,
        ];
        if m.keys().any(|k| !allowed.contains(&k.as_str())) {
            continue;
        }
        let (Some(input), Some(output), Some(total)) = (
            m.get(input_key).and_then(strict_amount),
            m.get(output_key).and_then(strict_amount),
            m.get("total_tokens").and_then(strict_amount),
        ) else {
            continue;
        };
        let mut details: Vec<(&str, Vec<(String, f64)>)> = Vec::new();
        for (prefix, key) in [("input", input_details), ("output", output_details)] {
            let entries = match m.get(key) {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::Object(d)) => {
                    let mut entries = Vec::new();
                    for (k, v) in d {
                        match v {
                            Value::Null => {}
                            v => match strict_amount(v) {
                                Some(n) => entries.push((k.clone(), n)),
                                None => continue 'shapes,
                            },
                        }
                    }
                    entries
                }
                Some(_) => continue 'shapes,
            };
            details.push((prefix, entries));
        }
        let mut out = Amounts::new();
        let (mut input, mut output) = (input, output);
        for (prefix, entries) in details {
            for (k, n) in entries {
                out.insert(format!("{prefix}_{k}"), n);
                if prefix == "input" {
                    input = (input - n).max(0.0);
                } else {
                    output = (output - n).max(0.0);
                }
            }
        }
        out.insert("input".into(), input);
        out.insert("output".into(), output);
        out.insert("total".into(), total);
        return Some(out);
    }
    None
}

/// Parses `usageDetails`: an OpenAI Chat Completions or Responses usage object, or a plain
/// map of usage key → non-negative number (numeric strings parsed, other entries dropped).
pub fn usage_details(v: Option<&Value>) -> Amounts {
    let Some(Value::Object(m)) = v else {
        return Amounts::new();
    };
    if let Some(openai) = openai_usage(m) {
        return openai;
    }
    plain_map(m)
}

/// Parses `costDetails`: a map of cost key → non-negative USD amount.
pub fn cost_details(v: Option<&Value>) -> Amounts {
    match v {
        Some(Value::Object(m)) => plain_map(m),
        _ => Amounts::new(),
    }
}

fn plain_map(m: &Map<String, Value>) -> Amounts {
    m.iter()
        .filter_map(|(k, v)| amount(v).map(|n| (k.clone(), n)))
        .collect()
}

/// Combines the three client inputs into provided usage and cost, as Langfuse's ingestion
/// does: legacy `input`/`output`, `total` = `usage.total`, or (only when `usageDetails` is
/// empty) input+output when both are non-zero, else whichever exists; then `usageDetails`
/// overlays. Costs: legacy `inputCost`/`outputCost`/`totalCost` overlaid by `costDetails`.
pub fn provided(usage: Option<&Value>, details: Option<&Value>, cost: Option<&Value>) -> Provided {
    let legacy = legacy_usage(usage);
    let details = usage_details(details);
    let mut usage = Amounts::new();
    if let Some(n) = legacy.input {
        usage.insert("input".into(), n);
    }
    if let Some(n) = legacy.output {
        usage.insert("output".into(), n);
    }
    let total = legacy.total.or_else(|| {
        if !details.is_empty() {
            return None;
        }
        match (legacy.input, legacy.output) {
            (Some(i), Some(o)) if i != 0.0 && o != 0.0 => Some(i + o),
            (i, o) => i.or(o),
        }
    });
    if let Some(n) = total {
        usage.insert("total".into(), n);
    }
    usage.extend(details);

    let mut costs = Amounts::new();
    for (k, v) in [
        ("input", legacy.input_cost),
        ("output", legacy.output_cost),
        ("total", legacy.total_cost),
    ] {
        if let Some(n) = v {
            costs.insert(k.into(), n);
        }
    }
    costs.extend(cost_details(cost));
    Provided { usage, cost: costs }
}

/// Final usage when nothing is tokenized: the provided usage plus `total` = sum of all
/// provided keys when non-empty and `total` is missing.
pub fn with_total(mut usage: Amounts) -> Amounts {
    if !usage.is_empty() && !usage.contains_key("total") {
        let sum = usage.values().sum();
        usage.insert("total".into(), sum);
    }
    usage
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn amounts(pairs: &[(&str, f64)]) -> Amounts {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    #[test]
    fn legacy_usage_reads_counts_unit_and_costs() {
        let u = legacy_usage(Some(&json!({
            "input": 10, "output": 20, "total": 30, "unit": "CHARACTERS",
            "inputCost": 0.1, "outputCost": 0.2, "totalCost": 0.3
        })));
        assert_eq!(u.input, Some(10.0));
        assert_eq!(u.output, Some(20.0));
        assert_eq!(u.total, Some(30.0));
        assert_eq!(u.unit.as_deref(), Some("CHARACTERS"));
        assert_eq!(u.total_cost, Some(0.3));
    }

    #[test]
    fn openai_style_legacy_usage_becomes_tokens_and_drops_costs() {
        let u = legacy_usage(Some(&json!({
            "promptTokens": 7, "completionTokens": 3, "totalTokens": 10, "input": 99, "inputCost": 1.0
        })));
        assert_eq!(
            (u.input, u.output, u.total),
            (Some(7.0), Some(3.0), Some(10.0))
        );
        assert_eq!(u.unit.as_deref(), Some("TOKENS"));
        assert_eq!(u.input_cost, None, "the OpenAI branch keeps no costs");
    }

    #[test]
    fn plain_usage_details_parse_numeric_strings_and_drop_the_rest() {
        let d = usage_details(Some(&json!({
            "input": 5, "output": "7", "cache": -1, "bad": "x", "nested": {"a": 1}, "none": null
        })));
        assert_eq!(d, amounts(&[("input", 5.0), ("output", 7.0)]));
        assert!(usage_details(Some(&json!("nope"))).is_empty());
    }

    #[test]
    fn openai_chat_usage_subtracts_details_floored_at_zero() {
        let d = usage_details(Some(&json!({
            "prompt_tokens": 100, "completion_tokens": 50, "total_tokens": 150,
            "prompt_tokens_details": {"cached_tokens": 30, "audio_tokens": null},
            "completion_tokens_details": {"reasoning_tokens": 80}
        })));
        // input 100 - 30 = 70; output 50 - 80 floored at 0.
        assert_eq!(
            d,
            amounts(&[
                ("input", 70.0),
                ("input_cached_tokens", 30.0),
                ("output", 0.0),
                ("output_reasoning_tokens", 80.0),
                ("total", 150.0),
            ])
        );
    }

    #[test]
    fn openai_responses_usage_is_mapped_like_chat() {
        let d = usage_details(Some(&json!({
            "input_tokens": 40, "output_tokens": 12, "total_tokens": 52,
            "input_tokens_details": {"cached_tokens": 10},
            "output_tokens_details": {"reasoning_tokens": 2}
        })));
        assert_eq!(
            d,
            amounts(&[
                ("input", 30.0),
                ("input_cached_tokens", 10.0),
                ("output", 10.0),
                ("output_reasoning_tokens", 2.0),
                ("total", 52.0),
            ])
        );
    }

    #[test]
    fn openai_shape_with_extra_keys_is_a_plain_map() {
        let d = usage_details(Some(&json!({
            "prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7, "extra": 1
        })));
        assert_eq!(
            d,
            amounts(&[
                ("completion_tokens", 4.0),
                ("extra", 1.0),
                ("prompt_tokens", 3.0),
                ("total_tokens", 7.0)
            ])
        );
    }

    #[test]
    fn cost_details_drop_negative_and_non_numeric() {
        let c = cost_details(Some(
            &json!({"input": 0.5, "output": -1, "x": "y", "total": "1.5"}),
        ));
        assert_eq!(c, amounts(&[("input", 0.5), ("total", 1.5)]));
    }

    #[test]
    fn provided_total_is_derived_only_without_usage_details() {
        let p = provided(Some(&json!({"input": 3, "output": 4})), None, None);
        assert_eq!(
            p.usage,
            amounts(&[("input", 3.0), ("output", 4.0), ("total", 7.0)])
        );
        // One side zero: whichever exists (input is 0, so `input ?? output` = 0).
        let p = provided(Some(&json!({"input": 0, "output": 4})), None, None);
        assert_eq!(p.usage.get("total"), Some(&0.0));
        let p = provided(Some(&json!({"output": 4})), None, None);
        assert_eq!(p.usage.get("total"), Some(&4.0));
        // With usageDetails present, no legacy total is derived; details overlay.
        let p = provided(
            Some(&json!({"input": 3, "output": 4})),
            Some(&json!({"input": 5, "cache_read": 2})),
            None,
        );
        assert_eq!(
            p.usage,
            amounts(&[("cache_read", 2.0), ("input", 5.0), ("output", 4.0)])
        );
    }

    #[test]
    fn provided_costs_overlay_cost_details_on_legacy_costs() {
        let p = provided(
            Some(&json!({"inputCost": 1.0, "outputCost": 2.0})),
            None,
            Some(&json!({"output": 3.0, "cache": 0.5})),
        );
        assert_eq!(
            p.cost,
            amounts(&[("cache", 0.5), ("input", 1.0), ("output", 3.0)])
        );
    }

    #[test]
    fn with_total_sums_all_keys_when_total_is_missing() {
        let u = with_total(amounts(&[
            ("input", 2.0),
            ("input_cached", 3.0),
            ("output", 5.0),
        ]));
        assert_eq!(u.get("total"), Some(&10.0));
        let u = with_total(amounts(&[("input", 2.0), ("total", 9.0)]));
        assert_eq!(u.get("total"), Some(&9.0));
        assert!(with_total(Amounts::new()).is_empty());
    }
}
