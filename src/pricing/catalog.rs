//! The in-memory model catalog: every model definition (global and per project) with its
//! match pattern and tiers compiled, loaded in one pass so ingestion never queries models
//! per observation. Also the default model list shipped with xtrace and its seeding.
//!
//! Matching follows Langfuse's `findModel`: the project's own models first, then global
//! ones; within each, newest `start_date` first (no date last); the first whose
//! `match_pattern` matches the model name (Postgres `~`, unanchored; patterns carry `(?i)`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::tiers::{CompiledTier, PricingTier, TierCondition};
use super::tokenize::TokenizerSpec;
use super::Amounts;
use crate::store::models::{ModelRow, TierRow};

/// A pattern compiled with the `regex` crate, or with `fancy-regex` for the Postgres
/// features `regex` lacks (look-around, back-references).
#[derive(Debug)]
pub enum Matcher {
    /// Linear-time regex.
    Plain(regex::Regex),
    /// Backtracking regex.
    Fancy(fancy_regex::Regex),
}

impl Matcher {
    /// Compiles `pattern`; None when neither engine accepts it.
    pub fn new(pattern: &str) -> Option<Self> {
        if let Ok(re) = regex::Regex::new(pattern) {
            return Some(Matcher::Plain(re));
        }
        fancy_regex::Regex::new(pattern).ok().map(Matcher::Fancy)
    }

    /// Unanchored search, like Postgres `~`.
    pub fn is_match(&self, text: &str) -> bool {
        match self {
            Matcher::Plain(re) => re.is_match(text),
            Matcher::Fancy(re) => re.is_match(text).unwrap_or(false),
        }
    }
}

/// A model definition ready for matching and pricing.
#[derive(Debug)]
pub struct ModelDef {
    /// Model id (`internal_model_id` of observations).
    pub id: String,
    /// Owning project (None: global).
    pub project_id: Option<String>,
    /// Name of the definition.
    pub model_name: String,
    /// Applies from this date.
    pub start_date: Option<DateTime<Utc>>,
    /// Compiled `match_pattern` (None: pattern unusable, never matches).
    pub matcher: Option<Matcher>,
    /// Tokenizer, if the model has a usable one.
    pub tokenizer: Option<TokenizerSpec>,
    /// Pricing tiers.
    pub tiers: Vec<CompiledTier>,
}

/// Parses a stored tier row (malformed conditions or prices become empty).
pub fn tier_from_row(r: &TierRow) -> PricingTier {
    PricingTier {
        id: r.id.clone(),
        name: r.name.clone(),
        is_default: r.is_default,
        priority: r.priority,
        conditions: serde_json::from_value::<Vec<TierCondition>>(r.conditions.clone())
            .unwrap_or_default(),
        prices: prices_from_json(&r.prices),
    }
}

/// A JSON object of usage key → price as amounts (non-numbers dropped).
pub fn prices_from_json(v: &Value) -> Amounts {
    v.as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_f64().map(|p| (k.clone(), p)))
                .collect()
        })
        .unwrap_or_default()
}

/// The tiers of a model without tier rows but with legacy flat prices: one default tier.
fn legacy_tier(m: &ModelRow) -> Option<PricingTier> {
    let prices: Amounts = [
        ("input", m.input_price),
        ("output", m.output_price),
        ("total", m.total_price),
    ]
    .into_iter()
    .filter_map(|(k, p)| p.map(|p| (k.to_string(), p)))
    .collect();
    (!prices.is_empty()).then(|| PricingTier {
        id: format!("{}_tier_default", m.id),
        name: "Standard".into(),
        is_default: true,
        priority: 0,
        conditions: vec![],
        prices,
    })
}

/// All model definitions, indexed for matching, plus a memo of recent matches.
#[derive(Debug)]
pub struct Catalog {
    /// Invalidation generation this catalog was loaded at.
    pub generation: u64,
    /// When it was loaded.
    pub loaded_at: Instant,
    global: Vec<Arc<ModelDef>>,
    projects: HashMap<String, Vec<Arc<ModelDef>>>,
    memo: Mutex<HashMap<MemoKey, Option<Arc<ModelDef>>>>,
}

/// (project id, model name) of a memoised match.
type MemoKey = (String, String);

/// Memo entries kept before the memo is cleared (distinct project × model names).
const MEMO_LIMIT: usize = 10_000;

impl Catalog {
    /// Builds the catalog from all model and tier rows.
    pub fn build(models: Vec<ModelRow>, tiers: Vec<TierRow>, generation: u64) -> Self {
        let mut tiers_by_model: HashMap<String, Vec<PricingTier>> = HashMap::new();
        for t in &tiers {
            tiers_by_model
                .entry(t.model_id.clone())
                .or_default()
                .push(tier_from_row(t));
        }
        let mut global = Vec::new();
        let mut projects: HashMap<String, Vec<Arc<ModelDef>>> = HashMap::new();
        for m in models {
            let mut model_tiers = tiers_by_model.remove(&m.id).unwrap_or_default();
            if model_tiers.is_empty() {
                model_tiers.extend(legacy_tier(&m));
            }
            let matcher = Matcher::new(&m.match_pattern);
            if matcher.is_none() {
                tracing::warn!(model_id = %m.id, "model match pattern does not compile; it never matches");
            }
            let def = Arc::new(ModelDef {
                tokenizer: TokenizerSpec::from_model(
                    m.tokenizer_id.as_deref(),
                    m.tokenizer_config.as_ref(),
                ),
                id: m.id,
                model_name: m.model_name,
                start_date: m.start_date,
                matcher,
                tiers: model_tiers.into_iter().map(CompiledTier::new).collect(),
                project_id: m.project_id.clone(),
            });
            match m.project_id {
                Some(p) => projects.entry(p).or_default().push(def),
                None => global.push(def),
            }
        }
        let order = |list: &mut Vec<Arc<ModelDef>>| {
            // Newest start_date first, no start_date last; id for a stable order.
            list.sort_by(|a, b| {
                b.start_date
                    .cmp(&a.start_date)
                    .then_with(|| a.id.cmp(&b.id))
            });
        };
        order(&mut global);
        projects.values_mut().for_each(order);
        Self {
            generation,
            loaded_at: Instant::now(),
            global,
            projects,
            memo: Mutex::new(HashMap::new()),
        }
    }

    /// The model definition `model` resolves to for `project_id`.
    pub fn find(&self, project_id: &str, model: &str) -> Option<Arc<ModelDef>> {
        let key = (project_id.to_string(), model.to_string());
        if let Some(hit) = self
            .memo
            .lock()
            .expect("catalog memo lock is never held across a panic")
            .get(&key)
        {
            return hit.clone();
        }
        let found = self
            .projects
            .get(project_id)
            .into_iter()
            .flatten()
            .chain(self.global.iter())
            .find(|d| d.matcher.as_ref().is_some_and(|re| re.is_match(model)))
            .cloned();
        let mut memo = self
            .memo
            .lock()
            .expect("catalog memo lock is never held across a panic");
        if memo.len() >= MEMO_LIMIT {
            memo.clear();
        }
        memo.insert(key, found.clone());
        found
    }
}

/// The default model list shipped with xtrace: Langfuse's published default prices.
pub const DEFAULT_MODELS_JSON: &str = include_str!("default_models.json");

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SeedModel {
    id: String,
    model_name: String,
    match_pattern: String,
    created_at: String,
    tokenizer_id: Option<String>,
    tokenizer_config: Option<Value>,
    prices: Amounts,
    #[serde(default)]
    tiers: Vec<SeedTier>,
}

#[derive(Debug, Deserialize)]
struct SeedTier {
    id: String,
    name: String,
    priority: i32,
    conditions: Value,
    prices: Amounts,
}

/// The seed as the store's bulk upsert takes it: digest, models JSON, tiers JSON.
pub fn default_seed() -> anyhow::Result<(String, Value, Value)> {
    let models: Vec<SeedModel> = serde_json::from_str(DEFAULT_MODELS_JSON)?;
    let digest = hex::encode(Sha256::digest(DEFAULT_MODELS_JSON.as_bytes()));
    let mut model_rows = Vec::with_capacity(models.len());
    let mut tier_rows = Vec::new();
    for m in models {
        model_rows.push(json!({
            "id": m.id,
            "modelName": m.model_name,
            "matchPattern": m.match_pattern,
            "createdAt": m.created_at,
            "tokenizerId": m.tokenizer_id,
            "tokenizerConfig": m.tokenizer_config,
        }));
        tier_rows.push(json!({
            "id": format!("{}_tier_default", m.id),
            "modelId": m.id,
            "name": "Standard",
            "isDefault": true,
            "priority": 0,
            "conditions": [],
            "prices": m.prices,
        }));
        for t in m.tiers {
            tier_rows.push(json!({
                "id": t.id,
                "modelId": m.id,
                "name": t.name,
                "isDefault": false,
                "priority": t.priority,
                "conditions": t.conditions,
                "prices": t.prices,
            }));
        }
    }
    Ok((digest, Value::Array(model_rows), Value::Array(tier_rows)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, project: Option<&str>, pattern: &str, start: Option<&str>) -> ModelRow {
        ModelRow {
            id: id.into(),
            project_id: project.map(str::to_string),
            model_name: id.into(),
            match_pattern: pattern.into(),
            start_date: start.map(|s| s.parse().expect("valid date")),
            unit: Some("TOKENS".into()),
            tokenizer_id: None,
            tokenizer_config: None,
            input_price: Some(1.0),
            output_price: None,
            total_price: None,
            created_at: Utc::now(),
        }
    }

    #[test]
    fn project_models_override_global_and_newer_start_dates_win() {
        let c = Catalog::build(
            vec![
                row("global", None, "(?i)^gpt-4o$", None),
                row(
                    "old",
                    Some("p"),
                    "(?i)^gpt-4o$",
                    Some("2024-01-01T00:00:00Z"),
                ),
                row(
                    "new",
                    Some("p"),
                    "(?i)^gpt-4o$",
                    Some("2025-01-01T00:00:00Z"),
                ),
            ],
            vec![],
            0,
        );
        assert_eq!(
            c.find("p", "GPT-4o").map(|d| d.id.clone()).as_deref(),
            Some("new")
        );
        assert_eq!(
            c.find("other", "gpt-4o").map(|d| d.id.clone()).as_deref(),
            Some("global")
        );
        assert!(c.find("p", "gpt-4o-mini").is_none());
    }

    #[test]
    fn legacy_prices_make_a_default_tier() {
        let c = Catalog::build(vec![row("m", None, "x", None)], vec![], 0);
        let d = c.find("p", "x").expect("match");
        assert_eq!(d.tiers.len(), 1);
        assert!(d.tiers[0].tier.is_default);
        assert_eq!(d.tiers[0].tier.prices.get("input"), Some(&1.0));
    }

    #[test]
    fn postgres_look_ahead_patterns_still_match() {
        let c = Catalog::build(vec![row("m", None, "^gpt-(?!4o)", None)], vec![], 0);
        assert!(c.find("p", "gpt-4").is_some());
        assert!(c.find("p", "gpt-4o").is_none());
    }

    #[test]
    fn the_default_seed_parses_and_every_pattern_compiles_and_matches_its_name() {
        let (digest, models, tiers) = default_seed().expect("seed parses");
        assert_eq!(digest.len(), 64);
        let models = models.as_array().expect("array");
        assert!(models.len() > 150, "{} models", models.len());
        assert!(tiers.as_array().expect("array").len() >= models.len());
        for m in models {
            let pattern = m["matchPattern"].as_str().expect("pattern");
            let re = Matcher::new(pattern).unwrap_or_else(|| panic!("{pattern} compiles"));
            assert!(
                matches!(re, Matcher::Plain(_)),
                "{pattern} needs no backtracking engine"
            );
        }
        // Spot checks of widely used names against the shipped patterns.
        let rows: Vec<ModelRow> = models
            .iter()
            .map(|m| {
                row(
                    m["id"].as_str().unwrap(),
                    None,
                    m["matchPattern"].as_str().unwrap(),
                    None,
                )
            })
            .collect();
        let c = Catalog::build(rows, vec![], 0);
        for name in [
            "gpt-4o",
            "openai/gpt-4o-mini",
            "claude-3-5-sonnet-20241022",
            "anthropic.claude-3-5-sonnet-20240620-v1:0",
            "gemini-2.5-pro",
            "text-embedding-3-small",
        ] {
            assert!(c.find("p", name).is_some(), "{name} has a default model");
        }
        assert_eq!(
            c.find("p", "gpt-4o").map(|d| d.id.clone()).as_deref(),
            Some("b9854a5c92dc496b997d99d20")
        );
    }
}
