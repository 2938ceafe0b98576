//! Prompt management over HTTP: versions, labels, fetch by label/version, list, deletes,
//! folder names, auth bodies and project isolation.

use serde_json::{json, Value};

use crate::helpers::*;

async fn create(app: &TestApp, body: Value) -> Value {
    let (status, res) = app.post("/api/public/v2/prompts", &body).await;
    assert_eq!(status, 201, "{res}");
    res
}

fn labels(v: &Value) -> Vec<String> {
    let mut l: Vec<String> = v["labels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap().to_string())
        .collect();
    l.sort();
    l
}

#[tokio::test]
async fn versions_increment_and_latest_and_production_move() {
    let app = spawn_app().await;
    let v1 = create(
        &app,
        json!({"name": "qa", "prompt": "Answer {{question}}", "labels": ["production"],
               "config": {"model": "gpt-4o", "temperature": 0.2}, "tags": ["a"],
               "commitMessage": "first"}),
    )
    .await;
    assert_eq!(v1["version"], 1);
    assert_eq!(v1["type"], "text");
    assert_eq!(v1["createdBy"], "API");
    assert_eq!(v1["commitMessage"], "first");
    assert_eq!(labels(&v1), ["latest", "production"]);
    assert_eq!(v1["tags"], json!(["a"]));
    assert!(v1["id"].as_str().is_some_and(|s| !s.is_empty()));
    let v2 = create(&app, json!({"name": "qa", "prompt": "v2 {{question}}"})).await;
    assert_eq!(v2["version"], 2);
    assert_eq!(labels(&v2), ["latest"]);
    assert_eq!(
        v2["config"],
        json!({}),
        "config defaults to an empty object"
    );
    assert_eq!(v2["tags"], json!(["a"]), "omitted tags inherit");
    assert_eq!(v2["commitMessage"], Value::Null);

    // Default label is production: still version 1.
    let (s, got) = app.get("/api/public/v2/prompts/qa").await;
    assert_eq!(s, 200, "{got}");
    assert_eq!(got["version"], 1);
    assert_eq!(got["prompt"], "Answer {{question}}");
    assert_eq!(
        got["config"],
        json!({"model": "gpt-4o", "temperature": 0.2})
    );
    assert_eq!(labels(&got), ["production"], "latest moved to v2");
    assert_eq!(got["isActive"], true);
    assert_eq!(got["id"], v1["id"]);
    let (_, got) = app.get("/api/public/v2/prompts/qa?label=latest").await;
    assert_eq!(got["version"], 2);
    assert_eq!(got["isActive"], false);
    let (_, got) = app.get("/api/public/v2/prompts/qa?version=2").await;
    assert_eq!(got["id"], v2["id"]);

    // A third version taking production moves it away from v1.
    let v3 = create(
        &app,
        json!({"name": "qa", "prompt": "v3", "labels": ["production", "staging"], "tags": ["b", "c"]}),
    )
    .await;
    assert_eq!(labels(&v3), ["latest", "production", "staging"]);
    let (_, got) = app.get("/api/public/v2/prompts/qa").await;
    assert_eq!(got["version"], 3);
    let (_, got) = app.get("/api/public/v2/prompts/qa?version=1").await;
    assert_eq!(labels(&got), Vec::<String>::new());
    assert_eq!(
        got["tags"],
        json!(["b", "c"]),
        "provided tags rewrite every version"
    );
}

#[tokio::test]
async fn missing_prompts_are_404_in_langfuse_shape() {
    let app = spawn_app().await;
    let (s, body) = app.get("/api/public/v2/prompts/nope").await;
    assert_eq!(s, 404);
    assert_eq!(
        body,
        json!({"message": "Prompt not found: 'nope' with label 'production'", "error": "LangfuseNotFoundError"})
    );
    create(&app, json!({"name": "p", "prompt": "x"})).await;
    let (s, body) = app.get("/api/public/v2/prompts/p").await;
    assert_eq!(s, 404, "no production label yet: {body}");
    let (s, body) = app.get("/api/public/v2/prompts/p?version=7").await;
    assert_eq!(s, 404);
    assert_eq!(body["message"], "Prompt not found: 'p' with version 7");
    let (s, body) = app
        .get("/api/public/v2/prompts/p?version=1&label=latest")
        .await;
    assert_eq!(s, 400);
    assert_eq!(
        body,
        json!({"message": "Cannot specify both version and label", "error": "InvalidRequestError"})
    );
}

#[tokio::test]
async fn chat_prompts_with_placeholders_round_trip_exactly() {
    let app = spawn_app().await;
    let messages = json!([
        {"role": "system", "content": "You are {{persona}}."},
        {"type": "placeholder", "name": "history"},
        {"role": "user", "content": "{{question}}"}
    ]);
    let created = create(
        &app,
        json!({"name": "chatty", "type": "chat", "prompt": messages, "labels": ["production"]}),
    )
    .await;
    assert_eq!(created["type"], "chat");
    let (s, got) = app.get("/api/public/v2/prompts/chatty").await;
    assert_eq!(s, 200);
    assert_eq!(got["prompt"], messages);
    assert_eq!(got["type"], "chat");
    // A text version of a chat prompt is refused.
    let (s, body) = app
        .post(
            "/api/public/v2/prompts",
            &json!({"name": "chatty", "prompt": "text"}),
        )
        .await;
    assert_eq!(s, 400, "{body}");
    // A placeholder colliding with a variable is refused.
    let (s, _) = app
        .post(
            "/api/public/v2/prompts",
            &json!({"name": "clash", "type": "chat", "prompt": [
                {"role": "user", "content": "{{history}}"}, {"type": "placeholder", "name": "history"}]}),
        )
        .await;
    assert_eq!(s, 400);
}

#[tokio::test]
async fn invalid_bodies_are_400() {
    let app = spawn_app().await;
    for body in [
        json!({"prompt": "x"}),
        json!({"name": "a", "prompt": ["not text"]}),
        json!({"name": "a", "type": "chat", "prompt": "not chat"}),
        json!({"name": "a", "prompt": "x", "labels": ["Upper"]}),
        json!({"name": "/lead", "prompt": "x"}),
        json!({"name": "a|b", "prompt": "x"}),
        json!({"name": "new", "prompt": "x"}),
        json!({"name": "a", "prompt": "x", "commitMessage": "m".repeat(501)}),
    ] {
        let (s, res) = app.post("/api/public/v2/prompts", &body).await;
        assert_eq!(s, 400, "{body} -> {res}");
        assert!(res["message"].is_string());
    }
}

#[tokio::test]
async fn folder_names_are_percent_decoded_per_segment() {
    let app = spawn_app().await;
    let name = "team/sub folder/qa%x";
    create(
        &app,
        json!({"name": name, "prompt": "hi", "labels": ["production"]}),
    )
    .await;
    let encoded = "team%2Fsub%20folder%2Fqa%25x";
    let (s, got) = app.get(&format!("/api/public/v2/prompts/{encoded}")).await;
    assert_eq!(s, 200, "{got}");
    assert_eq!(got["name"], name);
    let (s, got) = app
        .send(
            "PATCH",
            &format!("/api/public/v2/prompts/{encoded}/versions/1"),
            Some(&app.basic_auth()),
            Some(&json!({"newLabels": ["staging"]})),
        )
        .await;
    assert_eq!(s, 200, "{got}");
    let (s, _) = app
        .send(
            "DELETE",
            &format!("/api/public/v2/prompts/{encoded}"),
            Some(&app.basic_auth()),
            None,
        )
        .await;
    assert_eq!(s, 204);
    let (s, _) = app.get(&format!("/api/public/v2/prompts/{encoded}")).await;
    assert_eq!(s, 404);
}

#[tokio::test]
async fn patch_labels_moves_them_and_keeps_existing() {
    let app = spawn_app().await;
    create(
        &app,
        json!({"name": "p", "prompt": "1", "labels": ["production"]}),
    )
    .await;
    create(&app, json!({"name": "p", "prompt": "2"})).await;
    let (s, res) = app
        .send(
            "PATCH",
            "/api/public/v2/prompts/p/versions/2",
            Some(&app.basic_auth()),
            Some(&json!({"newLabels": ["production", "exp"]})),
        )
        .await;
    assert_eq!(s, 200, "{res}");
    assert_eq!(res["version"], 2);
    assert_eq!(labels(&res), ["exp", "latest", "production"]);
    let (_, v1) = app.get("/api/public/v2/prompts/p?version=1").await;
    assert_eq!(labels(&v1), Vec::<String>::new());
    let (_, prod) = app.get("/api/public/v2/prompts/p").await;
    assert_eq!(prod["version"], 2);
    for (body, status) in [
        (json!({"newLabels": ["latest"]}), 400),
        (json!({"newLabels": ["BAD"]}), 400),
        (json!({}), 400),
    ] {
        let (s, _) = app
            .send(
                "PATCH",
                "/api/public/v2/prompts/p/versions/1",
                Some(&app.basic_auth()),
                Some(&body),
            )
            .await;
        assert_eq!(s, status, "{body}");
    }
    let (s, body) = app
        .send(
            "PATCH",
            "/api/public/v2/prompts/p/versions/9",
            Some(&app.basic_auth()),
            Some(&json!({"newLabels": ["x"]})),
        )
        .await;
    assert_eq!(s, 404);
    assert_eq!(body["error"], "LangfuseNotFoundError");
}

#[tokio::test]
async fn list_groups_by_name_with_filters_and_meta() {
    let app = spawn_app().await;
    for (name, tags) in [
        ("b", json!(["t1"])),
        ("a", json!(["t2"])),
        ("c", json!(["t1"])),
    ] {
        create(
            &app,
            json!({"name": name, "prompt": "1", "tags": tags, "config": {"v": 1}}),
        )
        .await;
    }
    create(
        &app,
        json!({"name": "a", "prompt": "2", "labels": ["production"], "config": {"v": 2}}),
    )
    .await;
    let (s, res) = app.get("/api/public/v2/prompts").await;
    assert_eq!(s, 200, "{res}");
    let names: Vec<&str> = res["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["a", "b", "c"]);
    let a = &res["data"][0];
    assert_eq!(a["versions"], json!([1, 2]));
    assert_eq!(a["type"], "text");
    assert_eq!(a["lastConfig"], json!({"v": 2}));
    assert_eq!(a["tags"], json!(["t2"]));
    let mut l: Vec<&str> = a["labels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap())
        .collect();
    l.sort();
    assert_eq!(l, ["latest", "production"]);
    assert!(a["lastUpdatedAt"].as_str().unwrap().ends_with('Z'));
    let meta = json!({"page": 1, "limit": 10, "totalItems": 3, "totalPages": 1});
    assert_eq!(res["meta"], meta);
    assert_eq!(res["pagination"], meta);

    let (_, res) = app
        .get("/api/public/v2/prompts?tag=t1&limit=1&page=2")
        .await;
    assert_eq!(res["data"].as_array().unwrap().len(), 1);
    assert_eq!(res["data"][0]["name"], "c");
    assert_eq!(
        res["meta"],
        json!({"page": 2, "limit": 1, "totalItems": 2, "totalPages": 2})
    );
    let (_, res) = app.get("/api/public/v2/prompts?label=production").await;
    assert_eq!(res["data"].as_array().unwrap().len(), 1);
    assert_eq!(res["data"][0]["versions"], json!([2]));
    let (_, res) = app.get("/api/public/v2/prompts?name=b").await;
    assert_eq!(res["meta"]["totalItems"], 1);
    let (_, res) = app
        .get("/api/public/v2/prompts?fromUpdatedAt=2999-01-01T00:00:00Z")
        .await;
    assert_eq!(res["meta"]["totalItems"], 0);
    assert_eq!(res["meta"]["totalPages"], 0);
    let (_, res) = app
        .get("/api/public/v2/prompts?toUpdatedAt=2999-01-01T00:00:00Z")
        .await;
    assert_eq!(res["meta"]["totalItems"], 3);
    let (s, _) = app.get("/api/public/v2/prompts?limit=101").await;
    assert_eq!(s, 400);
    let (s, _) = app
        .get("/api/public/v2/prompts?fromUpdatedAt=yesterday")
        .await;
    assert_eq!(s, 400);
}

#[tokio::test]
async fn deletes_by_version_label_and_all() {
    let app = spawn_app().await;
    for i in 1..=3 {
        create(&app, json!({"name": "d", "prompt": format!("{i}")})).await;
    }
    let auth = app.basic_auth();
    let (s, body) = app
        .send(
            "DELETE",
            "/api/public/v2/prompts/d?version=3",
            Some(&auth),
            None,
        )
        .await;
    assert_eq!((s, body), (204, Value::Null));
    // The newest remaining version becomes latest.
    let (_, got) = app.get("/api/public/v2/prompts/d?label=latest").await;
    assert_eq!(got["version"], 2);
    let (s, _) = app
        .send(
            "DELETE",
            "/api/public/v2/prompts/d?label=latest",
            Some(&auth),
            None,
        )
        .await;
    assert_eq!(s, 204);
    let (_, got) = app.get("/api/public/v2/prompts/d?label=latest").await;
    assert_eq!(got["version"], 1);
    let (s, _) = app
        .send("DELETE", "/api/public/v2/prompts/d", Some(&auth), None)
        .await;
    assert_eq!(s, 204);
    let (s, _) = app.get("/api/public/v2/prompts/d?version=1").await;
    assert_eq!(s, 404);
    let (s, body) = app
        .send("DELETE", "/api/public/v2/prompts/d", Some(&auth), None)
        .await;
    assert_eq!(s, 404, "{body}");
    // A new version after deleting everything starts at 1 again.
    let v = create(&app, json!({"name": "d", "prompt": "again"})).await;
    assert_eq!(v["version"], 1);
}

#[tokio::test]
async fn auth_bodies_and_project_isolation() {
    let app = spawn_app().await;
    create(
        &app,
        json!({"name": "mine", "prompt": "x", "labels": ["production"]}),
    )
    .await;
    let (s, body) = app
        .send("GET", "/api/public/v2/prompts/mine", None, None)
        .await;
    assert_eq!(s, 401);
    assert_eq!(body["error"], "UnauthorizedError");
    let (s, body) = app
        .send(
            "GET",
            "/api/public/v2/prompts/mine",
            Some(&format!("Bearer {}", app.public_key)),
            None,
        )
        .await;
    assert_eq!(s, 403);
    assert_eq!(
        body,
        json!({"message": "Access denied - need to use basic auth with secret key to GET prompts", "error": "ForbiddenError"})
    );
    let (_, pk, sk) = create_project_with_key(&app, "other").await;
    let other = basic(&pk, &sk);
    let (s, _) = app
        .send("GET", "/api/public/v2/prompts/mine", Some(&other), None)
        .await;
    assert_eq!(s, 404);
    let (_, list) = app
        .send("GET", "/api/public/v2/prompts", Some(&other), None)
        .await;
    assert_eq!(list["meta"]["totalItems"], 0);
    // The same name in another project starts its own versions.
    let (s, v) = app
        .send(
            "POST",
            "/api/public/v2/prompts",
            Some(&other),
            Some(&json!({"name": "mine", "prompt": "theirs"})),
        )
        .await;
    assert_eq!((s, v["version"].clone()), (201, json!(1)));
    let (_, got) = app.get("/api/public/v2/prompts/mine").await;
    assert_eq!(got["prompt"], "x");
}

#[tokio::test]
async fn generations_link_to_existing_prompts_only() {
    let app = spawn_app().await;
    let p = create(&app, json!({"name": "linked", "prompt": "x"})).await;
    let now = "2024-05-01T12:00:00.000Z";
    let batch = json!({"batch": [
        {"id": "e1", "type": "generation-create", "timestamp": now,
         "body": {"id": "g1", "traceId": "t1", "startTime": now, "promptName": "linked", "promptVersion": 1}},
        {"id": "e2", "type": "generation-create", "timestamp": now,
         "body": {"id": "g2", "traceId": "t1", "startTime": now, "promptName": "linked", "promptVersion": 5}},
    ]});
    let (s, res) = app.post("/api/public/ingestion", &batch).await;
    assert_eq!(s, 207, "{res}");
    assert_eq!(res["errors"], json!([]));
    let pool = sqlx::PgPool::connect(&app.database_url).await.unwrap();
    let rows: Vec<(String, Option<String>)> =
        sqlx::query_as("select id, prompt_id from observations order by id")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].1.as_deref(), p["id"].as_str());
    assert_eq!(rows[1].1, None, "unknown prompt versions are not linked");
}

fn tag_version(name: &str, v: i64) -> String {
    format!("@@@langfusePrompt:name={name}|version={v}@@@")
}

fn tag_label(name: &str, l: &str) -> String {
    format!("@@@langfusePrompt:name={name}|label={l}@@@")
}

fn edge(p: &Value) -> Value {
    json!({"id": p["id"], "name": p["name"], "version": p["version"]})
}

#[tokio::test]
async fn references_resolve_by_version_and_label_recursively() {
    let app = spawn_app().await;
    let base1_text = "Be polite.";
    let base2_text = "Be \"brief\"\nand $1 exact.";
    let base1 = create(
        &app,
        json!({"name": "shared/base", "prompt": base1_text, "labels": ["production"]}),
    )
    .await;
    let base2 = create(&app, json!({"name": "shared/base", "prompt": base2_text})).await;
    let mid_text = format!("Rules: {} End.", tag_label("shared/base", "production"));
    let mid = create(
        &app,
        json!({"name": "mid", "prompt": mid_text, "labels": ["production"]}),
    )
    .await;
    let top_text = format!(
        "Start {} / {} / {}",
        tag_label("mid", "production"),
        tag_version("shared/base", 2),
        tag_version("shared/base", 2)
    );
    let top = create(
        &app,
        json!({"name": "top", "prompt": top_text, "labels": ["production"]}),
    )
    .await;
    assert_eq!(
        top["prompt"], top_text,
        "create returns the prompt as written"
    );

    let (status, got) = app.get("/api/public/v2/prompts/top").await;
    assert_eq!(status, 200, "{got}");
    let mid_resolved = mid_text.replace(&tag_label("shared/base", "production"), base1_text);
    let expected = top_text
        .replace(&tag_label("mid", "production"), &mid_resolved)
        .replace(&tag_version("shared/base", 2), base2_text);
    assert_eq!(got["prompt"], expected);
    let top_id = top["id"].as_str().unwrap();
    let mid_id = mid["id"].as_str().unwrap();
    assert_eq!(
        got["resolutionGraph"],
        json!({
            "root": {"name": "top", "version": 1, "id": top_id},
            "dependencies": {
                top_id: [edge(&mid), edge(&base2)],
                mid_id: [edge(&base1)],
            }
        })
    );

    // resolve=false returns the stored prompt and no graph.
    let (status, raw) = app.get("/api/public/v2/prompts/top?resolve=false").await;
    assert_eq!(status, 200, "{raw}");
    assert_eq!(raw["prompt"], top_text);
    assert_eq!(raw["resolutionGraph"], Value::Null);
    let (status, _) = app.get("/api/public/v2/prompts/top?resolve=maybe").await;
    assert_eq!(status, 400);

    // A prompt without references has a null graph.
    let (_, plain) = app
        .get("/api/public/v2/prompts/shared%2Fbase?version=2")
        .await;
    assert_eq!(plain["prompt"], base2_text);
    assert_eq!(plain["resolutionGraph"], Value::Null);

    // Label references follow the label when it moves.
    let (status, _) = app
        .send(
            "PATCH",
            "/api/public/v2/prompts/shared%2Fbase/versions/2",
            Some(&app.basic_auth()),
            Some(&json!({"newLabels": ["production"]})),
        )
        .await;
    assert_eq!(status, 200);
    let (_, got) = app.get("/api/public/v2/prompts/mid").await;
    assert_eq!(
        got["prompt"],
        mid_text.replace(&tag_label("shared/base", "production"), base2_text)
    );

    // The list is unaffected by references.
    let (_, list) = app.get("/api/public/v2/prompts?name=top").await;
    assert_eq!(list["data"][0]["versions"], json!([1]));
}

#[tokio::test]
async fn chat_message_contents_resolve_references() {
    let app = spawn_app().await;
    let quote = "say \"hi\"\nthen {{name}}";
    create(
        &app,
        json!({"name": "quote", "prompt": quote, "labels": ["production"]}),
    )
    .await;
    let messages = json!([
        {"role": "system", "content": format!("S: {}", tag_version("quote", 1))},
        {"type": "placeholder", "name": "history"},
        {"role": "user", "content": format!("He said {}", tag_label("quote", "production"))}
    ]);
    create(
        &app,
        json!({"name": "chat", "type": "chat", "prompt": messages, "labels": ["production"]}),
    )
    .await;
    let (status, got) = app.get("/api/public/v2/prompts/chat").await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(
        got["prompt"],
        json!([
            {"role": "system", "content": format!("S: {quote}")},
            {"type": "placeholder", "name": "history"},
            {"role": "user", "content": format!("He said {quote}")}
        ])
    );
    assert_eq!(
        got["resolutionGraph"]["dependencies"][got["id"].as_str().unwrap()]
            .as_array()
            .unwrap()
            .len(),
        2,
        "one edge per tag: {got}"
    );
}

#[tokio::test]
async fn invalid_references_are_refused_on_create() {
    let app = spawn_app().await;
    create(
        &app,
        json!({"name": "b", "prompt": "plain", "labels": ["production"]}),
    )
    .await;
    create(
        &app,
        json!({"name": "c", "type": "chat", "prompt": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    create(
        &app,
        json!({"name": "a", "prompt": format!("x {}", tag_label("b", "production")),
               "labels": ["production"]}),
    )
    .await;
    let cases = [
        (
            "n1",
            tag_label("ghost", "production"),
            "Prompt dependency not found",
        ),
        ("n2", tag_version("b", 7), "Prompt dependency not found"),
        (
            "n3",
            tag_label("b", "staging"),
            "Prompt dependency not found",
        ),
        ("n4", tag_version("c", 1), "not a text prompt"),
        // A new version of `a` may not reference another version of `a`.
        ("a", tag_version("a", 1), "Circular dependency"),
        // b -> a -> b (the production `b` is another version of the root's name).
        ("b", tag_label("a", "production"), "Circular dependency"),
    ];
    for (name, prompt, why) in cases {
        let (status, res) = app
            .post(
                "/api/public/v2/prompts",
                &json!({"name": name, "prompt": prompt, "labels": ["production"]}),
            )
            .await;
        assert_eq!(status, 400, "{name} {prompt}: {res}");
        assert!(
            res["message"].as_str().unwrap_or_default().contains(why),
            "{name} {prompt}: {res}"
        );
    }
    let (status, _) = app.get("/api/public/v2/prompts/b?version=2").await;
    assert_eq!(status, 404, "a refused version is not created");
    let (_, b) = app.get("/api/public/v2/prompts/b").await;
    assert_eq!(b["prompt"], "plain");

    // Malformed tags are not references: stored and returned as written.
    let odd = "@@@langfusePrompt:name=ghost@@@ @@@langfusePrompt:version=1|name=ghost@@@";
    create(
        &app,
        json!({"name": "odd", "prompt": odd, "labels": ["production"]}),
    )
    .await;
    let (_, got) = app.get("/api/public/v2/prompts/odd").await;
    assert_eq!(got["prompt"], odd);
    assert_eq!(got["resolutionGraph"], Value::Null);
}

#[tokio::test]
async fn nesting_is_limited_to_five_levels() {
    let app = spawn_app().await;
    create(
        &app,
        json!({"name": "d0", "prompt": "leaf", "labels": ["production"]}),
    )
    .await;
    // d1..d4 each wrap the previous one: d4 -> d3 -> d2 -> d1 -> d0 is five levels.
    for i in 1..=4 {
        create(
            &app,
            json!({"name": format!("d{i}"), "prompt": format!("({})", tag_version(&format!("d{}", i - 1), 1)),
                   "labels": ["production"]}),
        )
        .await;
    }
    let (status, got) = app.get("/api/public/v2/prompts/d4").await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(
        got["prompt"],
        format!("{}leaf{}", "(".repeat(4), ")".repeat(4))
    );
    let (status, res) = app
        .post(
            "/api/public/v2/prompts",
            &json!({"name": "d5", "prompt": tag_version("d4", 1)}),
        )
        .await;
    assert_eq!(status, 400, "{res}");
    assert!(
        res["message"]
            .as_str()
            .unwrap_or_default()
            .contains("Maximum nesting depth exceeded (5)"),
        "{res}"
    );
}

#[tokio::test]
async fn deleting_a_referenced_prompt_is_refused() {
    let app = spawn_app().await;
    let auth = app.basic_auth();
    let delete = |path: String| {
        let app = &app;
        let auth = auth.clone();
        async move {
            let (status, res) = app.send("DELETE", &path, Some(&auth), None).await;
            (status, res)
        }
    };
    create(
        &app,
        json!({"name": "base", "prompt": "v1", "labels": ["production"]}),
    )
    .await;
    create(
        &app,
        json!({"name": "base", "prompt": "v2", "labels": ["staging"]}),
    )
    .await;
    create(&app, json!({"name": "base", "prompt": "v3"})).await;
    create(
        &app,
        json!({"name": "top", "prompt": format!("{} {}", tag_version("base", 1), tag_label("base", "staging"))}),
    )
    .await;

    // Version 1 is referenced by number.
    let (status, res) = delete("/api/public/v2/prompts/base?version=1".into()).await;
    assert_eq!(status, 400, "{res}");
    let msg = res["message"].as_str().unwrap_or_default();
    assert!(msg.contains("top v1 depends on base v1"), "{res}");
    // Version 3 is referenced by nobody.
    let (status, res) = delete("/api/public/v2/prompts/base?version=3".into()).await;
    assert_eq!(status, 204, "{res}");
    // `staging` moves to a new version: the old one may go, the label survives.
    create(
        &app,
        json!({"name": "base", "prompt": "v4", "labels": ["staging"]}),
    )
    .await;
    let (status, res) = delete("/api/public/v2/prompts/base?version=2".into()).await;
    assert_eq!(status, 204, "{res}");
    // Deleting the versions carrying `staging` would leave the label reference dangling.
    let (status, res) = delete("/api/public/v2/prompts/base?label=staging".into()).await;
    assert_eq!(status, 400, "{res}");
    assert!(
        res["message"]
            .as_str()
            .unwrap_or_default()
            .contains("top v1 depends on base staging"),
        "{res}"
    );
    let (status, _) = delete("/api/public/v2/prompts/base".into()).await;
    assert_eq!(status, 400);
    let (_, got) = app.get("/api/public/v2/prompts/top?version=1").await;
    assert_eq!(got["prompt"], "v1 v4", "both references still resolve");

    // Once the dependent is gone, the prompt can be deleted.
    let (status, _) = delete("/api/public/v2/prompts/top".into()).await;
    assert_eq!(status, 204);
    let (status, _) = delete("/api/public/v2/prompts/base".into()).await;
    assert_eq!(status, 204);
}
