//! Prompt composition tags: `@@@langfusePrompt:name=NAME|version=N@@@` and
//! `@@@langfusePrompt:name=NAME|label=LABEL@@@` inside a prompt's strings (text prompts and
//! chat message contents). Parsing and substitution only; looking the referenced prompts
//! up and walking the graph lives in `store::prompts`.
//!
//! Langfuse scans the prompt's JSON text (not each string), so the same is done here: a tag
//! is found in the serialized value and replaced there by the JSON-escaped referenced text.

use serde_json::Value;

/// Nesting limit of Langfuse (`MAX_PROMPT_NESTING_DEPTH`): a prompt at depth 5 is refused.
pub const MAX_NESTING_DEPTH: usize = 5;

/// Budget of one resolution, so a few small prompts referencing each other many times
/// cannot make a create or a fetch copy text without bound (5 levels of 100 references
/// each would otherwise substitute 10^10 copies).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompositionLimits {
    /// Most references followed (dependency look-ups) while resolving one prompt
    /// (`XTRACE_PROMPT_MAX_REFERENCES`).
    pub max_references: usize,
    /// Largest resolved prompt, in bytes of its JSON text (`XTRACE_PROMPT_MAX_RESOLVED_BYTES`).
    pub max_resolved_bytes: usize,
}

impl Default for CompositionLimits {
    fn default() -> Self {
        Self {
            max_references: 500,
            max_resolved_bytes: 4 * 1024 * 1024,
        }
    }
}

const TAG_START: &str = "@@@langfusePrompt:";
const TAG_END: &str = "@@@";

/// How a tag selects the referenced prompt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefSelector {
    /// `version=N`.
    Version(i32),
    /// `label=L`.
    Label(String),
}

/// One parsed reference to another prompt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromptRef {
    /// Referenced prompt name.
    pub name: String,
    /// Version or label.
    pub selector: RefSelector,
}

impl PromptRef {
    /// `NAME - version N` / `NAME - label L`, as Langfuse names a dependency in errors.
    pub fn describe(&self) -> String {
        match &self.selector {
            RefSelector::Version(v) => format!("{} - version {v}", self.name),
            RefSelector::Label(l) => format!("{} - label {l}", self.name),
        }
    }
}

/// The inner texts of every `@@@langfusePrompt:…@@@` in `s` (shortest match, left to right).
fn tag_bodies(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(start) = rest.find(TAG_START) {
        let after = &rest[start + TAG_START.len()..];
        let Some(end) = after.find(TAG_END) else {
            break;
        };
        out.push(&after[..end]);
        rest = &after[end + TAG_END.len()..];
    }
    out
}

/// Parses one tag body (`name=…|version=…` or `name=…|label=…`). Langfuse's rules: exactly
/// two `|` parts, the first being `name=`; each part's value is the text between its first
/// and second `=`; a version must be a number (here: a positive integer).
fn parse_body(body: &str) -> Option<PromptRef> {
    let parts: Vec<&str> = body.split('|').collect();
    if parts.len() != 2 || !parts[0].starts_with("name=") {
        return None;
    }
    let (mut name, mut version, mut label) = (None, None, None);
    for part in parts {
        let mut kv = part.split('=');
        let (Some(k), Some(v)) = (kv.next(), kv.next()) else {
            continue;
        };
        if k.is_empty() || v.is_empty() {
            continue;
        }
        match k {
            "name" => name = Some(v),
            "version" => version = Some(v),
            "label" => label = Some(v),
            _ => {}
        }
    }
    let name = name?.to_string();
    let selector = match (version, label) {
        (Some(v), _) => RefSelector::Version(v.parse::<i32>().ok().filter(|n| *n >= 1)?),
        (None, Some(l)) => RefSelector::Label(l.to_string()),
        (None, None) => return None,
    };
    Some(PromptRef { name, selector })
}

/// The distinct references of a prompt value, in order of first appearance.
pub fn parse_refs(prompt: &Value) -> Vec<PromptRef> {
    let text = prompt.to_string();
    let mut seen: Vec<&str> = Vec::new();
    let mut out = Vec::new();
    for body in tag_bodies(&text) {
        if seen.contains(&body) {
            continue;
        }
        seen.push(body);
        if let Some(r) = parse_body(body) {
            out.push(r);
        }
    }
    out
}

/// Replaces, in the serialized prompt `json`, every tag naming `name` by `version` or by any
/// of `labels` with `text` (JSON-escaped, as it sits inside a string).
pub fn substitute(json: &str, name: &str, version: i32, labels: &[String], text: &str) -> String {
    let escaped = Value::String(text.to_string()).to_string();
    let escaped = &escaped[1..escaped.len() - 1];
    let mut tags = vec![format!("{TAG_START}name={name}|version={version}{TAG_END}")];
    tags.extend(
        labels
            .iter()
            .map(|l| format!("{TAG_START}name={name}|label={l}{TAG_END}")),
    );
    // One left-to-right pass, as a regex alternation would do.
    let mut out = String::with_capacity(json.len());
    let mut i = 0;
    while i < json.len() {
        if json[i..].starts_with(TAG_START) {
            if let Some(t) = tags.iter().find(|t| json[i..].starts_with(t.as_str())) {
                out.push_str(escaped);
                i += t.len();
                continue;
            }
        }
        let ch = json[i..].chars().next().expect("i is on a char boundary");
        out.push(ch);
        i += ch.len_utf8();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn r(name: &str, selector: RefSelector) -> PromptRef {
        PromptRef {
            name: name.into(),
            selector,
        }
    }

    #[test]
    fn parses_version_and_label_tags_once_each() {
        let p = json!("A @@@langfusePrompt:name=a|version=2@@@ B @@@langfusePrompt:name=f/b|label=production@@@ @@@langfusePrompt:name=a|version=2@@@");
        assert_eq!(
            parse_refs(&p),
            [
                r("a", RefSelector::Version(2)),
                r("f/b", RefSelector::Label("production".into()))
            ]
        );
    }

    #[test]
    fn malformed_tags_are_ignored() {
        for body in [
            "version=1|name=a",
            "name=a",
            "name=a|version=1|label=x",
            "name=a|version=x",
            "name=a|other=1",
            "name=|label=x",
            "name=a|label=",
        ] {
            let p = json!(format!("@@@langfusePrompt:{body}@@@"));
            assert!(parse_refs(&p).is_empty(), "{body}");
        }
    }

    #[test]
    fn chat_message_contents_are_scanned() {
        let p = json!([{"role": "system", "content": "x @@@langfusePrompt:name=s|label=l@@@"},
                       {"type": "placeholder", "name": "h"}]);
        assert_eq!(parse_refs(&p), [r("s", RefSelector::Label("l".into()))]);
    }

    #[test]
    fn substitution_replaces_version_and_label_forms_with_escaped_text() {
        let json = json!("1 @@@langfusePrompt:name=a|version=3@@@ 2 @@@langfusePrompt:name=a|label=prod@@@ 3 @@@langfusePrompt:name=a|label=other@@@").to_string();
        let out = substitute(&json, "a", 3, &["prod".into()], "say \"hi\"\n$1");
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(
            v,
            json!("1 say \"hi\"\n$1 2 say \"hi\"\n$1 3 @@@langfusePrompt:name=a|label=other@@@")
        );
    }
}
