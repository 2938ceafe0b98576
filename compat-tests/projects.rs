//! Project and API key management through Langfuse's organisation-scoped routes.

use crate::helpers::*;
use serde_json::json;

#[tokio::test]
async fn key_management_round_trip() {
    let app = spawn_app().await;
    let admin = app.bearer_auth();
    let (pid, pk, sk) = create_project_with_key(&app, "round trip").await;
    assert!(pk.starts_with("pk-lf-") && sk.starts_with("sk-lf-"));

    // The organisation lists both projects, with ISO timestamps.
    let (status, body) = app
        .send(
            "GET",
            "/api/public/organizations/projects",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let projects = body["projects"].as_array().unwrap();
    let ids: Vec<&str> = projects.iter().map(|p| p["id"].as_str().unwrap()).collect();
    assert!(
        ids.contains(&"default") && ids.contains(&pid.as_str()),
        "{ids:?}"
    );
    let created = projects.iter().find(|p| p["id"] == pid.as_str()).unwrap();
    let ts = created["createdAt"].as_str().unwrap();
    assert!(ts.ends_with('Z') && ts.len() == 24, "ISO with ms: {ts}");

    // The key works, is listed without its secret, and stops working once deleted.
    assert_eq!(
        app.send("GET", "/api/public/projects", Some(&basic(&pk, &sk)), None)
            .await
            .0,
        200
    );
    let keys_path = format!("/api/public/projects/{pid}/apiKeys");
    let (status, body) = app.send("GET", &keys_path, Some(&admin), None).await;
    assert_eq!(status, 200);
    let keys = body["apiKeys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    let key = &keys[0];
    assert_eq!(key["publicKey"], pk.as_str());
    assert_eq!(key["note"], "test");
    assert!(key.get("secretKey").is_none(), "secret never listed");
    let display = key["displaySecretKey"].as_str().unwrap();
    assert!(display.starts_with("sk-lf-") && display.ends_with(&sk[sk.len() - 4..]));
    assert!(key.as_object().unwrap().contains_key("expiresAt"));
    let key_id = key["id"].as_str().unwrap();

    let (status, body) = app
        .send(
            "DELETE",
            &format!("{keys_path}/{key_id}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!((status, body), (200, json!({"success": true})));
    assert_eq!(
        app.send("GET", "/api/public/projects", Some(&basic(&pk, &sk)), None)
            .await
            .0,
        401
    );
    let (status, _) = app
        .send(
            "DELETE",
            &format!("{keys_path}/{key_id}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn predefined_keys_are_accepted_and_validated() {
    let app = spawn_app().await;
    let admin = app.bearer_auth();
    let (pid, _, _) = create_project_with_key(&app, "predefined").await;
    let path = format!("/api/public/projects/{pid}/apiKeys");
    let (status, body) = app
        .send(
            "POST",
            &path,
            Some(&admin),
            Some(&json!({"publicKey": "pk-lf-mine", "secretKey": "sk-lf-mine"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["secretKey"], "sk-lf-mine");
    assert_eq!(
        app.send(
            "GET",
            "/api/public/projects",
            Some(&basic("pk-lf-mine", "sk-lf-mine")),
            None
        )
        .await
        .1["data"][0]["id"],
        pid.as_str()
    );
    for (bad, why) in [
        (json!({"publicKey": "pk-lf-only"}), "secret missing"),
        (
            json!({"publicKey": "xx-1", "secretKey": "sk-lf-1"}),
            "bad public prefix",
        ),
        (
            json!({"publicKey": "pk-lf-2", "secretKey": "xx-2"}),
            "bad secret prefix",
        ),
    ] {
        let (status, body) = app.send("POST", &path, Some(&admin), Some(&bad)).await;
        assert_eq!(status, 400, "{why}: {body}");
        assert!(body["message"].is_string(), "{why}");
    }
    let (status, _) = app
        .send(
            "POST",
            &path,
            Some(&admin),
            Some(&json!({"publicKey": "pk-lf-mine", "secretKey": "sk-lf-other"})),
        )
        .await;
    assert_eq!(status, 409, "duplicate public key");
}

#[tokio::test]
async fn projects_can_be_renamed_and_deleted_and_their_keys_die_with_them() {
    let app = spawn_app().await;
    let admin = app.bearer_auth();
    let (pid, pk, sk) = create_project_with_key(&app, "to rename").await;
    let (status, body) = app
        .send(
            "PUT",
            &format!("/api/public/projects/{pid}"),
            Some(&admin),
            Some(&json!({"name": "renamed", "metadata": {"team": "ml"}, "retention": 30})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["name"], "renamed");
    assert_eq!(body["metadata"], json!({"team": "ml"}));
    assert_eq!(body["retentionDays"], 30);
    let (_, seen) = app
        .send("GET", "/api/public/projects", Some(&basic(&pk, &sk)), None)
        .await;
    assert_eq!(seen["data"][0]["name"], "renamed");
    assert_eq!(seen["data"][0]["retentionDays"], 30);

    let (status, body) = app
        .send(
            "DELETE",
            &format!("/api/public/projects/{pid}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(status, 202);
    assert_eq!(body["success"], true);
    assert!(body["message"].is_string());
    assert_eq!(
        app.send("GET", "/api/public/projects", Some(&basic(&pk, &sk)), None)
            .await
            .0,
        401
    );
    let (status, body) = app
        .send(
            "GET",
            "/api/public/organizations/projects",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert!(!body["projects"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["id"] == pid.as_str()));
    for (method, path) in [
        ("DELETE", format!("/api/public/projects/{pid}")),
        ("GET", format!("/api/public/projects/{pid}/apiKeys")),
    ] {
        assert_eq!(
            app.send(method, &path, Some(&admin), None).await.0,
            404,
            "{method} {path}"
        );
    }
}

#[tokio::test]
async fn project_input_is_validated() {
    let app = spawn_app().await;
    let admin = app.bearer_auth();
    for (body, field) in [
        (json!({"name": "ab", "retention": 0}), "name"),
        (json!({"retention": 0}), "name"),
        (json!({"name": "x".repeat(61), "retention": 0}), "name"),
        (json!({"name": "fine name", "retention": 2}), "retention"),
        (json!({"name": "fine name", "retention": -1}), "retention"),
        (json!({"name": "fine name", "metadata": [1, 2]}), "metadata"),
    ] {
        let (status, res) = app
            .send("POST", "/api/public/projects", Some(&admin), Some(&body))
            .await;
        assert_eq!(status, 400, "{body}: {res}");
        assert_eq!(res["error"][0]["path"][0], field, "{body}: {res}");
    }
    let (status, res) = app
        .send(
            "POST",
            "/api/public/projects",
            Some(&admin),
            Some(&json!("not an object")),
        )
        .await;
    assert_eq!(status, 400, "{res}");
    let ok = json!({"name": "unique name", "retention": 0});
    assert_eq!(
        app.send("POST", "/api/public/projects", Some(&admin), Some(&ok))
            .await
            .0,
        201
    );
    assert_eq!(
        app.send("POST", "/api/public/projects", Some(&admin), Some(&ok))
            .await
            .0,
        409
    );
    let (status, _) = app
        .send("DELETE", "/api/public/projects/default", Some(&admin), None)
        .await;
    assert_eq!(status, 400, "the default project stays");
}
