//! Feedback submitted through `POST /api/public/feedback`, kept in the project's database.

use sqlx::PgPool;

/// A feedback submission.
#[derive(Debug, Clone)]
pub struct NewFeedback {
    /// skill, mcp-tool, cli, docs, public-api, other.
    pub target_type: String,
    /// What it is about.
    pub target: String,
    /// The text.
    pub feedback: String,
    /// Optional goal.
    pub goal: Option<String>,
    /// Optional http(s) URL.
    pub reference_url: Option<String>,
}

/// Stores a submission and returns its id.
pub async fn insert(pool: &PgPool, project_id: &str, f: &NewFeedback) -> sqlx::Result<String> {
    let id = uuid::Uuid::new_v4().to_string();
    sqlx::query(
        "insert into feedback (project_id, id, target_type, target, feedback, goal, reference_url) \
         values ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(project_id)
    .bind(&id)
    .bind(&f.target_type)
    .bind(&f.target)
    .bind(&f.feedback)
    .bind(&f.goal)
    .bind(&f.reference_url)
    .execute(pool)
    .await?;
    Ok(id)
}
