//! Read-side figures of the observations API derived from stored usage and cost
//! (COMPAT-NOTES §4.7 step 6, §6.2), as Langfuse's observation converter computes them:
//! `promptTokens`/`completionTokens`/`totalTokens`, `usage`, the `calculated*Cost` fields,
//! `latency` and `timeToFirstToken`. For the observations read handlers.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::Amounts;

/// Sums of the keys starting with `input` / `output`, and `total`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Reduced {
    /// Sum of keys starting with `input`; None when there is no such key.
    pub input: Option<f64>,
    /// Sum of keys starting with `output`; None when there is no such key.
    pub output: Option<f64>,
    /// The `total` key, 0 when absent.
    pub total: f64,
}

/// Langfuse's `reduceUsageOrCostDetails`.
pub fn reduce(details: &Amounts) -> Reduced {
    let sum = |prefix: &str| {
        details
            .iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .fold(None, |acc: Option<f64>, (_, v)| {
                Some(acc.unwrap_or(0.0) + v)
            })
    };
    Reduced {
        input: sum("input"),
        output: sum("output"),
        total: details.get("total").copied().unwrap_or(0.0),
    }
}

/// The legacy `usage` object of a read observation: `{unit:"TOKENS", input, output, total}`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LegacyUsageView {
    /// Always `TOKENS`.
    pub unit: &'static str,
    /// Input units (0 when none).
    pub input: f64,
    /// Output units (0 when none).
    pub output: f64,
    /// Total units (0 when none).
    pub total: f64,
}

/// The usage and cost figures of a read observation.
#[derive(Debug, Clone, PartialEq)]
pub struct UsageView {
    /// `promptTokens`.
    pub prompt_tokens: f64,
    /// `completionTokens`.
    pub completion_tokens: f64,
    /// `totalTokens`.
    pub total_tokens: f64,
    /// `usage`.
    pub usage: LegacyUsageView,
    /// `calculatedInputCost` (null when no input cost key).
    pub calculated_input_cost: Option<f64>,
    /// `calculatedOutputCost` (null when no output cost key).
    pub calculated_output_cost: Option<f64>,
    /// `calculatedTotalCost` (0 when no total).
    pub calculated_total_cost: f64,
}

/// Projects stored usage and cost details to the read-side fields.
pub fn usage_view(usage_details: &Amounts, cost_details: &Amounts) -> UsageView {
    let u = reduce(usage_details);
    let c = reduce(cost_details);
    let (input, output) = (u.input.unwrap_or(0.0), u.output.unwrap_or(0.0));
    UsageView {
        prompt_tokens: input,
        completion_tokens: output,
        total_tokens: u.total,
        usage: LegacyUsageView {
            unit: "TOKENS",
            input,
            output,
            total: u.total,
        },
        calculated_input_cost: c.input,
        calculated_output_cost: c.output,
        calculated_total_cost: c.total,
    }
}

/// Seconds from `start` to `end` (`latency`), None without an end.
pub fn latency_seconds(start: DateTime<Utc>, end: Option<DateTime<Utc>>) -> Option<f64> {
    end.map(|e| (e - start).num_milliseconds() as f64 / 1000.0)
}

/// Seconds from `start` to the first token (`timeToFirstToken`), None without one.
pub fn time_to_first_token_seconds(
    start: DateTime<Utc>,
    completion_start: Option<DateTime<Utc>>,
) -> Option<f64> {
    latency_seconds(start, completion_start)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn amounts(pairs: &[(&str, f64)]) -> Amounts {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    #[test]
    fn input_and_output_sum_keys_by_prefix() {
        let usage = amounts(&[
            ("input", 70.0),
            ("input_cached_tokens", 30.0),
            ("output", 20.0),
            ("output_reasoning_tokens", 5.0),
            ("total", 125.0),
            ("cache_read_input_tokens", 9.0),
        ]);
        let v = usage_view(&usage, &Amounts::new());
        assert_eq!(
            v.prompt_tokens, 100.0,
            "cache_read_input_tokens does not start with input"
        );
        assert_eq!(v.completion_tokens, 25.0);
        assert_eq!(v.total_tokens, 125.0);
        assert_eq!(v.usage.total, 125.0);
        assert_eq!(v.calculated_input_cost, None);
        assert_eq!(v.calculated_total_cost, 0.0);
    }

    #[test]
    fn costs_project_the_same_way() {
        let cost = amounts(&[("input", 0.5), ("input_cache_read", 0.25), ("total", 1.0)]);
        let v = usage_view(&Amounts::new(), &cost);
        assert_eq!(v.calculated_input_cost, Some(0.75));
        assert_eq!(v.calculated_output_cost, None);
        assert_eq!(v.calculated_total_cost, 1.0);
        assert_eq!(v.total_tokens, 0.0);
    }

    #[test]
    fn latency_is_in_seconds() {
        let start: DateTime<Utc> = "2024-01-01T00:00:00Z".parse().unwrap();
        let end: DateTime<Utc> = "2024-01-01T00:00:01.250Z".parse().unwrap();
        assert_eq!(latency_seconds(start, Some(end)), Some(1.25));
        assert_eq!(latency_seconds(start, None), None);
        assert_eq!(time_to_first_token_seconds(start, Some(end)), Some(1.25));
    }
}
