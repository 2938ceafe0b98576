//! Test harness: one PostgreSQL cluster per test process (the same self-managed
//! mechanism the binary uses, or `TEST_DATABASE_URL` when set), a fresh database per
//! test, and the real application on a random port.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::OnceLock;

use base64::Engine;
use serde_json::Value;
use xtrace::config::Config;
use xtrace::pg::ManagedPostgres;
use xtrace::startup::Application;

/// Admin URL (database `postgres`) of the cluster the tests use.
pub fn cluster_admin_url() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        if let Ok(url) = std::env::var("TEST_DATABASE_URL") {
            return url;
        }
        let dir = test_tmp_dir().join(format!("pg-{}", std::process::id()));
        let (tx, rx) = std::sync::mpsc::channel();
        // The cluster is a child of this thread, which never exits: PostgreSQL is told to
        // shut down when the test process ends (see `pg::ManagedPostgres`).
        std::thread::spawn(move || {
            let pg = ManagedPostgres::start(&dir).expect("test PostgreSQL cluster starts");
            tx.send(pg.url("postgres")).expect("test thread waits");
            let _keep = pg;
            loop {
                std::thread::park();
            }
        });
        rx.recv().expect("cluster thread reports its URL")
    })
}

/// `target/tmp/xtrace-tests`, cleaned of clusters whose test process is gone.
pub fn test_tmp_dir() -> PathBuf {
    let base = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("xtrace-tests");
    std::fs::create_dir_all(&base).expect("target tmp dir is writable");
    if let Ok(entries) = std::fs::read_dir(&base) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if let Some(pid) = name.strip_prefix("pg-").and_then(|p| p.parse::<u32>().ok()) {
                if pid != std::process::id() && !PathBuf::from(format!("/proc/{pid}")).exists() {
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
    }
    base
}

/// Creates a fresh database and returns its URL.
pub async fn fresh_database() -> String {
    let admin = cluster_admin_url();
    let name = format!("test_{}", uuid::Uuid::new_v4().simple());
    xtrace::pg::ensure_database(admin, &name)
        .await
        .expect("test database can be created");
    replace_db_name(admin, &name)
}

fn replace_db_name(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let base = base.rsplit_once('/').map(|(b, _)| b).unwrap_or(base);
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

/// A running application and a client with its credentials.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`.
    pub address: String,
    /// Public key of the default project.
    pub public_key: String,
    /// Secret key of the default project.
    pub secret_key: String,
    /// Admin bearer token.
    pub bearer_token: String,
    /// Plain HTTP client (no auth).
    pub client: reqwest::Client,
    /// Database URL of this test.
    pub database_url: String,
}

/// Spawns the app with default test configuration.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// Spawns the app with extra environment-style settings (override defaults).
pub async fn spawn_app_with(vars: &[(&str, &str)]) -> TestApp {
    let database_url = fresh_database().await;
    spawn_app_on(&database_url, vars).await
}

/// Spawns the app on an existing database.
pub async fn spawn_app_on(database_url: &str, vars: &[(&str, &str)]) -> TestApp {
    if std::env::var("TEST_LOG").is_ok() {
        xtrace::telemetry::init(false);
    }
    let id = uuid::Uuid::new_v4().simple().to_string();
    let data_dir = test_tmp_dir().join(format!("app-{id}"));
    let mut env: HashMap<String, String> = HashMap::from([
        ("BIND_ADDR".into(), "127.0.0.1:0".into()),
        ("XTRACE_DATA_DIR".into(), data_dir.display().to_string()),
        ("API_BEARER_TOKEN".into(), format!("test-token-{id}")),
        ("XTRACE_PUBLIC_KEY".into(), format!("pk-lf-{id}")),
        ("XTRACE_SECRET_KEY".into(), format!("sk-lf-{id}")),
        ("DATABASE_MAX_CONNECTIONS".into(), "5".into()),
    ]);
    for (k, v) in vars {
        env.insert(k.to_string(), v.to_string());
    }
    let config = Config::from_lookup(|k| env.get(k).cloned()).expect("test config is valid");
    let app = Application::build(config, database_url)
        .await
        .expect("application builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    let app = TestApp {
        address,
        public_key: env.get("XTRACE_PUBLIC_KEY").cloned().unwrap_or_default(),
        secret_key: env.get("XTRACE_SECRET_KEY").cloned().unwrap_or_default(),
        bearer_token: env.get("API_BEARER_TOKEN").cloned().unwrap_or_default(),
        client: reqwest::Client::new(),
        database_url: database_url.to_string(),
    };
    // The configured secret is argon2-hashed: verify it once now, so timing-sensitive tests
    // do not race the first (slow) verification.
    if !app.public_key.is_empty() {
        let _ = app
            .client
            .get(app.url("/api/public/projects"))
            .header("Authorization", app.basic_auth())
            .send()
            .await;
    }
    app
}

/// `Basic base64(pk:sk)`.
pub fn basic(pk: &str, sk: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{pk}:{sk}"))
    )
}

impl TestApp {
    /// URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// The default project's Basic header.
    pub fn basic_auth(&self) -> String {
        basic(&self.public_key, &self.secret_key)
    }

    /// The admin bearer header.
    pub fn bearer_auth(&self) -> String {
        format!("Bearer {}", self.bearer_token)
    }

    /// GET with the project's Basic auth; returns status and JSON body.
    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.send("GET", path, Some(&self.basic_auth()), None).await
    }

    /// POST JSON with the project's Basic auth.
    pub async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        self.send("POST", path, Some(&self.basic_auth()), Some(body))
            .await
    }

    /// Any request with an optional Authorization header and JSON body.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        auth: Option<&str>,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("valid method");
        let mut req = self.client.request(method, self.url(path));
        if let Some(a) = auth {
            req = req.header("Authorization", a);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let res = req.send().await.expect("request reaches the test server");
        let status = res.status().as_u16();
        let text = res.text().await.expect("body is readable");
        let json = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text)
                .unwrap_or_else(|_| panic!("response to {path} is JSON: {text}"))
        };
        (status, json)
    }
}

/// Creates a project through the admin API and a key pair for it: (id, public, secret).
pub async fn create_project_with_key(app: &TestApp, name: &str) -> (String, String, String) {
    let (status, project) = app
        .send(
            "POST",
            "/api/public/projects",
            Some(&app.bearer_auth()),
            Some(&serde_json::json!({"name": name, "retention": 0})),
        )
        .await;
    assert_eq!(status, 201, "project created: {project}");
    let id = project["id"].as_str().expect("project id").to_string();
    let (status, key) = app
        .send(
            "POST",
            &format!("/api/public/projects/{id}/apiKeys"),
            Some(&app.bearer_auth()),
            Some(&serde_json::json!({"note": "test"})),
        )
        .await;
    assert_eq!(status, 201, "key created: {key}");
    (
        id,
        key["publicKey"].as_str().expect("publicKey").to_string(),
        key["secretKey"].as_str().expect("secretKey").to_string(),
    )
}

/// Percent-encodes a query value (everything but RFC 3986 unreserved characters).
pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
