//! Unstable dashboards API: widgets, dashboards and placements with Langfuse's shapes,
//! validation and the unstable error envelope.

use serde_json::{json, Value};

use crate::helpers::*;
use crate::seed::*;

fn widget_body() -> Value {
    json!({
        "name": "Latency by model",
        "view": "observations",
        "dimensions": [{"field": "providedModelName"}],
        "metrics": [{"measure": "latency", "agg": "p95"}],
        "filters": [{"column": "environment", "operator": "any of", "type": "stringOptions",
            "value": ["prod"]}],
        "chartType": "VERTICAL_BAR"
    })
}

async fn send(app: &TestApp, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
    let auth = app.basic_auth();
    app.send(method, path, Some(&auth), body).await
}

#[tokio::test]
async fn widgets_are_created_read_updated_and_deleted() {
    let app = spawn_app().await;
    let (s, w) = send(
        &app,
        "POST",
        "/api/public/unstable/dashboard-widgets",
        Some(&widget_body()),
    )
    .await;
    assert_eq!(s, 200, "{w}");
    assert_eq!(
        keys(&w),
        [
            "chartConfig",
            "chartType",
            "createdAt",
            "description",
            "dimensions",
            "filters",
            "id",
            "metrics",
            "name",
            "updatedAt",
            "view"
        ]
    );
    assert_eq!(w["description"], "");
    assert_eq!(w["chartConfig"], json!({"type": "VERTICAL_BAR"}));
    assert_eq!(w["metrics"], json!([{"measure": "latency", "agg": "p95"}]));
    assert!(is_iso_ms_z(&w["createdAt"]));
    let id = w["id"].as_str().unwrap().to_string();
    let path = format!("/api/public/unstable/dashboard-widgets/{id}");

    let (s, got) = send(&app, "GET", &path, None).await;
    assert_eq!((s, &got), (200, &w));
    let (s, list) = send(&app, "GET", "/api/public/unstable/dashboard-widgets", None).await;
    assert_eq!(s, 200);
    assert_eq!(
        list["meta"],
        json!({"page": 1, "limit": 50, "totalItems": 1, "totalPages": 1})
    );
    assert_eq!(list["data"][0]["id"], id.as_str());

    // A new chart type without a config resets it; a config with its type must match.
    let (s, up) = send(
        &app,
        "PATCH",
        &path,
        Some(&json!({"chartType": "PIVOT_TABLE",
        "dimensions": [{"field": "providedModelName"}, {"field": "name"}]})),
    )
    .await;
    assert_eq!(s, 200, "{up}");
    assert_eq!(up["chartConfig"], json!({"type": "PIVOT_TABLE"}));
    assert_eq!(up["name"], "Latency by model");
    let (s, up) = send(
        &app,
        "PATCH",
        &path,
        Some(&json!({"chartConfig": {"row_limit": 20}})),
    )
    .await;
    assert_eq!(s, 200, "{up}");
    assert_eq!(
        up["chartConfig"],
        json!({"type": "PIVOT_TABLE", "row_limit": 20})
    );
    let (s, e) = send(
        &app,
        "PATCH",
        &path,
        Some(&json!({"chartConfig": {"type": "PIE"}})),
    )
    .await;
    assert_eq!(s, 400, "{e}");
    assert_eq!(e["code"], "invalid_request");
    let (s, e) = send(&app, "PATCH", &path, Some(&json!({}))).await;
    assert_eq!(s, 400);
    assert_eq!(e["code"], "invalid_body");

    let (s, del) = send(&app, "DELETE", &path, None).await;
    assert_eq!(
        (s, del),
        (
            200,
            json!({"message": "Dashboard widget successfully deleted"})
        )
    );
    let (s, e) = send(&app, "GET", &path, None).await;
    assert_eq!(s, 404);
    assert_eq!(e["code"], "resource_not_found");
}

#[tokio::test]
async fn widget_validation_follows_the_view_catalog() {
    let app = spawn_app().await;
    let with = |k: &str, v: Value| {
        let mut b = widget_body();
        b[k] = v;
        b
    };
    let cases = [
        (with("view", json!("traces")), "invalid_body"),
        (with("name", json!("")), "invalid_body"),
        (with("metrics", json!([])), "invalid_body"),
        (
            with("metrics", json!([{"measure": "latency", "agg": "median"}])),
            "invalid_body",
        ),
        (with("chartType", json!("BUBBLE")), "invalid_body"),
        (
            with("dimensions", json!([{"field": "nope"}])),
            "invalid_request",
        ),
        (
            with("metrics", json!([{"measure": "nope", "agg": "sum"}])),
            "invalid_request",
        ),
        (
            with(
                "dimensions",
                json!([{"field": "name"}, {"field": "providedModelName"}]),
            ),
            "invalid_request",
        ),
        (
            with(
                "filters",
                json!([{"column": "name", "operator": "like", "type": "string", "value": "x"}]),
            ),
            "invalid_body",
        ),
        (
            with("chartConfig", json!({"type": "PIE"})),
            "invalid_request",
        ),
        (json!([1, 2]), "invalid_body"),
    ];
    for (body, code) in cases {
        let (s, e) = send(
            &app,
            "POST",
            "/api/public/unstable/dashboard-widgets",
            Some(&body),
        )
        .await;
        assert_eq!(s, 400, "{body}: {e}");
        assert_eq!(e["code"], code, "{body}: {e}");
        assert!(e["message"].is_string());
    }
    let (s, e) = send(
        &app,
        "POST",
        "/api/public/unstable/dashboard-widgets",
        Some(&with("dimensions", json!([{"field": "nope"}]))),
    )
    .await;
    assert_eq!(s, 400);
    assert_eq!(e["details"]["field"], "dimensions[0].field");
    assert!(e["details"]["allowedValues"]
        .as_array()
        .unwrap()
        .iter()
        .any(|v| v == "name"));

    // Score views take their own catalog.
    let score_widget = json!({"name": "s", "view": "scores-numeric", "dimensions": [{"field": "name"}],
        "metrics": [{"measure": "value", "agg": "avg"}], "filters": [], "chartType": "LINE_TIME_SERIES"});
    let (s, w) = send(
        &app,
        "POST",
        "/api/public/unstable/dashboard-widgets",
        Some(&score_widget),
    )
    .await;
    assert_eq!(s, 200, "{w}");

    // Unstable errors keep their envelope for auth failures and bad pages too.
    let (s, e) = app
        .send(
            "GET",
            "/api/public/unstable/dashboards",
            Some("Basic bm86cGU="),
            None,
        )
        .await;
    assert_eq!(s, 401);
    assert_eq!(e["code"], "authentication_failed");
    let (s, e) = send(
        &app,
        "GET",
        "/api/public/unstable/dashboards?limit=101",
        None,
    )
    .await;
    assert_eq!(s, 400);
    assert_eq!(e["code"], "invalid_query");
    assert!(e["details"]["issues"].is_array());
}

#[tokio::test]
async fn dashboards_and_placements() {
    let app = spawn_app().await;
    let (_, w) = send(
        &app,
        "POST",
        "/api/public/unstable/dashboard-widgets",
        Some(&widget_body()),
    )
    .await;
    let wid = w["id"].as_str().unwrap().to_string();

    let (s, d) = send(
        &app,
        "POST",
        "/api/public/unstable/dashboards",
        Some(&json!({"name": "Ops"})),
    )
    .await;
    assert_eq!(s, 200, "{d}");
    assert_eq!(
        keys(&d),
        [
            "createdAt",
            "definition",
            "description",
            "filters",
            "id",
            "name",
            "updatedAt"
        ]
    );
    assert_eq!(d["definition"], json!({"widgets": []}));
    assert_eq!(d["description"], "");
    assert_eq!(d["filters"], json!([]));
    let did = d["id"].as_str().unwrap().to_string();
    let base = format!("/api/public/unstable/dashboards/{did}");

    // Appended below every tile as 6x6 tiles at x 0.
    let (s, p1) = send(
        &app,
        "POST",
        &format!("{base}/placements"),
        Some(&json!({"type": "widget", "widgetId": wid})),
    )
    .await;
    assert_eq!(s, 200, "{p1}");
    assert_eq!(p1["x"], 0);
    assert_eq!(p1["y"], 0);
    assert_eq!(
        (p1["width"].clone(), p1["height"].clone()),
        (json!(6), json!(6))
    );
    assert!(p1["id"].as_str().is_some_and(|s| !s.is_empty()));
    let (s, p2) = send(
        &app,
        "POST",
        &format!("{base}/placements"),
        Some(
            &json!({"type": "preset", "presetId": "latency-overview", "id": "tile-2", "height": 4}),
        ),
    )
    .await;
    assert_eq!(s, 200, "{p2}");
    assert_eq!(
        p2,
        json!({"type": "preset", "id": "tile-2", "presetId": "latency-overview", "x": 0, "y": 6,
            "width": 6, "height": 4})
    );
    let (s, e) = send(
        &app,
        "POST",
        &format!("{base}/placements"),
        Some(&json!({"type": "preset", "presetId": "x", "id": "tile-2"})),
    )
    .await;
    assert_eq!(s, 409, "{e}");
    assert_eq!(e["code"], "conflict");
    let (s, e) = send(
        &app,
        "POST",
        &format!("{base}/placements"),
        Some(&json!({"type": "widget", "widgetId": "missing"})),
    )
    .await;
    assert_eq!(s, 404, "{e}");
    for bad in [
        json!({"type": "chart", "widgetId": wid}),
        json!({"type": "widget"}),
        json!({"type": "widget", "widgetId": wid, "x": -1}),
        json!({"type": "widget", "widgetId": wid, "width": 0}),
        json!({"type": "widget", "widgetId": wid, "color": "red"}),
    ] {
        let (s, e) = send(&app, "POST", &format!("{base}/placements"), Some(&bad)).await;
        assert_eq!(s, 400, "{bad}: {e}");
        assert_eq!(e["code"], "invalid_body", "{bad}");
    }

    // Move, read back, and refuse deleting a placed widget.
    let (s, moved) = send(
        &app,
        "PATCH",
        &format!("{base}/placements/tile-2"),
        Some(&json!({"x": 6, "y": 0})),
    )
    .await;
    assert_eq!(s, 200, "{moved}");
    assert_eq!(
        (
            moved["x"].clone(),
            moved["y"].clone(),
            moved["height"].clone()
        ),
        (json!(6), json!(0), json!(4))
    );
    let (s, e) = send(
        &app,
        "PATCH",
        &format!("{base}/placements/tile-2"),
        Some(&json!({"widgetId": "x"})),
    )
    .await;
    assert_eq!(s, 400, "{e}");
    let (s, _) = send(
        &app,
        "PATCH",
        &format!("{base}/placements/nope"),
        Some(&json!({"x": 1})),
    )
    .await;
    assert_eq!(s, 404);
    let (s, got) = send(&app, "GET", &base, None).await;
    assert_eq!(s, 200);
    assert_eq!(got["definition"]["widgets"].as_array().unwrap().len(), 2);
    assert_eq!(got["definition"]["widgets"][1], moved);
    let (s, e) = send(
        &app,
        "DELETE",
        &format!("/api/public/unstable/dashboard-widgets/{wid}"),
        None,
    )
    .await;
    assert_eq!(s, 409, "{e}");
    assert_eq!(e["code"], "conflict");
    let pid = p1["id"].as_str().unwrap();
    let (s, del) = send(&app, "DELETE", &format!("{base}/placements/{pid}"), None).await;
    assert_eq!(
        (s, del),
        (200, json!({"message": "Placement successfully deleted"}))
    );
    let (s, _) = send(
        &app,
        "DELETE",
        &format!("/api/public/unstable/dashboard-widgets/{wid}"),
        None,
    )
    .await;
    assert_eq!(s, 200);

    // Update name, filters, a whole definition; duplicate placement ids are refused.
    let (s, up) = send(&app, "PATCH", &base, Some(&json!({"name": "Ops 2", "filters": [
        {"column": "environment", "operator": "any of", "type": "stringOptions", "value": ["prod"]}]}))).await;
    assert_eq!(s, 200, "{up}");
    assert_eq!(up["name"], "Ops 2");
    assert_eq!(up["filters"][0]["column"], "environment");
    let tile = json!({"type": "preset", "id": "a", "presetId": "p", "x": 0, "y": 0, "width": 3, "height": 3});
    let (s, e) = send(
        &app,
        "PATCH",
        &base,
        Some(&json!({"definition": {"widgets": [tile, tile]}})),
    )
    .await;
    assert_eq!(s, 400, "{e}");
    let (s, up) = send(
        &app,
        "PATCH",
        &base,
        Some(&json!({"definition": {"widgets": [tile]}})),
    )
    .await;
    assert_eq!(s, 200, "{up}");
    assert_eq!(up["definition"]["widgets"], json!([tile]));
    let (s, e) = send(
        &app,
        "POST",
        "/api/public/unstable/dashboards",
        Some(&json!({"name": ""})),
    )
    .await;
    assert_eq!(s, 400, "{e}");

    let (s, list) = send(
        &app,
        "GET",
        "/api/public/unstable/dashboards?page=1&limit=1",
        None,
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(list["meta"]["totalItems"], 1);
    let (s, del) = send(&app, "DELETE", &base, None).await;
    assert_eq!(
        (s, del),
        (200, json!({"message": "Dashboard successfully deleted"}))
    );
    let (s, _) = send(&app, "DELETE", &base, None).await;
    assert_eq!(s, 404);

    // Another project sees none of it.
    let (_, pk, sk) = create_project_with_key(&app, "other").await;
    let (s, list) = app
        .send(
            "GET",
            "/api/public/unstable/dashboard-widgets",
            Some(&basic(&pk, &sk)),
            None,
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(list["data"], json!([]));
}
