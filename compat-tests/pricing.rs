//! `Pricing::derive` against a real database: seeded prices, project overrides, tiers,
//! tokenization and cache invalidation. Expected figures are computed here from the
//! published per-token prices.

use serde_json::{json, Value};
use xtrace::pricing::{Pricing, UsageInput};
use xtrace::store::models::{self as store, NewModel, NewTier};

use crate::helpers::fresh_database;

async fn pricing() -> (Pricing, sqlx::PgPool) {
    let url = fresh_database().await;
    let pool = xtrace::db::connect(&url, 3).await.expect("pool");
    xtrace::db::migrate(&pool).await.expect("migrations");
    xtrace::store::projects::upsert_organization(&pool, "org", "Org")
        .await
        .expect("org");
    for p in ["p1", "p2"] {
        xtrace::store::projects::ensure_project(&pool, "org", p, p)
            .await
            .expect("project");
    }
    (Pricing::new(pool.clone()), pool)
}

async fn add_model(
    pool: &sqlx::PgPool,
    project: &str,
    id: &str,
    pattern: &str,
    tiers: Vec<NewTier>,
) {
    let mut tx = pool.begin().await.expect("tx");
    let inserted = store::insert_model(
        &mut tx,
        &NewModel {
            id,
            project_id: project,
            model_name: id,
            match_pattern: pattern,
            start_date: None,
            unit: "TOKENS",
            tokenizer_id: None,
            tokenizer_config: None,
            input_price: None,
            output_price: None,
            total_price: None,
        },
        &tiers,
    )
    .await
    .expect("insert");
    assert!(inserted);
    tx.commit().await.expect("commit");
}

fn tier(id: &str, default: bool, priority: i32, conditions: Value, prices: Value) -> NewTier {
    NewTier {
        id: id.into(),
        name: id.into(),
        is_default: default,
        priority,
        conditions,
        prices,
    }
}

fn close(a: Option<f64>, b: f64) -> bool {
    a.is_some_and(|a| (a - b).abs() < 1e-12)
}

#[tokio::test]
async fn gpt_4o_usage_is_priced_from_the_seeded_price_list() {
    let (pricing, _) = pricing().await;
    let usage = json!({"input": 1000, "output": 500});
    let out = pricing
        .derive(
            "p1",
            &UsageInput {
                model: Some("gpt-4o"),
                usage_details: Some(&usage),
                ..Default::default()
            },
        )
        .await
        .expect("derive");
    // gpt-4o: $2.50 per 1M input tokens, $10 per 1M output tokens.
    let input = 1000.0 * 2.5 / 1e6;
    let output = 500.0 * 10.0 / 1e6;
    assert!(
        close(out.cost_details.get("input").copied(), input),
        "{out:?}"
    );
    assert!(close(out.cost_details.get("output").copied(), output));
    assert!(close(out.total_cost, input + output));
    assert_eq!(
        out.usage_details.get("total"),
        Some(&1500.0),
        "total = sum of keys"
    );
    assert_eq!(
        out.internal_model_id.as_deref(),
        Some("b9854a5c92dc496b997d99d20")
    );
    assert_eq!(out.usage_pricing_tier_name.as_deref(), Some("Standard"));
    assert!(out.provided_cost_details.is_empty());

    // An OpenAI Chat Completions usage object with cached tokens: cached input is priced
    // at the cached rate ($1.25/M) and taken out of the regular input.
    let openai = json!({
        "prompt_tokens": 2000, "completion_tokens": 100, "total_tokens": 2100,
        "prompt_tokens_details": {"cached_tokens": 1500}
    });
    let out = pricing
        .derive(
            "p1",
            &UsageInput {
                model: Some("openai/gpt-4o"),
                usage_details: Some(&openai),
                ..Default::default()
            },
        )
        .await
        .expect("derive");
    let expected = 500.0 * 2.5 / 1e6 + 1500.0 * 1.25 / 1e6 + 100.0 * 10.0 / 1e6;
    assert_eq!(out.usage_details.get("input"), Some(&500.0));
    assert!(close(out.total_cost, expected), "{out:?}");
}

#[tokio::test]
async fn provided_costs_are_kept_and_unknown_models_are_not_priced() {
    let (pricing, _) = pricing().await;
    let usage = json!({"input": 10, "output": 20, "inputCost": 0.5, "outputCost": 0.25});
    let out = pricing
        .derive(
            "p1",
            &UsageInput {
                model: Some("gpt-4o"),
                usage: Some(&usage),
                ..Default::default()
            },
        )
        .await
        .expect("derive");
    assert_eq!(out.total_cost, Some(0.75));
    assert_eq!(out.cost_details.get("input"), Some(&0.5));
    assert_eq!(out.usage_details.get("total"), Some(&30.0));

    let details = json!({"input": 10});
    let out = pricing
        .derive(
            "p1",
            &UsageInput {
                model: Some("some-private-model"),
                usage_details: Some(&details),
                ..Default::default()
            },
        )
        .await
        .expect("derive");
    assert_eq!(out.internal_model_id, None);
    assert!(out.cost_details.is_empty());
    assert_eq!(out.total_cost, None);
}

#[tokio::test]
async fn a_project_model_overrides_the_global_one_only_in_its_project() {
    let (pricing, pool) = pricing().await;
    let usage = json!({"input": 100, "output": 100});
    let derive = |project: &'static str| {
        let pricing = pricing.clone();
        let usage = usage.clone();
        async move {
            pricing
                .derive(
                    project,
                    &UsageInput {
                        model: Some("gpt-4o"),
                        usage_details: Some(&usage),
                        ..Default::default()
                    },
                )
                .await
                .expect("derive")
        }
    };
    // Warm the cache, then add the override: invalidate() makes it visible at once.
    assert_eq!(
        derive("p1").await.internal_model_id.as_deref(),
        Some("b9854a5c92dc496b997d99d20")
    );
    add_model(
        &pool,
        "p1",
        "custom-4o",
        "(?i)^gpt-4o$",
        vec![tier(
            "custom-4o_tier_default",
            true,
            0,
            json!([]),
            json!({"input": 0.01, "output": 0.02}),
        )],
    )
    .await;
    pricing.invalidate();
    let out = derive("p1").await;
    assert_eq!(out.internal_model_id.as_deref(), Some("custom-4o"));
    assert!(
        close(out.total_cost, 100.0 * 0.01 + 100.0 * 0.02),
        "{out:?}"
    );
    let other = derive("p2").await;
    assert_eq!(
        other.internal_model_id.as_deref(),
        Some("b9854a5c92dc496b997d99d20")
    );
}

#[tokio::test]
async fn tiered_pricing_switches_above_the_threshold() {
    let (pricing, pool) = pricing().await;
    add_model(
        &pool,
        "p1",
        "tiered",
        "(?i)^tiered$",
        vec![
            tier("std", true, 0, json!([]), json!({"input": 1.0, "output": 2.0})),
            tier(
                "large",
                false,
                1,
                json!([{"usageDetailPattern": "^input", "operator": "gt", "value": 1000, "caseSensitive": false}]),
                json!({"input": 3.0, "output": 4.0}),
            ),
            tier(
                "flex",
                false,
                2,
                json!([{"source": "model_parameters", "key": "service_tier", "operator": "in", "values": ["flex"]}]),
                json!({"input": 0.5, "output": 1.0}),
            ),
        ],
    )
    .await;
    let run = |usage: Value, params: Option<Value>| {
        let pricing = pricing.clone();
        async move {
            pricing
                .derive(
                    "p1",
                    &UsageInput {
                        model: Some("tiered"),
                        usage_details: Some(&usage),
                        model_parameters: params.as_ref(),
                        ..Default::default()
                    },
                )
                .await
                .expect("derive")
        }
    };
    let small = run(json!({"input": 1000, "output": 10}), None).await;
    assert_eq!(small.usage_pricing_tier_id.as_deref(), Some("std"));
    assert!(close(small.total_cost, 1000.0 * 1.0 + 10.0 * 2.0));
    // 900 input + 200 input_cached = 1100 > 1000.
    let large = run(
        json!({"input": 900, "input_cached": 200, "output": 10}),
        None,
    )
    .await;
    assert_eq!(large.usage_pricing_tier_name.as_deref(), Some("large"));
    assert!(
        close(large.total_cost, 900.0 * 3.0 + 10.0 * 4.0),
        "{large:?}"
    );
    let flex = run(
        json!({"input": 10, "output": 10}),
        Some(json!({"service_tier": "flex"})),
    )
    .await;
    assert_eq!(flex.usage_pricing_tier_id.as_deref(), Some("flex"));
    assert!(close(flex.total_cost, 10.0 * 0.5 + 10.0 * 1.0));
}

#[tokio::test]
async fn generations_without_usage_are_tokenized_and_priced() {
    let (pricing, _) = pricing().await;
    let input = json!("hello world");
    let output = json!("hello world");
    let out = pricing
        .derive(
            "p1",
            &UsageInput {
                model: Some("gpt-4"),
                input: Some(&input),
                output: Some(&output),
                ..Default::default()
            },
        )
        .await
        .expect("derive");
    // "hello world" is two cl100k_base tokens; gpt-4 costs $30/M input and $60/M output.
    assert_eq!(out.usage_details.get("input"), Some(&2.0), "{out:?}");
    assert_eq!(out.usage_details.get("output"), Some(&2.0));
    assert_eq!(out.usage_details.get("total"), Some(&4.0));
    assert!(out.provided_usage_details.is_empty());
    assert!(
        close(out.total_cost, 2.0 * 30.0 / 1e6 + 2.0 * 60.0 / 1e6),
        "{out:?}"
    );

    // No tokenization for ERROR generations or when a cost was provided.
    let out = pricing
        .derive(
            "p1",
            &UsageInput {
                model: Some("gpt-4"),
                input: Some(&input),
                level_is_error: true,
                ..Default::default()
            },
        )
        .await
        .expect("derive");
    assert!(out.usage_details.is_empty());
    let cost = json!({"total": 1.0});
    let out = pricing
        .derive(
            "p1",
            &UsageInput {
                model: Some("gpt-4"),
                input: Some(&input),
                cost_details: Some(&cost),
                ..Default::default()
            },
        )
        .await
        .expect("derive");
    assert!(out.usage_details.is_empty());
    assert_eq!(out.total_cost, Some(1.0));
}

#[tokio::test]
async fn deleting_a_project_model_falls_back_to_the_global_one_after_invalidate() {
    let (pricing, pool) = pricing().await;
    add_model(
        &pool,
        "p1",
        "mine",
        "(?i)^gpt-4o-mini$",
        vec![tier(
            "mine_tier_default",
            true,
            0,
            json!([]),
            json!({"input": 1.0}),
        )],
    )
    .await;
    let details = json!({"input": 1});
    let input = UsageInput {
        model: Some("gpt-4o-mini"),
        usage_details: Some(&details),
        ..Default::default()
    };
    assert_eq!(
        pricing
            .derive("p1", &input)
            .await
            .unwrap()
            .internal_model_id
            .as_deref(),
        Some("mine")
    );
    assert!(store::delete_model(&pool, "p1", "mine").await.unwrap());
    pricing.invalidate();
    assert_eq!(
        pricing
            .derive("p1", &input)
            .await
            .unwrap()
            .internal_model_id
            .as_deref(),
        Some("clyrjp56f0000t0mzapoocd7u")
    );
}
