//! Input and output of a span (COMPAT-NOTES §5.6): the first convention that provides
//! either wins, in Langfuse's order — Langfuse attributes, Genkit, Vercel AI SDK, Flue,
//! GenAI span events, Semantic Kernel, Google ADK, Logfire, LiveKit, MLflow, TraceLoop,
//! OpenInference, Pydantic/Pipecat, pydantic-ai, flattened `gen_ai.prompt.N.*` and
//! `llm.input_messages.*`, then the GenAI `gen_ai.input.messages` attributes.
//! Also yields the span attributes left for `metadata.attributes` (I/O keys removed).

use opentelemetry_proto::tonic::trace::v1::span::Event;
use serde_json::{json, Map, Value};

use super::attributes::{js_stringify, present, to_attrs, truthy, Attrs};

/// Whether I/O is extracted for the trace (root span) or the observation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Domain {
    /// `langfuse.trace.input|output` first.
    Trace,
    /// `langfuse.observation.input|output` only.
    Observation,
}

/// Extracted input/output (`Value::Null` when absent) and the remaining attributes.
#[derive(Debug, Clone, PartialEq)]
pub struct Extracted {
    /// Input, as the span carried it (JSON strings stay strings).
    pub input: Value,
    /// Output.
    pub output: Value,
    /// Span attributes minus every I/O key, values stringified (strings as they are).
    pub filtered: Attrs,
}

/// Keys removed from `metadata.attributes` whether or not they were used.
const IO_KEYS: &[&str] = &[
    "langfuse.trace.input",
    "langfuse.trace.output",
    "langfuse.observation.input",
    "langfuse.observation.output",
    "genkit:input",
    "genkit:output",
    "ai.prompt.messages",
    "ai.prompt",
    "ai.toolCall.args",
    "ai.response.text",
    "ai.result.text",
    "ai.toolCall.result",
    "ai.response.object",
    "ai.result.object",
    "ai.response.toolCalls",
    "ai.result.toolCalls",
    "flue.turn.input",
    "flue.tool.arguments",
    "flue.task.prompt",
    "flue.workflow.payload",
    "flue.turn.output",
    "flue.tool.result",
    "flue.task.result",
    "flue.operation.result",
    "flue.workflow.result",
    "gcp.vertex.agent.llm_request",
    "gcp.vertex.agent.llm_response",
    "gcp.vertex.agent.tool_call_args",
    "gcp.vertex.agent.tool_response",
    "prompt",
    "all_messages_events",
    "events",
    "lk.input_text",
    "lk.user_transcript",
    "lk.chat_ctx",
    "lk.user_input",
    "lk.function_tool.output",
    "lk.response.text",
    "mlflow.spanInputs",
    "mlflow.spanOutputs",
    "traceloop.entity.input",
    "traceloop.entity.output",
    "input.value",
    "output.value",
    "final_result",
    "pydantic_ai.all_messages",
    "input",
    "output",
    "gen_ai.input.messages",
    "gen_ai.output.messages",
    "gen_ai.tool.call.arguments",
    "gen_ai.tool.call.result",
];

const IO_PREFIXES: &[&str] = &[
    "gen_ai.prompt",
    "gen_ai.completion",
    "llm.input_messages",
    "llm.output_messages",
];

/// Largest array index rebuilt from flattened `gen_ai.prompt.N.*` keys.
pub(crate) const MAX_FLATTENED_INDEX: usize = 10_000;

fn filtered_attributes(attrs: &Attrs) -> Attrs {
    attrs
        .iter()
        .filter(|(k, _)| {
            !IO_KEYS.contains(&k.as_str()) && !IO_PREFIXES.iter().any(|p| k.starts_with(p))
        })
        .map(|(k, v)| (k.clone(), Value::String(js_stringify(v))))
        .collect()
}

fn get(attrs: &Attrs, key: &str) -> Value {
    attrs.get(key).cloned().unwrap_or(Value::Null)
}

fn either(input: &Value, output: &Value) -> bool {
    truthy(Some(input)) || truthy(Some(output))
}

/// Extracts input and output of a span.
pub fn extract(attrs: &Attrs, events: &[Event], scope_name: &str, domain: Domain) -> Extracted {
    let filtered = filtered_attributes(attrs);
    let (input, output) = extract_io(attrs, events, scope_name, domain);
    Extracted {
        input,
        output,
        filtered,
    }
}

fn extract_io(attrs: &Attrs, events: &[Event], scope: &str, domain: Domain) -> (Value, Value) {
    // 1. Langfuse SDK attributes.
    let pick = |trace_key: &str, obs_key: &str| -> Value {
        if domain == Domain::Trace && truthy(attrs.get(trace_key)) {
            get(attrs, trace_key)
        } else {
            get(attrs, obs_key)
        }
    };
    let input = pick("langfuse.trace.input", "langfuse.observation.input");
    let output = pick("langfuse.trace.output", "langfuse.observation.output");
    if !input.is_null() || !output.is_null() {
        return (input, output);
    }

    // 2. Genkit.
    if scope == "genkit-tracer" {
        let input = genkit_part(attrs.get("genkit:input"), "messages");
        let output = genkit_part(attrs.get("genkit:output"), "message");
        if either(&input, &output) {
            return (input, output);
        }
    }

    // 3. Vercel AI SDK (always decides for its own scope).
    if scope == "ai" {
        return vercel(attrs);
    }

    // 4. Flue.
    if scope == "@flue/opentelemetry" {
        let first = |keys: &[&str]| {
            keys.iter()
                .find_map(|k| present(attrs.get(*k)).cloned())
                .unwrap_or(Value::Null)
        };
        let input = first(&[
            "flue.turn.input",
            "flue.tool.arguments",
            "flue.task.prompt",
            "flue.workflow.payload",
        ]);
        let output = first(&[
            "flue.turn.output",
            "flue.tool.result",
            "flue.task.result",
            "flue.operation.result",
            "flue.workflow.result",
        ]);
        if either(&input, &output) {
            return (input, output);
        }
    }

    // 5. GenAI semconv ≥ 1.37: one event carrying the messages.
    if let Some(ev) = events
        .iter()
        .find(|e| e.name == "gen_ai.client.inference.operation.details")
    {
        let ea = to_attrs(&ev.attributes);
        let input = with_system_instructions(
            &get(&ea, "gen_ai.input.messages"),
            ea.get("gen_ai.system_instructions"),
        );
        let output = get(&ea, "gen_ai.output.messages");
        if either(&input, &output) {
            return (input, output);
        }
    }

    // 6. GenAI message events.
    let input_events: Vec<&Event> = events
        .iter()
        .filter(|e| {
            matches!(
                e.name.as_str(),
                "gen_ai.system.message"
                    | "gen_ai.user.message"
                    | "gen_ai.assistant.message"
                    | "gen_ai.tool.message"
            )
        })
        .collect();
    let output_events: Vec<&Event> = events
        .iter()
        .filter(|e| e.name == "gen_ai.choice")
        .collect();
    if !input_events.is_empty() || !output_events.is_empty() {
        let input = if input_events.is_empty() {
            Value::Null
        } else {
            Value::Array(
                input_events
                    .iter()
                    .map(|e| {
                        let role = e
                            .name
                            .replacen("gen_ai.", "", 1)
                            .replacen(".message", "", 1);
                        let mut m = Map::new();
                        m.insert("role".into(), Value::String(role));
                        m.extend(to_attrs(&e.attributes));
                        Value::Object(m)
                    })
                    .collect(),
            )
        };
        let mut outputs: Vec<Value> = output_events
            .iter()
            .map(|e| Value::Object(to_attrs(&e.attributes)))
            .collect();
        let output = match outputs.len() {
            0 => Value::Null,
            1 => outputs.remove(0),
            _ => Value::Array(outputs),
        };
        return (input, output);
    }

    // 7. Legacy Semantic Kernel events.
    let prompt_ev = events.iter().find(|e| e.name == "gen_ai.content.prompt");
    let completion_ev = events
        .iter()
        .find(|e| e.name == "gen_ai.content.completion");
    if prompt_ev.is_some() || completion_ev.is_some() {
        let in_attrs = prompt_ev
            .map(|e| to_attrs(&e.attributes))
            .unwrap_or_default();
        let out_attrs = completion_ev
            .map(|e| to_attrs(&e.attributes))
            .unwrap_or_default();
        let (ev_in, _) = extract_io(&in_attrs, &[], scope, Domain::Observation);
        let (_, ev_out) = extract_io(&out_attrs, &[], scope, Domain::Observation);
        let input = if truthy(Some(&ev_in)) {
            ev_in
        } else {
            Value::Object(in_attrs)
        };
        let output = if truthy(Some(&ev_out)) {
            ev_out
        } else {
            Value::Object(out_attrs)
        };
        return (input, output);
    }

    // 8. Google ADK (tool calls leave llm_request/llm_response as "{}").
    let mut input = get(attrs, "gcp.vertex.agent.llm_request");
    let mut output = get(attrs, "gcp.vertex.agent.llm_response");
    if input == json!("{}") || !truthy(Some(&input)) {
        input = get(attrs, "gcp.vertex.agent.tool_call_args");
    }
    if output == json!("{}") || !truthy(Some(&output)) {
        output = get(attrs, "gcp.vertex.agent.tool_response");
    }
    if either(&input, &output) {
        return (input, output);
    }

    // 9. Logfire.
    let input = get(attrs, "prompt");
    let output = get(attrs, "all_messages_events");
    if either(&input, &output) {
        return (input, output);
    }

    // 10. LiveKit.
    let input = ["lk.input_text", "lk.user_transcript", "lk.chat_ctx"]
        .iter()
        .find_map(|k| present(attrs.get(*k)).cloned())
        .unwrap_or(Value::Null);
    let output = if truthy(attrs.get("lk.function_tool.output")) {
        get(attrs, "lk.function_tool.output")
    } else {
        get(attrs, "lk.response.text")
    };
    if either(&input, &output) {
        return (input, output);
    }

    // 11. Logfire `events` array.
    if let Some(io) = logfire_events(attrs.get("events")) {
        return io;
    }

    // 12–15. MLflow, TraceLoop, OpenInference/SmolAgents, Pydantic/Pipecat.
    for (i, o) in [
        ("mlflow.spanInputs", "mlflow.spanOutputs"),
        ("traceloop.entity.input", "traceloop.entity.output"),
        ("input.value", "output.value"),
        ("input", "output"),
    ] {
        let input = get(attrs, i);
        let output = get(attrs, o);
        if either(&input, &output) {
            return (input, output);
        }
    }

    // 16. pydantic-ai agent run.
    if scope == "pydantic-ai" {
        let input = with_system_instructions(
            &get(attrs, "pydantic_ai.all_messages"),
            attrs.get("gen_ai.system_instructions"),
        );
        let output = get(attrs, "final_result");
        if either(&input, &output) {
            return (input, output);
        }
    }

    // 17. pydantic-ai tool calls.
    let input = get(attrs, "tool_arguments");
    let output = get(attrs, "tool_response");
    if either(&input, &output) {
        return (input, output);
    }

    // 18–19. Flattened TraceLoop / OpenInference messages.
    for (ip, op) in [
        ("gen_ai.prompt", "gen_ai.completion"),
        ("llm.input_messages", "llm.output_messages"),
    ] {
        let ins: Attrs = prefixed(attrs, ip);
        let outs: Attrs = prefixed(attrs, op);
        if !ins.is_empty() || !outs.is_empty() {
            return (unflatten(&ins, ip), unflatten(&outs, op));
        }
    }

    // 20. GenAI message attributes, then tool call attributes.
    let input = with_system_instructions(
        &get(attrs, "gen_ai.input.messages"),
        attrs.get("gen_ai.system_instructions"),
    );
    let output = get(attrs, "gen_ai.output.messages");
    if either(&input, &output) {
        return (input, output);
    }
    let input = get(attrs, "gen_ai.tool.call.arguments");
    let output = get(attrs, "gen_ai.tool.call.result");
    if either(&input, &output) {
        return (input, output);
    }
    (Value::Null, Value::Null)
}

fn prefixed(attrs: &Attrs, prefix: &str) -> Attrs {
    attrs
        .iter()
        .filter(|(k, _)| k.starts_with(prefix))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Genkit stores JSON text; the messages (or message) inside it are the I/O when present.
fn genkit_part(v: Option<&Value>, field: &str) -> Value {
    let Some(v) = present(v) else {
        return Value::Null;
    };
    let parsed = match v {
        Value::String(s) => serde_json::from_str::<Value>(s).ok(),
        other => Some(other.clone()),
    };
    match parsed {
        Some(Value::Object(o)) if o.contains_key(field) => o[field].clone(),
        _ => v.clone(),
    }
}

fn vercel(attrs: &Attrs) -> (Value, Value) {
    let input = ["ai.prompt.messages", "ai.prompt", "ai.toolCall.args"]
        .iter()
        .find(|k| attrs.contains_key(**k))
        .map(|k| get(attrs, k))
        .unwrap_or(Value::Null);
    let output =
        if attrs.contains_key("ai.response.text") && attrs.contains_key("ai.response.toolCalls") {
            Value::String(
                json!({
                    "role": "assistant",
                    "content": get(attrs, "ai.response.text"),
                    "tool_calls": get(attrs, "ai.response.toolCalls"),
                })
                .to_string(),
            )
        } else if truthy(attrs.get("ai.response.text")) {
            get(attrs, "ai.response.text")
        } else {
            [
                "ai.result.text",
                "ai.toolCall.result",
                "ai.response.object",
                "ai.result.object",
                "ai.response.toolCalls",
                "ai.result.toolCalls",
            ]
            .iter()
            .find(|k| attrs.contains_key(**k))
            .map(|k| get(attrs, k))
            .unwrap_or(Value::Null)
        };
    // AI SDK 5+ also sets the GenAI message attributes; they fill gaps.
    let input = if input.is_null() {
        get(attrs, "gen_ai.input.messages")
    } else {
        input
    };
    let output = if output.is_null() {
        get(attrs, "gen_ai.output.messages")
    } else {
        output
    };
    (input, output)
}

fn logfire_events(v: Option<&Value>) -> Option<(Value, Value)> {
    let list: Vec<Value> = match v? {
        Value::String(s) => match serde_json::from_str::<Value>(s) {
            Ok(Value::Array(a)) => a,
            _ => Vec::new(),
        },
        Value::Array(a) => a.clone(),
        _ => return None,
    };
    let is_choice =
        |e: &Value| e.get("event.name").and_then(Value::as_str) == Some("gen_ai.choice");
    let choice = list.iter().find(|e| is_choice(e)).cloned();
    let inputs: Vec<Value> = list.iter().filter(|e| !is_choice(e)).cloned().collect();
    if choice.is_none() && inputs.is_empty() {
        return None;
    }
    let input = if inputs.is_empty() {
        Value::Null
    } else {
        Value::Array(inputs)
    };
    Some((input, choice.unwrap_or(Value::Null)))
}

/// Rebuilds `prefix.N.field[.sub]` keys into an array of objects (or `prefix.a.b` keys into
/// nested objects); `prefix` itself, when set, wins.
fn unflatten(attrs: &Attrs, prefix: &str) -> Value {
    if truthy(attrs.get(prefix)) {
        return attrs[prefix].clone();
    }
    let dotted = format!("{prefix}.");
    let keys: Vec<(String, &Value)> = attrs
        .iter()
        .map(|(k, v)| (k.replacen(&dotted, "", 1), v))
        .collect();
    let use_array = keys.iter().any(|(k, _)| {
        let mut it = k.splitn(2, '.');
        let head = it.next().unwrap_or("");
        it.next().is_some() && !head.is_empty() && head.bytes().all(|b| b.is_ascii_digit())
    });
    if use_array {
        let mut result: Vec<Value> = Vec::new();
        for (k, v) in keys {
            let parts: Vec<&str> = k.split('.').collect();
            let Some(index) = leading_int(parts[0]) else {
                continue;
            };
            if index > MAX_FLATTENED_INDEX {
                continue;
            }
            if result.len() <= index {
                result.resize(index + 1, Value::Null);
            }
            if !result[index].is_object() && !result[index].is_array() {
                result[index] = Value::Object(Map::new());
            }
            if parts.len() >= 2 {
                set_nested(&mut result[index], &parts[1..], v.clone());
            }
        }
        Value::Array(result)
    } else {
        let mut result = Value::Object(Map::new());
        for (k, v) in keys {
            let parts: Vec<&str> = k.split('.').collect();
            set_nested(&mut result, &parts, v.clone());
        }
        result
    }
}

/// JavaScript `parseInt` of a path segment (leading digits).
fn leading_int(s: &str) -> Option<usize> {
    let digits: String = s.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

fn set_nested(target: &mut Value, path: &[&str], value: Value) {
    let Some((last, init)) = path.split_last() else {
        return;
    };
    let mut current = target;
    for (i, key) in init.iter().enumerate() {
        let next_is_index =
            path[i + 1].bytes().all(|b| b.is_ascii_digit()) && !path[i + 1].is_empty();
        let fresh = || {
            if next_is_index {
                Value::Array(Vec::new())
            } else {
                Value::Object(Map::new())
            }
        };
        current = match current {
            Value::Object(o) => o.entry(key.to_string()).or_insert_with(fresh),
            Value::Array(a) => match key.parse::<usize>() {
                Ok(idx) if idx <= MAX_FLATTENED_INDEX => {
                    if a.len() <= idx {
                        a.resize(idx + 1, Value::Null);
                    }
                    if a[idx].is_null() {
                        a[idx] = fresh();
                    }
                    &mut a[idx]
                }
                _ => return,
            },
            // A scalar already sits here; JavaScript would silently drop the write.
            _ => return,
        };
    }
    match current {
        Value::Object(o) => {
            o.insert(last.to_string(), value);
        }
        Value::Array(a) => {
            if let Ok(idx) = last.parse::<usize>() {
                if idx <= MAX_FLATTENED_INDEX {
                    if a.len() <= idx {
                        a.resize(idx + 1, Value::Null);
                    }
                    a[idx] = value;
                }
            }
        }
        _ => {}
    }
}

/// Prepends `gen_ai.system_instructions` to a message list as Langfuse does: structured
/// `{role, parts}` entries are kept as system messages; text parts are joined into one
/// `{role:"system", content}`; nothing is added when the list already has a system
/// message. The result is JSON text; without instructions the messages are returned as sent.
fn with_system_instructions(messages: &Value, instructions: Option<&Value>) -> Value {
    let Some(instructions) = instructions.filter(|v| truthy(Some(v))) else {
        return messages.clone();
    };
    let list = match messages {
        Value::String(s) => match serde_json::from_str::<Value>(s) {
            Ok(Value::Array(a)) => a,
            _ => return messages.clone(),
        },
        Value::Array(a) => a.clone(),
        _ => return messages.clone(),
    };
    if list
        .iter()
        .any(|m| m.get("role").and_then(Value::as_str) == Some("system"))
    {
        return messages.clone();
    }
    let system = system_messages(instructions);
    if system.is_empty() {
        return messages.clone();
    }
    let mut out = system;
    out.extend(list);
    Value::String(Value::Array(out).to_string())
}

fn system_messages(instructions: &Value) -> Vec<Value> {
    let parsed = match instructions {
        Value::String(s) => {
            serde_json::from_str::<Value>(s).unwrap_or_else(|_| Value::String(s.clone()))
        }
        other => other.clone(),
    };
    match parsed {
        Value::String(s) if !s.is_empty() => vec![json!({"role": "system", "content": s})],
        Value::Array(items) => {
            let structured = !items.is_empty()
                && items
                    .iter()
                    .all(|i| i.get("parts").is_some_and(Value::is_array));
            if structured {
                return items
                    .into_iter()
                    .map(|mut i| {
                        if let Some(o) = i.as_object_mut() {
                            if !o.get("role").is_some_and(Value::is_string) {
                                o.insert("role".into(), json!("system"));
                            }
                        }
                        i
                    })
                    .collect();
            }
            let texts: Vec<String> = items.iter().flat_map(text_of).collect();
            if texts.is_empty() {
                Vec::new()
            } else {
                vec![json!({"role": "system", "content": texts.join("\n")})]
            }
        }
        Value::Object(_) => text_of(&parsed)
            .into_iter()
            .map(|t| json!({"role": "system", "content": t}))
            .collect(),
        _ => Vec::new(),
    }
}

fn text_of(item: &Value) -> Vec<String> {
    match item {
        Value::String(s) => vec![s.clone()],
        Value::Object(o) => {
            if let Some(Value::String(c)) = o.get("content") {
                vec![c.clone()]
            } else if let Some(Value::Array(parts)) = o.get("parts") {
                parts.iter().flat_map(text_of).collect()
            } else {
                Vec::new()
            }
        }
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};

    fn attrs(v: Value) -> Attrs {
        v.as_object().cloned().expect("object literal")
    }

    fn kv(k: &str, v: &str) -> KeyValue {
        KeyValue {
            key: k.into(),
            value: Some(AnyValue {
                value: Some(any_value::Value::StringValue(v.into())),
            }),
            ..Default::default()
        }
    }

    fn event(name: &str, kvs: Vec<KeyValue>) -> Event {
        Event {
            name: name.into(),
            attributes: kvs,
            ..Default::default()
        }
    }

    fn io(a: Value, scope: &str) -> (Value, Value) {
        let e = extract(&attrs(a), &[], scope, Domain::Observation);
        (e.input, e.output)
    }

    #[test]
    fn attribute_conventions_in_order() {
        let cases: Vec<(&str, Value, &str, Value, Value)> = vec![
            (
                "langfuse",
                json!({"langfuse.observation.input": "\"q\"", "langfuse.observation.output": "\"a\"", "input.value": "x"}),
                "s",
                json!("\"q\""),
                json!("\"a\""),
            ),
            (
                "langfuse only input",
                json!({"langfuse.observation.input": "q", "output.value": "x"}),
                "s",
                json!("q"),
                Value::Null,
            ),
            (
                "genkit",
                json!({"genkit:input": r#"{"messages":[{"role":"user"}],"config":{}}"#, "genkit:output": r#"{"message":{"role":"model"}}"#}),
                "genkit-tracer",
                json!([{"role": "user"}]),
                json!({"role": "model"}),
            ),
            (
                "vercel prompt.messages and text",
                json!({"ai.prompt.messages": "[1]", "ai.prompt": "p", "ai.response.text": "hi"}),
                "ai",
                json!("[1]"),
                json!("hi"),
            ),
            (
                "vercel text with tool calls",
                json!({"ai.prompt": "p", "ai.response.text": "t", "ai.response.toolCalls": "[]"}),
                "ai",
                json!("p"),
                json!(r#"{"content":"t","role":"assistant","tool_calls":"[]"}"#),
            ),
            (
                "vercel tool call",
                json!({"ai.toolCall.args": "{}", "ai.toolCall.result": "42"}),
                "ai",
                json!("{}"),
                json!("42"),
            ),
            (
                "vercel gaps from gen_ai",
                json!({"gen_ai.input.messages": "[m]"}),
                "ai",
                json!("[m]"),
                Value::Null,
            ),
            (
                "flue",
                json!({"flue.task.prompt": "do", "flue.task.result": "done"}),
                "@flue/opentelemetry",
                json!("do"),
                json!("done"),
            ),
            (
                "adk llm",
                json!({"gcp.vertex.agent.llm_request": "{\"a\":1}", "gcp.vertex.agent.llm_response": "{}", "gcp.vertex.agent.tool_response": "r"}),
                "s",
                json!("{\"a\":1}"),
                json!("r"),
            ),
            (
                "logfire prompt",
                json!({"prompt": "p", "all_messages_events": "[]"}),
                "s",
                json!("p"),
                json!("[]"),
            ),
            (
                "livekit",
                json!({"lk.user_transcript": "hello", "lk.response.text": "hi"}),
                "s",
                json!("hello"),
                json!("hi"),
            ),
            (
                "logfire events",
                json!({"events": r#"[{"event.name":"gen_ai.user.message","content":"q"},{"event.name":"gen_ai.choice","message":"a"}]"#}),
                "s",
                json!([{"event.name": "gen_ai.user.message", "content": "q"}]),
                json!({"event.name": "gen_ai.choice", "message": "a"}),
            ),
            (
                "mlflow",
                json!({"mlflow.spanInputs": "i", "mlflow.spanOutputs": "o"}),
                "s",
                json!("i"),
                json!("o"),
            ),
            (
                "traceloop entity",
                json!({"traceloop.entity.input": "i", "input.value": "x"}),
                "s",
                json!("i"),
                Value::Null,
            ),
            (
                "openinference value",
                json!({"input.value": "i", "output.value": "o"}),
                "s",
                json!("i"),
                json!("o"),
            ),
            (
                "pydantic input/output",
                json!({"input": "i", "output": "o"}),
                "s",
                json!("i"),
                json!("o"),
            ),
            (
                "pydantic-ai run",
                json!({"pydantic_ai.all_messages": "[]", "final_result": "r"}),
                "pydantic-ai",
                json!("[]"),
                json!("r"),
            ),
            (
                "pydantic-ai tool",
                json!({"tool_arguments": "{}", "tool_response": "ok"}),
                "s",
                json!("{}"),
                json!("ok"),
            ),
            (
                "traceloop flattened",
                json!({"gen_ai.prompt.0.role": "user", "gen_ai.prompt.0.content": "q", "gen_ai.prompt.1.role": "assistant", "gen_ai.completion.0.content": "a"}),
                "s",
                json!([{"role": "user", "content": "q"}, {"role": "assistant"}]),
                json!([{"content": "a"}]),
            ),
            (
                "openinference flattened nested",
                json!({"llm.input_messages.0.message.role": "user", "llm.input_messages.0.message.content": "q"}),
                "s",
                json!([{"message": {"role": "user", "content": "q"}}]),
                json!({}),
            ),
            (
                "gen_ai messages",
                json!({"gen_ai.input.messages": "[{\"role\":\"user\"}]", "gen_ai.output.messages": "[]"}),
                "s",
                json!("[{\"role\":\"user\"}]"),
                json!("[]"),
            ),
            (
                "gen_ai tool call",
                json!({"gen_ai.tool.call.arguments": "{\"q\":1}", "gen_ai.tool.call.result": "r"}),
                "s",
                json!("{\"q\":1}"),
                json!("r"),
            ),
            (
                "nothing",
                json!({"foo": "bar"}),
                "s",
                Value::Null,
                Value::Null,
            ),
        ];
        for (name, a, scope, input, output) in cases {
            assert_eq!(io(a, scope), (input, output), "{name}");
        }
    }

    #[test]
    fn trace_domain_prefers_trace_io() {
        let a = attrs(
            json!({"langfuse.trace.input": "t", "langfuse.observation.input": "o", "langfuse.observation.output": "oo"}),
        );
        let e = extract(&a, &[], "s", Domain::Trace);
        assert_eq!((e.input, e.output), (json!("t"), json!("oo")));
        let e = extract(&a, &[], "s", Domain::Observation);
        assert_eq!(e.input, json!("o"));
    }

    #[test]
    fn gen_ai_span_events() {
        let events = vec![
            event("gen_ai.system.message", vec![kv("content", "sys")]),
            event("gen_ai.user.message", vec![kv("content", "q")]),
            event("gen_ai.choice", vec![kv("message", "a")]),
        ];
        let e = extract(&Attrs::new(), &events, "s", Domain::Observation);
        assert_eq!(
            e.input,
            json!([{"role": "system", "content": "sys"}, {"role": "user", "content": "q"}])
        );
        assert_eq!(e.output, json!({"message": "a"}));
    }

    #[test]
    fn inference_details_event_with_system_instructions() {
        let events = vec![event(
            "gen_ai.client.inference.operation.details",
            vec![
                kv(
                    "gen_ai.input.messages",
                    r#"[{"role":"user","parts":[{"type":"text","content":"q"}]}]"#,
                ),
                kv("gen_ai.output.messages", r#"[{"role":"assistant"}]"#),
                kv(
                    "gen_ai.system_instructions",
                    r#"[{"type":"text","content":"be nice"}]"#,
                ),
            ],
        )];
        let e = extract(&Attrs::new(), &events, "s", Domain::Observation);
        let input: Value = serde_json::from_str(e.input.as_str().expect("JSON text")).unwrap();
        assert_eq!(input[0], json!({"role": "system", "content": "be nice"}));
        assert_eq!(input[1]["role"], json!("user"));
        assert_eq!(e.output, json!(r#"[{"role":"assistant"}]"#));
    }

    #[test]
    fn semantic_kernel_events() {
        let events = vec![
            event("gen_ai.content.prompt", vec![kv("gen_ai.prompt", "[q]")]),
            event(
                "gen_ai.content.completion",
                vec![kv("gen_ai.completion", "[a]")],
            ),
        ];
        let e = extract(&Attrs::new(), &events, "s", Domain::Observation);
        assert_eq!((e.input, e.output), (json!("[q]"), json!("[a]")));
    }

    #[test]
    fn system_instruction_shapes() {
        let msgs = json!(r#"[{"role":"user","content":"q"}]"#);
        let parse = |v: Value| -> Value { serde_json::from_str(v.as_str().unwrap()).unwrap() };
        let structured = json!(r#"[{"parts":[{"type":"text","content":"s"}]}]"#);
        assert_eq!(
            parse(with_system_instructions(&msgs, Some(&structured)))[0],
            json!({"role": "system", "parts": [{"type": "text", "content": "s"}]})
        );
        let mixed = json!(
            r#"[{"type":"text","content":"a"},{"role":"system","parts":[{"type":"text","content":"b"}]}]"#
        );
        assert_eq!(
            parse(with_system_instructions(&msgs, Some(&mixed)))[0],
            json!({"role": "system", "content": "a\nb"})
        );
        assert_eq!(
            parse(with_system_instructions(&msgs, Some(&json!("not json"))))[0],
            json!({"role": "system", "content": "not json"})
        );
        assert_eq!(
            with_system_instructions(&msgs, Some(&json!("[42,true,null]"))),
            msgs
        );
        let has_system = json!(r#"[{"role":"system","content":"x"}]"#);
        assert_eq!(
            with_system_instructions(&has_system, Some(&json!("\"s\""))),
            has_system
        );
    }

    #[test]
    fn io_keys_are_removed_from_attributes_and_values_stringified() {
        let a = attrs(
            json!({"input.value": "i", "gen_ai.prompt.0.content": "q", "n": 3, "b": true, "arr": ["x"], "keep": "s"}),
        );
        let e = extract(&a, &[], "s", Domain::Observation);
        assert_eq!(
            Value::Object(e.filtered),
            json!({"n": "3", "b": "true", "arr": "[\"x\"]", "keep": "s"})
        );
    }
}
