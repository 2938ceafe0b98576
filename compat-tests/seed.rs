//! Seeding rows straight into the tables of migration 0002 (and 0031), following its
//! storage conventions, for read-API tests that must not depend on the ingestion path.
//! Each row is a JSON object of column → value; unspecified columns get the defaults a
//! writer would store.

use serde_json::{json, Value};
use sqlx::PgPool;

use crate::helpers::TestApp;

/// Inserts rows for one project.
pub struct Seed {
    /// Pool on the test database.
    pub pool: PgPool,
    /// Project the rows belong to.
    pub project_id: String,
}

fn merge(defaults: Value, given: Value) -> Value {
    let mut out = defaults;
    if let (Some(o), Some(g)) = (out.as_object_mut(), given.as_object()) {
        for (k, v) in g {
            o.insert(k.clone(), v.clone());
        }
    }
    out
}

impl Seed {
    /// A seeder for the default project of `app`.
    pub async fn new(app: &TestApp) -> Seed {
        let pool = PgPool::connect(&app.database_url)
            .await
            .expect("test database accepts connections");
        Seed {
            pool,
            project_id: "default".into(),
        }
    }

    /// The same database, another project.
    pub fn for_project(&self, project_id: &str) -> Seed {
        Seed {
            pool: self.pool.clone(),
            project_id: project_id.into(),
        }
    }

    async fn insert(&self, table: &str, row: Value) {
        sqlx::query(&format!(
            "insert into {table} select * from jsonb_populate_record(null::{table}, $1)"
        ))
        .bind(&row)
        .execute(&self.pool)
        .await
        .unwrap_or_else(|e| panic!("seeding {table} {row}: {e}"));
    }

    /// A trace `id` at `timestamp` with extra columns.
    pub async fn trace(&self, id: &str, timestamp: &str, extra: Value) {
        let row = merge(
            json!({"project_id": self.project_id, "id": id, "timestamp": timestamp,
                "environment": "default", "public": false, "bookmarked": false, "tags": [],
                "metadata": {}, "created_at": timestamp, "updated_at": timestamp}),
            extra,
        );
        self.insert("traces", row).await;
    }

    /// An observation of `trace_id` with extra columns (`total_cost` follows `cost_details.total`).
    pub async fn observation(
        &self,
        id: &str,
        trace_id: &str,
        kind: &str,
        start: &str,
        extra: Value,
    ) {
        let mut row = merge(
            json!({"project_id": self.project_id, "id": id, "trace_id": trace_id, "type": kind,
                "start_time": start, "environment": "default", "level": "DEFAULT", "metadata": {},
                "provided_usage_details": {}, "usage_details": {}, "provided_cost_details": {},
                "cost_details": {}, "created_at": start, "updated_at": start}),
            extra,
        );
        if row.get("total_cost").is_none() {
            row["total_cost"] = row["cost_details"]["total"].clone();
        }
        self.insert("observations", row).await;
    }

    /// A score with extra columns.
    pub async fn score(
        &self,
        id: &str,
        name: &str,
        data_type: &str,
        timestamp: &str,
        extra: Value,
    ) {
        let row = merge(
            json!({"project_id": self.project_id, "id": id, "name": name, "data_type": data_type,
                "timestamp": timestamp, "source": "API", "metadata": {}, "environment": "default",
                "created_at": timestamp, "updated_at": timestamp}),
            extra,
        );
        self.insert("scores", row).await;
    }

    /// A session row.
    pub async fn session(&self, id: &str, created_at: &str, environment: &str) {
        self.insert(
            "sessions",
            json!({"project_id": self.project_id, "id": id, "environment": environment,
                "created_at": created_at}),
        )
        .await;
    }

    /// `n` traces `<prefix>-<i>` one second apart from 2024-01-01T00:00:00Z, in one statement.
    pub async fn many_traces(&self, prefix: &str, n: i64) {
        sqlx::query(
            "insert into traces (project_id, id, timestamp) \
             select $1, $2 || '-' || i, timestamptz '2024-01-01T00:00:00Z' + i * interval '1 second' \
             from generate_series(1, $3) i",
        )
        .bind(&self.project_id)
        .bind(prefix)
        .bind(n)
        .execute(&self.pool)
        .await
        .expect("bulk trace seed");
    }
}

/// Creates a second project with a key pair through the admin API; returns
/// (project id, Basic header).
pub async fn second_project(app: &TestApp) -> (String, String) {
    let (status, project) = app
        .send(
            "POST",
            "/api/public/projects",
            Some(&app.bearer_auth()),
            Some(&json!({"name": format!("other-{}", uuid::Uuid::new_v4().simple())})),
        )
        .await;
    assert_eq!(status, 201, "project created: {project}");
    let pid = project["id"].as_str().expect("project id").to_string();
    let (status, key) = app
        .send(
            "POST",
            &format!("/api/public/projects/{pid}/apiKeys"),
            Some(&app.bearer_auth()),
            Some(&json!({})),
        )
        .await;
    assert!(status == 200 || status == 201, "key created: {key}");
    let auth = crate::helpers::basic(
        key["publicKey"].as_str().expect("public key"),
        key["secretKey"].as_str().expect("secret key"),
    );
    (pid, auth)
}

/// True when `s` is an ISO 8601 timestamp with milliseconds and `Z`.
pub fn is_iso_ms_z(s: &Value) -> bool {
    let Some(s) = s.as_str() else { return false };
    s.len() == 24
        && s.ends_with('Z')
        && s.as_bytes()[19] == b'.'
        && chrono::DateTime::parse_from_rfc3339(s).is_ok()
}

/// The sorted keys of a JSON object.
pub fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v
        .as_object()
        .unwrap_or_else(|| panic!("object expected: {v}"))
        .keys()
        .cloned()
        .collect();
    k.sort();
    k
}

/// Asserts `v` has each of `required` keys (value may be null).
pub fn assert_has_keys(v: &Value, required: &[&str], what: &str) {
    for k in required {
        assert!(
            v.as_object().is_some_and(|o| o.contains_key(*k)),
            "{what} lacks required key {k}: {v}"
        );
    }
}
