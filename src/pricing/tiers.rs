//! Pricing tiers and cost calculation (COMPAT-NOTES §4.7 step 5): choosing the tier whose
//! conditions match an observation's usage and attributes, and turning usage into cost.
//!
//! Pure functions; the tier definitions come from the catalog (`catalog.rs`), the usage from
//! `normalise.rs` or the tokenizer.

use regex::{Regex, RegexBuilder};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::Amounts;

/// Comparison of a usage sum with a threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Operator {
    /// `>`
    Gt,
    /// `>=`
    Gte,
    /// `<`
    Lt,
    /// `<=`
    Lte,
    /// `==`
    Eq,
    /// `!=`
    Neq,
}

impl Operator {
    fn holds(self, sum: f64, value: f64) -> bool {
        match self {
            Operator::Gt => sum > value,
            Operator::Gte => sum >= value,
            Operator::Lt => sum < value,
            Operator::Lte => sum <= value,
            Operator::Eq => sum == value,
            Operator::Neq => sum != value,
        }
    }
}

/// Which observation attribute an attribute condition reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AttributeSource {
    /// `modelParameters`.
    ModelParameters,
    /// `metadata`.
    Metadata,
}

/// The only operator of attribute conditions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum InOperator {
    /// Membership.
    #[serde(rename = "in")]
    In,
}

/// One pricing-tier condition, in Langfuse's JSON shape (stored as JSONB).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum TierCondition {
    /// Sum of usage values whose keys match a regex, compared with a threshold.
    #[serde(rename_all = "camelCase")]
    Usage {
        /// Regex over usage keys.
        usage_detail_pattern: String,
        /// Comparison.
        operator: Operator,
        /// Threshold.
        value: f64,
        /// Whether the regex is case-sensitive (default false).
        #[serde(default)]
        case_sensitive: bool,
    },
    /// A top-level `modelParameters`/`metadata` key whose value is one of `values`.
    Attribute {
        /// Attribute object.
        source: AttributeSource,
        /// Exact top-level key.
        key: String,
        /// Always `in`.
        operator: InOperator,
        /// Accepted string values.
        values: Vec<String>,
    },
}

/// A pricing tier of a model.
#[derive(Debug, Clone, PartialEq)]
pub struct PricingTier {
    /// Tier id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// The fallback tier (priority 0, no conditions).
    pub is_default: bool,
    /// Evaluation order of non-default tiers (ascending).
    pub priority: i32,
    /// All must hold (AND).
    pub conditions: Vec<TierCondition>,
    /// USD per unit by usage key.
    pub prices: Amounts,
}

/// A tier with its usage-condition regexes compiled once.
#[derive(Debug, Clone)]
pub struct CompiledTier {
    /// The tier.
    pub tier: PricingTier,
    /// One entry per condition; None for attribute conditions and invalid patterns.
    regexes: Vec<Option<Regex>>,
}

impl CompiledTier {
    /// Compiles the usage-condition patterns of `tier`.
    pub fn new(tier: PricingTier) -> Self {
        let regexes = tier
            .conditions
            .iter()
            .map(|c| match c {
                TierCondition::Usage {
                    usage_detail_pattern,
                    case_sensitive,
                    ..
                } => RegexBuilder::new(usage_detail_pattern)
                    .case_insensitive(!case_sensitive)
                    .build()
                    .ok(),
                TierCondition::Attribute { .. } => None,
            })
            .collect();
        Self { tier, regexes }
    }

    fn matches(&self, usage: &Amounts, attrs: &Attributes<'_>) -> bool {
        // A non-default tier without conditions never matches.
        !self.tier.conditions.is_empty()
            && self
                .tier
                .conditions
                .iter()
                .zip(&self.regexes)
                .all(|(c, re)| condition_holds(c, re.as_ref(), usage, attrs))
    }
}

/// Observation attributes that attribute conditions read.
#[derive(Debug, Clone, Copy, Default)]
pub struct Attributes<'a> {
    /// `modelParameters`.
    pub model_parameters: Option<&'a Value>,
    /// `metadata`.
    pub metadata: Option<&'a Value>,
}

fn condition_holds(
    c: &TierCondition,
    re: Option<&Regex>,
    usage: &Amounts,
    attrs: &Attributes<'_>,
) -> bool {
    match c {
        TierCondition::Usage {
            operator, value, ..
        } => {
            // An invalid pattern makes the condition fail, as Langfuse's fail-safe does.
            let Some(re) = re else { return false };
            let sum: f64 = usage
                .iter()
                .filter(|(k, _)| re.is_match(k))
                .map(|(_, v)| v)
                .sum();
            operator.holds(sum, *value)
        }
        TierCondition::Attribute {
            source,
            key,
            values,
            ..
        } => {
            let object = match source {
                AttributeSource::ModelParameters => attrs.model_parameters,
                AttributeSource::Metadata => attrs.metadata,
            };
            // Langfuse compares exact strings; scalars are compared by their JSON text,
            // as its string-valued attribute maps would hold them.
            let text = match object.and_then(|o| o.get(key)) {
                Some(Value::String(s)) => s.clone(),
                Some(v @ (Value::Number(_) | Value::Bool(_))) => v.to_string(),
                _ => return false,
            };
            values.contains(&text)
        }
    }
}

/// Selects the tier: the first non-default tier by ascending priority whose conditions all
/// hold, else the default tier; None when no tier applies.
pub fn select_tier<'t>(
    tiers: &'t [CompiledTier],
    usage: &Amounts,
    attrs: &Attributes<'_>,
) -> Option<&'t CompiledTier> {
    let mut candidates: Vec<&CompiledTier> = tiers.iter().filter(|t| !t.tier.is_default).collect();
    candidates.sort_by_key(|t| t.tier.priority);
    candidates
        .into_iter()
        .find(|t| t.matches(usage, attrs))
        .or_else(|| tiers.iter().find(|t| t.tier.is_default))
}

/// Multiplies a price by a unit count and rounds to the nearest double of the exact
/// decimal product (Langfuse multiplies Decimals), so 2.5e-6 × 1000 is 0.0025.
fn price_times(price: f64, units: f64) -> f64 {
    let product = price * units;
    if product == 0.0 || !product.is_finite() {
        return product;
    }
    format!("{product:.14e}").parse().unwrap_or(product)
}

/// Cost details and total cost.
///
/// With any provided cost, that is the cost: `total` = provided total, or input + output
/// when only those keys were provided. Otherwise `cost[k] = price[k] × usage[k]` for every
/// usage key with a price; `total` = the priced `total` key if any, else the sum.
pub fn compute_cost(
    prices: Option<&Amounts>,
    provided_cost: &Amounts,
    usage: &Amounts,
) -> (Amounts, Option<f64>) {
    if !provided_cost.is_empty() {
        let mut cost = provided_cost.clone();
        let total = provided_cost.get("total").copied().or_else(|| {
            provided_cost
                .keys()
                .all(|k| k == "input" || k == "output")
                .then(|| {
                    provided_cost.get("input").copied().unwrap_or(0.0)
                        + provided_cost.get("output").copied().unwrap_or(0.0)
                })
        });
        if let Some(t) = total {
            cost.entry("total".into()).or_insert(t);
        }
        return (cost, total);
    }
    let Some(prices) = prices else {
        return (Amounts::new(), None);
    };
    let mut cost: Amounts = usage
        .iter()
        .filter_map(|(k, units)| prices.get(k).map(|p| (k.clone(), price_times(*p, *units))))
        .collect();
    let total = match cost.get("total") {
        Some(t) => Some(*t),
        None if !cost.is_empty() => {
            let sum: f64 = cost.values().sum();
            cost.insert("total".into(), sum);
            Some(sum)
        }
        None => None,
    };
    (cost, total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn amounts(pairs: &[(&str, f64)]) -> Amounts {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    fn tier(
        id: &str,
        default: bool,
        priority: i32,
        conditions: Value,
        prices: &[(&str, f64)],
    ) -> CompiledTier {
        CompiledTier::new(PricingTier {
            id: id.into(),
            name: id.into(),
            is_default: default,
            priority,
            conditions: serde_json::from_value(conditions).expect("valid conditions"),
            prices: amounts(prices),
        })
    }

    fn tiers() -> Vec<CompiledTier> {
        vec![
            tier("std", true, 0, json!([]), &[("input", 1.0)]),
            tier(
                "medium",
                false,
                2,
                json!([{"usageDetailPattern": "^input", "operator": "gt", "value": 100}]),
                &[("input", 2.0)],
            ),
            tier(
                "large",
                false,
                1,
                json!([{"usageDetailPattern": "^INPUT", "operator": "gte", "value": 1000}]),
                &[("input", 3.0)],
            ),
        ]
    }

    #[test]
    fn default_tier_when_nothing_matches() {
        let t = tiers();
        let chosen = select_tier(&t, &amounts(&[("input", 50.0)]), &Attributes::default());
        assert_eq!(chosen.map(|t| t.tier.id.as_str()), Some("std"));
    }

    #[test]
    fn lower_priority_number_is_tried_first_and_patterns_sum_matching_keys() {
        let t = tiers();
        // input 600 + input_cached 400 = 1000 >= 1000: "large" (priority 1) wins over "medium".
        let usage = amounts(&[
            ("input", 600.0),
            ("input_cached", 400.0),
            ("output", 5000.0),
        ]);
        let chosen = select_tier(&t, &usage, &Attributes::default()).expect("a tier");
        assert_eq!(chosen.tier.id, "large");
        // 150 > 100 but < 1000: "medium".
        let chosen = select_tier(&t, &amounts(&[("input", 150.0)]), &Attributes::default());
        assert_eq!(chosen.map(|t| t.tier.id.as_str()), Some("medium"));
    }

    #[test]
    fn case_sensitive_patterns_do_not_fold_case() {
        let t = vec![
            tier("std", true, 0, json!([]), &[]),
            tier(
                "cs",
                false,
                1,
                json!([{"usageDetailPattern": "^INPUT$", "operator": "gt", "value": 0, "caseSensitive": true}]),
                &[],
            ),
        ];
        let chosen = select_tier(&t, &amounts(&[("input", 5.0)]), &Attributes::default());
        assert_eq!(chosen.map(|t| t.tier.id.as_str()), Some("std"));
    }

    #[test]
    fn every_operator_compares_the_sum() {
        let cases = [
            ("gt", 10.0, false),
            ("gte", 10.0, true),
            ("lt", 11.0, true),
            ("lte", 9.0, false),
            ("eq", 10.0, true),
            ("neq", 10.0, false),
        ];
        for (op, value, expected) in cases {
            let t = vec![
                tier("std", true, 0, json!([]), &[]),
                tier(
                    "x",
                    false,
                    1,
                    json!([{"usageDetailPattern": "input", "operator": op, "value": value}]),
                    &[],
                ),
            ];
            let chosen = select_tier(&t, &amounts(&[("input", 10.0)]), &Attributes::default())
                .expect("a tier");
            assert_eq!(chosen.tier.id == "x", expected, "10 {op} {value}");
        }
    }

    #[test]
    fn attribute_conditions_match_exact_values_and_all_conditions_must_hold() {
        let t = vec![
            tier("std", true, 0, json!([]), &[]),
            tier(
                "priority",
                false,
                1,
                json!([
                    {"source": "model_parameters", "key": "service_tier", "operator": "in", "values": ["priority", "flex"]},
                    {"usageDetailPattern": "input", "operator": "gt", "value": 0}
                ]),
                &[],
            ),
        ];
        let params = json!({"service_tier": "flex"});
        let attrs = Attributes {
            model_parameters: Some(&params),
            metadata: None,
        };
        let pick = |usage: &Amounts, a: &Attributes<'_>| {
            select_tier(&t, usage, a).map(|t| t.tier.id.clone())
        };
        assert_eq!(
            pick(&amounts(&[("input", 1.0)]), &attrs).as_deref(),
            Some("priority")
        );
        assert_eq!(
            pick(&amounts(&[("input", 0.0)]), &attrs).as_deref(),
            Some("std"),
            "usage condition fails"
        );
        let other = json!({"service_tier": "default"});
        let attrs = Attributes {
            model_parameters: Some(&other),
            metadata: None,
        };
        assert_eq!(
            pick(&amounts(&[("input", 1.0)]), &attrs).as_deref(),
            Some("std")
        );
    }

    #[test]
    fn priced_cost_multiplies_each_priced_key_and_sums_a_total() {
        let prices = amounts(&[
            ("input", 2.5e-6),
            ("output", 1e-5),
            ("input_cached_tokens", 1.25e-6),
        ]);
        let usage = amounts(&[
            ("input", 1000.0),
            ("output", 200.0),
            ("total", 1200.0),
            ("unpriced", 7.0),
        ]);
        let (cost, total) = compute_cost(Some(&prices), &Amounts::new(), &usage);
        // 1000 × $2.5/M = 0.0025; 200 × $10/M = 0.002; no price for total or unpriced.
        assert_eq!(cost.get("input"), Some(&0.0025));
        assert_eq!(cost.get("output"), Some(&0.002));
        assert!(!cost.contains_key("unpriced"));
        let expected_total = 0.0025 + 0.002;
        assert!((total.expect("total") - expected_total).abs() < 1e-15);
        assert_eq!(cost.get("total"), total.as_ref());
    }

    #[test]
    fn a_priced_total_key_is_the_total() {
        let prices = amounts(&[("total", 1e-7)]);
        let usage = amounts(&[("input", 10.0), ("total", 500.0)]);
        let (cost, total) = compute_cost(Some(&prices), &Amounts::new(), &usage);
        assert_eq!(total, Some(0.00005));
        assert_eq!(cost, amounts(&[("total", 0.00005)]));
    }

    #[test]
    fn provided_cost_wins_and_totals_only_input_plus_output() {
        let prices = amounts(&[("input", 1.0)]);
        let usage = amounts(&[("input", 10.0)]);
        let (cost, total) = compute_cost(
            Some(&prices),
            &amounts(&[("input", 0.25), ("output", 0.5)]),
            &usage,
        );
        assert_eq!(total, Some(0.75));
        assert_eq!(cost.get("total"), Some(&0.75));
        let (cost, total) = compute_cost(
            Some(&prices),
            &amounts(&[("input", 0.25), ("cache", 0.5)]),
            &usage,
        );
        assert_eq!(total, None, "other keys: no derived total");
        assert!(!cost.contains_key("total"));
        let (_, total) = compute_cost(None, &amounts(&[("total", 2.0), ("input", 1.0)]), &usage);
        assert_eq!(total, Some(2.0));
    }

    #[test]
    fn no_prices_and_no_provided_cost_means_no_cost() {
        let (cost, total) = compute_cost(None, &Amounts::new(), &amounts(&[("input", 5.0)]));
        assert!(cost.is_empty());
        assert_eq!(total, None);
    }
}
