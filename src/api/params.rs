//! Query-string parsing shared by the read endpoints, following Langfuse's zod schemas:
//! numbers are coerced from strings, an empty value means "not given", array parameters
//! (`tags`, `environment`, …) accept repeated keys and comma-separated values, and
//! date-times must be ISO 8601 with an offset. Every problem is a 400 naming the field.

use std::future::{ready, Ready};

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use chrono::{DateTime, Utc};

use crate::domain::filter::{self, FilterParseError};
use crate::domain::paging::{Direction, Page};
use crate::error::{ApiError, ValidationIssue};
use crate::store;

/// The one path parameter of a route (an id or name), completely percent-decoded.
/// `web::Path` leaves `%2F`, `%25` and `%2B` encoded; Langfuse decodes them, and ids are
/// caller-chosen strings (`user/42` as a session id must round-trip).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathParam(String);

impl PathParam {
    /// The decoded value.
    pub fn into_inner(self) -> String {
        self.0
    }
}

impl std::ops::Deref for PathParam {
    type Target = String;

    fn deref(&self) -> &String {
        &self.0
    }
}

impl std::fmt::Display for PathParam {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromRequest for PathParam {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let name = req.match_info().iter().last().map_or("", |(name, _)| name);
        ready(path_segment(req, name).map(PathParam))
    }
}

/// The percent-decoded value of path segment `name`. actix leaves `%2F`, `%25` and `%2B`
/// encoded in the matched path (so a segment never spans a `/`); this decodes them, so a
/// prompt named `folder/name` sent as `folder%2Fname` arrives as itself.
pub fn path_segment(req: &HttpRequest, name: &str) -> Result<String, ApiError> {
    let raw = req.match_info().get(name).unwrap_or("");
    percent_decode(raw)
        .ok_or_else(|| ApiError::InvalidRequest(format!("Invalid path parameter: {name}")))
}

/// The names a client may mean by `name` (already percent-decoded once): `name` itself,
/// then `name` decoded once more when that differs. The Langfuse Python SDK 2.x
/// percent-encodes dataset, run and prompt names itself before its HTTP client encodes them
/// again (`Text with spaces` arrives as `Text%20with%20spaces`); Langfuse's server decodes
/// name parameters a second time (`queryStringZod` in
/// `web/src/features/public-api/types/datasets.ts`). Trying the exact name first keeps names
/// that really contain `%XX` (or a lone `%`, which a second decode would reject) reachable.
pub fn name_candidates(name: &str) -> Vec<String> {
    let mut out = vec![name.to_string()];
    if name.contains('%') {
        if let Some(again) = percent_decode(name) {
            if again != name {
                out.push(again);
            }
        }
    }
    out
}

/// Decodes `%XX` escapes; `None` when the result is not UTF-8.
pub fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push(h * 16 + l);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// The raw query string as ordered key/value pairs (repeated keys kept).
#[derive(Debug, Clone, Default)]
pub struct QueryParams(Vec<(String, String)>);

impl FromRequest for QueryParams {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(
            web::Query::<Vec<(String, String)>>::from_query(req.query_string())
                .map(|q| QueryParams(q.into_inner()))
                .map_err(|e| ApiError::InvalidRequest(format!("Invalid query string: {e}"))),
        )
    }
}

fn issue(code: &'static str, field: &str, message: impl Into<String>) -> ApiError {
    ApiError::InvalidRequestData(vec![ValidationIssue::new(code, field, message)])
}

impl QueryParams {
    /// Builds params from pairs (tests, internal callers).
    pub fn from_pairs(pairs: Vec<(String, String)>) -> Self {
        Self(pairs)
    }

    /// The first non-empty value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    /// `get` as an owned string.
    pub fn string(&self, name: &str) -> Option<String> {
        self.get(name).map(str::to_string)
    }

    /// Every value of `name` (also `name[]`), split on commas, empties dropped.
    pub fn list(&self, name: &str) -> Vec<String> {
        let bracket = format!("{name}[]");
        self.0
            .iter()
            .filter(|(k, _)| k == name || *k == bracket)
            .flat_map(|(_, v)| v.split(','))
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    }

    /// Every value of `name` as given (no comma splitting), empties dropped.
    pub fn repeated(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// An integer parameter within `min..=max`.
    pub fn int(&self, name: &str, min: i64, max: i64) -> Result<Option<i64>, ApiError> {
        let Some(raw) = self.get(name) else {
            return Ok(None);
        };
        let n: f64 = raw.trim().parse().map_err(|_| {
            issue(
                "invalid_type",
                name,
                format!("Expected number, received string \"{raw}\""),
            )
        })?;
        if n.fract() != 0.0 || !n.is_finite() {
            return Err(issue(
                "invalid_type",
                name,
                "Expected integer, received float",
            ));
        }
        let n = n as i64;
        if n < min {
            return Err(issue(
                "too_small",
                name,
                format!("Number must be greater than or equal to {min}"),
            ));
        }
        if n > max {
            return Err(issue(
                "too_big",
                name,
                format!("Number must be less than or equal to {max}"),
            ));
        }
        Ok(Some(n))
    }

    /// A float parameter.
    pub fn float(&self, name: &str) -> Result<Option<f64>, ApiError> {
        let Some(raw) = self.get(name) else {
            return Ok(None);
        };
        raw.trim()
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .map(Some)
            .ok_or_else(|| {
                issue(
                    "invalid_type",
                    name,
                    format!("Expected number, received string \"{raw}\""),
                )
            })
    }

    /// A boolean parameter (`true`/`false`).
    pub fn bool(&self, name: &str) -> Result<Option<bool>, ApiError> {
        match self.get(name) {
            None => Ok(None),
            Some("true") => Ok(Some(true)),
            Some("false") => Ok(Some(false)),
            Some(other) => Err(issue(
                "invalid_type",
                name,
                format!("Expected boolean, received \"{other}\""),
            )),
        }
    }

    /// Page-based pagination: `page` ≥ 1 (default 1), `limit` 1..=`max_limit`.
    pub fn page(&self, default_limit: u64, max_limit: u64) -> Result<Page, ApiError> {
        let page = self.int("page", 1, i64::MAX)?.unwrap_or(1) as u64;
        let limit = self
            .int("limit", 1, max_limit as i64)?
            .map(|l| l as u64)
            .unwrap_or(default_limit);
        Ok(Page { page, limit })
    }

    /// Langfuse's default pagination (limit 1..100, default 50).
    pub fn default_page(&self) -> Result<Page, ApiError> {
        self.page(50, 100)
    }

    /// An ISO 8601 date-time with offset (`Z` or `±hh:mm`).
    pub fn datetime(&self, name: &str) -> Result<Option<DateTime<Utc>>, ApiError> {
        match self.get(name) {
            None => Ok(None),
            Some(raw) => parse_datetime(raw)
                .map(Some)
                .ok_or_else(|| issue("invalid_string", name, "Invalid datetime")),
        }
    }

    /// One of `allowed` (exact match), else a 400 listing the options.
    pub fn one_of<T: Copy>(
        &self,
        name: &str,
        allowed: &[(&str, T)],
    ) -> Result<Option<T>, ApiError> {
        let Some(raw) = self.get(name) else {
            return Ok(None);
        };
        allowed
            .iter()
            .find(|(s, _)| *s == raw)
            .map(|(_, t)| Some(*t))
            .ok_or_else(|| {
                let opts: Vec<String> = allowed.iter().map(|(s, _)| format!("'{s}'")).collect();
                issue(
                    "invalid_enum_value",
                    name,
                    format!(
                        "Invalid enum value. Expected {}, received '{raw}'",
                        opts.join(" | ")
                    ),
                )
            })
    }

    /// Langfuse's advanced `filter` parameter (JSON array of conditions), checked against
    /// `table`'s columns. Absent or empty → no conditions.
    pub fn advanced_filter(
        &self,
        table: &'static store::filter::Table,
    ) -> Result<Vec<store::filter::Condition>, ApiError> {
        let Some(raw) = self.get("filter") else {
            return Ok(Vec::new());
        };
        let parsed = filter::parse(raw).map_err(|e| match e {
            FilterParseError::InvalidJson => {
                ApiError::InvalidRequest("Invalid JSON in filter parameter".into())
            }
            FilterParseError::Shape { index, message } => issue(
                "custom",
                &index.map_or("filter".to_string(), |i| format!("filter.{i}")),
                message,
            ),
        })?;
        store::filter::resolve(table, parsed)
            .map_err(|e| issue("custom", &format!("filter.{}.column", e.index), e.message))
    }

    /// `orderBy=<column>.<asc|desc>` with the column looked up in `columns`
    /// (API name → SQL expression); unknown columns are a 400.
    pub fn order_by(
        &self,
        columns: &[(&str, &'static str)],
    ) -> Result<Option<(&'static str, Direction)>, ApiError> {
        let Some(raw) = self.get("orderBy") else {
            return Ok(None);
        };
        let (col, dir) = raw.rsplit_once('.').ok_or_else(|| {
            ApiError::InvalidRequest(format!(
                "Invalid orderBy format: {raw}. Expected <column>.<asc|desc>"
            ))
        })?;
        let dir = match dir.to_ascii_lowercase().as_str() {
            "asc" => Direction::Asc,
            "desc" => Direction::Desc,
            _ => {
                return Err(ApiError::InvalidRequest(format!(
                    "Invalid order by direction: {dir}"
                )))
            }
        };
        let sql = columns
            .iter()
            .find(|(c, _)| *c == col)
            .map(|(_, sql)| *sql)
            .ok_or_else(|| ApiError::InvalidRequest(format!("Invalid order by column: {col}")))?;
        Ok(Some((sql, dir)))
    }

    /// The `fields` groups, or None when not given (= all groups).
    pub fn fields(&self) -> Option<Vec<String>> {
        self.get("fields").map(|raw| {
            raw.split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        })
    }
}

/// Parses an ISO 8601 date-time that carries an offset; naive times are refused.
pub fn parse_datetime(raw: &str) -> Option<DateTime<Utc>> {
    let raw = raw.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        return Some(t.with_timezone(&Utc));
    }
    // RFC 3339 requires seconds; ISO 8601 (and zod's offset datetime) allows HH:MM too.
    for fmt in ["%Y-%m-%dT%H:%M%#z", "%Y-%m-%dT%H:%M%:z", "%Y-%m-%dT%H:%MZ"] {
        if let Ok(t) = DateTime::parse_from_str(raw, fmt) {
            return Some(t.with_timezone(&Utc));
        }
    }
    if let Some(stripped) = raw.strip_suffix('Z') {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(stripped, "%Y-%m-%dT%H:%M") {
            return Some(t.and_utc());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding_handles_slashes_and_stray_percent() {
        assert_eq!(percent_decode("a%2Fb").as_deref(), Some("a/b"));
        assert_eq!(percent_decode("100%25").as_deref(), Some("100%"));
        assert_eq!(percent_decode("50%").as_deref(), Some("50%"));
        assert_eq!(percent_decode("%C3%A9t%C3%A9").as_deref(), Some("été"));
        assert_eq!(percent_decode("%FF"), None);
    }

    #[test]
    fn name_candidates_add_the_once_more_decoded_name() {
        assert_eq!(name_candidates("plain name"), ["plain name"]);
        assert_eq!(
            name_candidates("Text%20with%20spaces"),
            ["Text%20with%20spaces", "Text with spaces"]
        );
        assert_eq!(name_candidates("50%"), ["50%"]);
        assert_eq!(name_candidates("bad%FF"), ["bad%FF"]);
    }

    fn q(pairs: &[(&str, &str)]) -> QueryParams {
        QueryParams::from_pairs(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn pagination_defaults_and_bounds() {
        assert_eq!(q(&[]).default_page().unwrap(), Page { page: 1, limit: 50 });
        assert_eq!(
            q(&[("page", ""), ("limit", "")]).default_page().unwrap(),
            Page { page: 1, limit: 50 }
        );
        assert!(q(&[("limit", "0")]).default_page().is_err());
        assert!(q(&[("limit", "101")]).default_page().is_err());
        assert!(q(&[("page", "0")]).default_page().is_err());
        assert!(q(&[("page", "x")]).default_page().is_err());
        assert_eq!(
            q(&[("page", "3"), ("limit", "100")])
                .default_page()
                .unwrap()
                .offset(),
            200
        );
    }

    #[test]
    fn lists_accept_repeats_and_commas() {
        let p = q(&[("tags", "a,b"), ("tags", "c"), ("environment", "")]);
        assert_eq!(p.list("tags"), vec!["a", "b", "c"]);
        assert!(p.list("environment").is_empty());
    }

    #[test]
    fn datetimes_need_an_offset() {
        assert!(parse_datetime("2024-01-01T00:00:00Z").is_some());
        assert!(parse_datetime("2024-01-01T00:00:00.123+02:00").is_some());
        assert!(parse_datetime("2024-01-01T00:00:00").is_none());
        assert!(parse_datetime("yesterday").is_none());
    }

    #[test]
    fn order_by_rejects_unknown_columns() {
        let cols = [("timestamp", "timestamp")];
        assert_eq!(
            q(&[("orderBy", "timestamp.asc")]).order_by(&cols).unwrap(),
            Some(("timestamp", Direction::Asc))
        );
        assert!(q(&[("orderBy", "nope.asc")]).order_by(&cols).is_err());
        assert!(q(&[("orderBy", "timestamp.up")]).order_by(&cols).is_err());
    }
}

/// A JSON body with every NUL character removed from its strings (keys included) before it
/// is read into `T`: PostgreSQL text and jsonb cannot hold `\u0000`, and ingestion strips
/// it the same way. Parsing uses the app's `JsonConfig` (limit, 400/413 bodies).
#[derive(Debug)]
pub struct CleanJson<T>(pub T);

impl<T> CleanJson<T> {
    /// The body.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for CleanJson<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: serde::de::DeserializeOwned + 'static> FromRequest for CleanJson<T> {
    type Error = actix_web::Error;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let fut = web::Json::<serde_json::Value>::from_request(req, payload);
        Box::pin(async move {
            let mut value = fut.await?.into_inner();
            crate::ingest::event::strip_nul(&mut value);
            serde_json::from_value::<T>(value)
                .map(CleanJson)
                .map_err(|e| {
                    let text = e.to_string();
                    let field = text.split('`').nth(1).unwrap_or("").to_string();
                    ApiError::invalid_field(&field, text).into()
                })
        })
    }
}
