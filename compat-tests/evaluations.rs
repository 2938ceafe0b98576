//! Unstable evaluators and evaluation rules: stored and served with Langfuse's shapes
//! and validation (xtrace runs no evaluator).

use serde_json::{json, Value};

use crate::helpers::*;
use crate::seed::*;

async fn send(app: &TestApp, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
    let auth = app.basic_auth();
    app.send(method, path, Some(&auth), body).await
}

fn judge(name: &str) -> Value {
    json!({
        "name": name,
        "prompt": "Is {{output}} a good answer to {{input}}? Consider {{ input }}.",
        "outputDefinition": {"dataType": "NUMERIC", "reasoning": {"description": "why"},
            "score": {"description": "0..1", "minValue": 0, "maxValue": 1}}
    })
}

const EVALUATORS: &str = "/api/public/unstable/evaluators";
const RULES: &str = "/api/public/unstable/evaluation-rules";

#[tokio::test]
async fn evaluators_are_versioned_by_name() {
    let app = spawn_app().await;
    let (s, e1) = send(&app, "POST", EVALUATORS, Some(&judge("helpfulness"))).await;
    assert_eq!(s, 200, "{e1}");
    assert_eq!(
        keys(&e1),
        [
            "createdAt",
            "evaluationRuleCount",
            "id",
            "mapping",
            "modelConfig",
            "name",
            "outputDefinition",
            "prompt",
            "type",
            "updatedAt",
            "variables",
            "version"
        ]
    );
    assert_eq!(e1["type"], "llm_as_judge");
    assert_eq!(e1["version"], 1);
    assert_eq!(e1["variables"], json!(["output", "input"]));
    assert_eq!(e1["mapping"], Value::Null);
    assert_eq!(e1["modelConfig"], Value::Null);
    assert_eq!(e1["evaluationRuleCount"], 0);
    assert_eq!(
        e1["outputDefinition"],
        json!({"dataType": "NUMERIC", "reasoning": {"description": "why"},
            "score": {"description": "0..1", "minValue": 0.0, "maxValue": 1.0}})
    );
    let mut v2 = judge("helpfulness");
    v2["prompt"] = json!("Rate {{answer}}");
    let (s, e2) = send(&app, "POST", EVALUATORS, Some(&v2)).await;
    assert_eq!(s, 200, "{e2}");
    assert_eq!(e2["id"], e1["id"]);
    assert_eq!(e2["version"], 2);
    assert_eq!(e2["variables"], json!(["answer"]));
    let id = e1["id"].as_str().unwrap();
    let (s, got) = send(&app, "GET", &format!("{EVALUATORS}/{id}"), None).await;
    assert_eq!(s, 200);
    assert_eq!(got["version"], 2);
    assert_eq!(got["prompt"], "Rate {{answer}}");

    let (s, code) = send(
        &app,
        "POST",
        EVALUATORS,
        Some(&json!({"name": "len", "type": "code",
        "sourceCode": "def evaluate(x): return 1", "sourceCodeLanguage": "PYTHON"})),
    )
    .await;
    assert_eq!(s, 200, "{code}");
    assert_eq!(code["type"], "code");
    assert_eq!(code["sourceCodeLanguage"], "PYTHON");
    assert!(code.get("prompt").is_none());
    assert!(code["variables"]
        .as_array()
        .unwrap()
        .iter()
        .any(|v| v == "output"));

    let (s, list) = send(&app, "GET", EVALUATORS, None).await;
    assert_eq!(s, 200);
    assert_eq!(list["meta"]["totalItems"], 2);
    assert_eq!(list["data"].as_array().unwrap().len(), 2);

    // Validation: shapes are invalid_body; an unknown provider fails the preflight.
    let with = |k: &str, v: Value| {
        let mut b = judge("x");
        b[k] = v;
        b
    };
    for body in [
        with("name", json!("")),
        with("prompt", json!("")),
        with("type", json!("regex")),
        with("outputDefinition", json!({"dataType": "TEXT"})),
        with(
            "outputDefinition",
            json!({"dataType": "BOOLEAN", "reasoning": {"description": " "},
            "score": {"description": "s"}}),
        ),
        with(
            "outputDefinition",
            json!({"dataType": "NUMERIC", "reasoning": {"description": "r"},
            "score": {"description": "s", "minValue": 2, "maxValue": 1}}),
        ),
        with(
            "outputDefinition",
            json!({"dataType": "CATEGORICAL", "reasoning": {"description": "r"},
            "score": {"description": "s", "categories": ["only"], "shouldAllowMultipleMatches": false}}),
        ),
        with("modelConfig", json!({"provider": "openai"})),
        json!({"name": "c", "type": "code", "sourceCode": "x", "sourceCodeLanguage": "RUBY"}),
    ] {
        let (s, e) = send(&app, "POST", EVALUATORS, Some(&body)).await;
        assert_eq!(s, 400, "{body}: {e}");
        assert_eq!(e["code"], "invalid_body", "{body}: {e}");
        assert!(e["details"]["issues"][0]["path"].is_array(), "{e}");
    }
    let (s, e) = send(
        &app,
        "POST",
        EVALUATORS,
        Some(&with(
            "modelConfig",
            json!({"provider": "openai", "model": "gpt-4.1-mini"}),
        )),
    )
    .await;
    assert_eq!(s, 422, "{e}");
    assert_eq!(e["code"], "evaluator_preflight_failed");
    assert_eq!(e["details"]["provider"], "openai");
    let (s, e) = send(
        &app,
        "POST",
        EVALUATORS,
        Some(&with(
            "mapping",
            json!([{"variable": "nope", "source": "input"}]),
        )),
    )
    .await;
    assert_eq!(s, 400, "{e}");
    assert_eq!(e["code"], "invalid_variable_mapping");

    let (s, del) = send(&app, "DELETE", &format!("{EVALUATORS}/{id}"), None).await;
    assert_eq!(
        (s, del),
        (200, json!({"message": "Evaluator successfully deleted"}))
    );
    let (s, e) = send(&app, "GET", &format!("{EVALUATORS}/{id}"), None).await;
    assert_eq!(s, 404);
    assert_eq!(e["code"], "resource_not_found");
}

#[tokio::test]
async fn evaluation_rules_are_recorded_with_checked_mappings_and_filters() {
    let app = spawn_app().await;
    let (_, e) = send(&app, "POST", EVALUATORS, Some(&judge("helpfulness"))).await;
    let eid = e["id"].as_str().unwrap().to_string();
    let mapping = json!([{"variable": "input", "source": "input"},
        {"variable": "output", "source": "output", "jsonPath": "$.text"}]);
    let body = json!({"name": "prod judge", "evaluator": {"name": "helpfulness"},
        "target": "observation", "enabled": true, "sampling": 0.25,
        "filter": [{"type": "stringOptions", "column": "level", "operator": "any of", "value": ["ERROR"]}],
        "mapping": mapping});
    let (s, r) = send(&app, "POST", RULES, Some(&body)).await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(
        keys(&r),
        [
            "createdAt",
            "enabled",
            "evaluator",
            "evaluators",
            "filter",
            "id",
            "mapping",
            "name",
            "pausedMessage",
            "pausedReason",
            "sampling",
            "status",
            "target",
            "updatedAt"
        ]
    );
    assert_eq!(
        r["evaluator"],
        json!({"id": eid, "name": "helpfulness", "type": "llm_as_judge"})
    );
    assert_eq!(r["status"], "active");
    assert_eq!(r["sampling"], 0.25);
    assert_eq!(r["pausedReason"], Value::Null);
    assert_eq!(
        r["mapping"],
        json!([{"variable": "input", "source": "input", "jsonPath": null},
            {"variable": "output", "source": "output", "jsonPath": "$.text"}])
    );
    assert_eq!(r["evaluators"][0]["mapping"], r["mapping"]);
    let rid = r["id"].as_str().unwrap().to_string();
    let (_, e) = send(&app, "GET", &format!("{EVALUATORS}/{eid}"), None).await;
    assert_eq!(e["evaluationRuleCount"], 1);

    // Same name: 409 name_conflict.
    let (s, err) = send(&app, "POST", RULES, Some(&body)).await;
    assert_eq!(s, 409, "{err}");
    assert_eq!(err["code"], "name_conflict");

    let with = |k: &str, v: Value| {
        let mut b = body.clone();
        b["name"] = json!("other");
        b[k] = v;
        b
    };
    let cases = [
        (
            with("mapping", json!([{"variable": "input", "source": "input"}])),
            "missing_variable_mapping",
        ),
        (
            with(
                "mapping",
                json!([{"variable": "input", "source": "input"},
            {"variable": "input", "source": "output"}]),
            ),
            "duplicate_variable_mapping",
        ),
        (
            with(
                "mapping",
                json!([{"variable": "input", "source": "expected_output"},
            {"variable": "output", "source": "output"}]),
            ),
            "invalid_variable_mapping",
        ),
        (
            with(
                "mapping",
                json!([{"variable": "input", "source": "input", "jsonPath": "text"},
            {"variable": "output", "source": "output"}]),
            ),
            "invalid_json_path",
        ),
        (
            with(
                "filter",
                json!([{"type": "stringOptions", "column": "level", "operator": "any of",
            "value": ["LOUD"]}]),
            ),
            "invalid_filter_value",
        ),
        (
            with(
                "filter",
                json!([{"type": "string", "column": "colour", "operator": "=", "value": "x"}]),
            ),
            "invalid_filter_value",
        ),
        (with("sampling", json!(0)), "invalid_body"),
        (with("target", json!("trace")), "invalid_body"),
        (
            with(
                "evaluators",
                json!([{"evaluator": {"name": "helpfulness"}}]),
            ),
            "invalid_body",
        ),
        (
            with("evaluator", json!({"name": "missing"})),
            "resource_not_found",
        ),
    ];
    for (b, code) in cases {
        let (s, err) = send(&app, "POST", RULES, Some(&b)).await;
        assert!(s == 400 || s == 404, "{b}: {err}");
        assert_eq!(err["code"], code, "{b}: {err}");
    }
    let (s, err) = send(
        &app,
        "POST",
        RULES,
        Some(&with(
            "filter",
            json!([{"type": "stringOptions",
        "column": "level", "operator": "any of", "value": ["LOUD"]}]),
        )),
    )
    .await;
    assert_eq!(s, 400);
    assert_eq!(err["details"]["invalidValues"], json!(["LOUD"]));
    assert_eq!(err["details"]["column"], "level");

    // Experiment rules filter by dataset ids of the project and may map expected output.
    let (_, ds) = app
        .post("/api/public/v2/datasets", &json!({"name": "golden"}))
        .await;
    let ds_id = ds["id"].as_str().unwrap();
    let exp = json!({"name": "exp judge", "evaluators": [{"evaluator": {"name": "helpfulness",
        "type": "llm_as_judge"}, "mapping": [{"variable": "input", "source": "input"},
        {"variable": "output", "source": "expected_output"}]}], "target": "experiment",
        "enabled": false, "filter": [{"type": "stringOptions", "column": "datasetId",
        "operator": "any of", "value": [ds_id]}]});
    let (s, r2) = send(&app, "POST", RULES, Some(&exp)).await;
    assert_eq!(s, 200, "{r2}");
    assert_eq!(r2["status"], "inactive");
    assert_eq!(r2["sampling"], 1.0);
    let mut bad_ds = exp.clone();
    bad_ds["name"] = json!("exp 2");
    bad_ds["filter"][0]["value"] = json!(["not-a-dataset"]);
    let (s, err) = send(&app, "POST", RULES, Some(&bad_ds)).await;
    assert_eq!(s, 400, "{err}");
    assert_eq!(err["code"], "invalid_filter_value");

    // Updates: partial, re-validated; a target change must fit the mapping.
    let path = format!("{RULES}/{rid}");
    let (s, up) = send(
        &app,
        "PATCH",
        &path,
        Some(&json!({"enabled": false, "name": "renamed"})),
    )
    .await;
    assert_eq!(s, 200, "{up}");
    assert_eq!(
        (up["status"].clone(), up["name"].clone()),
        (json!("inactive"), json!("renamed"))
    );
    assert_eq!(up["mapping"], r["mapping"]);
    let (s, up) = send(
        &app,
        "PATCH",
        &path,
        Some(&json!({"target": "experiment", "filter": []})),
    )
    .await;
    assert_eq!(s, 200, "{up}");
    assert_eq!(up["target"], "experiment");
    let (s, err) = send(&app, "PATCH", &path, Some(&json!({}))).await;
    assert_eq!(s, 400);
    assert_eq!(err["code"], "invalid_body");
    let (s, err) = send(&app, "PATCH", &path, Some(&json!({"name": "exp judge"}))).await;
    assert_eq!(s, 409, "{err}");

    let (s, list) = send(&app, "GET", RULES, None).await;
    assert_eq!(s, 200);
    assert_eq!(list["meta"]["totalItems"], 2);
    let (s, got) = send(&app, "GET", &path, None).await;
    assert_eq!(s, 200);
    assert_eq!(got["name"], "renamed");

    // Deleting the evaluator detaches it; deleting the rule leaves the evaluator.
    let (s, _) = send(&app, "DELETE", &path, None).await;
    assert_eq!(s, 200);
    let (s, err) = send(&app, "GET", &path, None).await;
    assert_eq!(s, 404, "{err}");
    let (s, _) = send(&app, "GET", &format!("{EVALUATORS}/{eid}"), None).await;
    assert_eq!(s, 200);
    let (s, _) = send(&app, "DELETE", &format!("{EVALUATORS}/{eid}"), None).await;
    assert_eq!(s, 200);
    let rid2 = r2["id"].as_str().unwrap();
    let (s, orphan) = send(&app, "GET", &format!("{RULES}/{rid2}"), None).await;
    assert_eq!(s, 200);
    assert_eq!(orphan["evaluator"], Value::Null);
    assert_eq!(orphan["evaluators"], json!([]));
}

#[tokio::test]
async fn code_rules_use_the_fixed_mapping_and_llm_connections_pass_the_preflight() {
    let app = spawn_app().await;
    let (s, _) = send(
        &app,
        "POST",
        EVALUATORS,
        Some(&json!({"name": "len", "type": "code",
        "sourceCode": "export default () => 1", "sourceCodeLanguage": "TYPESCRIPT"})),
    )
    .await;
    assert_eq!(s, 200);
    let rule = json!({"name": "code rule", "evaluator": {"name": "len", "type": "code"},
        "target": "observation", "enabled": true});
    let (s, r) = send(&app, "POST", RULES, Some(&rule)).await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["evaluator"]["type"], "code");
    assert!(r["mapping"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["variable"] == "output"));
    let mut with_mapping = rule.clone();
    with_mapping["name"] = json!("code 2");
    with_mapping["mapping"] = json!([{"variable": "x", "source": "input"}]);
    let (s, e) = send(&app, "POST", RULES, Some(&with_mapping)).await;
    assert_eq!(s, 400, "{e}");

    // An LLM connection for the provider lets an explicit model through.
    let (s, c) = app
        .send(
            "PUT",
            "/api/public/llm-connections",
            Some(&app.basic_auth()),
            Some(
                &json!({"provider": "openai", "adapter": "openai", "secretKey": "sk-test-123456"}),
            ),
        )
        .await;
    assert_eq!(s, 201, "{c}");
    let mut j = judge("with model");
    j["modelConfig"] = json!({"provider": "openai", "model": "gpt-4.1-mini"});
    let (s, e) = send(&app, "POST", EVALUATORS, Some(&j)).await;
    assert_eq!(s, 200, "{e}");
    assert_eq!(
        e["modelConfig"],
        json!({"provider": "openai", "model": "gpt-4.1-mini"})
    );
}
