//! Score validation against score configs (COMPAT-NOTES §4.6, Langfuse
//! `validateAndInflateScore`), applied by the worker to every score it folds.
//!
//! Each `score-create` event naming a `configId` is checked on its own, as Langfuse's worker
//! does: the config must exist in the project and not be archived, an explicit `dataType`
//! must equal the config's, and the value must fit the config (NUMERIC: a number within
//! `[minValue, maxValue]`; CATEGORICAL: one of the category labels; BOOLEAN: 0 or 1; TEXT: a
//! string). Failing events are dropped silently (the request was already answered); the
//! rest are folded, then the score takes the config's name and is inflated by the config's
//! data type (BOOLEAN `stringValue` `True`/`False`, CATEGORICAL `value` = the category's).

use std::collections::HashMap;

use serde_json::{Map, Value};
use sqlx::PgConnection;

use super::merge::{self, LoggedEvent, MergedScore};
use crate::store::score_configs::{self, ScoreConfigRow};

/// A score's events, keyed by project and score id, as the worker groups them.
pub type ScoreEvents = (String, String, Vec<LoggedEvent>);

/// Configs by `(project_id, config_id)`.
type Configs = HashMap<(String, String), ScoreConfigRow>;

/// Why one event does not fit its config (logged, never returned to a client).
fn check_event(body: &Map<String, Value>, config: Option<&ScoreConfigRow>) -> Result<(), String> {
    let Some(config) = config else {
        return Err(
            "The configId you provided does not match a valid config in this project".into(),
        );
    };
    if let Some(dt) = body.get("dataType").and_then(Value::as_str) {
        if dt != config.data_type {
            return Err(format!(
                "Data type mismatch based on config: expected {}, got {dt}",
                config.data_type
            ));
        }
    }
    if config.is_archived {
        return Err("Config is archived and cannot be used to create new scores".into());
    }
    let value = body.get("value").unwrap_or(&Value::Null);
    match (config.data_type.as_str(), value) {
        ("NUMERIC", Value::Number(n)) => {
            let x = n.as_f64().unwrap_or(f64::NAN);
            if config.max_value.is_some_and(|max| x > max) {
                return Err("Value exceeds maximum value defined in config".into());
            }
            if config.min_value.is_some_and(|min| x < min) {
                return Err("Value is below minimum value defined in config".into());
            }
            Ok(())
        }
        ("CATEGORICAL", Value::String(s)) => {
            if category_value(config, s).is_some() {
                Ok(())
            } else {
                Err(format!("Value {s} does not map to a valid category"))
            }
        }
        ("BOOLEAN", Value::Number(n)) if matches!(n.as_f64(), Some(x) if x == 0.0 || x == 1.0) => {
            Ok(())
        }
        ("TEXT", Value::String(s)) if (1..=500).contains(&s.chars().count()) => Ok(()),
        (dt, _) => Err(format!(
            "Ingested score body not valid against provided config data type {dt}"
        )),
    }
}

/// The numeric value of category `label` of a config.
fn category_value(config: &ScoreConfigRow, label: &str) -> Option<f64> {
    config
        .categories
        .as_ref()?
        .as_array()?
        .iter()
        .find(|c| c.get("label").and_then(Value::as_str) == Some(label))
        .and_then(|c| c.get("value")?.as_f64())
}

/// Gives a folded score its config's name and inflates its value by the config's type.
fn apply_config(mut s: MergedScore, config: &ScoreConfigRow) -> MergedScore {
    s.name = config.name.clone();
    match config.data_type.as_str() {
        "BOOLEAN" => {
            let x = s.value.unwrap_or(0.0);
            s.data_type = "BOOLEAN".into();
            s.string_value = Some(if x == 1.0 { "True" } else { "False" }.into());
        }
        "CATEGORICAL" => {
            s.data_type = "CATEGORICAL".into();
            let label = s.string_value.as_deref().unwrap_or_default();
            s.value = Some(category_value(config, label).unwrap_or(0.0));
        }
        "TEXT" => {
            s.data_type = "TEXT".into();
            s.value = Some(0.0);
        }
        _ => {}
    }
    s
}

/// Rules that need no config: an `ANNOTATION` score needs a `configId` (except corrections),
/// and a correction cannot be on a session or a dataset run.
fn passes_configless_rules(score: &MergedScore) -> bool {
    if score.source == "ANNOTATION" && score.config_id.is_none() && score.data_type != "CORRECTION"
    {
        tracing::info!(score_id = %score.id, "annotation score without configId dropped");
        return false;
    }
    if score.data_type == "CORRECTION"
        && (score.session_id.is_some() || score.dataset_run_id.is_some())
    {
        tracing::info!(score_id = %score.id, "correction score on a session or run dropped");
        return false;
    }
    true
}

/// Validates and folds a batch of scores (events sorted in fold order), reading every
/// referenced config in one query. Scores left without a valid event are dropped.
pub async fn fold_scores(
    conn: &mut PgConnection,
    scores: Vec<ScoreEvents>,
) -> sqlx::Result<Vec<(String, MergedScore)>> {
    let mut keys: Vec<(&str, &str)> = scores
        .iter()
        .flat_map(|(project, _, events)| {
            events
                .iter()
                .filter_map(move |e| Some((project.as_str(), e.body.get("configId")?.as_str()?)))
        })
        .collect();
    keys.sort_unstable();
    keys.dedup();
    let configs: Configs = score_configs::find_many(&mut *conn, &keys)
        .await?
        .into_iter()
        .map(|c| ((c.project_id.clone(), c.id.clone()), c))
        .collect();
    Ok(scores
        .into_iter()
        .filter_map(|(project, id, events)| {
            fold_one(&configs, &project, &id, events).map(|s| (project, s))
        })
        .collect())
}

fn fold_one(
    configs: &Configs,
    project: &str,
    id: &str,
    mut events: Vec<LoggedEvent>,
) -> Option<MergedScore> {
    let config_of = |config_id: &str| configs.get(&(project.to_string(), config_id.to_string()));
    events.retain(|e| match e.body.get("configId").and_then(Value::as_str) {
        None => true,
        Some(config_id) => match check_event(&e.body, config_of(config_id)) {
            Ok(()) => true,
            Err(reason) => {
                tracing::info!(score_id = %id, %reason, "score event does not fit its config; dropped");
                false
            }
        },
    });
    if events.is_empty() {
        return None;
    }
    let mut score = merge::fold_score(id, &events);
    if let Some(config_id) = score.config_id.clone() {
        score = apply_config(score, config_of(&config_id)?);
    }
    passes_configless_rules(&score).then_some(score)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use serde_json::json;

    fn config(data_type: &str) -> ScoreConfigRow {
        ScoreConfigRow {
            project_id: "p".into(),
            id: "c".into(),
            name: "quality".into(),
            data_type: data_type.into(),
            is_archived: false,
            min_value: Some(0.0),
            max_value: Some(10.0),
            categories: Some(json!([{"label": "good", "value": 2}, {"label": "bad", "value": 0}])),
            description: None,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    fn body(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn numeric_range_is_inclusive() {
        let c = config("NUMERIC");
        for (v, ok) in [(0.0, true), (10.0, true), (10.5, false), (-0.1, false)] {
            assert_eq!(
                check_event(&body(json!({"value": v})), Some(&c)).is_ok(),
                ok,
                "{v}"
            );
        }
    }

    #[test]
    fn categorical_needs_a_known_label_and_boolean_zero_or_one() {
        let c = config("CATEGORICAL");
        assert!(check_event(&body(json!({"value": "good"})), Some(&c)).is_ok());
        assert!(check_event(&body(json!({"value": "meh"})), Some(&c)).is_err());
        assert!(check_event(&body(json!({"value": 2})), Some(&c)).is_err());
        let b = config("BOOLEAN");
        assert!(check_event(&body(json!({"value": 1})), Some(&b)).is_ok());
        assert!(check_event(&body(json!({"value": 2})), Some(&b)).is_err());
    }

    #[test]
    fn missing_archived_and_mismatched_configs_fail() {
        assert!(check_event(&body(json!({"value": 1})), None).is_err());
        let mut c = config("NUMERIC");
        assert!(check_event(&body(json!({"value": 1, "dataType": "BOOLEAN"})), Some(&c)).is_err());
        c.is_archived = true;
        assert!(check_event(&body(json!({"value": 1})), Some(&c)).is_err());
    }
}
