//! Media over HTTP as the SDKs drive it: register by hash, PUT to the signed URL (no
//! Authorization), PATCH the result, GET metadata and download the bytes.

use base64::Engine;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::helpers::*;

fn hashes(bytes: &[u8]) -> (String, String) {
    let digest = Sha256::digest(bytes);
    let b64 = base64::engine::general_purpose::STANDARD.encode(digest);
    let id = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest)[..22].to_string();
    (b64, id)
}

fn register_body(bytes: &[u8], content_type: &str) -> Value {
    json!({"traceId": "trace-1", "observationId": "obs-1", "field": "input",
           "contentType": content_type, "contentLength": bytes.len(),
           "sha256Hash": hashes(bytes).0})
}

async fn put(
    app: &TestApp,
    url: &str,
    bytes: Vec<u8>,
    content_type: &str,
    checksum: &str,
) -> (u16, String) {
    let res = app
        .client
        .put(url)
        .header("Content-Type", content_type)
        .header("x-amz-checksum-sha256", checksum)
        .header("x-ms-blob-type", "BlockBlob")
        .body(bytes)
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

async fn patch_status(app: &TestApp, id: &str, status: u16) -> (u16, Value) {
    app.send(
        "PATCH",
        &format!("/api/public/media/{id}"),
        Some(&app.basic_auth()),
        Some(
            &json!({"uploadedAt": "2024-05-01T12:00:00.000Z", "uploadHttpStatus": status,
                     "uploadTimeMs": 12}),
        ),
    )
    .await
}

#[tokio::test]
async fn upload_patch_get_download_and_dedupe() {
    let app = spawn_app().await;
    let bytes = b"\x89PNG fake image bytes".to_vec();
    let (sha, expected_id) = hashes(&bytes);
    let (s, res) = app
        .post("/api/public/media", &register_body(&bytes, "image/png"))
        .await;
    assert_eq!(s, 201, "{res}");
    assert_eq!(res["mediaId"], expected_id.as_str(), "the SDK's own id");
    let url = res["uploadUrl"].as_str().unwrap().to_string();
    assert!(
        url.starts_with(&app.address),
        "{url} uses the host the client used"
    );

    // Not downloadable before the upload is recorded.
    let (s, _) = app.get(&format!("/api/public/media/{expected_id}")).await;
    assert_eq!(s, 404);

    // Wrong type, wrong checksum, wrong body: refused, nothing stored.
    let (s, _) = put(&app, &url, bytes.clone(), "image/jpeg", &sha).await;
    assert_eq!(s, 403);
    let (other_sha, _) = hashes(b"other");
    let (s, _) = put(&app, &url, bytes.clone(), "image/png", &other_sha).await;
    assert_eq!(s, 400);
    let mut tampered = bytes.clone();
    tampered[0] ^= 1;
    let (s, _) = put(&app, &url, tampered, "image/png", &sha).await;
    assert_eq!(s, 400, "same length, other bytes: hash mismatch");
    let (s, _) = put(&app, &url, bytes[1..].to_vec(), "image/png", &sha).await;
    assert_eq!(s, 403, "content length is part of the signature");

    let (s, body) = put(&app, &url, bytes.clone(), "image/png", &sha).await;
    assert_eq!(s, 200, "{body}");
    let (s, body) = patch_status(&app, &expected_id, 200).await;
    assert_eq!((s, body), (200, json!({"message": "OK"})));

    let (s, meta) = app.get(&format!("/api/public/media/{expected_id}")).await;
    assert_eq!(s, 200, "{meta}");
    assert_eq!(meta["mediaId"], expected_id.as_str());
    assert_eq!(meta["contentType"], "image/png");
    assert_eq!(meta["contentLength"], bytes.len());
    assert_eq!(meta["uploadedAt"], "2024-05-01T12:00:00.000Z");
    assert!(meta["urlExpiry"].as_str().unwrap().ends_with('Z'));
    let download = meta["url"].as_str().unwrap();
    let res = app.client.get(download).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "image/png");
    assert_eq!(res.bytes().await.unwrap().to_vec(), bytes);

    // Same content again: same id, no upload needed.
    let mut again = register_body(&bytes, "image/png");
    again["traceId"] = json!("trace-2");
    again["field"] = json!("output");
    let (s, res) = app.post("/api/public/media", &again).await;
    assert_eq!(s, 201);
    assert_eq!(res["mediaId"], expected_id.as_str());
    assert_eq!(res["uploadUrl"], Value::Null);
}

#[tokio::test]
async fn signatures_are_checked_and_expire() {
    let app = spawn_app().await;
    let bytes = b"%PDF-1.4 tiny".to_vec();
    let (sha, id) = hashes(&bytes);
    let (_, res) = app
        .post(
            "/api/public/media",
            &register_body(&bytes, "application/pdf"),
        )
        .await;
    let url = res["uploadUrl"].as_str().unwrap().to_string();
    let sig_at = url.find("signature=").unwrap() + "signature=".len();
    let mut forged = url.clone();
    let last = if url.ends_with('0') { "1" } else { "0" };
    forged.replace_range(url.len() - 1.., last);
    let (s, _) = put(&app, &forged, bytes.clone(), "application/pdf", &sha).await;
    assert_eq!(s, 403);
    let unsigned = url[..sig_at - "&signature=".len()].to_string();
    let (s, _) = put(&app, &unsigned, bytes.clone(), "application/pdf", &sha).await;
    assert_eq!(s, 403);
    // Moving the expiry breaks the signature; a past expiry is refused outright.
    let exp_at = url.find("expires=").unwrap() + "expires=".len();
    let exp_end = exp_at + url[exp_at..].find('&').unwrap();
    let expires: i64 = url[exp_at..exp_end].parse().unwrap();
    let mut later = url.clone();
    later.replace_range(exp_at..exp_end, &(expires + 10).to_string());
    let (s, _) = put(&app, &later, bytes.clone(), "application/pdf", &sha).await;
    assert_eq!(s, 403);
    let mut past = url.clone();
    past.replace_range(exp_at..exp_end, "1000");
    let (s, body) = put(&app, &past, bytes.clone(), "application/pdf", &sha).await;
    assert_eq!(s, 403);
    assert!(body.contains("expired"), "{body}");
    // Another project's credentials cannot read the media.
    let (s, _) = put(&app, &url, bytes.clone(), "application/pdf", &sha).await;
    assert_eq!(s, 200);
    patch_status(&app, &id, 201).await;
    let (_, pk, sk) = create_project_with_key(&app, "other").await;
    let (s, _) = app
        .send(
            "GET",
            &format!("/api/public/media/{id}"),
            Some(&basic(&pk, &sk)),
            None,
        )
        .await;
    assert_eq!(s, 404);
    let (s, _) = app
        .send(
            "PATCH",
            &format!("/api/public/media/{id}"),
            Some(&basic(&pk, &sk)),
            Some(&json!({"uploadedAt": "2024-05-01T12:00:00Z", "uploadHttpStatus": 200})),
        )
        .await;
    assert_eq!(s, 404);
    // A forged download signature is refused.
    let (_, meta) = app.get(&format!("/api/public/media/{id}")).await;
    let dl = meta["url"]
        .as_str()
        .unwrap()
        .replace("signature=", "signature=00");
    let res = app.client.get(dl).send().await.unwrap();
    assert_eq!(res.status(), 403);
}

#[tokio::test]
async fn failed_uploads_stay_hidden_and_bad_requests_are_400() {
    let app = spawn_app().await;
    let bytes = b"hello".to_vec();
    let (_, res) = app
        .post("/api/public/media", &register_body(&bytes, "text/plain"))
        .await;
    let id = res["mediaId"].as_str().unwrap().to_string();
    let (s, _) = patch_status(&app, &id, 500).await;
    assert_eq!(s, 200);
    let (s, _) = app.get(&format!("/api/public/media/{id}")).await;
    assert_eq!(s, 404, "a failed upload is not served");
    // Re-registering after a failure hands out a new upload URL.
    let (_, res) = app
        .post("/api/public/media", &register_body(&bytes, "text/plain"))
        .await;
    assert!(res["uploadUrl"].is_string());
    let (s, _) = patch_status(&app, "unknown-media-id", 200).await;
    assert_eq!(s, 404);
    let mut bad_type = register_body(&bytes, "text/plain");
    bad_type["contentType"] = json!("application/x-evil");
    let mut bad_len = register_body(&bytes, "text/plain");
    bad_len["contentLength"] = json!(0);
    let mut bad_hash = register_body(&bytes, "text/plain");
    bad_hash["sha256Hash"] = json!("short");
    let mut no_context = register_body(&bytes, "text/plain");
    no_context.as_object_mut().unwrap().remove("traceId");
    let mut bad_field = register_body(&bytes, "text/plain");
    bad_field["field"] = json!("expectedOutput");
    for body in [bad_type, bad_len, bad_hash, no_context, bad_field] {
        let (s, res) = app.post("/api/public/media", &body).await;
        assert_eq!(s, 400, "{body} -> {res}");
    }
    // Dataset-item context is accepted.
    let (s, _) = app
        .post(
            "/api/public/media",
            &json!({"datasetId": "d", "datasetItemId": "i", "field": "expectedOutput",
                    "contentType": "text/plain", "contentLength": 5, "sha256Hash": hashes(&bytes).0}),
        )
        .await;
    assert_eq!(s, 201);
}

#[tokio::test]
async fn media_references_in_trace_io_read_back_intact() {
    let app = spawn_app().await;
    let reference =
        "@@@langfuseMedia:type=image/png|id=abcdefghijklmnopqrstuv|source=base64_data_uri@@@";
    let now = "2024-05-01T12:00:00.000Z";
    let (s, res) = app
        .post(
            "/api/public/ingestion",
            &json!({"batch": [{"id": "e1", "type": "trace-create", "timestamp": now,
                "body": {"id": "tm", "timestamp": now, "input": {"image": reference},
                         "output": reference}}]}),
        )
        .await;
    assert_eq!(s, 207, "{res}");
    let pool = sqlx::PgPool::connect(&app.database_url).await.unwrap();
    let (input, output): (Value, Value) =
        sqlx::query_as("select input, output from traces where id = 'tm'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(input, json!({"image": reference}));
    assert_eq!(output, json!(reference));
}

#[tokio::test]
async fn media_dir_and_public_url_are_configurable() {
    let dir = test_tmp_dir().join(format!("media-{}", uuid::Uuid::new_v4().simple()));
    let app = spawn_app_with(&[
        ("XTRACE_MEDIA_DIR", &dir.display().to_string()),
        ("XTRACE_PUBLIC_URL", "https://xtrace.example.com/"),
    ])
    .await;
    let bytes = b"stored where configured".to_vec();
    let (sha, _) = hashes(&bytes);
    let (_, res) = app
        .post("/api/public/media", &register_body(&bytes, "text/plain"))
        .await;
    let url = res["uploadUrl"].as_str().unwrap();
    assert!(
        url.starts_with("https://xtrace.example.com/api/public/media/"),
        "{url}"
    );
    let local = url.replace("https://xtrace.example.com", &app.address);
    let (s, _) = put(&app, &local, bytes.clone(), "text/plain", &sha).await;
    assert_eq!(s, 200);
    let mut found = Vec::new();
    for project_dir in std::fs::read_dir(&dir).unwrap().flatten() {
        for f in std::fs::read_dir(project_dir.path()).unwrap().flatten() {
            found.push(std::fs::read(f.path()).unwrap());
        }
    }
    assert_eq!(found, vec![bytes]);
}
