//! Start-up provisioning: the organisation, the default project, key pairs from the
//! environment (`XTRACE_*`, `LANGFUSE_*`, `LANGFUSE_INIT_*`) and, for zero-configuration
//! runs, generated credentials persisted in the data directory so restarts keep them.
//! Explicit configuration always wins over generated values.

use std::path::Path;

use serde::{Deserialize, Serialize};
use sqlx::PgPool;

use crate::auth;
use crate::config::{Config, KeyPair, Secret};
use crate::store;

/// Credentials generated for a zero-configuration run (`<data dir>/credentials.json`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GeneratedCredentials {
    /// Admin bearer token, unless `API_BEARER_TOKEN` is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_token: Option<String>,
    /// Public key of the default project, unless keys are configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key: Option<String>,
    /// Secret key of the default project, unless keys are configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_key: Option<String>,
}

/// What start-up resolved: the bearer token in force and what was generated.
#[derive(Debug, Clone)]
pub struct Provisioned {
    /// The admin bearer token in force.
    pub bearer_token: Secret,
    /// Generated values the user needs to see (empty when everything was configured).
    pub generated: GeneratedCredentials,
}

const CREDENTIALS_FILE: &str = "credentials.json";

/// Loads or creates generated credentials for whatever the configuration leaves unset.
pub fn resolve_credentials(config: &Config) -> anyhow::Result<GeneratedCredentials> {
    let path = config.data_dir.join(CREDENTIALS_FILE);
    let mut creds: GeneratedCredentials = match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text).unwrap_or_default(),
        Err(_) => GeneratedCredentials::default(),
    };
    let mut changed = false;
    if config.api_bearer_token.is_none() && creds.bearer_token.is_none() {
        creds.bearer_token = Some(format!("xt-{}", uuid::Uuid::new_v4().simple()));
        changed = true;
    }
    let keys_configured = config.project_keys.is_some()
        || config
            .init_project
            .as_ref()
            .is_some_and(|p| p.keys.is_some());
    if !keys_configured && creds.public_key.is_none() {
        let (pk, sk) = auth::generate_key_pair();
        creds.public_key = Some(pk);
        creds.secret_key = Some(sk);
        changed = true;
    }
    if changed {
        write_private(
            &config.data_dir,
            &path,
            &serde_json::to_string_pretty(&creds)?,
        )?;
    }
    // Only what is actually in force is reported as generated.
    if config.api_bearer_token.is_some() {
        creds.bearer_token = None;
    }
    if keys_configured {
        creds.public_key = None;
        creds.secret_key = None;
    }
    Ok(creds)
}

fn write_private(dir: &Path, path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::create_dir_all(dir)?;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    f.write_all(text.as_bytes())?;
    Ok(())
}

/// Creates the organisation, projects and keys the configuration asks for.
pub async fn provision(
    pool: &PgPool,
    config: &Config,
    generated: &GeneratedCredentials,
) -> anyhow::Result<()> {
    store::projects::upsert_organization(pool, &config.org_id, &config.org_name).await?;
    store::projects::ensure_project(
        pool,
        &config.org_id,
        &config.default_project_id,
        &config.default_project_id,
    )
    .await?;
    if let Some(keys) = &config.project_keys {
        upsert_key(pool, &config.default_project_id, keys, "Configured API Key").await?;
    }
    if let (Some(pk), Some(sk)) = (&generated.public_key, &generated.secret_key) {
        let keys = KeyPair {
            public_key: pk.clone(),
            secret_key: Secret(sk.clone()),
        };
        upsert_key(pool, &config.default_project_id, &keys, "Generated API Key").await?;
    }
    if let Some(init) = &config.init_project {
        store::projects::ensure_project(pool, &config.org_id, &init.id, &init.name).await?;
        if let Some(keys) = &init.keys {
            upsert_key(pool, &init.id, keys, "Provisioned API Key").await?;
        }
    }
    Ok(())
}

/// Stores a configured key pair for `project_id`. A public key that belongs to another
/// project is moved; one that exists for this project is kept, unless the configured
/// secret differs, in which case the configured secret wins.
async fn upsert_key(
    pool: &PgPool,
    project_id: &str,
    keys: &KeyPair,
    note: &str,
) -> anyhow::Result<()> {
    let mut tx = pool.begin().await?;
    if let Some(creds) = store::projects::find_key_credentials(&mut *tx, &keys.public_key).await? {
        let same_secret =
            auth::hash_secret(&creds.secret_salt, keys.secret_key.expose()) == creds.secret_hash;
        if creds.project_id == project_id && same_secret {
            return Ok(());
        }
        store::projects::delete_api_key_by_public_key(&mut *tx, &keys.public_key).await?;
    } else if store::projects::find_key_project(&mut *tx, &keys.public_key)
        .await?
        .is_some()
    {
        // The key belongs to a deleted project: reclaim it.
        store::projects::delete_api_key_by_public_key(&mut *tx, &keys.public_key).await?;
    }
    let salt = auth::new_salt();
    let hash = auth::hash_secret(&salt, keys.secret_key.expose());
    let id = uuid::Uuid::new_v4().to_string();
    store::projects::insert_api_key(
        &mut *tx,
        &store::projects::NewApiKey {
            id: &id,
            project_id,
            public_key: &keys.public_key,
            secret_salt: &salt,
            secret_hash: &hash,
            display_secret_key: &auth::display_secret_key(keys.secret_key.expose()),
            note: Some(note),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The one start-up banner: URLs and, when something was generated, the credentials.
pub fn banner(base_url: &str, generated: &GeneratedCredentials, data_dir: &Path) -> String {
    let mut out = format!(
        "\nxtrace is listening on {base_url}\n  Web UI:      {base_url}/\n  API:         {base_url}/api/public\n  Swagger UI:  {base_url}/docs\n  OpenAPI:     {base_url}/api/public/openapi.json\n"
    );
    if generated.bearer_token.is_some() || generated.public_key.is_some() {
        out.push_str(&format!(
            "\nGenerated credentials (kept in {}):\n",
            data_dir.join(CREDENTIALS_FILE).display()
        ));
        if let Some(t) = &generated.bearer_token {
            out.push_str(&format!("  API_BEARER_TOKEN={t}\n"));
        }
        if let (Some(pk), Some(sk)) = (&generated.public_key, &generated.secret_key) {
            out.push_str(&format!(
                "  LANGFUSE_PUBLIC_KEY={pk}\n  LANGFUSE_SECRET_KEY={sk}\n  LANGFUSE_HOST={base_url}\n"
            ));
        }
    }
    out
}
