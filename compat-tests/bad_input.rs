//! Malformed bodies and queries on the experiments, v3 scores and unstable routes: every
//! one is a 4xx (the unstable ones in their `{message, code}` envelope), never a 5xx.

use serde_json::{json, Value};

use crate::helpers::*;

#[tokio::test]
async fn malformed_input_on_the_new_routes_is_a_4xx() {
    let app = spawn_app().await;
    let auth = app.basic_auth();
    let bodies: Vec<Value> = vec![
        json!(null),
        json!(1),
        json!("x"),
        json!([]),
        json!({}),
        json!({"name": 1}),
        json!({"name": "a", "view": 3, "dimensions": "x", "metrics": {}, "filters": 7, "chartType": []}),
        json!({"name": "a", "view": "observations", "dimensions": [1, null], "metrics": [{"measure": 1, "agg": 2}], "filters": [null], "chartType": "PIE"}),
        json!({"name": "a", "view": "observations", "dimensions": [], "metrics": [{"measure": "count", "agg": "count"}], "filters": [{"column": "x", "operator": "=", "type": "string", "value": 1}], "chartType": "PIE", "chartConfig": {"type": 1, "row_limit": -1, "bins": "x", "defaultSort": 3}}),
        json!({"name": "a", "definition": {"widgets": [{"type": "widget", "id": 1}]}, "filters": "x"}),
        json!({"name": "a", "definition": 5}),
        json!({"type": "widget", "widgetId": 5, "x": 1e300, "y": -0.5, "width": "w"}),
        json!({"x": 9223372036854775807i64, "y": 9223372036854775807i64, "height": 9223372036854775807i64}),
        json!({"name": "e", "type": "llm_as_judge", "prompt": 5, "outputDefinition": []}),
        json!({"name": "e", "prompt": "{{a}}", "outputDefinition": {"dataType": "NUMERIC", "reasoning": 1, "score": []}, "mapping": "x", "modelConfig": 1}),
        json!({"name": "e", "prompt": "{{a}}", "outputDefinition": {"dataType": "CATEGORICAL", "reasoning": {"description": "r"}, "score": {"description": "d", "categories": [1, 2], "shouldAllowMultipleMatches": "no"}}, "mapping": [{"variable": "a", "source": "input", "jsonPath": 5}]}),
        json!({"name": "r", "evaluator": "x", "target": "observation", "enabled": "yes", "sampling": "all", "filter": {}, "mapping": {}}),
        json!({"name": "r", "evaluators": [1, {"evaluator": 2}], "target": "experiment", "enabled": true}),
        json!({"name": "r", "evaluators": {}, "target": "experiment", "enabled": true, "filter": [{"type": "stringOptions", "column": "datasetId", "operator": "any of", "value": [1]}]}),
        json!({"evaluator": {"name": 3}, "mapping": [1], "target": 2, "enabled": 1, "sampling": 2}),
    ];
    let paths = [
        ("POST", "/api/public/unstable/dashboard-widgets"),
        ("PATCH", "/api/public/unstable/dashboard-widgets/x"),
        ("POST", "/api/public/unstable/dashboards"),
        ("PATCH", "/api/public/unstable/dashboards/x"),
        ("POST", "/api/public/unstable/dashboards/x/placements"),
        ("PATCH", "/api/public/unstable/dashboards/x/placements/y"),
        ("POST", "/api/public/unstable/evaluators"),
        ("POST", "/api/public/unstable/evaluation-rules"),
        ("PATCH", "/api/public/unstable/evaluation-rules/x"),
    ];
    // Existing resources, so patches reach validation.
    let (_, w) = app.send("POST", "/api/public/unstable/dashboard-widgets", Some(&auth), Some(&json!({"name": "w", "view": "observations", "dimensions": [], "metrics": [{"measure": "count", "agg": "count"}], "filters": [], "chartType": "NUMBER"}))).await;
    let (_, d) = app
        .send(
            "POST",
            "/api/public/unstable/dashboards",
            Some(&auth),
            Some(&json!({"name": "d"})),
        )
        .await;
    let (_, p) = app
        .send(
            "POST",
            &format!(
                "/api/public/unstable/dashboards/{}/placements",
                d["id"].as_str().unwrap()
            ),
            Some(&auth),
            Some(&json!({"type": "preset", "presetId": "p"})),
        )
        .await;
    let (_, e) = app.send("POST", "/api/public/unstable/evaluators", Some(&auth), Some(&json!({"name": "e0", "prompt": "{{a}}", "outputDefinition": {"dataType": "BOOLEAN", "reasoning": {"description": "r"}, "score": {"description": "s"}}}))).await;
    assert!(e["id"].is_string(), "{e}");
    let (_, r) = app.send("POST", "/api/public/unstable/evaluation-rules", Some(&auth), Some(&json!({"name": "r0", "evaluator": {"name": "e0"}, "target": "observation", "enabled": false, "mapping": [{"variable": "a", "source": "input"}]}))).await;
    assert!(r["id"].is_string(), "{r}");
    let real = |path: &str| {
        path.replace(
            "dashboard-widgets/x",
            &format!("dashboard-widgets/{}", w["id"].as_str().unwrap()),
        )
        .replace(
            "dashboards/x",
            &format!("dashboards/{}", d["id"].as_str().unwrap()),
        )
        .replace(
            "placements/y",
            &format!("placements/{}", p["id"].as_str().unwrap()),
        )
        .replace(
            "evaluation-rules/x",
            &format!("evaluation-rules/{}", r["id"].as_str().unwrap()),
        )
    };
    for (m, path) in paths {
        for b in &bodies {
            for pth in [path.to_string(), real(path)] {
                let (s, body) = app.send(m, &pth, Some(&auth), Some(b)).await;
                assert!(s < 500, "{m} {pth} {b}: {s} {body}");
                if s >= 400 {
                    assert!(body["code"].is_string(), "{m} {pth} {b}: {body}");
                }
            }
        }
        // Raw garbage bodies.
        let res = app
            .client
            .request(
                reqwest::Method::from_bytes(m.as_bytes()).unwrap(),
                app.url(&real(path)),
            )
            .header("Authorization", &auth)
            .body("{not json")
            .send()
            .await
            .unwrap();
        assert!(
            res.status().as_u16() == 400,
            "{m} {path} garbage: {}",
            res.status()
        );
    }
    for q in [
        "limit=abc",
        "page=0",
        "limit=1e999",
        "cursor=%FF%FE",
        "fromStartTime=2024-01-01T00:00:00Z&cursor=eyJ2IjoxfQ",
        "fromStartTime=2024-01-01T00:00:00Z&filter=%5B%7B%7D%5D",
        "fromStartTime=2024-01-01T00:00:00Z&toStartTime=1999-01-01T00:00:00Z",
        "dataType=numeric&value=1,abc",
        "valueMin=nan&dataType=NUMERIC",
        "fields=",
        "fromStartTime=9999-12-31T23:59:59Z",
    ] {
        for path in [
            "/api/public/v3/scores",
            "/api/public/experiments",
            "/api/public/experiment-items",
            "/api/public/unstable/dashboards",
            "/api/public/unstable/evaluators",
            "/api/public/unstable/evaluation-rules",
            "/api/public/unstable/dashboard-widgets",
        ] {
            let (s, body) = app
                .send("GET", &format!("{path}?{q}"), Some(&auth), None)
                .await;
            assert!(s < 500, "{path}?{q}: {s} {body}");
        }
    }
}
