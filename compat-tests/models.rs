//! `/api/public/models`: list/get/create/delete, validation, project isolation and the
//! global (Langfuse-managed) models.

use serde_json::{json, Value};

use crate::helpers::*;

/// Creates a second project with a key pair through the admin API; returns its Basic header.
async fn second_project(app: &TestApp) -> String {
    let (status, project) = app
        .send(
            "POST",
            "/api/public/projects",
            Some(&app.bearer_auth()),
            Some(&json!({"name": "other project"})),
        )
        .await;
    assert_eq!(status, 201, "{project}");
    let id = project["id"].as_str().expect("project id");
    let (status, key) = app
        .send(
            "POST",
            &format!("/api/public/projects/{id}/apiKeys"),
            Some(&app.bearer_auth()),
            Some(&json!({})),
        )
        .await;
    assert_eq!(status, 201, "{key}");
    basic(
        key["publicKey"].as_str().expect("pk"),
        key["secretKey"].as_str().expect("sk"),
    )
}

async fn all_models(app: &TestApp, auth: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for page in 1.. {
        let (status, body) = app
            .send(
                "GET",
                &format!("/api/public/models?page={page}&limit=100"),
                Some(auth),
                None,
            )
            .await;
        assert_eq!(status, 200, "{body}");
        out.extend(body["data"].as_array().expect("data").iter().cloned());
        if body["meta"]["totalPages"].as_u64().expect("totalPages") <= page {
            break;
        }
    }
    out
}

fn flat_model(name: &str) -> Value {
    json!({
        "modelName": name,
        "matchPattern": format!("(?i)^{name}$"),
        "unit": "TOKENS",
        "inputPrice": 0.000001,
        "outputPrice": 0.000002
    })
}

#[tokio::test]
async fn global_models_are_listed_with_langfuse_shape_and_pagination() {
    let app = spawn_app().await;
    let (status, body) = app.get("/api/public/models?limit=10").await;
    assert_eq!(status, 200, "{body}");
    let total = body["meta"]["totalItems"].as_u64().expect("totalItems");
    assert!(total > 150, "the default list is seeded: {total}");
    assert_eq!(body["meta"]["page"], 1);
    assert_eq!(body["meta"]["limit"], 10);
    assert_eq!(body["meta"]["totalPages"], total.div_ceil(10));
    assert_eq!(body["data"].as_array().expect("data").len(), 10);

    let models = all_models(&app, &app.basic_auth()).await;
    assert_eq!(models.len() as u64, total);
    let names: Vec<&str> = models
        .iter()
        .map(|m| m["modelName"].as_str().unwrap())
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "ordered by model name");

    let gpt4o = models
        .iter()
        .find(|m| m["modelName"] == "gpt-4o")
        .expect("gpt-4o is seeded");
    let keys: std::collections::BTreeSet<&str> = gpt4o
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let expected: std::collections::BTreeSet<&str> = [
        "id",
        "modelName",
        "matchPattern",
        "startDate",
        "unit",
        "inputPrice",
        "outputPrice",
        "totalPrice",
        "tokenizerId",
        "tokenizerConfig",
        "isLangfuseManaged",
        "createdAt",
        "prices",
        "pricingTiers",
    ]
    .into_iter()
    .collect();
    assert_eq!(keys, expected);
    assert_eq!(gpt4o["isLangfuseManaged"], true);
    assert_eq!(gpt4o["tokenizerId"], "openai");
    assert_eq!(gpt4o["tokenizerConfig"]["tokenizerModel"], "gpt-4o");
    // $2.50 / $10 per million tokens.
    assert_eq!(gpt4o["inputPrice"], 0.0000025);
    assert_eq!(gpt4o["outputPrice"], 0.00001);
    assert_eq!(gpt4o["totalPrice"], Value::Null);
    assert_eq!(gpt4o["prices"]["input"]["price"], 0.0000025);
    let tiers = gpt4o["pricingTiers"].as_array().expect("tiers");
    assert_eq!(tiers.len(), 1);
    assert_eq!(tiers[0]["isDefault"], true);
    assert_eq!(tiers[0]["priority"], 0);
    assert_eq!(tiers[0]["conditions"], json!([]));

    // A tiered global model lists its conditional tier after the default one.
    let gemini = models
        .iter()
        .find(|m| m["modelName"] == "gemini-2.5-pro")
        .expect("gemini-2.5-pro is seeded");
    let tiers = gemini["pricingTiers"].as_array().expect("tiers");
    assert_eq!(tiers.len(), 2);
    assert_eq!(tiers[1]["priority"], 1);
    assert_eq!(tiers[1]["conditions"][0]["operator"], "gt");
    assert_eq!(tiers[1]["conditions"][0]["value"], 200000.0);
    assert_eq!(tiers[1]["conditions"][0]["caseSensitive"], false);

    let (status, one) = app
        .get(&format!(
            "/api/public/models/{}",
            gpt4o["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(status, 200);
    assert_eq!(&one, gpt4o);
}

#[tokio::test]
async fn bad_pagination_is_a_400() {
    let app = spawn_app().await;
    for q in ["page=0", "limit=0", "limit=101", "page=x"] {
        let (status, body) = app.get(&format!("/api/public/models?{q}")).await;
        assert_eq!(status, 400, "{q}: {body}");
        assert_eq!(body["message"], "Invalid request data", "{q}");
    }
}

#[tokio::test]
async fn create_get_and_delete_a_project_model() {
    let app = spawn_app().await;
    let (status, created) = app
        .post(
            "/api/public/models",
            &json!({
                "modelName": "my-model",
                "matchPattern": "(?i)^my-model$",
                "startDate": "2025-01-01T00:00:00Z",
                "unit": "TOKENS",
                "inputPrice": 0.000001,
                "outputPrice": 0.000002,
                "tokenizerId": "openai",
                "tokenizerConfig": {"tokenizerModel": "gpt-4o", "tokensPerMessage": 3, "tokensPerName": 1}
            }),
        )
        .await;
    assert_eq!(status, 200, "{created}");
    let id = created["id"].as_str().expect("id").to_string();
    assert_eq!(created["modelName"], "my-model");
    assert_eq!(created["isLangfuseManaged"], false);
    assert_eq!(created["startDate"], "2025-01-01T00:00:00.000Z");
    assert_eq!(created["unit"], "TOKENS");
    assert_eq!(created["inputPrice"], 0.000001);
    assert_eq!(created["outputPrice"], 0.000002);
    assert_eq!(created["totalPrice"], Value::Null);
    assert_eq!(
        created["prices"],
        json!({"input": {"price": 0.000001}, "output": {"price": 0.000002}})
    );
    let tiers = created["pricingTiers"].as_array().expect("tiers");
    assert_eq!(tiers.len(), 1);
    assert_eq!(tiers[0]["id"], format!("{id}_tier_default"));
    assert_eq!(tiers[0]["name"], "Standard");
    assert_eq!(
        tiers[0]["prices"],
        json!({"input": 0.000001, "output": 0.000002})
    );

    let (status, fetched) = app.get(&format!("/api/public/models/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(fetched, created);
    let listed = all_models(&app, &app.basic_auth()).await;
    assert!(listed.iter().any(|m| m["id"] == id.as_str()));

    let (status, body) = app
        .send(
            "DELETE",
            &format!("/api/public/models/{id}"),
            Some(&app.basic_auth()),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"message": "Model successfully deleted"}));
    let (status, body) = app.get(&format!("/api/public/models/{id}")).await;
    assert_eq!(status, 404);
    assert_eq!(body["error"], "LangfuseNotFoundError");
    assert_eq!(body["message"], "No model with this id found.");
}

#[tokio::test]
async fn create_with_pricing_tiers_returns_them_by_priority() {
    let app = spawn_app().await;
    let (status, created) = app
        .post(
            "/api/public/models",
            &json!({
                "modelName": "tiered",
                "matchPattern": "(?i)^tiered$",
                "unit": "TOKENS",
                "pricingTiers": [
                    {"name": "Large", "isDefault": false, "priority": 1,
                     "conditions": [{"usageDetailPattern": "input", "operator": "gt", "value": 1000}],
                     "prices": {"input": 0.2, "output": 0.4}},
                    {"name": "Standard", "isDefault": true, "priority": 0, "conditions": [],
                     "prices": {"input": 0.1, "output": 0.3}},
                    {"name": "Flex", "priority": 2,
                     "conditions": [{"source": "model_parameters", "key": "service_tier", "operator": "in", "values": ["flex"]}],
                     "prices": {"input": 0.05, "output": 0.15}}
                ]
            }),
        )
        .await;
    assert_eq!(status, 200, "{created}");
    let tiers = created["pricingTiers"].as_array().expect("tiers");
    let names: Vec<&str> = tiers.iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Standard", "Large", "Flex"]);
    assert_eq!(
        tiers[1]["conditions"][0]["caseSensitive"], false,
        "defaulted"
    );
    assert_eq!(tiers[2]["conditions"][0]["source"], "model_parameters");
    assert_eq!(
        created["inputPrice"], 0.1,
        "legacy fields come from the default tier"
    );
    assert_eq!(created["prices"]["output"]["price"], 0.3);
}

#[tokio::test]
async fn invalid_bodies_are_400s() {
    let app = spawn_app().await;
    let base = flat_model("v");
    let with = |k: &str, v: Value| {
        let mut b = base.clone();
        b[k] = v;
        b
    };
    let without = |k: &str| {
        let mut b = base.clone();
        b.as_object_mut().unwrap().remove(k);
        b
    };
    let cases = [
        (without("modelName"), "modelName is required"),
        (without("matchPattern"), "matchPattern is required"),
        (without("unit"), "unit is required"),
        (with("unit", json!("PARSECS")), "unit must be a known unit"),
        (
            with("tokenizerId", json!("llama")),
            "tokenizer must be openai or claude",
        ),
        (with("inputPrice", json!(-1)), "prices are non-negative"),
        (
            with("totalPrice", json!(0.1)),
            "total price with input/output price",
        ),
        (
            json!({"modelName": "v", "matchPattern": "v", "unit": "TOKENS"}),
            "neither prices nor tiers",
        ),
        (
            with(
                "pricingTiers",
                json!([{"name": "S", "isDefault": true, "priority": 0, "conditions": [], "prices": {"input": 1}}]),
            ),
            "both flat prices and tiers",
        ),
        (
            json!({"modelName": "v", "matchPattern": "v", "unit": "TOKENS", "pricingTiers": [
                {"name": "S", "isDefault": false, "priority": 1,
                 "conditions": [{"usageDetailPattern": "input", "operator": "gt", "value": 1}], "prices": {"input": 1}}
            ]}),
            "no default tier",
        ),
        (
            json!({"modelName": "v", "matchPattern": "v", "unit": "TOKENS", "pricingTiers": [
                {"name": "S", "isDefault": true, "priority": 0, "conditions": [], "prices": {"input": 1}},
                {"name": "L", "isDefault": false, "priority": 1,
                 "conditions": [{"usageDetailPattern": "input", "operator": "between", "value": 1}], "prices": {"input": 1}}
            ]}),
            "unknown operator",
        ),
    ];
    for (body, why) in cases {
        let (status, resp) = app.post("/api/public/models", &body).await;
        assert_eq!(status, 400, "{why}: {resp}");
        assert!(resp["message"].is_string(), "{why}: {resp}");
    }

    let (status, resp) = app
        .post(
            "/api/public/models",
            &with("matchPattern", json!("(unclosed")),
        )
        .await;
    assert_eq!(status, 400, "{resp}");
    assert_eq!(
        resp["message"],
        "matchPattern is not a valid regex pattern (Postgres)"
    );
    assert_eq!(resp["error"], "InvalidRequestError");

    let (status, _) = app.post("/api/public/models", &flat_model("dup")).await;
    assert_eq!(status, 200);
    let (status, resp) = app.post("/api/public/models", &flat_model("dup")).await;
    assert_eq!(status, 400, "{resp}");
    assert_eq!(
        resp["message"],
        "Model name 'dup' already exists in project"
    );
}

#[tokio::test]
async fn global_models_cannot_be_deleted_and_unknown_ids_are_404() {
    let app = spawn_app().await;
    let (status, body) = app
        .send(
            "DELETE",
            "/api/public/models/b9854a5c92dc496b997d99d20",
            Some(&app.basic_auth()),
            None,
        )
        .await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"], "LangfuseNotFoundError");
    assert!(body["message"]
        .as_str()
        .unwrap()
        .contains("You cannot delete built-in models"));
    let (status, _) = app
        .get("/api/public/models/b9854a5c92dc496b997d99d20")
        .await;
    assert_eq!(status, 200, "still there");
    let (status, _) = app.get("/api/public/models/no-such-model").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn project_models_are_invisible_to_other_projects() {
    let app = spawn_app().await;
    let other = second_project(&app).await;
    let (status, created) = app.post("/api/public/models", &flat_model("mine")).await;
    assert_eq!(status, 200);
    let id = created["id"].as_str().unwrap();

    let (status, _) = app
        .send(
            "GET",
            &format!("/api/public/models/{id}"),
            Some(&other),
            None,
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = app
        .send(
            "DELETE",
            &format!("/api/public/models/{id}"),
            Some(&other),
            None,
        )
        .await;
    assert_eq!(status, 404);
    let theirs = all_models(&app, &other).await;
    assert!(theirs.iter().all(|m| m["id"] != id));
    let ours = all_models(&app, &app.basic_auth()).await;
    assert_eq!(ours.len(), theirs.len() + 1);
    // Same name in another project is fine.
    let (status, _) = app
        .send(
            "POST",
            "/api/public/models",
            Some(&other),
            Some(&flat_model("mine")),
        )
        .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn models_routes_require_credentials() {
    let app = spawn_app().await;
    let (status, _) = app.send("GET", "/api/public/models", None, None).await;
    assert_eq!(status, 401);
    let (status, _) = app
        .send("POST", "/api/public/models", None, Some(&flat_model("x")))
        .await;
    assert_eq!(status, 401);
}
