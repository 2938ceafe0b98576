//! Prompts (`/api/public/v2/prompts`): types, `{{variable}}` compilation and the
//! client-side TTL cache used by [`Client::get_prompt`](crate::Client::get_prompt).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A prompt version, text or chat.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Prompt {
    /// Version id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Version number (from 1).
    pub version: i64,
    /// `text` or `chat`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The template.
    pub prompt: PromptContent,
    /// Free-form config (model, temperature, ...).
    pub config: Value,
    /// Labels on this version (`production`, `latest`, ...).
    pub labels: Vec<String>,
    /// Tags of the prompt.
    pub tags: Vec<String>,
    /// Commit message.
    pub commit_message: Option<String>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Fields not modelled here.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The template of a prompt.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(untagged)]
pub enum PromptContent {
    /// A text prompt.
    Text(String),
    /// A chat prompt: messages and placeholders.
    Chat(Vec<ChatItem>),
}

impl Default for PromptContent {
    fn default() -> Self {
        PromptContent::Text(String::new())
    }
}

/// A chat message.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
pub struct ChatMessage {
    /// `system`, `user`, `assistant`, ...
    pub role: String,
    /// Text.
    pub content: String,
}

impl ChatMessage {
    /// A message of `role`.
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Self {
        Self {
            role: role.into(),
            content: content.into(),
        }
    }
}

/// Marker of a placeholder entry: `"type": "placeholder"`.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum PlaceholderTag {
    /// `placeholder`.
    Placeholder,
}

/// An entry of a chat prompt.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(untagged)]
pub enum ChatItem {
    /// `{"type": "placeholder", "name": ...}`: replaced by a list of messages at compile time.
    Placeholder {
        /// Always `placeholder`.
        #[serde(rename = "type")]
        kind: PlaceholderTag,
        /// Placeholder name.
        name: String,
    },
    /// A message (`type: "chatmessage"` or no type).
    Message {
        /// Role.
        role: String,
        /// Content (may hold `{{variables}}`).
        content: String,
        /// Other keys (e.g. `type`), kept as sent.
        #[serde(flatten)]
        extra: Map<String, Value>,
    },
}

/// A compiled prompt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CompiledPrompt {
    /// The text with variables substituted.
    Text(String),
    /// The messages with variables substituted and placeholders expanded.
    Chat(Vec<ChatMessage>),
}

impl CompiledPrompt {
    /// The text of a text prompt.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            CompiledPrompt::Text(s) => Some(s),
            CompiledPrompt::Chat(_) => None,
        }
    }
    /// The messages of a chat prompt.
    pub fn as_chat(&self) -> Option<&[ChatMessage]> {
        match self {
            CompiledPrompt::Chat(m) => Some(m),
            CompiledPrompt::Text(_) => None,
        }
    }
}

impl Prompt {
    /// Substitutes `{{name}}` (spaces inside the braces allowed) with the given values.
    /// Variables without a value are left as written, as the Langfuse SDKs do. Chat
    /// placeholders are dropped; use [`Prompt::compile_with_placeholders`] to fill them.
    pub fn compile<K, V>(&self, variables: &HashMap<K, V>) -> CompiledPrompt
    where
        K: std::borrow::Borrow<str> + std::hash::Hash + Eq,
        V: AsRef<str>,
    {
        self.compile_with_placeholders(variables, &HashMap::<String, Vec<ChatMessage>>::new())
    }

    /// As [`Prompt::compile`], and each chat placeholder is replaced by the messages given
    /// under its name (variables are substituted in those too). A placeholder without
    /// messages is dropped.
    pub fn compile_with_placeholders<K, V, P>(
        &self,
        variables: &HashMap<K, V>,
        placeholders: &HashMap<P, Vec<ChatMessage>>,
    ) -> CompiledPrompt
    where
        K: std::borrow::Borrow<str> + std::hash::Hash + Eq,
        V: AsRef<str>,
        P: std::borrow::Borrow<str> + std::hash::Hash + Eq,
    {
        match &self.prompt {
            PromptContent::Text(t) => CompiledPrompt::Text(compile_template(t, variables)),
            PromptContent::Chat(items) => {
                let mut out = Vec::new();
                for item in items {
                    match item {
                        ChatItem::Message { role, content, .. } => out.push(ChatMessage {
                            role: role.clone(),
                            content: compile_template(content, variables),
                        }),
                        ChatItem::Placeholder { name, .. } => {
                            if let Some(msgs) = placeholders.get(name.as_str()) {
                                out.extend(msgs.iter().map(|m| ChatMessage {
                                    role: m.role.clone(),
                                    content: compile_template(&m.content, variables),
                                }));
                            }
                        }
                    }
                }
                CompiledPrompt::Chat(out)
            }
        }
    }

    /// Names of the `{{variables}}` the template uses, in order of first use.
    pub fn variables(&self) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        let mut add = |t: &str| {
            for (_, _, name) in scan(t) {
                if !names.iter().any(|n| n == name) {
                    names.push(name.to_string());
                }
            }
        };
        match &self.prompt {
            PromptContent::Text(t) => add(t),
            PromptContent::Chat(items) => {
                for i in items {
                    if let ChatItem::Message { content, .. } = i {
                        add(content);
                    }
                }
            }
        }
        names
    }
}

/// `(start, end, trimmed name)` of every `{{ name }}` in `t`.
fn scan(t: &str) -> Vec<(usize, usize, &str)> {
    let mut out = Vec::new();
    let mut pos = 0;
    while let Some(open) = t[pos..].find("{{").map(|i| i + pos) {
        let Some(close) = t[open + 2..].find("}}").map(|i| i + open + 2) else {
            break;
        };
        out.push((open, close + 2, t[open + 2..close].trim()));
        pos = close + 2;
    }
    out
}

/// Replaces each `{{ name }}` that has a value; leaves the others unchanged.
pub fn compile_template<K, V>(template: &str, variables: &HashMap<K, V>) -> String
where
    K: std::borrow::Borrow<str> + std::hash::Hash + Eq,
    V: AsRef<str>,
{
    let mut out = String::with_capacity(template.len());
    let mut last = 0;
    for (start, end, name) in scan(template) {
        if let Some(v) = variables.get(name) {
            out.push_str(&template[last..start]);
            out.push_str(v.as_ref());
            last = end;
        }
    }
    out.push_str(&template[last..]);
    out
}

/// Body of `POST /api/public/v2/prompts` (creates a new version).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreatePrompt {
    /// Name.
    pub name: String,
    /// `text` or `chat` (set by the constructors).
    #[serde(rename = "type")]
    pub kind: String,
    /// Template.
    pub prompt: PromptContent,
    /// Config.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config: Option<Value>,
    /// Labels to put on the new version (e.g. `production`).
    pub labels: Vec<String>,
    /// Tags (omitted: inherited from the previous version).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    /// Commit message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit_message: Option<String>,
}

impl CreatePrompt {
    /// A text prompt version.
    pub fn text(name: impl Into<String>, prompt: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            kind: "text".into(),
            prompt: PromptContent::Text(prompt.into()),
            config: None,
            labels: Vec::new(),
            tags: None,
            commit_message: None,
        }
    }
    /// A chat prompt version.
    pub fn chat(name: impl Into<String>, messages: Vec<ChatItem>) -> Self {
        Self {
            name: name.into(),
            kind: "chat".into(),
            prompt: PromptContent::Chat(messages),
            config: None,
            labels: Vec::new(),
            tags: None,
            commit_message: None,
        }
    }
    /// Adds labels.
    pub fn with_labels<I, S>(mut self, labels: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.labels.extend(labels.into_iter().map(Into::into));
        self
    }
}

impl ChatItem {
    /// A message entry.
    pub fn message(role: impl Into<String>, content: impl Into<String>) -> Self {
        ChatItem::Message {
            role: role.into(),
            content: content.into(),
            extra: Map::new(),
        }
    }
    /// A placeholder entry.
    pub fn placeholder(name: impl Into<String>) -> Self {
        ChatItem::Placeholder {
            kind: PlaceholderTag::Placeholder,
            name: name.into(),
        }
    }
}

/// A prompt name in the list (`GET /api/public/v2/prompts`).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PromptMeta {
    /// Name.
    pub name: String,
    /// `text` or `chat`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Version numbers.
    pub versions: Vec<i64>,
    /// Labels across versions.
    pub labels: Vec<String>,
    /// Tags.
    pub tags: Vec<String>,
    /// Last change.
    pub last_updated_at: Option<DateTime<Utc>>,
    /// Fields not modelled here.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Which version of a prompt to fetch.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum PromptSelector {
    /// The version labelled `production` (the server's default).
    #[default]
    Production,
    /// The version carrying this label (`latest`, `staging`, ...).
    Label(String),
    /// This version number.
    Version(i64),
}

/// Time-limited cache of fetched prompts, keyed by name and selector.
#[derive(Debug)]
pub(crate) struct PromptCache {
    ttl: Duration,
    entries: Mutex<HashMap<(String, PromptSelector), (Instant, Prompt)>>,
}

impl PromptCache {
    pub(crate) fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn get(&self, name: &str, sel: &PromptSelector) -> Option<Prompt> {
        if self.ttl.is_zero() {
            return None;
        }
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(&(name.to_string(), sel.clone()))
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, p)| p.clone())
    }

    pub(crate) fn put(&self, name: &str, sel: &PromptSelector, p: &Prompt) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.retain(|_, (at, _)| at.elapsed() < self.ttl);
        entries.insert((name.to_string(), sel.clone()), (Instant::now(), p.clone()));
    }

    pub(crate) fn invalidate(&self, name: Option<&str>) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        match name {
            Some(n) => entries.retain(|(k, _), _| k != n),
            None => entries.clear(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(t: &str) -> Prompt {
        Prompt {
            prompt: PromptContent::Text(t.into()),
            ..Prompt::default()
        }
    }

    #[test]
    fn text_variables_are_substituted_and_unknown_ones_kept() {
        let p = text("Hi {{name}}, you are {{ age }}. {{unknown}} {{name}}");
        let vars = HashMap::from([("name", "Ann"), ("age", "7")]);
        assert_eq!(
            p.compile(&vars),
            CompiledPrompt::Text("Hi Ann, you are 7. {{unknown}} Ann".into())
        );
        assert_eq!(p.variables(), vec!["name", "age", "unknown"]);
    }

    #[test]
    fn unterminated_braces_are_left_alone() {
        let p = text("a {{b");
        let vars = HashMap::from([("b", "x")]);
        assert_eq!(p.compile(&vars), CompiledPrompt::Text("a {{b".into()));
    }

    #[test]
    fn chat_prompts_parse_and_expand_placeholders() {
        let raw = serde_json::json!([
            {"role": "system", "content": "You are {{persona}}."},
            {"type": "placeholder", "name": "history"},
            {"type": "chatmessage", "role": "user", "content": "{{q}}"}
        ]);
        let content: PromptContent = serde_json::from_value(raw.clone()).unwrap();
        assert_eq!(serde_json::to_value(&content).unwrap(), raw);
        let p = Prompt {
            prompt: content,
            ..Prompt::default()
        };
        let vars = HashMap::from([("persona", "terse"), ("q", "why?")]);
        let ph = HashMap::from([("history", vec![ChatMessage::new("user", "hi {{q}}")])]);
        assert_eq!(
            p.compile_with_placeholders(&vars, &ph),
            CompiledPrompt::Chat(vec![
                ChatMessage::new("system", "You are terse."),
                ChatMessage::new("user", "hi why?"),
                ChatMessage::new("user", "why?"),
            ])
        );
        assert_eq!(p.compile(&vars).as_chat().unwrap().len(), 2);
    }
}
