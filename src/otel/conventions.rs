//! Everything but type and I/O that Langfuse reads from span attributes
//! (COMPAT-NOTES §5.4, §5.7, §5.8): names, trace properties (user, session, tags, public),
//! metadata, environment, level, model, model parameters, usage, cost, completion start
//! and prompt link — each with the fallbacks of the other conventions Langfuse recognises.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::{Map, Value};

use super::attributes::{
    js_number, js_stringify, js_to_string, number_value, present, truthy, Attrs,
};

/// Whose metadata attributes to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetadataDomain {
    /// `langfuse.trace.metadata[.<key>]`.
    Trace,
    /// `langfuse.observation.metadata[.<key>]`.
    Observation,
}

/// Vercel AI SDK trace attributes that are not metadata.
const VERCEL_TRACE_KEYS: [&str; 4] = [
    "ai.telemetry.metadata.userId",
    "ai.telemetry.metadata.sessionId",
    "ai.telemetry.metadata.tags",
    "ai.telemetry.metadata.langfusePrompt",
];

/// Metadata from a JSON `langfuse.<domain>.metadata` (or `langfuse.metadata`) attribute,
/// overlaid with `…metadata.<key>` attributes (the rest of the key, dots included) and
/// Vercel `ai.telemetry.metadata.<key>`; Vercel `ai.prompt.tools` becomes `tools`.
pub fn metadata(attrs: &Attrs, domain: MetadataDomain) -> Attrs {
    let prefix = match domain {
        MetadataDomain::Trace => "langfuse.trace.metadata",
        MetadataDomain::Observation => "langfuse.observation.metadata",
    };
    let mut top = Attrs::new();
    let whole = if truthy(attrs.get(prefix)) {
        attrs.get(prefix)
    } else {
        attrs.get("langfuse.metadata")
    };
    if truthy(whole) {
        match whole {
            Some(Value::String(s)) => {
                if let Ok(Value::Object(o)) = serde_json::from_str::<Value>(s) {
                    top = o;
                }
            }
            Some(Value::Object(o)) => top = o.clone(),
            _ => {}
        }
    }
    let mut keyed = Attrs::new();
    for (key, value) in attrs {
        for p in [prefix, "langfuse.metadata", "ai.telemetry.metadata"] {
            if let Some(rest) = key.strip_prefix(p).and_then(|r| r.strip_prefix('.')) {
                if !VERCEL_TRACE_KEYS.contains(&key.as_str()) {
                    keyed.insert(rest.to_string(), value.clone());
                }
            }
        }
    }
    if let Some(tools) = attrs.get("ai.prompt.tools").filter(|v| truthy(Some(v))) {
        keyed.insert("tools".into(), tools.clone());
    }
    top.extend(keyed);
    top
}

/// Whether a span updates its trace (trace attributes present), so a trace event is sent.
pub fn has_trace_updates(attrs: &Attrs) -> bool {
    const EXACT: &[&str] = &[
        "langfuse.trace.name",
        "langfuse.trace.input",
        "langfuse.trace.output",
        "langfuse.trace.metadata",
        "user.id",
        "session.id",
        "langfuse.trace.public",
        "langfuse.trace.tags",
        "langfuse.user.id",
        "langfuse.session.id",
        "langfuse.observation.metadata.langfuse_user_id",
        "langfuse.observation.metadata.langfuse_session_id",
        "langfuse.observation.metadata.langfuse_tags",
        "langfuse.trace.metadata.langfuse_session_id",
        "langfuse.trace.metadata.langfuse_user_id",
        "langfuse.trace.metadata.langfuse_tags",
        "ai.telemetry.metadata.sessionId",
        "ai.telemetry.metadata.userId",
        "ai.telemetry.metadata.tags",
        "tag.tags",
    ];
    EXACT.iter().any(|k| truthy(attrs.get(*k)))
        || attrs
            .keys()
            .any(|k| k.starts_with("langfuse.trace.metadata"))
}

fn first_truthy_string(attrs: &Attrs, keys: &[&str]) -> Option<String> {
    keys.iter()
        .find_map(|k| attrs.get(*k).filter(|v| truthy(Some(v))).map(js_stringify))
}

/// Trace `userId`.
pub fn user_id(attrs: &Attrs) -> Option<String> {
    first_truthy_string(
        attrs,
        &[
            "langfuse.user.id",
            "user.id",
            "langfuse.observation.metadata.langfuse_user_id",
            "langfuse.trace.metadata.langfuse_user_id",
            "ai.telemetry.metadata.userId",
        ],
    )
}

/// Trace `sessionId`.
pub fn session_id(attrs: &Attrs) -> Option<String> {
    first_truthy_string(
        attrs,
        &[
            "langfuse.session.id",
            "session.id",
            "gen_ai.conversation.id",
            "langfuse.observation.metadata.langfuse_session_id",
            "langfuse.trace.metadata.langfuse_session_id",
            "ai.telemetry.metadata.sessionId",
        ],
    )
}

/// Trace `public` (`None` when not set).
pub fn public(attrs: &Attrs) -> Option<bool> {
    let v = present(attrs.get("langfuse.trace.public"))
        .or_else(|| present(attrs.get("langfuse.public")))?;
    Some(matches!(v, Value::Bool(true)) || v.as_str() == Some("true"))
}

/// Trace `tags`: an array, a JSON array string, a comma-separated string or one tag.
pub fn tags(attrs: &Attrs) -> Vec<String> {
    let v = [
        "langfuse.trace.tags",
        "langfuse.tags",
        "langfuse.observation.metadata.langfuse_tags",
        "langfuse.trace.metadata.langfuse_tags",
        "ai.telemetry.metadata.tags",
        "tag.tags",
    ]
    .iter()
    .find_map(|k| attrs.get(*k).filter(|v| truthy(Some(v))));
    match v {
        Some(Value::Array(items)) => items.iter().map(js_to_string).collect(),
        Some(Value::String(s)) => {
            if s.trim_start().starts_with('[') {
                if let Ok(Value::Array(items)) = serde_json::from_str::<Value>(s) {
                    return items.iter().map(js_to_string).collect();
                }
            }
            if s.contains(',') {
                s.split(',').map(|t| t.trim().to_string()).collect()
            } else {
                vec![s.clone()]
            }
        }
        _ => Vec::new(),
    }
}

/// Raw environment: `langfuse.environment`, `deployment.environment.name`,
/// `deployment.environment`, each on the span then the resource; else `default`.
pub fn environment(attrs: &Attrs, resource: &Attrs) -> String {
    for key in [
        "langfuse.environment",
        "deployment.environment.name",
        "deployment.environment",
    ] {
        for source in [attrs, resource] {
            if truthy(source.get(key)) {
                return normalise_environment(&js_stringify(&source[key]));
            }
        }
    }
    "default".into()
}

/// Langfuse's public environment rule (§4.2): lower-case, `langfuse` prefixes stripped,
/// 40 characters, `[a-z0-9-_]` only, anything else `default`.
pub fn normalise_environment(raw: &str) -> String {
    let mut s = raw.to_lowercase();
    loop {
        let stripped = s
            .strip_prefix("langfuse-")
            .or_else(|| s.strip_prefix("langfuse_"))
            .or_else(|| s.strip_prefix("langfuse"));
        match stripped {
            Some(rest) => s = rest.to_string(),
            None => break,
        }
    }
    let s: String = s.chars().take(40).collect();
    if s.is_empty()
        || !s
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
    {
        "default".into()
    } else {
        s
    }
}

/// Observation name: GenAI tool name, Genkit name, Logfire message, Vercel tool name,
/// Vercel `<functionId>:<operationId>`, else the span name.
pub fn observation_name(span_name: &str, attrs: &Attrs) -> String {
    for key in ["gen_ai.tool.name", "genkit:name", "logfire.msg"] {
        if truthy(attrs.get(key)) {
            return js_stringify(&attrs[key]);
        }
    }
    if let Some(v) = attrs.get("ai.toolCall.name") {
        return js_to_string(v);
    }
    if let Some(op) = attrs.get("ai.operationId") {
        let prefix = attrs
            .get("ai.telemetry.functionId")
            .filter(|v| truthy(Some(v)))
            .map(|f| format!("{}:", js_to_string(f)))
            .unwrap_or_default();
        return format!("{prefix}{}", js_to_string(op));
    }
    span_name.to_string()
}

/// Level from `langfuse.observation.level`, aliases accepted case-insensitively.
pub fn normalise_level(v: &Value) -> Option<&'static str> {
    let s = js_to_string(v).trim().to_ascii_uppercase();
    Some(match s.as_str() {
        "DEBUG" | "TRACE" | "VERBOSE" => "DEBUG",
        "DEFAULT" | "INFO" | "LOG" | "NOTICE" | "OK" | "SUCCESS" => "DEFAULT",
        "WARNING" | "WARN" => "WARNING",
        "ERROR" | "FATAL" | "CRITICAL" => "ERROR",
        _ => return None,
    })
}

/// LiveKit's chatty internals, shown at DEBUG level.
const LIVEKIT_DEBUG_SPANS: &[&str] = &[
    "user_speaking",
    "eou_detection",
    "llm_request_run",
    "tts_node",
    "tts_request",
    "tts_request_run",
    "tts_stream_adapter",
    "agent_speaking",
    "drain_agent_activity",
    "on_exit",
    "on_enter",
    "llm_fallback_adapter",
    "tts_fallback_adapter",
    "start_agent_activity",
];

/// Observation level: explicit attribute, else ERROR for span status ERROR, else DEBUG for
/// LiveKit internals, else DEFAULT.
pub fn level(attrs: &Attrs, status_code: i32, scope_name: &str, span_name: &str) -> &'static str {
    if let Some(l) = present(attrs.get("langfuse.observation.level")).and_then(normalise_level) {
        return l;
    }
    if status_code == 2 {
        "ERROR"
    } else if scope_name == "livekit-agents" && LIVEKIT_DEBUG_SPANS.contains(&span_name) {
        "DEBUG"
    } else {
        "DEFAULT"
    }
}

/// Whether Vercel agent spans must not carry model/usage/cost (their children do).
fn vercel_agent_span(attrs: &Attrs, scope_name: &str) -> bool {
    scope_name == "ai"
        && matches!(
            attrs.get("gen_ai.operation.name").and_then(Value::as_str),
            Some("invoke_agent" | "agent_step")
        )
}

/// Model name.
pub fn model_name(attrs: &Attrs, scope_name: &str) -> Option<String> {
    if vercel_agent_span(attrs, scope_name) {
        return None;
    }
    let found = first_truthy_string(
        attrs,
        &[
            "langfuse.observation.model.name",
            "gen_ai.response.model",
            "ai.model.id",
            "gen_ai.request.model",
            "llm.response.model",
            "llm.model_name",
            "model",
        ],
    );
    found.or_else(|| {
        let genkit_model = matches!(
            attrs.get("genkit:metadata:subtype").and_then(Value::as_str),
            Some("model" | "background-model")
        );
        if genkit_model {
            first_truthy_string(attrs, &["genkit:name"])
        } else {
            None
        }
    })
}

/// Model parameters are string-valued in Langfuse: numbers and strings stay, the rest is
/// JSON text.
fn sanitize_params(v: Value) -> Value {
    match v {
        Value::Object(o) => Value::Object(
            o.into_iter()
                .map(|(k, v)| {
                    let v = match v {
                        Value::String(_) | Value::Number(_) => v,
                        other => Value::String(other.to_string()),
                    };
                    (k, v)
                })
                .collect(),
        ),
        other => other,
    }
}

fn parse_json_object(v: Option<&Value>) -> Option<Value> {
    match present(v)? {
        Value::String(s) => serde_json::from_str::<Value>(s).ok(),
        other => Some(other.clone()),
    }
}

/// Model parameters.
pub fn model_parameters(attrs: &Attrs, scope_name: &str) -> Value {
    if truthy(attrs.get("langfuse.observation.model.parameters")) {
        if let Some(p) = parse_json_object(attrs.get("langfuse.observation.model.parameters")) {
            return sanitize_params(p);
        }
    }
    if scope_name == "genkit-tracer" {
        if let Some(Value::Object(o)) = parse_json_object(attrs.get("genkit:input")) {
            if let Some(config @ Value::Object(_)) = o.get("config") {
                return sanitize_params(config.clone());
            }
        }
    }
    if scope_name == "ai" {
        let s = |keys: &[&str]| -> Value {
            keys.iter()
                .find(|k| attrs.contains_key(**k))
                .map(|k| match &attrs[*k] {
                    Value::Null => Value::Null,
                    v => Value::String(js_to_string(v)),
                })
                .unwrap_or(Value::Null)
        };
        let mut m = Map::new();
        m.insert("maxSteps".into(), s(&["ai.settings.maxSteps"]));
        m.insert("toolChoice".into(), s(&["ai.prompt.toolChoice"]));
        m.insert("maxTokens".into(), s(&["gen_ai.request.max_tokens"]));
        m.insert(
            "finishReason".into(),
            s(&["gen_ai.response.finish_reasons", "gen_ai.finishReason"]),
        );
        m.insert("system".into(), s(&["gen_ai.system", "ai.model.provider"]));
        m.insert("maxRetries".into(), s(&["ai.settings.maxRetries"]));
        m.insert("mode".into(), s(&["ai.settings.mode"]));
        m.insert("temperature".into(), s(&["gen_ai.request.temperature"]));
        return Value::Object(m);
    }
    for key in ["llm.invocation_parameters", "model_config"] {
        if truthy(attrs.get(key)) {
            if let Some(p) = parse_json_object(attrs.get(key)) {
                return sanitize_params(p);
            }
        }
    }
    let mut m = Map::new();
    for (k, v) in attrs {
        let rest = k
            .strip_prefix("gen_ai.request.")
            .or_else(|| k.strip_prefix("llm.invocation_parameters."));
        if let Some(rest) = rest {
            if rest != "model" {
                m.insert(rest.to_string(), v.clone());
            }
        }
    }
    sanitize_params(Value::Object(m))
}

/// Where a usage key lands after Langfuse's normalisation.
fn usage_key(raw: &str) -> String {
    let key = raw.strip_prefix("details.").unwrap_or(raw);
    match key {
        "prompt_tokens" | "input_tokens" | "prompt" | "input" => "input",
        "completion_tokens" | "output_tokens" | "completion" | "output" => "output",
        "total_tokens" | "total" => "total",
        "cache_read.input_tokens"
        | "cache_read_input_tokens"
        | "cache_read_tokens"
        | "cached_tokens"
        | "cache_read"
        | "prompt_details.cache_read"
        | "input_cached_tokens" => "input_cached_tokens",
        "cache_creation.input_tokens"
        | "cache_creation_input_tokens"
        | "cache_write.input_tokens"
        | "cache_write_tokens"
        | "cache_creation"
        | "cache_write"
        | "prompt_details.cache_write"
        | "input_cache_creation" => "input_cache_creation",
        "reasoning_tokens"
        | "reasoning.output_tokens"
        | "reasoning"
        | "thoughts_tokens"
        | "completion_details.reasoning"
        | "output_reasoning_tokens" => "output_reasoning_tokens",
        "audio.output_tokens" | "completion_details.audio" | "output_audio_tokens" => {
            "output_audio_tokens"
        }
        other => other,
    }
    .to_string()
}

type Usage = std::collections::BTreeMap<String, f64>;

/// Subtracts cache reads/writes from `input` and reasoning/audio from `output` (floored at
/// 0), so the buckets do not count twice.
fn subtract_details(u: &mut Usage, force: bool) {
    let input_parts: f64 = [
        "input_cached_tokens",
        "input_cache_creation",
        "input_cache_read",
    ]
    .iter()
    .filter_map(|k| u.get(*k))
    .sum();
    let output_parts: f64 = ["output_reasoning_tokens", "output_audio_tokens"]
        .iter()
        .filter_map(|k| u.get(*k))
        .sum();
    if force || u.contains_key("input") {
        let v = (u.get("input").copied().unwrap_or(0.0) - input_parts).max(0.0);
        u.insert("input".into(), v);
    }
    if force || u.contains_key("output") {
        let v = (u.get("output").copied().unwrap_or(0.0) - output_parts).max(0.0);
        u.insert("output".into(), v);
    }
}

fn usage_value(u: Usage) -> Value {
    Value::Object(u.into_iter().map(|(k, v)| (k, number_value(v))).collect())
}

fn num(attrs: &Attrs, key: &str) -> Option<f64> {
    attrs.get(key).and_then(js_number)
}

/// Usage details (before the pipeline's own §4.7 normalisation).
pub fn usage_details(attrs: &Attrs, scope_name: &str) -> Value {
    if vercel_agent_span(attrs, scope_name) {
        return Value::Object(Map::new());
    }
    if truthy(attrs.get("langfuse.observation.usage_details")) {
        if let Some(v @ Value::Object(_)) =
            parse_json_object(attrs.get("langfuse.observation.usage_details"))
        {
            return v;
        }
    }
    if scope_name == "ai" {
        return vercel_usage(attrs);
    }
    if scope_name == "pydantic-ai" {
        let mut u = Usage::new();
        let pick = |keys: &[&str]| keys.iter().find_map(|k| num(attrs, k));
        for (target, keys) in [
            ("input", &["gen_ai.usage.input_tokens"][..]),
            ("output", &["gen_ai.usage.output_tokens"][..]),
            (
                "input_cache_read",
                &[
                    "gen_ai.usage.cache_read_tokens",
                    "gen_ai.usage.details.cache_read_input_tokens",
                ][..],
            ),
            (
                "input_cache_creation",
                &[
                    "gen_ai.usage.cache_write_tokens",
                    "gen_ai.usage.details.cache_creation_input_tokens",
                ][..],
            ),
        ] {
            if let Some(v) = pick(keys) {
                u.insert(target.into(), v);
            }
        }
        return usage_value(u);
    }
    let mut u = Usage::new();
    for (k, v) in attrs {
        let raw = if let Some(rest) = k.strip_prefix("gen_ai.usage.") {
            if rest == "cost" {
                continue;
            }
            rest
        } else if let Some(rest) = k.strip_prefix("llm.token_count.") {
            rest
        } else {
            continue;
        };
        if let Some(n) = js_number(v) {
            u.insert(usage_key(raw), n);
        }
    }
    subtract_details(&mut u, false);
    usage_value(u)
}

fn vercel_usage(attrs: &Attrs) -> Value {
    let mut u = Usage::new();
    let int = |key: &str| attrs.get(key).map(|v| js_number(v).unwrap_or(0.0).trunc());
    if let Some(v) = int("gen_ai.usage.prompt_tokens").or_else(|| int("gen_ai.usage.input_tokens"))
    {
        u.insert("input".into(), v);
    }
    if let Some(v) =
        int("gen_ai.usage.completion_tokens").or_else(|| int("gen_ai.usage.output_tokens"))
    {
        u.insert("output".into(), v);
    }
    if let Some(v) = int("ai.usage.tokens") {
        u.insert("total".into(), v);
    }
    for (key, target) in [
        ("ai.usage.cachedInputTokens", "input_cached_tokens"),
        (
            "gen_ai.usage.cache_read.input_tokens",
            "input_cached_tokens",
        ),
        ("ai.usage.reasoningTokens", "output_reasoning_tokens"),
        (
            "gen_ai.usage.cache_creation.input_tokens",
            "input_cache_creation",
        ),
    ] {
        if !u.contains_key(target) {
            if let Some(v) = attrs.get(key).and_then(vercel_count) {
                u.insert(target.into(), v);
            }
        }
    }
    if let Some(Value::Object(meta)) = parse_json_object(attrs.get("ai.response.providerMetadata"))
    {
        let mut set_default = |target: &str, v: Option<&Value>| {
            if let Some(n) = v.and_then(Value::as_f64) {
                u.entry(target.to_string()).or_insert(n);
            }
        };
        if let Some(openai) = meta.get("openai") {
            set_default("input_cached_tokens", openai.get("cachedPromptTokens"));
            set_default(
                "accepted_prediction_tokens",
                openai.get("acceptedPredictionTokens"),
            );
            set_default(
                "rejected_prediction_tokens",
                openai.get("rejectedPredictionTokens"),
            );
            set_default("output_reasoning_tokens", openai.get("reasoningTokens"));
        }
        if let Some(usage) = meta.get("anthropic").and_then(|a| a.get("usage")) {
            set_default(
                "input_cache_creation",
                usage.get("cache_creation_input_tokens"),
            );
            set_default("input_cached_tokens", usage.get("cache_read_input_tokens"));
        }
        if let Some(usage) = meta.get("bedrock").and_then(|b| b.get("usage")) {
            set_default("input_cache_read", usage.get("cacheReadInputTokens"));
            set_default("input_cache_write", usage.get("cacheWriteInputTokens"));
            set_default(
                "input_cache_creation",
                usage.get("cacheCreationInputTokens"),
            );
        }
    }
    subtract_details(&mut u, true);
    usage_value(u)
}

/// AI SDK token detail attributes: a number, or JSON text of a number or `{intValue}`.
fn vercel_count(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => match serde_json::from_str::<Value>(s).ok()? {
            Value::Number(n) => n.as_f64(),
            Value::Object(o) => o.get("intValue").and_then(js_number),
            _ => None,
        },
        _ => None,
    }
}

/// Cost details: explicit JSON, else `gen_ai.usage.cost` or `llm.cost.total` as `total`.
pub fn cost_details(attrs: &Attrs, scope_name: &str) -> Value {
    if vercel_agent_span(attrs, scope_name) {
        return Value::Object(Map::new());
    }
    if truthy(attrs.get("langfuse.observation.cost_details")) {
        if let Some(v @ Value::Object(_)) =
            parse_json_object(attrs.get("langfuse.observation.cost_details"))
        {
            return v;
        }
    }
    for key in ["gen_ai.usage.cost", "llm.cost.total"] {
        if truthy(attrs.get(key)) {
            let total = js_number(&attrs[key])
                .map(number_value)
                .unwrap_or_else(|| attrs[key].clone());
            let mut m = Map::new();
            m.insert("total".into(), total);
            return Value::Object(m);
        }
    }
    Value::Object(Map::new())
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
        .ok()
        .map(|n| n.and_utc())
}

/// Completion start: the explicit attribute (ISO text, possibly JSON-quoted), else the
/// Vercel `msToFirstChunk` added to the start time.
pub fn completion_start_time(attrs: &Attrs, start: DateTime<Utc>) -> Option<DateTime<Utc>> {
    if let Some(Value::String(s)) = attrs.get("langfuse.observation.completion_start_time") {
        if let Some(t) = parse_time(s) {
            return Some(t);
        }
        if let Ok(Value::String(inner)) = serde_json::from_str::<Value>(s) {
            if let Some(t) = parse_time(&inner) {
                return Some(t);
            }
        }
    }
    let ms = ["ai.response.msToFirstChunk", "ai.stream.msToFirstChunk"]
        .iter()
        .find_map(|k| present(attrs.get(*k)))
        .filter(|v| truthy(Some(v)))
        .and_then(js_number)?;
    Some(start + chrono::Duration::milliseconds(ms.ceil() as i64))
}

/// Prompt link (name, version): Langfuse attributes, else the Vercel
/// `ai.telemetry.metadata.langfusePrompt` JSON. Both or neither.
pub fn prompt(attrs: &Attrs) -> Option<(String, i64)> {
    let vercel = attrs
        .get("ai.telemetry.metadata.langfusePrompt")
        .filter(|v| truthy(Some(v)))
        .and_then(|v| parse_json_object(Some(v)))
        .filter(Value::is_object);
    let name = present(attrs.get("langfuse.observation.prompt.name"))
        .or_else(|| present(attrs.get("langfuse.prompt.name")))
        .cloned()
        .or_else(|| {
            vercel
                .as_ref()
                .and_then(|v| present(v.get("name")).cloned())
        })?;
    let version = present(attrs.get("langfuse.observation.prompt.version"))
        .or_else(|| present(attrs.get("langfuse.prompt.version")))
        .cloned()
        .or_else(|| {
            vercel
                .as_ref()
                .and_then(|v| present(v.get("version")).cloned())
        })?;
    let version = js_number(&version).filter(|f| f.fract() == 0.0)? as i64;
    Some((js_stringify(&name), version))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn attrs(v: Value) -> Attrs {
        v.as_object().cloned().expect("object literal")
    }

    #[test]
    fn metadata_sources() {
        let a = attrs(json!({
            "langfuse.observation.metadata": "{\"a\":1,\"b\":2}",
            "langfuse.observation.metadata.b": "override",
            "langfuse.observation.metadata.x.y": "dotted",
            "langfuse.trace.metadata.t": "trace only",
            "ai.telemetry.metadata.custom": "v",
            "ai.telemetry.metadata.userId": "not metadata",
            "ai.prompt.tools": ["t1"],
        }));
        assert_eq!(
            Value::Object(metadata(&a, MetadataDomain::Observation)),
            json!({"a": 1, "b": "override", "x.y": "dotted", "custom": "v", "tools": ["t1"]})
        );
        assert_eq!(
            Value::Object(metadata(&a, MetadataDomain::Trace)),
            json!({"t": "trace only", "custom": "v", "tools": ["t1"]})
        );
    }

    #[test]
    fn trace_properties() {
        let a = attrs(
            json!({"user.id": "u", "langfuse.session.id": "s", "session.id": "other", "langfuse.trace.public": "true"}),
        );
        assert_eq!(user_id(&a).as_deref(), Some("u"));
        assert_eq!(session_id(&a).as_deref(), Some("s"));
        assert_eq!(public(&a), Some(true));
        assert_eq!(public(&Attrs::new()), None);
        let conv =
            attrs(json!({"gen_ai.conversation.id": "c", "ai.telemetry.metadata.userId": "vu"}));
        assert_eq!(session_id(&conv).as_deref(), Some("c"));
        assert_eq!(user_id(&conv).as_deref(), Some("vu"));
        assert!(has_trace_updates(&conv));
        assert!(has_trace_updates(&attrs(
            json!({"langfuse.trace.metadata.k": ""})
        )));
        assert!(!has_trace_updates(&attrs(
            json!({"langfuse.observation.input": "x"})
        )));
    }

    #[test]
    fn tag_forms() {
        let cases = [
            (json!({"langfuse.trace.tags": ["a", "b"]}), vec!["a", "b"]),
            (json!({"langfuse.trace.tags": "[\"a\",1]"}), vec!["a", "1"]),
            (json!({"langfuse.trace.tags": "a, b"}), vec!["a", "b"]),
            (json!({"tag.tags": "solo"}), vec!["solo"]),
            (json!({}), vec![]),
        ];
        for (a, expected) in cases {
            assert_eq!(tags(&attrs(a.clone())), expected, "{a}");
        }
    }

    #[test]
    fn environments() {
        let cases = [
            (
                json!({"langfuse.environment": "Production"}),
                json!({}),
                "production",
            ),
            (
                json!({}),
                json!({"deployment.environment.name": "staging"}),
                "staging",
            ),
            (
                json!({"deployment.environment": "span"}),
                json!({"langfuse.environment": "res"}),
                "res",
            ),
            (
                json!({"langfuse.environment": "langfuse-prod"}),
                json!({}),
                "prod",
            ),
            (
                json!({"langfuse.environment": "bad env!"}),
                json!({}),
                "default",
            ),
            (json!({}), json!({}), "default"),
        ];
        for (a, r, expected) in cases {
            assert_eq!(environment(&attrs(a.clone()), &attrs(r)), expected, "{a}");
        }
    }

    #[test]
    fn names_and_levels() {
        assert_eq!(
            observation_name("span", &attrs(json!({"gen_ai.tool.name": "search"}))),
            "search"
        );
        assert_eq!(
            observation_name("span", &attrs(json!({"logfire.msg": "running"}))),
            "running"
        );
        assert_eq!(
            observation_name(
                "span",
                &attrs(
                    json!({"ai.operationId": "ai.generateText", "ai.telemetry.functionId": "fn"})
                )
            ),
            "fn:ai.generateText"
        );
        assert_eq!(observation_name("span", &Attrs::new()), "span");
        assert_eq!(
            level(
                &attrs(json!({"langfuse.observation.level": "warn"})),
                2,
                "",
                ""
            ),
            "WARNING"
        );
        assert_eq!(level(&Attrs::new(), 2, "", ""), "ERROR");
        assert_eq!(
            level(&Attrs::new(), 0, "livekit-agents", "tts_node"),
            "DEBUG"
        );
        assert_eq!(
            level(
                &attrs(json!({"langfuse.observation.level": "nonsense"})),
                0,
                "",
                ""
            ),
            "DEFAULT"
        );
    }

    #[test]
    fn models_and_parameters() {
        let a = attrs(
            json!({"gen_ai.request.model": "gpt-4o", "gen_ai.response.model": "gpt-4o-2024", "gen_ai.request.temperature": 0.2, "gen_ai.request.stop": ["x"]}),
        );
        assert_eq!(model_name(&a, "s").as_deref(), Some("gpt-4o-2024"));
        assert_eq!(
            model_parameters(&a, "s"),
            json!({"temperature": 0.2, "stop": "[\"x\"]"})
        );
        let explicit = attrs(
            json!({"langfuse.observation.model.parameters": "{\"max_tokens\":10,\"stream\":true}"}),
        );
        assert_eq!(
            model_parameters(&explicit, "s"),
            json!({"max_tokens": 10, "stream": "true"})
        );
        let vercel = attrs(
            json!({"gen_ai.request.max_tokens": 100, "gen_ai.response.finish_reasons": ["stop"], "ai.model.provider": "openai.chat"}),
        );
        let p = model_parameters(&vercel, "ai");
        assert_eq!(p["maxTokens"], json!("100"));
        assert_eq!(p["finishReason"], json!("stop"));
        assert_eq!(p["system"], json!("openai.chat"));
        assert_eq!(p["temperature"], Value::Null);
        let oi = attrs(json!({"llm.invocation_parameters": "{\"temperature\":1}"}));
        assert_eq!(model_parameters(&oi, "s"), json!({"temperature": 1}));
        let agent = attrs(
            json!({"gen_ai.operation.name": "invoke_agent", "gen_ai.request.model": "m", "gen_ai.usage.input_tokens": 5}),
        );
        assert_eq!(model_name(&agent, "ai"), None);
        assert_eq!(usage_details(&agent, "ai"), json!({}));
    }

    #[test]
    fn usage_normalisation() {
        let cases: Vec<(&str, Value, &str, Value)> = vec![
            (
                "explicit",
                json!({"langfuse.observation.usage_details": "{\"input\":3,\"output\":4}", "gen_ai.usage.input_tokens": 99}),
                "s",
                json!({"input": 3, "output": 4}),
            ),
            (
                "reasoning subtracted",
                json!({"gen_ai.usage.input_tokens": 100, "gen_ai.usage.output_tokens": 600, "gen_ai.usage.reasoning_tokens": 500, "gen_ai.usage.total_tokens": 700}),
                "s",
                json!({"input": 100, "output": 100, "output_reasoning_tokens": 500, "total": 700}),
            ),
            (
                "thoughts tokens",
                json!({"gen_ai.usage.prompt_tokens": 50, "gen_ai.usage.completion_tokens": 300, "gen_ai.usage.thoughts_tokens": 200}),
                "s",
                json!({"input": 50, "output": 100, "output_reasoning_tokens": 200}),
            ),
            (
                "openinference counts",
                json!({"llm.token_count.prompt": 80, "llm.token_count.completion": 150, "llm.token_count.reasoning_tokens": 120, "llm.token_count.total": 230}),
                "s",
                json!({"input": 80, "output": 30, "output_reasoning_tokens": 120, "total": 230}),
            ),
            (
                "cache read and write",
                json!({"gen_ai.usage.input_tokens": 48183, "gen_ai.usage.output_tokens": 714, "gen_ai.usage.cache_read.input_tokens": 47105, "gen_ai.usage.cache_creation.input_tokens": 500}),
                "s",
                json!({"input": 578, "output": 714, "input_cached_tokens": 47105, "input_cache_creation": 500}),
            ),
            (
                "cost is not usage; other keys kept",
                json!({"gen_ai.usage.cost": 0.1, "gen_ai.usage.details.image_tokens": 7, "gen_ai.usage.input_tokens": "12"}),
                "s",
                json!({"input": 12, "image_tokens": 7}),
            ),
            (
                "vercel",
                json!({"gen_ai.usage.prompt_tokens": 100, "gen_ai.usage.completion_tokens": 50, "ai.usage.tokens": 150, "ai.usage.cachedInputTokens": "30", "ai.usage.reasoningTokens": "{\"intValue\":10}"}),
                "ai",
                json!({"input": 70, "output": 40, "total": 150, "input_cached_tokens": 30, "output_reasoning_tokens": 10}),
            ),
            (
                "vercel ai sdk 7 gen_ai cache",
                json!({"gen_ai.usage.input_tokens": 48183, "gen_ai.usage.output_tokens": 714, "gen_ai.usage.cache_read.input_tokens": 47105, "gen_ai.usage.cache_creation.input_tokens": 1076}),
                "ai",
                json!({"input": 2, "output": 714, "input_cached_tokens": 47105, "input_cache_creation": 1076}),
            ),
            (
                "vercel anthropic metadata",
                json!({"gen_ai.usage.input_tokens": 20, "gen_ai.usage.output_tokens": 5, "ai.response.providerMetadata": "{\"anthropic\":{\"usage\":{\"cache_creation_input_tokens\":3,\"cache_read_input_tokens\":10}}}"}),
                "ai",
                json!({"input": 7, "output": 5, "input_cache_creation": 3, "input_cached_tokens": 10}),
            ),
            (
                "pydantic-ai",
                json!({"gen_ai.usage.input_tokens": 10, "gen_ai.usage.output_tokens": 2, "gen_ai.usage.cache_read_tokens": 4}),
                "pydantic-ai",
                json!({"input": 10, "output": 2, "input_cache_read": 4}),
            ),
        ];
        for (name, a, scope, expected) in cases {
            assert_eq!(usage_details(&attrs(a), scope), expected, "{name}");
        }
    }

    #[test]
    fn costs() {
        assert_eq!(
            cost_details(
                &attrs(json!({"langfuse.observation.cost_details": "{\"total\":0.5}"})),
                "s"
            ),
            json!({"total": 0.5})
        );
        assert_eq!(
            cost_details(&attrs(json!({"gen_ai.usage.cost": 0.25})), "s"),
            json!({"total": 0.25})
        );
        assert_eq!(
            cost_details(&attrs(json!({"llm.cost.total": "0.125"})), "s"),
            json!({"total": 0.125})
        );
        assert_eq!(cost_details(&Attrs::new(), "s"), json!({}));
    }

    #[test]
    fn completion_start() {
        let start = DateTime::parse_from_rfc3339("2025-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let t = |v: Value| completion_start_time(&attrs(v), start).map(|t| t.to_rfc3339());
        assert_eq!(
            t(json!({"langfuse.observation.completion_start_time": "2025-01-01T00:00:01.5Z"}))
                .as_deref(),
            Some("2025-01-01T00:00:01.500+00:00")
        );
        assert_eq!(t(json!({"langfuse.observation.completion_start_time": "\"2025-10-01T08:45:26.112648Z\""})).as_deref(), Some("2025-10-01T08:45:26.112648+00:00"));
        assert_eq!(
            t(json!({"ai.response.msToFirstChunk": 250.2})).as_deref(),
            Some("2025-01-01T00:00:00.251+00:00")
        );
        assert_eq!(t(json!({})), None);
    }

    #[test]
    fn prompts() {
        assert_eq!(
            prompt(&attrs(
                json!({"langfuse.observation.prompt.name": "p", "langfuse.observation.prompt.version": 3})
            )),
            Some(("p".into(), 3))
        );
        assert_eq!(
            prompt(&attrs(
                json!({"langfuse.prompt.name": "p", "langfuse.prompt.version": "2"})
            )),
            Some(("p".into(), 2))
        );
        assert_eq!(
            prompt(&attrs(
                json!({"ai.telemetry.metadata.langfusePrompt": "{\"name\":\"v\",\"version\":1}"})
            )),
            Some(("v".into(), 1))
        );
        assert_eq!(
            prompt(&attrs(json!({"langfuse.observation.prompt.name": "p"}))),
            None
        );
    }
}
