//! Rendering values for people: times, durations, costs, and inputs/outputs — chat
//! messages as role-labelled messages (OpenAI, Anthropic and Langfuse ChatML shapes, tool
//! calls, prompt placeholders), plain text as text, anything else as pretty JSON that
//! collapses and toggles to the raw text.

use chrono::{DateTime, Utc};
use maud::{html, Markup};
use serde_json::Value;

/// `2024-05-01 12:00:03` (UTC).
pub fn time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

/// `12:00:03.123`.
pub fn time_ms(t: DateTime<Utc>) -> String {
    t.format("%H:%M:%S%.3f").to_string()
}

/// Seconds as `850ms` / `1.23s` / `2m 3s`.
pub fn duration(secs: f64) -> String {
    if !secs.is_finite() || secs < 0.0 {
        return "—".into();
    }
    if secs < 1.0 {
        format!("{:.0}ms", secs * 1000.0)
    } else if secs < 120.0 {
        format!("{secs:.2}s")
    } else {
        format!("{}m {}s", (secs / 60.0).floor(), (secs % 60.0).round())
    }
}

/// USD with enough digits for per-call costs.
pub fn cost(usd: f64) -> String {
    if usd == 0.0 {
        "$0".into()
    } else if usd.abs() < 0.01 {
        format!("${usd:.6}")
    } else {
        format!("${usd:.4}")
    }
}

/// A count with thousands separators.
pub fn count(n: f64) -> String {
    let i = n.round() as i64;
    let s = i.abs().to_string();
    let mut out = String::new();
    for (k, c) in s.chars().enumerate() {
        if k > 0 && (s.len() - k) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if i < 0 {
        format!("-{out}")
    } else {
        out
    }
}

/// A number for chart labels (`1.2k`, `3.4M`, `0.0012`).
pub fn short_number(v: f64) -> String {
    let a = v.abs();
    if a >= 1e9 {
        format!("{:.1}G", v / 1e9)
    } else if a >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.1}k", v / 1e3)
    } else if a >= 100.0 || a == 0.0 || (v.fract() == 0.0 && a >= 1.0) {
        format!("{v:.0}")
    } else if a >= 1.0 {
        trim_zeros(format!("{v:.2}"))
    } else {
        trim_zeros(format!("{v:.4}"))
    }
}

fn trim_zeros(s: String) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// The first 8 characters of an id.
pub fn short_id(id: &str) -> &str {
    match id.char_indices().nth(8) {
        Some((i, _)) => &id[..i],
        None => id,
    }
}

/// A level badge (nothing for DEFAULT).
pub fn level_badge(level: &str) -> Markup {
    html! {
        @match level {
            "ERROR" => span.badge.error { "ERROR" },
            "WARNING" => span.badge.warning { "WARNING" },
            "DEBUG" => span.badge.debug { "DEBUG" },
            _ => {},
        }
    }
}

/// A one-letter icon per observation type.
pub fn type_icon(kind: &str) -> Markup {
    let (letter, class) = match kind {
        "GENERATION" => ("G", "t-gen"),
        "SPAN" => ("S", "t-span"),
        "EVENT" => ("E", "t-event"),
        "AGENT" => ("A", "t-agent"),
        "TOOL" => ("T", "t-tool"),
        "CHAIN" => ("C", "t-chain"),
        "RETRIEVER" => ("R", "t-retriever"),
        "EMBEDDING" => ("M", "t-embed"),
        "EVALUATOR" => ("V", "t-eval"),
        "GUARDRAIL" => ("U", "t-guard"),
        _ => ("•", "t-span"),
    };
    html! { span class=(format!("ticon {class}")) title=(kind) aria-label=(kind) { (letter) } }
}

/// Parses a string that holds JSON (as the API does), else keeps it.
fn normalized(v: &Value) -> Value {
    match v {
        Value::String(s) => {
            let t = s.trim_start();
            if t.starts_with('{') || t.starts_with('[') {
                serde_json::from_str(s).unwrap_or_else(|_| v.clone())
            } else {
                v.clone()
            }
        }
        _ => v.clone(),
    }
}

fn is_message(v: &Value) -> bool {
    v.as_object().is_some_and(|o| {
        o.get("role").is_some_and(Value::is_string)
            || o.get("type").and_then(Value::as_str) == Some("placeholder")
    })
}

/// The chat messages `v` holds, if it is chat-shaped: an array of messages; an object
/// with `messages` (OpenAI/Anthropic request, with Anthropic's `system`); OpenAI
/// `choices[].message`; or a single message.
pub fn chat_messages(v: &Value) -> Option<Vec<Value>> {
    match v {
        Value::Array(a) if !a.is_empty() && a.iter().all(is_message) => Some(a.clone()),
        Value::Object(o) => {
            if let Some(Value::Array(m)) = o.get("messages") {
                if m.iter().all(is_message) && !m.is_empty() {
                    let mut out = Vec::new();
                    if let Some(sys) = o.get("system") {
                        out.push(serde_json::json!({"role": "system", "content": sys}));
                    }
                    out.extend(m.iter().cloned());
                    return Some(out);
                }
            }
            if let Some(Value::Array(ch)) = o.get("choices") {
                let msgs: Vec<Value> = ch
                    .iter()
                    .filter_map(|c| c.get("message").cloned())
                    .filter(is_message)
                    .collect();
                if !msgs.is_empty() {
                    return Some(msgs);
                }
            }
            if is_message(v) {
                return Some(vec![v.clone()]);
            }
            None
        }
        _ => None,
    }
}

/// Renders an input or output for people.
pub fn io(v: &Value) -> Markup {
    let v = normalized(v);
    if v.is_null() {
        return html! { p.muted { "—" } };
    }
    if let Some(msgs) = chat_messages(&v) {
        return html! {
            div.chat { @for m in &msgs { (message(m)) } }
            (json_block(&v, false))
        };
    }
    match &v {
        Value::String(s) => text(s),
        _ => json_block(&v, true),
    }
}

fn text(s: &str) -> Markup {
    html! { pre.text { (media_aware(s)) } }
}

/// Text with Langfuse media references (`@@@langfuseMedia:type=…|id=…|source=…@@@`)
/// shown as labelled chips.
fn media_aware(s: &str) -> Markup {
    const START: &str = "@@@langfuseMedia:";
    if !s.contains(START) {
        return html! { (s) };
    }
    let mut parts = Vec::new();
    let mut rest = s;
    while let Some(i) = rest.find(START) {
        parts.push((false, rest[..i].to_string()));
        let after = &rest[i + START.len()..];
        match after.find("@@@") {
            Some(j) => {
                parts.push((true, after[..j].to_string()));
                rest = &after[j + 3..];
            }
            None => {
                parts.push((false, rest[i..].to_string()));
                rest = "";
            }
        }
    }
    parts.push((false, rest.to_string()));
    html! {
        @for (is_media, p) in &parts {
            @if *is_media {
                @let fields: Vec<(&str, &str)> = p.split('|').filter_map(|kv| kv.split_once('=')).collect();
                @let kind = fields.iter().find(|(k, _)| *k == "type").map(|(_, v)| *v).unwrap_or("media");
                @let id = fields.iter().find(|(k, _)| *k == "id").map(|(_, v)| *v).unwrap_or("");
                @let href = format!("/ui/media/{}", super::path_encode(id));
                span.media {
                    @if super::pages::INLINE_IMAGE_TYPES.contains(&kind) {
                        a href=(href) target="_blank" rel="noopener" { img.inline src=(href) alt=(format!("{kind} media {id}")); }
                    }
                    a href=(href) rel="noopener" { "media " (kind) " " code { (id) } }
                }
            } @else { (p) }
        }
    }
}

fn message(m: &Value) -> Markup {
    if m.get("type").and_then(Value::as_str) == Some("placeholder") {
        let name = m.get("name").and_then(Value::as_str).unwrap_or("");
        return html! { div.msg.placeholder { span.role { "placeholder" } code { "{{" (name) "}}" } } };
    }
    let role = m.get("role").and_then(Value::as_str).unwrap_or("message");
    let role_class = match role {
        "system" | "developer" => "system",
        "user" | "human" => "user",
        "assistant" | "ai" | "model" => "assistant",
        "tool" | "function" => "tool",
        _ => "other",
    };
    html! {
        div class=(format!("msg role-{role_class}")) {
            div.role {
                (role)
                @if let Some(n) = m.get("name").and_then(Value::as_str) { " · " (n) }
                @if let Some(id) = m.get("tool_call_id").and_then(Value::as_str) { span.muted { " · " (id) } }
            }
            @if let Some(c) = m.get("content") { (content(c)) }
            @if let Some(Value::Array(calls)) = m.get("tool_calls") {
                @for c in calls { (tool_call(c)) }
            }
            @if let Some(fc) = m.get("function_call") { (tool_call(&serde_json::json!({"function": fc}))) }
        }
    }
}

fn tool_call(c: &Value) -> Markup {
    let f = c.get("function").unwrap_or(c);
    let name = f.get("name").and_then(Value::as_str).unwrap_or("tool");
    let args = f
        .get("arguments")
        .or_else(|| f.get("input"))
        .map(normalized)
        .unwrap_or(Value::Null);
    html! {
        div.toolcall {
            span.tag { "tool call" } " " code { (name) }
            @if let Some(id) = c.get("id").and_then(Value::as_str) { span.muted { " " (id) } }
            pre.json { (pretty(&args)) }
        }
    }
}

fn content(c: &Value) -> Markup {
    match c {
        Value::String(s) => html! { div.content { (media_aware(s)) } },
        Value::Null => html! {},
        Value::Array(parts) => html! {
            @for p in parts { (part(p)) }
        },
        other => html! { pre.json { (pretty(other)) } },
    }
}

fn part(p: &Value) -> Markup {
    let kind = p.get("type").and_then(Value::as_str).unwrap_or("");
    match kind {
        "text" | "input_text" | "output_text" => {
            let t = p.get("text").and_then(Value::as_str).unwrap_or("");
            html! { div.content { (media_aware(t)) } }
        }
        "image_url" | "input_image" => {
            let url = p
                .get("image_url")
                .and_then(|u| u.get("url").or(Some(u)))
                .and_then(Value::as_str)
                .unwrap_or("");
            image(url)
        }
        "image" => {
            let src = p.get("source");
            let data = src.and_then(|s| s.get("data")).and_then(Value::as_str);
            let mt = src
                .and_then(|s| s.get("media_type"))
                .and_then(Value::as_str)
                .unwrap_or("image/png");
            match data {
                Some(d) => image(&format!("data:{mt};base64,{d}")),
                None => html! { pre.json { (pretty(p)) } },
            }
        }
        "tool_use" => tool_call(p),
        "tool_result" => html! {
            div.toolcall {
                span.tag { "tool result" }
                @if let Some(id) = p.get("tool_use_id").and_then(Value::as_str) { span.muted { " " (id) } }
                @if let Some(c) = p.get("content") { (content(c)) }
            }
        },
        _ => html! { pre.json { (pretty(p)) } },
    }
}

fn image(url: &str) -> Markup {
    if url.starts_with("data:image/") {
        html! { img.inline src=(url) alt="image in message"; }
    } else if url.contains("@@@langfuseMedia:") {
        media_aware(url)
    } else {
        // External images are not loaded (the page's CSP only allows its own origin).
        html! { a href=(url) rel="noreferrer noopener" target="_blank" { "image: " (url) } }
    }
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

/// Pretty JSON in a collapsible block, with a button toggling to the raw text.
pub fn json_block(v: &Value, open: bool) -> Markup {
    html! {
        details.json open[open] {
            summary { "JSON" }
            div.jsonwrap {
                button.toggle-raw type="button" { "Raw" }
                pre.json.pretty { (pretty(v)) }
                pre.json.raw hidden { (v.to_string()) }
            }
        }
    }
}

/// A JSON number as people write it (`120`, not `120.0`).
fn number(n: &serde_json::Number) -> String {
    match n.as_f64() {
        Some(f) if n.is_f64() && f.fract() == 0.0 && f.abs() < 1e15 => format!("{f:.0}"),
        _ => n.to_string(),
    }
}

/// A small key → value table of a JSON object (metadata, usage, model parameters).
pub fn kv_table(v: &Value) -> Markup {
    match v.as_object() {
        Some(o) if !o.is_empty() => html! {
            table.kv {
                @for (k, val) in o {
                    tr { th scope="row" { (k) } td {
                        @match val {
                            Value::String(s) => (s),
                            Value::Number(n) => (number(n)),
                            Value::Bool(b) => (b.to_string()),
                            Value::Null => "null",
                            other => code { (other.to_string()) },
                        }
                    } }
                }
            }
        },
        Some(_) => html! { span.muted { "—" } },
        None if v.is_null() => html! { span.muted { "—" } },
        None => html! { code { (v.to_string()) } },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn recognises_chat_shapes() {
        let openai =
            json!([{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]);
        assert_eq!(chat_messages(&openai).unwrap().len(), 2);
        let anthropic = json!({"system": "s", "messages": [{"role": "user", "content": [{"type": "text", "text": "x"}]}]});
        let m = chat_messages(&anthropic).unwrap();
        assert_eq!(m[0]["role"], "system");
        assert_eq!(m.len(), 2);
        let completion = json!({"choices": [{"message": {"role": "assistant", "content": "ok"}}]});
        assert_eq!(chat_messages(&completion).unwrap()[0]["content"], "ok");
        assert!(chat_messages(&json!({"a": 1})).is_none());
        assert!(chat_messages(&json!([1, 2])).is_none());
    }

    #[test]
    fn formats_numbers() {
        assert_eq!(count(1234567.0), "1,234,567");
        assert_eq!(duration(0.25), "250ms");
        assert_eq!(duration(1.5), "1.50s");
        assert_eq!(cost(0.000123), "$0.000123");
    }

    #[test]
    fn escapes_text_and_marks_media() {
        let html = io(&json!(
            "<script>x</script> @@@langfuseMedia:type=image/png|id=m1|source=bytes@@@"
        ))
        .into_string();
        assert!(html.contains("&lt;script&gt;"));
        assert!(html.contains("m1"));
        assert!(!html.contains("<script>"));
    }
}
