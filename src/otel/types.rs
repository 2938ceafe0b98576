//! Observation type of a span (COMPAT-NOTES §5.5): Langfuse's mappers in priority order,
//! the first that recognises the span and yields a type wins; otherwise SPAN. A mapper that
//! recognises a span but yields nothing (e.g. an unknown `langfuse.observation.type`)
//! passes the span on to the next one, as in Langfuse.

use serde_json::Value;

use super::attributes::{meaningful, Attrs};

/// Langfuse observation types, each with its own ingestion event (`<type>-create`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObservationType {
    /// `span-create`.
    Span,
    /// `generation-create`.
    Generation,
    /// `event-create`.
    Event,
    /// `agent-create`.
    Agent,
    /// `tool-create`.
    Tool,
    /// `chain-create`.
    Chain,
    /// `retriever-create`.
    Retriever,
    /// `evaluator-create`.
    Evaluator,
    /// `embedding-create`.
    Embedding,
    /// `guardrail-create`.
    Guardrail,
}

impl ObservationType {
    /// The ingestion event type creating an observation of this type.
    pub fn create_event(self) -> &'static str {
        match self {
            ObservationType::Span => "span-create",
            ObservationType::Generation => "generation-create",
            ObservationType::Event => "event-create",
            ObservationType::Agent => "agent-create",
            ObservationType::Tool => "tool-create",
            ObservationType::Chain => "chain-create",
            ObservationType::Retriever => "retriever-create",
            ObservationType::Evaluator => "evaluator-create",
            ObservationType::Embedding => "embedding-create",
            ObservationType::Guardrail => "guardrail-create",
        }
    }

    /// Whether the ingestion body is a GenerationBody (model, usage, cost, prompt, …).
    pub fn is_generation_like(self) -> bool {
        !matches!(self, ObservationType::Span | ObservationType::Event)
    }

    /// Parses an upper-case Langfuse type name (`GENERATION`, `AGENT`, …).
    pub fn from_upper(s: &str) -> Option<Self> {
        Some(match s {
            "SPAN" => ObservationType::Span,
            "GENERATION" => ObservationType::Generation,
            "EVENT" => ObservationType::Event,
            "AGENT" => ObservationType::Agent,
            "TOOL" => ObservationType::Tool,
            "CHAIN" => ObservationType::Chain,
            "RETRIEVER" => ObservationType::Retriever,
            "EVALUATOR" => ObservationType::Evaluator,
            "EMBEDDING" => ObservationType::Embedding,
            "GUARDRAIL" => ObservationType::Guardrail,
            _ => return None,
        })
    }
}

/// What the mappers look at.
#[derive(Debug, Clone, Copy)]
pub struct TypeInput<'a> {
    /// Span attributes.
    pub attrs: &'a Attrs,
    /// Resource attributes.
    pub resource: &'a Attrs,
    /// Instrumentation scope name.
    pub scope_name: &'a str,
    /// Instrumentation scope version.
    pub scope_version: &'a str,
    /// Span name.
    pub span_name: &'a str,
}

const VERCEL_GENERATION_OPS: [&str; 4] = [
    "ai.generateText.doGenerate",
    "ai.streamText.doStream",
    "ai.generateObject.doGenerate",
    "ai.streamObject.doStream",
];
const VERCEL_EMBEDDING_OPS: [&str; 2] = ["ai.embedMany.doEmbed", "ai.embed.doEmbed"];

fn str_attr<'a>(attrs: &'a Attrs, key: &str) -> Option<&'a str> {
    attrs.get(key).and_then(Value::as_str)
}

/// Vercel AI SDK operation: `operation.name` starts with, or `ai.operationId` equals, one of `ops`.
fn vercel_operation(attrs: &Attrs, ops: &[&str]) -> bool {
    let by_name = str_attr(attrs, "operation.name")
        .filter(|s| !s.is_empty())
        .is_some_and(|n| ops.iter().any(|p| n.starts_with(p)));
    let by_id = str_attr(attrs, "ai.operationId")
        .filter(|s| !s.is_empty())
        .is_some_and(|id| ops.contains(&id));
    by_name || by_id
}

/// Langfuse's observation type for a span.
pub fn observation_type(input: TypeInput<'_>) -> ObservationType {
    let mappers: [fn(&TypeInput<'_>) -> Option<ObservationType>; 11] = [
        python_sdk_v3_3_fix,
        langfuse_type,
        openinference_kind,
        gen_ai_operation,
        genkit_subtype,
        vercel_generation_like,
        vercel_span_like,
        gen_ai_tool_call,
        flue,
        livekit,
        model_based,
    ];
    mappers
        .iter()
        .find_map(|m| m(&input))
        .unwrap_or(ObservationType::Span)
}

/// Python SDK ≤ 3.3 marked generations as spans; generation attributes reveal them.
fn python_sdk_v3_3_fix(i: &TypeInput<'_>) -> Option<ObservationType> {
    let applies = str_attr(i.attrs, "langfuse.observation.type") == Some("span")
        && i.scope_name == "langfuse-sdk"
        && str_attr(i.resource, "telemetry.sdk.language") == Some("python");
    if !applies {
        return None;
    }
    if !i.scope_version.is_empty() {
        let mut parts = i.scope_version.split('.').map(|p| p.parse::<u64>().ok());
        let major = parts.next().flatten();
        let minor = parts.next().flatten();
        if let (Some(major), Some(minor)) = (major, minor) {
            if major > 3 || (major == 3 && minor > 3) {
                return None;
            }
        }
    }
    const GENERATION_KEYS: [&str; 7] = [
        "langfuse.observation.model.name",
        "langfuse.observation.cost_details",
        "langfuse.observation.usage_details",
        "langfuse.observation.completion_start_time",
        "langfuse.observation.model.parameters",
        "langfuse.observation.prompt.name",
        "langfuse.observation.prompt.version",
    ];
    GENERATION_KEYS
        .iter()
        .any(|k| i.attrs.contains_key(*k))
        .then_some(ObservationType::Generation)
}

fn langfuse_type(i: &TypeInput<'_>) -> Option<ObservationType> {
    let v = str_attr(i.attrs, "langfuse.observation.type")?;
    match v {
        "span" | "generation" | "event" | "embedding" | "agent" | "tool" | "chain"
        | "retriever" | "guardrail" | "evaluator" => {
            ObservationType::from_upper(&v.to_ascii_uppercase())
        }
        _ => None,
    }
}

fn openinference_kind(i: &TypeInput<'_>) -> Option<ObservationType> {
    match str_attr(i.attrs, "openinference.span.kind")? {
        "LLM" => Some(ObservationType::Generation),
        k
        @ ("CHAIN" | "RETRIEVER" | "EMBEDDING" | "AGENT" | "TOOL" | "GUARDRAIL" | "EVALUATOR") => {
            ObservationType::from_upper(k)
        }
        _ => None,
    }
}

fn gen_ai_operation(i: &TypeInput<'_>) -> Option<ObservationType> {
    match str_attr(i.attrs, "gen_ai.operation.name")? {
        "chat" | "completion" | "text_completion" | "generate_content" | "generate" => {
            Some(ObservationType::Generation)
        }
        "embeddings" => Some(ObservationType::Embedding),
        "invoke_agent" | "create_agent" => Some(ObservationType::Agent),
        "execute_tool" => Some(ObservationType::Tool),
        _ => None,
    }
}

fn genkit_subtype(i: &TypeInput<'_>) -> Option<ObservationType> {
    match str_attr(i.attrs, "genkit:metadata:subtype")? {
        "model" | "background-model" => Some(ObservationType::Generation),
        "embedder" => Some(ObservationType::Embedding),
        "tool" | "tool.v2" => Some(ObservationType::Tool),
        "retriever" => Some(ObservationType::Retriever),
        "evaluator" => Some(ObservationType::Evaluator),
        _ => None,
    }
}

fn vercel_generation_like(i: &TypeInput<'_>) -> Option<ObservationType> {
    let has_model = [
        "langfuse.observation.model.name",
        "ai.model.id",
        "gen_ai.request.model",
        "gen_ai.response.model",
    ]
    .iter()
    .any(|k| meaningful(i.attrs.get(*k)));
    if !has_model {
        return None;
    }
    if vercel_operation(i.attrs, &VERCEL_GENERATION_OPS) {
        Some(ObservationType::Generation)
    } else if vercel_operation(i.attrs, &VERCEL_EMBEDDING_OPS) {
        Some(ObservationType::Embedding)
    } else {
        None
    }
}

fn vercel_span_like(i: &TypeInput<'_>) -> Option<ObservationType> {
    vercel_operation(i.attrs, &["ai.toolCall"]).then_some(ObservationType::Tool)
}

fn gen_ai_tool_call(i: &TypeInput<'_>) -> Option<ObservationType> {
    (meaningful(i.attrs.get("gen_ai.tool.name")) || meaningful(i.attrs.get("gen_ai.tool.call.id")))
        .then_some(ObservationType::Tool)
}

fn flue(i: &TypeInput<'_>) -> Option<ObservationType> {
    if i.attrs.keys().any(|k| k.starts_with("flue.tool.")) {
        Some(ObservationType::Tool)
    } else if i.attrs.keys().any(|k| k.starts_with("flue.task.")) {
        Some(ObservationType::Agent)
    } else {
        None
    }
}

fn livekit(i: &TypeInput<'_>) -> Option<ObservationType> {
    if i.scope_name != "livekit-agents" {
        return None;
    }
    match i.span_name {
        "agent_turn" | "start_agent_activity" => Some(ObservationType::Agent),
        "function_tool" => Some(ObservationType::Tool),
        _ => None,
    }
}

fn model_based(i: &TypeInput<'_>) -> Option<ObservationType> {
    [
        "langfuse.observation.model.name",
        "gen_ai.request.model",
        "gen_ai.response.model",
        "llm.model_name",
        "model",
    ]
    .iter()
    .any(|k| meaningful(i.attrs.get(*k)))
    .then_some(ObservationType::Generation)
}

#[cfg(test)]
mod tests {
    use super::ObservationType as T;
    use super::*;
    use serde_json::json;

    fn attrs(v: Value) -> Attrs {
        v.as_object().cloned().expect("object literal")
    }

    fn map(a: Value, scope: &str, version: &str, span: &str, resource: Value) -> T {
        let a = attrs(a);
        let r = attrs(resource);
        observation_type(TypeInput {
            attrs: &a,
            resource: &r,
            scope_name: scope,
            scope_version: version,
            span_name: span,
        })
    }

    #[test]
    fn mappers_in_langfuse_order() {
        let none = json!({});
        let cases: Vec<(&str, Value, &str, &str, &str, Value, T)> = vec![
            ("nothing", json!({}), "x", "", "s", none.clone(), T::Span),
            (
                "langfuse type",
                json!({"langfuse.observation.type": "agent"}),
                "x",
                "",
                "s",
                none.clone(),
                T::Agent,
            ),
            (
                "langfuse type beats model",
                json!({"langfuse.observation.type": "tool", "gen_ai.request.model": "m"}),
                "x",
                "",
                "s",
                none.clone(),
                T::Tool,
            ),
            (
                "unknown langfuse type falls through",
                json!({"langfuse.observation.type": "weird", "gen_ai.request.model": "m"}),
                "x",
                "",
                "s",
                none.clone(),
                T::Generation,
            ),
            (
                "langfuse type is case sensitive",
                json!({"langfuse.observation.type": "AGENT"}),
                "x",
                "",
                "s",
                none.clone(),
                T::Span,
            ),
            (
                "py sdk 3.2 span with model",
                json!({"langfuse.observation.type": "span", "langfuse.observation.model.name": "gpt"}),
                "langfuse-sdk",
                "3.2.1",
                "s",
                json!({"telemetry.sdk.language": "python"}),
                T::Generation,
            ),
            (
                "py sdk 3.4 span with model stays span",
                json!({"langfuse.observation.type": "span", "langfuse.observation.model.name": "gpt"}),
                "langfuse-sdk",
                "3.4.0",
                "s",
                json!({"telemetry.sdk.language": "python"}),
                T::Span,
            ),
            (
                "openinference LLM",
                json!({"openinference.span.kind": "LLM"}),
                "x",
                "",
                "s",
                none.clone(),
                T::Generation,
            ),
            (
                "openinference RETRIEVER",
                json!({"openinference.span.kind": "RETRIEVER"}),
                "x",
                "",
                "s",
                none.clone(),
                T::Retriever,
            ),
            (
                "gen_ai chat",
                json!({"gen_ai.operation.name": "chat"}),
                "x",
                "",
                "s",
                none.clone(),
                T::Generation,
            ),
            (
                "gen_ai embeddings",
                json!({"gen_ai.operation.name": "embeddings"}),
                "x",
                "",
                "s",
                none.clone(),
                T::Embedding,
            ),
            (
                "gen_ai invoke_agent",
                json!({"gen_ai.operation.name": "invoke_agent"}),
                "x",
                "",
                "s",
                none.clone(),
                T::Agent,
            ),
            (
                "gen_ai execute_tool",
                json!({"gen_ai.operation.name": "execute_tool"}),
                "x",
                "",
                "s",
                none.clone(),
                T::Tool,
            ),
            (
                "openinference beats gen_ai",
                json!({"openinference.span.kind": "CHAIN", "gen_ai.operation.name": "chat"}),
                "x",
                "",
                "s",
                none.clone(),
                T::Chain,
            ),
            (
                "genkit embedder",
                json!({"genkit:metadata:subtype": "embedder"}),
                "genkit-tracer",
                "",
                "s",
                none.clone(),
                T::Embedding,
            ),
            (
                "vercel doGenerate with model",
                json!({"ai.operationId": "ai.generateText.doGenerate", "ai.model.id": "gpt-4o"}),
                "ai",
                "",
                "s",
                none.clone(),
                T::Generation,
            ),
            (
                "vercel embed with model",
                json!({"operation.name": "ai.embed.doEmbed my-fn", "ai.model.id": "e"}),
                "ai",
                "",
                "s",
                none.clone(),
                T::Embedding,
            ),
            (
                "vercel generateText parent (no do*)",
                json!({"ai.operationId": "ai.generateText"}),
                "ai",
                "",
                "s",
                none.clone(),
                T::Span,
            ),
            (
                "vercel tool call",
                json!({"ai.operationId": "ai.toolCall", "ai.toolCall.name": "t"}),
                "ai",
                "",
                "s",
                none.clone(),
                T::Tool,
            ),
            (
                "gen_ai tool name",
                json!({"gen_ai.tool.name": "search"}),
                "pydantic-ai",
                "",
                "s",
                none.clone(),
                T::Tool,
            ),
            (
                "flue task",
                json!({"flue.task.prompt": "p"}),
                "@flue/opentelemetry",
                "",
                "s",
                none.clone(),
                T::Agent,
            ),
            (
                "livekit agent_turn",
                json!({}),
                "livekit-agents",
                "",
                "agent_turn",
                none.clone(),
                T::Agent,
            ),
            (
                "livekit function_tool",
                json!({}),
                "livekit-agents",
                "",
                "function_tool",
                none.clone(),
                T::Tool,
            ),
            (
                "livekit name elsewhere",
                json!({}),
                "other",
                "",
                "agent_turn",
                none.clone(),
                T::Span,
            ),
            (
                "plain model attribute",
                json!({"model": "claude"}),
                "x",
                "",
                "s",
                none.clone(),
                T::Generation,
            ),
            (
                "empty model is no model",
                json!({"llm.model_name": ""}),
                "x",
                "",
                "s",
                none.clone(),
                T::Span,
            ),
        ];
        for (name, a, scope, version, span, resource, expected) in cases {
            assert_eq!(map(a, scope, version, span, resource), expected, "{name}");
        }
    }

    #[test]
    fn event_types() {
        assert_eq!(T::Generation.create_event(), "generation-create");
        assert_eq!(T::Guardrail.create_event(), "guardrail-create");
        assert!(T::Tool.is_generation_like());
        assert!(!T::Event.is_generation_like());
    }
}
