//! Incremental folding: the state kept with each trace and observation row, to which new
//! events are applied one at a time in any order, giving the row the ordered fold of
//! `merge` would give over all of the entity's events.
//!
//! Why: re-reading and re-folding every logged event of an entity on each batch costs
//! O(events) per write and O(N²) for a trace that receives N OpenTelemetry exports, and
//! keeping every body in a log doubles the bytes written. Instead each field is a register
//! that remembers the sort key of the event that set it, so an event that arrives late
//! (an update before its create, a child span before its root) lands exactly where the
//! ordered fold would have put it:
//!
//! - last-writer-wins fields (`name`, `level`, `model`, `endTime`, …, `input`/`output`
//!   among truthy values, usage/cost maps key by key) keep the value of the greatest key;
//! - immutable fields (trace `timestamp`/`environment`, observation `traceId`,
//!   `startTime`, `environment` from the create) keep the value of the least key;
//! - tags are a set union;
//! - metadata is a tree: a node keeps its latest non-object write and the writes of
//!   later object values below it, which is what repeated deep merges leave (see
//!   [`Meta`]).
//!
//! The sort key is `(envelope timestamp, create before other types, arrival number)`,
//! the order of `merge::sort_events`; the arrival number counts the entity's events.
//! Envelope ids already applied are remembered (as 64-bit hashes), so a re-delivered
//! envelope changes nothing, as a log primary key would.
//!
//! `input`/`output` values are not kept here (they live only in the row): the state keeps
//! the key of the event that set each, and the batch carries a new value when an event
//! wins. Token counts computed for them are cached here with that key, so usage is
//! re-derived without reading them back.
//!
//! The unit tests check every register against the ordered fold of `merge` over random
//! permutations of random events.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::event::{parse_timestamp, EventType};
use super::merge::{self, MergedObservation, MergedTrace};

/// Fold order of one event: envelope timestamp (ms), 0 for creates and 1 for others,
/// arrival number within the entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Key(pub i64, pub u8, pub u32);

impl Key {
    /// The key of an event of `event_type` at `timestamp`, arrived as number `seq`.
    pub fn new(timestamp: DateTime<Utc>, event_type: EventType, seq: u32) -> Self {
        Key(
            timestamp.timestamp_millis(),
            u8::from(!event_type.is_create()),
            seq,
        )
    }
}

/// A value with the key of the event that wrote it.
type Reg<T> = Option<(Key, T)>;

/// Keeps the write with the greatest key.
fn lww<T>(slot: &mut Reg<T>, k: Key, v: T) -> bool {
    if slot.as_ref().is_some_and(|(old, _)| *old > k) {
        return false;
    }
    *slot = Some((k, v));
    true
}

/// Keeps the write with the least key.
fn fww<T>(slot: &mut Reg<T>, k: Key, v: T) {
    if slot.as_ref().is_some_and(|(old, _)| *old < k) {
        return;
    }
    *slot = Some((k, v));
}

fn value<T: Clone>(slot: &Reg<T>) -> Option<T> {
    slot.as_ref().map(|(_, v)| v.clone())
}

/// The metadata tree. Deep-merging objects in key order leaves, at every path, the last
/// non-object value written there unless an object was written later, in which case the
/// path holds an object made of the writes below it that came after that non-object
/// value. A node therefore keeps its latest non-object write (`s`), the key of its latest
/// object write (`o`, only when later than `s`) and its children, pruned of writes older
/// than `s`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Meta {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    s: Reg<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    o: Option<Key>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    c: BTreeMap<String, Meta>,
}

impl Meta {
    fn write(&mut self, k: Key, v: &Value) {
        if self.s.as_ref().is_some_and(|(sk, _)| *sk > k) {
            return; // a later non-object value replaces this write whole
        }
        match v {
            Value::Object(m) => {
                self.o = Some(self.o.map_or(k, |o| o.max(k)));
                for (ck, cv) in m {
                    self.c.entry(ck.clone()).or_default().write(k, cv);
                }
            }
            other => {
                self.s = Some((k, other.clone()));
                if self.o.is_some_and(|o| o < k) {
                    self.o = None;
                    self.c.clear();
                } else {
                    self.prune_children(k);
                }
            }
        }
    }

    /// Drops the writes below this node that are older than `k`.
    fn prune_children(&mut self, k: Key) {
        self.c.retain(|_, child| {
            if child.s.as_ref().is_some_and(|(sk, _)| *sk < k) {
                child.s = None;
            }
            if child.o.is_some_and(|o| o < k) {
                child.o = None;
                child.c.clear();
            } else {
                child.prune_children(k);
            }
            child.s.is_some() || child.o.is_some()
        });
    }

    fn render(&self) -> Option<Value> {
        if self.o.is_some() {
            Some(Value::Object(
                self.c
                    .iter()
                    .filter_map(|(k, c)| Some((k.clone(), c.render()?)))
                    .collect(),
            ))
        } else {
            value(&self.s)
        }
    }

    /// The merged metadata object (`{}` when nothing was written).
    fn render_root(&self) -> Value {
        match self.render() {
            Some(v @ Value::Object(_)) => v,
            _ => Value::Object(Map::new()),
        }
    }

    /// Applies an event's `metadata` as `merge` does: objects merge, null is absent,
    /// anything else is `{"metadata": value}`.
    fn apply(&mut self, k: Key, v: Option<&Value>) {
        match v {
            None | Some(Value::Null) => {}
            Some(o @ Value::Object(_)) => self.write(k, o),
            Some(other) => {
                let mut m = Map::new();
                m.insert("metadata".into(), other.clone());
                self.write(k, &Value::Object(m));
            }
        }
    }
}

/// A usage or cost object merged key by key (later keys win; `{}` changes nothing).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct KeyedMap(BTreeMap<String, (Key, Value)>);

impl KeyedMap {
    fn apply(&mut self, k: Key, v: Option<&Value>) {
        let Some(Value::Object(m)) = v else {
            return;
        };
        for (name, val) in m {
            match self.0.get_mut(name) {
                Some(slot) if slot.0 > k => {}
                Some(slot) => *slot = (k, val.clone()),
                None => {
                    self.0.insert(name.clone(), (k, val.clone()));
                }
            }
        }
    }

    fn render(&self) -> Option<Value> {
        (!self.0.is_empty()).then(|| {
            Value::Object(
                self.0
                    .iter()
                    .map(|(k, (_, v))| (k.clone(), v.clone()))
                    .collect(),
            )
        })
    }
}

/// Hashes of the envelope ids applied to an entity, stored as base64 of big-endian u64s.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SeenIds(BTreeSet<u64>);

impl SeenIds {
    fn hash(event_id: &str) -> u64 {
        use sha2::{Digest, Sha256};
        let d = Sha256::digest(event_id.as_bytes());
        u64::from_be_bytes(d[..8].try_into().expect("a SHA-256 digest has 32 bytes"))
    }

    /// Records `event_id`; false when it was applied before.
    fn insert(&mut self, event_id: &str) -> bool {
        self.0.insert(Self::hash(event_id))
    }
}

impl Serialize for SeenIds {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use base64::Engine;
        let bytes: Vec<u8> = self.0.iter().flat_map(|h| h.to_be_bytes()).collect();
        s.serialize_str(&base64::engine::general_purpose::STANDARD_NO_PAD.encode(bytes))
    }
}

impl<'de> Deserialize<'de> for SeenIds {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use base64::Engine;
        let s = String::deserialize(d)?;
        let bytes = base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(s)
            .map_err(serde::de::Error::custom)?;
        Ok(SeenIds(
            bytes
                .chunks_exact(8)
                .map(|c| u64::from_be_bytes(c.try_into().expect("chunks of 8")))
                .collect(),
        ))
    }
}

/// A token count cached for the `input` or `output` written at key `k`, by `tokenizer`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenCount {
    /// Key of the value that was counted.
    pub k: Key,
    /// Tokenizer identity.
    pub tokenizer: String,
    /// The count (None: the value had nothing to count).
    pub n: Option<u64>,
}

/// Input/output registers: only the key lives in the state; a value that won in this
/// batch is carried in `new` (not stored) for the row.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Io {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    k: Option<Key>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tokens: Option<TokenCount>,
    #[serde(skip)]
    new: Option<Src>,
}

impl Io {
    /// Takes a truthy value written at `k` by event `src` when it is the latest.
    fn apply(&mut self, k: Key, v: Option<&Value>, src: Src) {
        if !v.is_some_and(merge::truthy) || self.k.is_some_and(|old| old > k) {
            return;
        }
        self.k = Some(k);
        self.new = Some(src);
    }

    /// The event whose value won in this batch, if any (the row keeps its value
    /// otherwise).
    pub fn winner(&self) -> Option<Src> {
        self.new
    }

    /// Forgets the batch's winner (the row already holds the value).
    pub fn forget_winner(&mut self) {
        self.new = None;
    }

    /// Whether the row has a value at all.
    pub fn is_set(&self) -> bool {
        self.k.is_some()
    }

    /// The cached token count of the current value by `tokenizer`, if any.
    pub fn cached_tokens(&self, tokenizer: &str) -> Option<Option<u64>> {
        let t = self.tokens.as_ref()?;
        (Some(t.k) == self.k && t.tokenizer == tokenizer).then_some(t.n)
    }

    /// Caches the token count of the current value.
    pub fn cache_tokens(&mut self, tokenizer: &str, n: Option<u64>) {
        if let Some(k) = self.k {
            self.tokens = Some(TokenCount {
                k,
                tokenizer: tokenizer.to_string(),
                n,
            });
        }
    }
}

/// Where an event sits in a batch (request index, event index), to find the `input` or
/// `output` value that won without copying it.
pub type Src = (u32, u32);

/// What an entity's state needs from one event.
#[derive(Debug, Clone, Copy)]
pub struct Incoming<'a> {
    /// Envelope id.
    pub event_id: &'a str,
    /// Event type.
    pub event_type: EventType,
    /// Envelope timestamp.
    pub timestamp: DateTime<Utc>,
    /// The normalised body.
    pub body: &'a Map<String, Value>,
    /// Where the event sits in its batch.
    pub src: Src,
}

fn nullable_str(v: &Value) -> Option<String> {
    v.as_str().map(str::to_string)
}

fn body_time(b: &Map<String, Value>, k: &str) -> Option<DateTime<Utc>> {
    b.get(k).and_then(Value::as_str).and_then(parse_timestamp)
}

fn body_str(b: &Map<String, Value>, k: &str) -> Option<String> {
    b.get(k).and_then(Value::as_str).map(str::to_string)
}

/// Register of a nullable string: present (even null) replaces.
fn set_nullable(slot: &mut Reg<Option<String>>, k: Key, b: &Map<String, Value>, f: &str) {
    if let Some(v) = b.get(f) {
        lww(slot, k, nullable_str(v));
    }
}

/// Register of a string that only a present non-null value replaces.
fn set_present(slot: &mut Reg<String>, k: Key, b: &Map<String, Value>, f: &str) {
    if let Some(v) = body_str(b, f) {
        lww(slot, k, v);
    }
}

fn flat<T: Clone>(slot: &Reg<Option<T>>) -> Option<T> {
    slot.as_ref().and_then(|(_, v)| v.clone())
}

/// The fold state of a trace.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TraceState {
    /// Events applied (the next arrival number; also the row's version).
    pub n: u32,
    ids: SeenIds,
    /// `(timestamp, environment)` of the first event.
    first: Reg<(DateTime<Utc>, String)>,
    name: Reg<Option<String>>,
    user_id: Reg<Option<String>>,
    session_id: Reg<Option<String>>,
    release: Reg<Option<String>>,
    version: Reg<Option<String>>,
    public: Reg<bool>,
    tags: BTreeSet<String>,
    meta: Meta,
    /// Input register.
    pub input: Io,
    /// Output register.
    pub output: Io,
}

impl TraceState {
    /// Applies one event; false when its envelope was applied before (nothing changes).
    pub fn apply(&mut self, e: Incoming<'_>) -> bool {
        if !self.ids.insert(e.event_id) {
            return false;
        }
        let k = Key::new(e.timestamp, e.event_type, self.n);
        self.n += 1;
        let b = e.body;
        let env = body_str(b, "environment").unwrap_or_else(|| "default".into());
        fww(
            &mut self.first,
            k,
            (body_time(b, "timestamp").unwrap_or(e.timestamp), env),
        );
        set_nullable(&mut self.name, k, b, "name");
        set_nullable(&mut self.user_id, k, b, "userId");
        set_nullable(&mut self.session_id, k, b, "sessionId");
        set_nullable(&mut self.release, k, b, "release");
        set_nullable(&mut self.version, k, b, "version");
        if let Some(p) = b.get("public").and_then(Value::as_bool) {
            lww(&mut self.public, k, p);
        }
        if let Some(Value::Array(ts)) = b.get("tags") {
            self.tags
                .extend(ts.iter().filter_map(Value::as_str).map(str::to_string));
        }
        self.meta.apply(k, b.get("metadata"));
        self.input.apply(k, b.get("input"), e.src);
        self.output.apply(k, b.get("output"), e.src);
        true
    }

    /// The merged trace, without `input`/`output` (see [`Io::winner`]).
    pub fn render(&self, id: &str) -> MergedTrace {
        let (timestamp, environment) =
            value(&self.first).unwrap_or_else(|| (DateTime::<Utc>::UNIX_EPOCH, "default".into()));
        MergedTrace {
            id: id.to_string(),
            timestamp,
            name: flat(&self.name),
            user_id: flat(&self.user_id),
            session_id: flat(&self.session_id),
            release: flat(&self.release),
            version: flat(&self.version),
            environment,
            public: value(&self.public),
            tags: self.tags.iter().cloned().collect(),
            input: None,
            output: None,
            metadata: self.meta.render_root(),
        }
    }
}

/// The anchor of an observation: its first create (else its first event).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Anchor {
    trace_id: Option<String>,
    start_time: DateTime<Utc>,
    environment: String,
}

/// The fold state of an observation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ObservationState {
    /// Events applied (the next arrival number; also the row's version).
    pub n: u32,
    ids: SeenIds,
    /// Ranked `(0 for creates, key)`: the least is the anchor.
    anchor: Option<((u8, Key), Anchor)>,
    /// The first event (by key) that names a trace.
    first_trace_id: Reg<String>,
    r#type: Reg<String>,
    name: Reg<Option<String>>,
    level: Reg<Option<String>>,
    model: Reg<Option<String>>,
    status_message: Reg<String>,
    parent_observation_id: Reg<String>,
    version: Reg<String>,
    end_time: Reg<DateTime<Utc>>,
    completion_start_time: Reg<DateTime<Utc>>,
    model_parameters: Reg<Value>,
    meta: Meta,
    usage: KeyedMap,
    usage_details: KeyedMap,
    cost_details: KeyedMap,
    prompt: Reg<(String, i64)>,
    /// Input register.
    pub input: Io,
    /// Output register.
    pub output: Io,
}

impl ObservationState {
    /// Applies one event; false when its envelope was applied before (nothing changes).
    pub fn apply(&mut self, e: Incoming<'_>) -> bool {
        if !self.ids.insert(e.event_id) {
            return false;
        }
        let k = Key::new(e.timestamp, e.event_type, self.n);
        self.n += 1;
        let b = e.body;
        let rank = (u8::from(!e.event_type.is_create()), k);
        if !matches!(&self.anchor, Some((r, _)) if *r < rank) {
            self.anchor = Some((
                rank,
                Anchor {
                    trace_id: body_str(b, "traceId"),
                    start_time: body_time(b, "startTime").unwrap_or(e.timestamp),
                    environment: body_str(b, "environment").unwrap_or_else(|| "default".into()),
                },
            ));
        }
        if let Some(t) = body_str(b, "traceId") {
            fww(&mut self.first_trace_id, k, t);
        }
        let kind = match e.event_type.observation_type() {
            Some(t) => Some(t.to_string()),
            None => body_str(b, "type"),
        };
        if let Some(t) = kind {
            lww(&mut self.r#type, k, t);
        }
        set_nullable(&mut self.name, k, b, "name");
        set_nullable(&mut self.level, k, b, "level");
        set_nullable(&mut self.model, k, b, "model");
        set_present(&mut self.status_message, k, b, "statusMessage");
        set_present(&mut self.parent_observation_id, k, b, "parentObservationId");
        set_present(&mut self.version, k, b, "version");
        if let Some(t) = body_time(b, "endTime") {
            lww(&mut self.end_time, k, t);
        }
        if let Some(t) = body_time(b, "completionStartTime") {
            lww(&mut self.completion_start_time, k, t);
        }
        if let Some(p) = b.get("modelParameters").filter(|v| !v.is_null()) {
            lww(&mut self.model_parameters, k, p.clone());
        }
        self.meta.apply(k, b.get("metadata"));
        self.usage.apply(k, b.get("usage"));
        self.usage_details.apply(k, b.get("usageDetails"));
        self.cost_details.apply(k, b.get("costDetails"));
        let prompt_version = b.get("promptVersion").and_then(Value::as_i64);
        if let (Some(name), Some(v)) = (body_str(b, "promptName"), prompt_version) {
            lww(&mut self.prompt, k, (name, v));
        }
        self.input.apply(k, b.get("input"), e.src);
        self.output.apply(k, b.get("output"), e.src);
        true
    }

    /// The merged observation, without `input`/`output` (see [`Io::winner`]).
    /// `fallback_trace_id` is used when no event named a trace.
    pub fn render(
        &self,
        id: &str,
        fallback_trace_id: impl FnOnce() -> String,
    ) -> MergedObservation {
        let anchor = self.anchor.as_ref().map(|(_, a)| a);
        let trace_id = anchor
            .and_then(|a| a.trace_id.clone())
            .or_else(|| value(&self.first_trace_id))
            .unwrap_or_else(fallback_trace_id);
        let start_time = anchor.map_or(DateTime::<Utc>::UNIX_EPOCH, |a| a.start_time);
        let end_time = value(&self.end_time).map(|end| end.max(start_time));
        let prompt = value(&self.prompt);
        MergedObservation {
            id: id.to_string(),
            trace_id,
            parent_observation_id: value(&self.parent_observation_id),
            r#type: value(&self.r#type).unwrap_or_else(|| "SPAN".into()),
            name: flat(&self.name),
            start_time,
            end_time,
            completion_start_time: value(&self.completion_start_time),
            environment: anchor.map_or_else(|| "default".into(), |a| a.environment.clone()),
            version: value(&self.version),
            level: flat(&self.level).unwrap_or_else(|| "DEFAULT".into()),
            status_message: value(&self.status_message),
            input: None,
            output: None,
            metadata: self.meta.render_root(),
            model: flat(&self.model),
            model_parameters: value(&self.model_parameters),
            usage: self.usage.render(),
            usage_details: self.usage_details.render(),
            cost_details: self.cost_details.render(),
            prompt_name: prompt.as_ref().map(|p| p.0.clone()),
            prompt_version: prompt.and_then(|p| i32::try_from(p.1).ok()),
        }
    }
}

/// Serialises a state for the row's `fold_state` column.
pub fn encode<T: Serialize>(state: &T) -> Vec<u8> {
    serde_json::to_vec(state).expect("fold states serialise: plain data, string keys")
}

/// Reads a state written by [`encode`].
pub fn decode<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Option<T> {
    serde_json::from_slice(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::merge::{fold_observation, fold_trace, sort_events, LoggedEvent};
    use serde_json::json;

    /// A small deterministic PRNG (xorshift), so failures reproduce.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
        fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
            &v[self.below(v.len() as u64) as usize]
        }
    }

    fn random_meta(r: &mut Rng, depth: u32) -> Value {
        match r.below(if depth > 2 { 3 } else { 6 }) {
            0 => Value::Null,
            1 => json!(r.below(3)),
            2 => json!(*r.pick(&["x", "y", ""])),
            _ => {
                let mut m = Map::new();
                for _ in 0..r.below(3) {
                    let k = r.pick(&["a", "b", "c"]).to_string();
                    m.insert(k, random_meta(r, depth + 1));
                }
                Value::Object(m)
            }
        }
    }

    fn maybe(r: &mut Rng, m: &mut Map<String, Value>, k: &str, v: Value) {
        match r.below(3) {
            0 => {}
            1 => {
                m.insert(k.into(), Value::Null);
            }
            _ => {
                m.insert(k.into(), v);
            }
        }
    }

    fn random_obs_event(r: &mut Rng, i: usize) -> (String, EventType, DateTime<Utc>, Value) {
        let types = [
            EventType::SpanCreate,
            EventType::SpanUpdate,
            EventType::GenerationCreate,
            EventType::GenerationUpdate,
            EventType::ObservationUpdate,
            EventType::EventCreate,
        ];
        let t = *r.pick(&types);
        let ts = DateTime::from_timestamp_millis(1_700_000_000_000 + r.below(4) as i64).unwrap();
        let mut b = Map::new();
        let times = [
            "2024-01-01T00:00:00.000Z",
            "2024-01-01T00:00:01.000Z",
            "2023-12-31T00:00:00.000Z",
        ];
        let v = json!(*r.pick(&["t1", "t2"]));
        maybe(r, &mut b, "traceId", v);
        let v = json!(*r.pick(&["n1", "n2"]));
        maybe(r, &mut b, "name", v);
        let v = json!(*r.pick(&["ERROR", "DEBUG"]));
        maybe(r, &mut b, "level", v);
        let v = json!(*r.pick(&["gpt-4o", "m"]));
        maybe(r, &mut b, "model", v);
        let v = json!(*r.pick(&["TOOL", "AGENT"]));
        maybe(r, &mut b, "type", v);
        let v = json!(*r.pick(&["s1", "s2"]));
        maybe(r, &mut b, "statusMessage", v);
        let v = json!(*r.pick(&["p1", "p2"]));
        maybe(r, &mut b, "parentObservationId", v);
        let v = json!(*r.pick(&["v1", "v2"]));
        maybe(r, &mut b, "version", v);
        let v = json!(*r.pick(&times));
        maybe(r, &mut b, "startTime", v);
        let v = json!(*r.pick(&times));
        maybe(r, &mut b, "endTime", v);
        let v = json!(*r.pick(&times));
        maybe(r, &mut b, "completionStartTime", v);
        let v = json!(*r.pick(&["prod", "dev"]));
        maybe(r, &mut b, "environment", v);
        let v = json!({"t": r.below(3)});
        maybe(r, &mut b, "modelParameters", v);
        let v = json!(*r.pick(&["", "in1", "in2"]));
        maybe(r, &mut b, "input", v);
        let v = json!(r.below(3));
        maybe(r, &mut b, "output", v);
        let v = random_meta(r, 0);
        maybe(r, &mut b, "metadata", v);
        let v = json!({*r.pick(&["input", "output"]): r.below(9)});
        maybe(r, &mut b, "usage", v);
        let ud = if r.below(2) == 0 {
            json!({})
        } else {
            json!({*r.pick(&["input", "total"]): r.below(9)})
        };
        let v = ud;
        maybe(r, &mut b, "usageDetails", v);
        let v = json!({"total": r.below(9)});
        maybe(r, &mut b, "costDetails", v);
        if r.below(3) == 0 {
            b.insert("promptName".into(), json!(*r.pick(&["p", "q"])));
            b.insert("promptVersion".into(), json!(r.below(3)));
        }
        (format!("ev-{}", i % 5), t, ts, Value::Object(b))
    }

    fn random_trace_event(r: &mut Rng, i: usize) -> (String, EventType, DateTime<Utc>, Value) {
        let ts = DateTime::from_timestamp_millis(1_700_000_000_000 + r.below(4) as i64).unwrap();
        let mut b = Map::new();
        let v = json!(*r.pick(&["2023-06-01T00:00:00.000Z", "2023-06-02T00:00:00.000Z"]));
        maybe(r, &mut b, "timestamp", v);
        for f in ["name", "userId", "sessionId", "release", "version"] {
            let v = json!(*r.pick(&["a", "b"]));
            maybe(r, &mut b, f, v);
        }
        let v = json!(*r.pick(&["prod", "dev"]));
        maybe(r, &mut b, "environment", v);
        let v = json!(r.below(2) == 0);
        maybe(r, &mut b, "public", v);
        let v = json!([*r.pick(&["x", "y", "z"])]);
        maybe(r, &mut b, "tags", v);
        let v = json!(*r.pick(&["", "in1", "in2"]));
        maybe(r, &mut b, "input", v);
        let v = json!({"o": r.below(2)});
        maybe(r, &mut b, "output", v);
        let v = random_meta(r, 0);
        maybe(r, &mut b, "metadata", v);
        (
            format!("ev-{}", i % 5),
            EventType::TraceCreate,
            ts,
            Value::Object(b),
        )
    }

    type Ev = (String, EventType, DateTime<Utc>, Value);

    /// The `field` value of the event of `chunk` that won `io` in this batch.
    fn won(chunk: &[Ev], io: &Io, field: &str) -> Option<Value> {
        let (_, i) = io.winner()?;
        chunk[i as usize].3.get(field).cloned()
    }

    /// The ordered fold of `merge` over the events in arrival order (first envelope wins).
    fn reference(events: &[Ev]) -> Vec<LoggedEvent> {
        let mut seen = BTreeSet::new();
        let mut logged = Vec::new();
        for (seq, (id, t, ts, body)) in events.iter().enumerate() {
            if seen.insert(id.clone()) {
                logged.push(LoggedEvent {
                    event_type: *t,
                    timestamp: *ts,
                    seq: seq as i64,
                    body: body.as_object().unwrap().clone(),
                });
            }
        }
        sort_events(&mut logged);
        logged
    }

    /// Applies events in arrival order, one batch per `cut`, the state round-tripping
    /// through its encoding between batches; returns the row as it would be written.
    fn incremental_obs(events: &[Ev], cut: usize) -> MergedObservation {
        let mut row: Option<MergedObservation> = None;
        let mut bytes: Option<Vec<u8>> = None;
        for chunk in events.chunks(cut.max(1)) {
            let mut s: ObservationState = bytes
                .as_deref()
                .map(|b| decode(b).unwrap())
                .unwrap_or_default();
            for (i, (id, t, ts, body)) in chunk.iter().enumerate() {
                s.apply(Incoming {
                    event_id: id,
                    event_type: *t,
                    timestamp: *ts,
                    body: body.as_object().unwrap(),
                    src: (0, i as u32),
                });
            }
            let mut o = s.render("o", || "fallback".into());
            o.input = won(chunk, &s.input, "input");
            o.output = won(chunk, &s.output, "output");
            if let Some(prev) = &row {
                if o.input.is_none() {
                    o.input = prev.input.clone();
                }
                if o.output.is_none() {
                    o.output = prev.output.clone();
                }
            }
            row = Some(o);
            bytes = Some(encode(&s));
        }
        row.unwrap()
    }

    fn incremental_trace(events: &[Ev], cut: usize) -> MergedTrace {
        let mut row: Option<MergedTrace> = None;
        let mut bytes: Option<Vec<u8>> = None;
        for chunk in events.chunks(cut.max(1)) {
            let mut s: TraceState = bytes
                .as_deref()
                .map(|b| decode(b).unwrap())
                .unwrap_or_default();
            for (i, (id, t, ts, body)) in chunk.iter().enumerate() {
                s.apply(Incoming {
                    event_id: id,
                    event_type: *t,
                    timestamp: *ts,
                    body: body.as_object().unwrap(),
                    src: (0, i as u32),
                });
            }
            let mut t = s.render("t");
            t.input = won(chunk, &s.input, "input");
            t.output = won(chunk, &s.output, "output");
            if let Some(prev) = &row {
                if t.input.is_none() {
                    t.input = prev.input.clone();
                }
                if t.output.is_none() {
                    t.output = prev.output.clone();
                }
            }
            row = Some(t);
            bytes = Some(encode(&s));
        }
        row.unwrap()
    }

    #[test]
    fn observation_state_equals_the_ordered_fold_in_any_arrival_order() {
        let mut r = Rng(0x9E37_79B9_7F4A_7C15);
        for case in 0..3000 {
            let n = 1 + r.below(8) as usize;
            let events: Vec<Ev> = (0..n).map(|i| random_obs_event(&mut r, i)).collect();
            let expected = fold_observation("o", &reference(&events), || "fallback".into());
            let cut = 1 + r.below(n as u64) as usize;
            let got = incremental_obs(&events, cut);
            assert_eq!(got, expected, "case {case}: {events:#?}");
        }
    }

    #[test]
    fn trace_state_equals_the_ordered_fold_in_any_arrival_order() {
        let mut r = Rng(0xD1B5_4A32_D192_ED03);
        for case in 0..3000 {
            let n = 1 + r.below(8) as usize;
            let events: Vec<Ev> = (0..n).map(|i| random_trace_event(&mut r, i)).collect();
            let expected = fold_trace("t", &reference(&events));
            let cut = 1 + r.below(n as u64) as usize;
            let got = incremental_trace(&events, cut);
            assert_eq!(got, expected, "case {case}: {events:#?}");
        }
    }

    #[test]
    fn metadata_tree_follows_repeated_deep_merges() {
        // {a:{x:1}} then {a:5} then {a:{y:2}}: the scalar cuts off the first object.
        let k = |s| Key(0, 1, s);
        let mut m = Meta::default();
        m.apply(k(2), Some(&json!({"a": {"y": 2}})));
        m.apply(k(0), Some(&json!({"a": {"x": 1}})));
        assert_eq!(m.render_root(), json!({"a": {"x": 1, "y": 2}}));
        m.apply(k(1), Some(&json!({"a": 5})));
        assert_eq!(m.render_root(), json!({"a": {"y": 2}}));
        m.apply(k(3), Some(&json!("plain")));
        assert_eq!(m.render_root(), json!({"a": {"y": 2}, "metadata": "plain"}));
    }

    #[test]
    fn a_redelivered_envelope_changes_nothing() {
        let mut s = ObservationState::default();
        let ts = DateTime::from_timestamp_millis(0).unwrap();
        let a = json!({"name": "a"}).as_object().unwrap().clone();
        let b = json!({"name": "b"}).as_object().unwrap().clone();
        let a2 = json!({"name": "changed"}).as_object().unwrap().clone();
        for (id, body) in [("1", &a), ("2", &b)] {
            assert!(s.apply(Incoming {
                event_id: id,
                event_type: EventType::SpanUpdate,
                timestamp: ts,
                body,
                src: (0, 0),
            }));
        }
        assert!(!s.apply(Incoming {
            event_id: "1",
            event_type: EventType::SpanUpdate,
            timestamp: ts,
            body: &a2,
            src: (0, 0),
        }));
        assert_eq!(s.render("o", String::new).name.as_deref(), Some("b"));
        let back: ObservationState = decode(&encode(&s)).unwrap();
        assert_eq!(back.n, 2);
    }
}
