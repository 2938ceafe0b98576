//! Usage and cost (COMPAT-NOTES §4.7): normalising what clients send (`usage`,
//! `usageDetails`, `costDetails`), matching model definitions, tokenizing when no usage was
//! given, and pricing by tier. The ingest worker calls [`Pricing::derive`] once per merged
//! generation-like observation; the models API calls [`Pricing::invalidate`] after writes.
//!
//! Submodules: `normalise` (client input → amounts), `tiers` (tier choice and cost),
//! `tokenize` (token counts), `catalog` (model definitions in memory, default seed).
//! Read-side figures of the observations API live in `domain::usage`.

pub mod catalog;
pub mod normalise;
pub mod tiers;
pub mod tokenize;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde_json::Value;
use sqlx::PgPool;

use self::catalog::{Catalog, ModelDef};
use self::tiers::Attributes;

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
    /// Token counts of input and output already known (cached by the caller); when set,
    /// they are used instead of tokenizing `input`/`output`.
    pub token_counts: Option<(Option<u64>, Option<u64>)>,
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

/// How long a loaded catalog is trusted before it is reloaded (changes made by other
/// processes on the same database show up within this time).
const CATALOG_TTL: Duration = Duration::from_secs(60);

/// Model catalogue and pricing, shared by the ingest worker and the models API. Cheap to
/// clone (one shared cache).
#[derive(Debug, Clone)]
pub struct Pricing {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    pool: PgPool,
    catalog: RwLock<Option<Arc<Catalog>>>,
    /// Bumped by `invalidate`; a catalog loaded at an older generation is stale.
    generation: AtomicU64,
    /// One reload at a time.
    reload: tokio::sync::Mutex<()>,
    /// The default models are written at most once per process.
    seeded: tokio::sync::OnceCell<()>,
}

impl Pricing {
    /// A pricing service reading model definitions from `pool`.
    pub fn new(pool: PgPool) -> Self {
        Self {
            inner: Arc::new(Inner {
                pool,
                catalog: RwLock::new(None),
                generation: AtomicU64::new(0),
                reload: tokio::sync::Mutex::new(()),
                seeded: tokio::sync::OnceCell::new(),
            }),
        }
    }

    /// Writes the default (global) model list to the database unless this exact list was
    /// applied before. Runs once per process; `derive` calls it too, so a `Pricing` on a
    /// freshly migrated database prices without further set-up.
    pub async fn seed_default_models(&self) -> anyhow::Result<()> {
        self.inner
            .seeded
            .get_or_try_init(|| async {
                let (digest, models, tiers) = catalog::default_seed()?;
                let wrote = crate::store::models::seed_global_models(
                    &self.inner.pool,
                    &digest,
                    &models,
                    &tiers,
                )
                .await?;
                if wrote {
                    tracing::info!("default model prices written");
                    self.invalidate();
                }
                anyhow::Ok(())
            })
            .await?;
        Ok(())
    }

    /// The current catalog, (re)loaded when missing, invalidated or older than the TTL.
    async fn catalog(&self) -> anyhow::Result<Arc<Catalog>> {
        let fresh = |c: &Catalog, generation: u64| {
            c.generation == generation && c.loaded_at.elapsed() < CATALOG_TTL
        };
        let current = || {
            self.inner
                .catalog
                .read()
                .expect("catalog lock is never held across a panic")
                .clone()
        };
        let generation = self.inner.generation.load(Ordering::Acquire);
        if let Some(c) = current().filter(|c| fresh(c, generation)) {
            return Ok(c);
        }
        self.seed_default_models().await?;
        let _one_at_a_time = self.inner.reload.lock().await;
        let generation = self.inner.generation.load(Ordering::Acquire);
        if let Some(c) = current().filter(|c| fresh(c, generation)) {
            return Ok(c);
        }
        let models = crate::store::models::list_all_models(&self.inner.pool).await?;
        let tiers = crate::store::models::list_all_tiers(&self.inner.pool).await?;
        let built = Arc::new(Catalog::build(models, tiers, generation));
        *self
            .inner
            .catalog
            .write()
            .expect("catalog lock is never held across a panic") = Some(built.clone());
        Ok(built)
    }

    /// The model definition `model` resolves to in `project_id` (project models first).
    pub async fn find_model(
        &self,
        project_id: &str,
        model: &str,
    ) -> anyhow::Result<Option<Arc<ModelDef>>> {
        Ok(self.catalog().await?.find(project_id, model))
    }

    /// The tokenizer [`Pricing::derive`] would count `input`/`output` with (None: it
    /// would not tokenize: no matched model with a tokenizer, usage or cost provided, or
    /// level ERROR).
    pub async fn tokenizer_for(
        &self,
        project_id: &str,
        input: &UsageInput<'_>,
    ) -> anyhow::Result<Option<tokenize::TokenizerSpec>> {
        let provided = normalise::provided(input.usage, input.usage_details, input.cost_details);
        if !provided.usage.is_empty() || !provided.cost.is_empty() || input.level_is_error {
            return Ok(None);
        }
        let model = match input.model.filter(|m| !m.is_empty()) {
            Some(name) => self.find_model(project_id, name).await?,
            None => None,
        };
        Ok(model.and_then(|m| m.tokenizer.clone()))
    }

    /// Derives usage and cost for one observation of `project_id`.
    pub async fn derive(
        &self,
        project_id: &str,
        input: &UsageInput<'_>,
    ) -> anyhow::Result<UsageOutcome> {
        let provided = normalise::provided(input.usage, input.usage_details, input.cost_details);
        let model = match input.model.filter(|m| !m.is_empty()) {
            Some(name) => self.find_model(project_id, name).await?,
            None => None,
        };

        let tokenize = model.is_some()
            && provided.usage.is_empty()
            && provided.cost.is_empty()
            && !input.level_is_error;
        let usage_details = match (&model, tokenize) {
            (Some(m), true) => match (&m.tokenizer, input.token_counts) {
                (Some(_), Some((i, o))) => usage_from_counts(i, o),
                (Some(spec), None) => tokenized_usage(spec, input.input, input.output).await,
                (None, _) => Amounts::new(),
            },
            _ => normalise::with_total(provided.usage.clone()),
        };

        let attrs = Attributes {
            model_parameters: input.model_parameters,
            metadata: input.metadata,
        };
        let tier = model
            .as_ref()
            .and_then(|m| tiers::select_tier(&m.tiers, &usage_details, &attrs));
        let (cost_details, total_cost) =
            tiers::compute_cost(tier.map(|t| &t.tier.prices), &provided.cost, &usage_details);
        Ok(UsageOutcome {
            provided_usage_details: provided.usage,
            usage_details,
            provided_cost_details: provided.cost,
            cost_details,
            total_cost,
            internal_model_id: model.as_ref().map(|m| m.id.clone()),
            usage_pricing_tier_id: tier.map(|t| t.tier.id.clone()),
            usage_pricing_tier_name: tier.map(|t| t.tier.name.clone()),
        })
    }

    /// Forgets cached model definitions (after the models API changed them).
    pub fn invalidate(&self) {
        self.inner.generation.fetch_add(1, Ordering::AcqRel);
    }
}

/// `{input, output, total}` from token counts of the stored input and output, off the async
/// runtime (tokenizing large payloads is CPU work). `total` only when a side is non-zero.
async fn tokenized_usage(
    spec: &tokenize::TokenizerSpec,
    input: Option<&Value>,
    output: Option<&Value>,
) -> Amounts {
    let (spec, input, output) = (spec.clone(), input.cloned(), output.cloned());
    let counts = tokio::task::spawn_blocking(move || {
        (
            tokenize::count(&spec, input.as_ref()),
            tokenize::count(&spec, output.as_ref()),
        )
    })
    .await;
    match counts {
        Ok((input, output)) => usage_from_counts(input, output),
        Err(e) => {
            tracing::error!(error = %e, "tokenization failed; continuing without token counts");
            Amounts::new()
        }
    }
}

/// `{input, output, total}` from token counts; `total` only when a side is non-zero.
fn usage_from_counts(input: Option<u64>, output: Option<u64>) -> Amounts {
    let mut usage = Amounts::new();
    if let Some(n) = input {
        usage.insert("input".into(), n as f64);
    }
    if let Some(n) = output {
        usage.insert("output".into(), n as f64);
    }
    if input.unwrap_or(0) > 0 || output.unwrap_or(0) > 0 {
        usage.insert(
            "total".into(),
            (input.unwrap_or(0) + output.unwrap_or(0)) as f64,
        );
    }
    usage
}
