//! Usage and cost (COMPAT-NOTES §4.7): normalising what clients send (`usage`,
//! `usageDetails`, `costDetails`), matching model definitions, tokenizing when no usage was
//! given, and pricing by tier. The ingest worker calls [`Pricing::derive`] once per merged
//! generation-like observation.

use std::collections::BTreeMap;

use serde_json::Value;
use sqlx::PgPool;

/// A usage or cost map: key (`input`, `output`, `total`, `input_cached_tokens`, …) → amount.
pub type Amounts = BTreeMap<String, f64>;

/// What a merged observation provides for usage and cost derivation.
#[derive(Debug, Clone, Default)]
pub struct UsageInput<'a> {
    /// Model name as sent by the client.
    pub model: Option<&'a str>,
    /// The merged legacy `usage` object, if any.
    pub usage: Option<&'a Value>,
    /// The merged `usageDetails` value, if any (plain map or OpenAI shapes).
    pub usage_details: Option<&'a Value>,
    /// The merged `costDetails` value, if any.
    pub cost_details: Option<&'a Value>,
    /// Stored input (tokenized when no usage was provided).
    pub input: Option<&'a Value>,
    /// Stored output (tokenized when no usage was provided).
    pub output: Option<&'a Value>,
    /// Observation level is ERROR (no tokenization then).
    pub level_is_error: bool,
    /// Model parameters (pricing-tier attribute conditions).
    pub model_parameters: Option<&'a Value>,
    /// Metadata (pricing-tier attribute conditions).
    pub metadata: Option<&'a Value>,
}

/// The derived usage and cost of one observation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UsageOutcome {
    /// Usage as the client provided it, normalised.
    pub provided_usage_details: Amounts,
    /// Usage after derivation (tokenized when nothing was provided).
    pub usage_details: Amounts,
    /// Cost as the client provided it, normalised.
    pub provided_cost_details: Amounts,
    /// Cost after derivation (priced from the matched model when nothing was provided).
    pub cost_details: Amounts,
    /// `cost_details.total` when known.
    pub total_cost: Option<f64>,
    /// Id of the matched model definition.
    pub internal_model_id: Option<String>,
    /// Id of the pricing tier used.
    pub usage_pricing_tier_id: Option<String>,
    /// Name of the pricing tier used.
    pub usage_pricing_tier_name: Option<String>,
}

/// Model catalogue and pricing, shared by the ingest worker and the models API.
#[derive(Debug, Clone)]
pub struct Pricing {
    #[allow(dead_code)]
    pool: PgPool,
}

impl Pricing {
    /// A pricing service reading model definitions from `pool`.
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// Derives usage and cost for one observation of `project_id`.
    pub async fn derive(
        &self,
        _project_id: &str,
        input: &UsageInput<'_>,
    ) -> anyhow::Result<UsageOutcome> {
        // Placeholder until model definitions land: pass plain numeric maps through.
        let plain = |v: Option<&Value>| -> Amounts {
            v.and_then(Value::as_object)
                .map(|m| {
                    m.iter()
                        .filter_map(|(k, v)| v.as_f64().map(|n| (k.clone(), n)))
                        .collect()
                })
                .unwrap_or_default()
        };
        let usage = plain(input.usage_details);
        let cost = plain(input.cost_details);
        Ok(UsageOutcome {
            provided_usage_details: usage.clone(),
            usage_details: usage,
            provided_cost_details: cost.clone(),
            total_cost: cost.get("total").copied(),
            cost_details: cost,
            ..Default::default()
        })
    }

    /// Forgets cached model definitions (after the models API changed them).
    pub fn invalidate(&self) {}
}
