//! Token counting for generations that reported no usage (COMPAT-NOTES §4.7 step 4), the way
//! Langfuse's worker does it:
//!
//! - `openai` models: tiktoken (tiktoken-rs) with the encoding of the model named in
//!   `tokenizerConfig.tokenizerModel` (o200k_base for the gpt-4o family, cl100k_base for
//!   gpt-4/3.5, p50k/r50k for the legacy completion models). A chat-message array
//!   (`[{role, content, name?}]`, all strings) counted with a chat model is priced per message:
//!   `tokensPerMessage` + tokens of each `role`/`content`/`name`/tool-call value +
//!   `tokensPerName` per name, plus 3 for the reply primer. Anything else is counted as text
//!   (a string as is, other values as compact JSON).
//! - `claude` models: Langfuse uses Anthropic's legacy tokenizer, which has no maintained Rust
//!   port; xtrace approximates it with cl100k_base, whose counts are close for English text and
//!   code (Anthropic publishes no exact tokenizer for Claude 3 and later either).
//!
//! Special-token text such as `<|endoftext|>` is counted as ordinary text.

use serde_json::Value;
use tiktoken_rs::tokenizer::{get_tokenizer, Tokenizer};
use tiktoken_rs::CoreBPE;

/// A model's tokenizer settings (`tokenizer_id`, `tokenizer_config`).
#[derive(Debug, Clone, PartialEq)]
pub enum TokenizerSpec {
    /// tiktoken with the encoding of `model`.
    OpenAi {
        /// `tokenizerConfig.tokenizerModel`.
        model: String,
        /// `tokenizerConfig.tokensPerMessage` (chat counting).
        tokens_per_message: Option<i64>,
        /// `tokenizerConfig.tokensPerName` (chat counting).
        tokens_per_name: Option<i64>,
    },
    /// Anthropic models (approximated with cl100k_base).
    Claude,
}

impl TokenizerSpec {
    /// A stable identity of the settings (cached token counts name the tokenizer).
    pub fn id(&self) -> String {
        match self {
            TokenizerSpec::OpenAi {
                model,
                tokens_per_message,
                tokens_per_name,
            } => format!(
                "openai:{model}:{}:{}",
                tokens_per_message.unwrap_or(-1),
                tokens_per_name.unwrap_or(-1)
            ),
            TokenizerSpec::Claude => "claude".into(),
        }
    }

    /// The spec of a model, None when it has no usable tokenizer.
    pub fn from_model(tokenizer_id: Option<&str>, config: Option<&Value>) -> Option<Self> {
        match tokenizer_id? {
            "openai" => {
                let config = config?;
                let model = config.get("tokenizerModel")?.as_str()?.to_string();
                Some(TokenizerSpec::OpenAi {
                    model,
                    tokens_per_message: config.get("tokensPerMessage").and_then(Value::as_i64),
                    tokens_per_name: config.get("tokensPerName").and_then(Value::as_i64),
                })
            }
            "claude" => Some(TokenizerSpec::Claude),
            _ => None,
        }
    }
}

/// Models Langfuse counts chat-message arrays for (tiktoken's chat models).
const CHAT_MODELS: &[&str] = &[
    "gpt-4",
    "gpt-4-0314",
    "gpt-4-0613",
    "gpt-4-32k",
    "gpt-4-32k-0314",
    "gpt-4-32k-0613",
    "gpt-3.5-turbo",
    "gpt-35-turbo",
    "gpt-3.5-turbo-0301",
    "gpt-3.5-turbo-0613",
    "gpt-3.5-turbo-1106",
    "gpt-3.5-turbo-16k",
    "gpt-3.5-turbo-16k-0613",
    "gpt-4-1106-preview",
    "gpt-4-vision-preview",
    "gpt-4o-2024-05-13",
    "gpt-4o",
];

/// Message keys whose values are counted (OpenAI chat API keys).
const COUNTED_MESSAGE_KEYS: &[&str] = &[
    "content",
    "role",
    "name",
    "tool_calls",
    "function_call",
    "toolCalls",
    "functionCall",
];

fn encoding(tokenizer: Tokenizer) -> &'static CoreBPE {
    match tokenizer {
        Tokenizer::O200kBase | Tokenizer::O200kHarmony => tiktoken_rs::o200k_base_singleton(),
        Tokenizer::Cl100kBase => tiktoken_rs::cl100k_base_singleton(),
        Tokenizer::P50kBase => tiktoken_rs::p50k_base_singleton(),
        Tokenizer::P50kEdit => tiktoken_rs::p50k_edit_singleton(),
        Tokenizer::R50kBase | Tokenizer::Gpt2 => tiktoken_rs::r50k_base_singleton(),
    }
}

fn count_text(bpe: &CoreBPE, text: &str) -> u64 {
    bpe.encode_ordinary(text).len() as u64
}

/// The value to count: a string holding JSON (object or array) is parsed, as Langfuse
/// parses the stored string first.
fn parsed(v: &Value) -> std::borrow::Cow<'_, Value> {
    if let Value::String(s) = v {
        let t = s.trim_start();
        if t.starts_with('{') || t.starts_with('[') {
            if let Ok(p @ (Value::Object(_) | Value::Array(_))) = serde_json::from_str::<Value>(s) {
                return std::borrow::Cow::Owned(p);
            }
        }
    }
    std::borrow::Cow::Borrowed(v)
}

fn as_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn is_chat_message_array(v: &Value) -> Option<&Vec<Value>> {
    let items = v.as_array()?;
    items
        .iter()
        .all(|m| {
            m.get("role").is_some_and(Value::is_string)
                && m.get("content").is_some_and(Value::is_string)
                && m.get("name").map_or(true, Value::is_string)
        })
        .then_some(items)
}

fn is_truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        _ => true,
    }
}

/// Counts the tokens of one stored input or output; None when there is nothing to count or
/// the tokenizer is unknown.
pub fn count(spec: &TokenizerSpec, value: Option<&Value>) -> Option<u64> {
    let value = value?;
    match value {
        Value::Null => return None,
        Value::Array(a) if a.is_empty() => return None,
        _ => {}
    }
    let value = parsed(value);
    match spec {
        TokenizerSpec::Claude => Some(count_text(
            tiktoken_rs::cl100k_base_singleton(),
            &as_text(&value),
        )),
        TokenizerSpec::OpenAi {
            model,
            tokens_per_message,
            tokens_per_name,
        } => {
            let bpe = encoding(get_tokenizer(model)?);
            if let Some(messages) =
                is_chat_message_array(&value).filter(|_| CHAT_MODELS.contains(&model.as_str()))
            {
                let (per_message, per_name) = ((*tokens_per_message)?, (*tokens_per_name)?);
                let mut n: i64 = 0;
                for m in messages {
                    n += per_message;
                    for (k, v) in m.as_object().into_iter().flatten() {
                        if is_truthy(v) && COUNTED_MESSAGE_KEYS.contains(&k.as_str()) {
                            n += count_text(bpe, &as_text(v)) as i64;
                        }
                        if k == "name" {
                            n += per_name;
                        }
                    }
                }
                n += 3; // every reply is primed with <|start|>assistant<|message|>
                Some(n.max(0) as u64)
            } else {
                Some(count_text(bpe, &as_text(&value)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn openai(model: &str) -> TokenizerSpec {
        TokenizerSpec::from_model(
            Some("openai"),
            Some(&json!({"tokenizerModel": model, "tokensPerMessage": 3, "tokensPerName": 1})),
        )
        .expect("openai spec")
    }

    // Reference counts from OpenAI's tiktoken: "hello world" is ["hello", " world"] in
    // cl100k_base and o200k_base; "tiktoken is great!" is 6 tokens in cl100k_base
    // (the example in OpenAI's tiktoken cookbook).
    #[test]
    fn known_strings_have_known_counts() {
        assert_eq!(
            count(&openai("gpt-4"), Some(&json!("hello world"))),
            Some(2)
        );
        assert_eq!(
            count(&openai("gpt-4o"), Some(&json!("hello world"))),
            Some(2)
        );
        assert_eq!(
            count(&openai("gpt-3.5-turbo"), Some(&json!("tiktoken is great!"))),
            Some(6)
        );
        assert_eq!(count(&openai("gpt-4"), Some(&json!(""))), Some(0));
    }

    #[test]
    fn o200k_and_cl100k_differ_where_the_vocabularies_do() {
        // A run of 1000 'a's is not one token in either vocabulary, and the two encodings
        // split it differently; what matters is that the model picks the encoding.
        let text = json!("a".repeat(1000));
        let gpt4 = count(&openai("gpt-4"), Some(&text));
        let gpt4o = count(&openai("gpt-4o"), Some(&text));
        assert!(gpt4.is_some() && gpt4o.is_some());
        assert_eq!(
            gpt4,
            Some(
                tiktoken_rs::cl100k_base_singleton()
                    .encode_ordinary(&"a".repeat(1000))
                    .len() as u64
            )
        );
        assert_eq!(
            gpt4o,
            Some(
                tiktoken_rs::o200k_base_singleton()
                    .encode_ordinary(&"a".repeat(1000))
                    .len() as u64
            )
        );
    }

    #[test]
    fn chat_messages_add_per_message_and_reply_overhead() {
        // Two messages: 2 × 3 (per message) + tokens("user") + tokens("hello world") +
        // tokens("assistant") + tokens("hi") + 3 (reply primer). In cl100k_base "user",
        // "assistant" and "hi" are one token each and "hello world" is two.
        let messages = json!([
            {"role": "user", "content": "hello world"},
            {"role": "assistant", "content": "hi"}
        ]);
        assert_eq!(
            count(&openai("gpt-4"), Some(&messages)),
            Some(6 + 1 + 2 + 1 + 1 + 3)
        );
        // The same array stored as a JSON string is parsed first.
        let as_string = json!(messages.to_string());
        assert_eq!(count(&openai("gpt-4"), Some(&as_string)), Some(14));
        // A name adds its tokens and tokensPerName.
        let named = json!([{"role": "user", "content": "hello world", "name": "hi"}]);
        assert_eq!(
            count(&openai("gpt-4"), Some(&named)),
            Some(3 + 1 + 2 + 1 + 1 + 3)
        );
    }

    #[test]
    fn non_chat_models_count_json_text() {
        // gpt-4-turbo-preview is not one of tiktoken's chat models: the array is counted as
        // its compact JSON text.
        let messages = json!([{"role": "user", "content": "hello world"}]);
        let expected = tiktoken_rs::cl100k_base_singleton()
            .encode_ordinary(&messages.to_string())
            .len() as u64;
        assert_eq!(
            count(&openai("gpt-4-turbo-preview"), Some(&messages)),
            Some(expected)
        );
    }

    #[test]
    fn nothing_to_count_and_unknown_tokenizers_give_none() {
        assert_eq!(count(&openai("gpt-4"), None), None);
        assert_eq!(count(&openai("gpt-4"), Some(&Value::Null)), None);
        assert_eq!(count(&openai("gpt-4"), Some(&json!([]))), None);
        assert_eq!(count(&openai("no-such-model"), Some(&json!("x"))), None);
        assert_eq!(TokenizerSpec::from_model(Some("openai"), None), None);
        assert_eq!(TokenizerSpec::from_model(Some("other"), None), None);
        assert_eq!(TokenizerSpec::from_model(None, None), None);
    }

    #[test]
    fn claude_is_approximated_with_cl100k() {
        let spec = TokenizerSpec::from_model(Some("claude"), None).expect("claude spec");
        assert_eq!(count(&spec, Some(&json!("hello world"))), Some(2));
    }
}
