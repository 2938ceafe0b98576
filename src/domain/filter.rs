//! Langfuse's advanced `filter` query parameter: a JSON array of conditions
//! `{type, column, operator, value, key?}` (Langfuse `singleFilter` in
//! packages/shared/src/interfaces/filters.ts). This module parses and checks the shape
//! only; which columns exist, and the SQL, belong to `store::filter`.

use chrono::{DateTime, Utc};
use serde::Deserialize;

/// Comparison operators of `datetime`, `number` and `numberObject` conditions (and of the
/// score `operator` query parameter, which also has `!=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum CmpOp {
    /// `=`
    #[serde(rename = "=")]
    Eq,
    /// `!=` (score `operator` parameter only; not valid inside `filter`)
    #[serde(rename = "!=")]
    Ne,
    /// `>`
    #[serde(rename = ">")]
    Gt,
    /// `<`
    #[serde(rename = "<")]
    Lt,
    /// `>=`
    #[serde(rename = ">=")]
    Ge,
    /// `<=`
    #[serde(rename = "<=")]
    Le,
}

impl CmpOp {
    /// The SQL operator.
    pub fn sql(self) -> &'static str {
        match self {
            CmpOp::Eq => " = ",
            CmpOp::Ne => " <> ",
            CmpOp::Gt => " > ",
            CmpOp::Lt => " < ",
            CmpOp::Ge => " >= ",
            CmpOp::Le => " <= ",
        }
    }
}

/// Operators of `string` and `stringObject` conditions (case-sensitive, as Langfuse's
/// ClickHouse `position`/`startsWith`/`endsWith`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum StringOp {
    /// `=`
    #[serde(rename = "=")]
    Eq,
    /// `contains`
    #[serde(rename = "contains")]
    Contains,
    /// `does not contain`
    #[serde(rename = "does not contain")]
    NotContains,
    /// `starts with`
    #[serde(rename = "starts with")]
    StartsWith,
    /// `ends with`
    #[serde(rename = "ends with")]
    EndsWith,
}

/// Operators of `stringOptions` (value is one of a list).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum OptionsOp {
    /// `any of`
    #[serde(rename = "any of")]
    AnyOf,
    /// `none of`
    #[serde(rename = "none of")]
    NoneOf,
}

/// Operators of `arrayOptions` (an array column against a list).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum ArrayOp {
    /// `any of`: the arrays overlap.
    #[serde(rename = "any of")]
    AnyOf,
    /// `none of`: the arrays do not overlap.
    #[serde(rename = "none of")]
    NoneOf,
    /// `all of`: the column holds every listed value.
    #[serde(rename = "all of")]
    AllOf,
}

/// Operators of `boolean`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum BoolOp {
    /// `=`
    #[serde(rename = "=")]
    Eq,
    /// `<>`
    #[serde(rename = "<>")]
    Ne,
}

/// Operators of `null`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum NullOp {
    /// `is null`
    #[serde(rename = "is null")]
    IsNull,
    /// `is not null`
    #[serde(rename = "is not null")]
    IsNotNull,
}

/// One condition of the `filter` array, as sent.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum FilterCondition {
    /// `{"type":"datetime","operator":">"|"<"|">="|"<=","value":"<ISO date-time>"}`
    Datetime {
        /// Column name (Langfuse's UI column id).
        column: String,
        /// Comparison.
        operator: CmpOp,
        /// Instant compared with.
        value: DateTime<Utc>,
    },
    /// `{"type":"string","operator":"="|"contains"|…,"value":"…"}`
    String {
        /// Column name.
        column: String,
        /// Match.
        operator: StringOp,
        /// Text compared with.
        value: String,
    },
    /// `{"type":"number","operator":"="|">"|…,"value":1.5}`
    Number {
        /// Column name.
        column: String,
        /// Comparison.
        operator: CmpOp,
        /// Number compared with.
        value: f64,
    },
    /// `{"type":"stringOptions","operator":"any of"|"none of","value":["a","b"]}`
    StringOptions {
        /// Column name.
        column: String,
        /// Membership.
        operator: OptionsOp,
        /// Non-empty list.
        value: Vec<String>,
    },
    /// `{"type":"arrayOptions","operator":"any of"|"none of"|"all of","value":[…]}`
    ArrayOptions {
        /// Column name.
        column: String,
        /// Overlap or containment.
        operator: ArrayOp,
        /// List (may be empty only for `all of` / `none of`, as Langfuse allows).
        value: Vec<String>,
    },
    /// `{"type":"stringObject","column":"metadata","key":"k","operator":…,"value":"…"}`
    StringObject {
        /// Column name (an object column such as `metadata`).
        column: String,
        /// Top-level key.
        key: String,
        /// Match.
        operator: StringOp,
        /// Text compared with.
        value: String,
    },
    /// `{"type":"numberObject","column":"metadata","key":"k","operator":…,"value":1}`
    NumberObject {
        /// Column name.
        column: String,
        /// Top-level key.
        key: String,
        /// Comparison.
        operator: CmpOp,
        /// Number compared with.
        value: f64,
    },
    /// `{"type":"boolean","operator":"="|"<>","value":true}`
    Boolean {
        /// Column name.
        column: String,
        /// Equality.
        operator: BoolOp,
        /// Value compared with.
        value: bool,
    },
    /// `{"type":"null","operator":"is null"|"is not null","value":""}` (value ignored).
    Null {
        /// Column name.
        column: String,
        /// Null test.
        operator: NullOp,
    },
}

impl FilterCondition {
    /// The column the condition names.
    pub fn column(&self) -> &str {
        match self {
            FilterCondition::Datetime { column, .. }
            | FilterCondition::String { column, .. }
            | FilterCondition::Number { column, .. }
            | FilterCondition::StringOptions { column, .. }
            | FilterCondition::ArrayOptions { column, .. }
            | FilterCondition::StringObject { column, .. }
            | FilterCondition::NumberObject { column, .. }
            | FilterCondition::Boolean { column, .. }
            | FilterCondition::Null { column, .. } => column,
        }
    }

    /// The wire name of the condition's type.
    pub fn type_name(&self) -> &'static str {
        match self {
            FilterCondition::Datetime { .. } => "datetime",
            FilterCondition::String { .. } => "string",
            FilterCondition::Number { .. } => "number",
            FilterCondition::StringOptions { .. } => "stringOptions",
            FilterCondition::ArrayOptions { .. } => "arrayOptions",
            FilterCondition::StringObject { .. } => "stringObject",
            FilterCondition::NumberObject { .. } => "numberObject",
            FilterCondition::Boolean { .. } => "boolean",
            FilterCondition::Null { .. } => "null",
        }
    }

    /// Operator rules the serde shape cannot express (per-type operator subsets, list sizes).
    fn check(&self) -> Result<(), String> {
        match self {
            FilterCondition::Datetime {
                operator: CmpOp::Eq | CmpOp::Ne,
                ..
            } => Err("datetime filters support only >, <, >= and <=".into()),
            FilterCondition::Number { operator, .. }
            | FilterCondition::NumberObject { operator, .. }
                if *operator == CmpOp::Ne =>
            {
                Err("number filters support only =, >, <, >= and <=".into())
            }
            FilterCondition::Number { value, .. } | FilterCondition::NumberObject { value, .. }
                if !value.is_finite() =>
            {
                Err("number filter value must be finite".into())
            }
            FilterCondition::StringOptions { value, .. } if value.is_empty() => {
                Err("stringOptions filter value must not be empty".into())
            }
            FilterCondition::ArrayOptions {
                operator: ArrayOp::AnyOf,
                value,
                ..
            } if value.is_empty() => {
                Err("Value array must not be empty unless operator is 'all of' or 'none of'".into())
            }
            _ => Ok(()),
        }
    }
}

/// Parses the `filter` parameter. `Err` carries `(path below "filter", message)`.
pub fn parse(raw: &str) -> Result<Vec<FilterCondition>, FilterParseError> {
    let value: serde_json::Value =
        serde_json::from_str(raw).map_err(|_| FilterParseError::InvalidJson)?;
    let serde_json::Value::Array(items) = value else {
        return Err(FilterParseError::Shape {
            index: None,
            message: "Expected array".into(),
        });
    };
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            let c: FilterCondition =
                serde_json::from_value(item).map_err(|e| FilterParseError::Shape {
                    index: Some(i),
                    message: e.to_string(),
                })?;
            c.check().map_err(|message| FilterParseError::Shape {
                index: Some(i),
                message,
            })?;
            Ok(c)
        })
        .collect()
}

/// Why a `filter` parameter was refused.
#[derive(Debug, Clone, PartialEq)]
pub enum FilterParseError {
    /// Not JSON at all (Langfuse: "Invalid JSON in filter parameter").
    InvalidJson,
    /// JSON, but not an array of valid conditions.
    Shape {
        /// Position of the bad condition, when one is to blame.
        index: Option<usize>,
        /// What is wrong.
        message: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_condition_type() {
        let raw = r#"[
          {"type":"datetime","column":"timestamp","operator":">=","value":"2024-01-01T00:00:00Z"},
          {"type":"string","column":"name","operator":"starts with","value":"a"},
          {"type":"number","column":"latency","operator":"<","value":2.5},
          {"type":"stringOptions","column":"environment","operator":"none of","value":["x"]},
          {"type":"arrayOptions","column":"tags","operator":"all of","value":[]},
          {"type":"stringObject","column":"metadata","key":"k","operator":"=","value":"v"},
          {"type":"numberObject","column":"metadata","key":"n","operator":">","value":3},
          {"type":"boolean","column":"bookmarked","operator":"<>","value":true},
          {"type":"null","column":"userId","operator":"is null","value":""}
        ]"#;
        let parsed = parse(raw).expect("valid filter");
        assert_eq!(parsed.len(), 9);
        assert_eq!(
            parsed[1],
            FilterCondition::String {
                column: "name".into(),
                operator: StringOp::StartsWith,
                value: "a".into()
            }
        );
        assert_eq!(parsed[8].type_name(), "null");
    }

    #[test]
    fn refuses_bad_input() {
        assert_eq!(parse("not json"), Err(FilterParseError::InvalidJson));
        for (raw, why) in [
            (r#"{"type":"string"}"#, "not an array"),
            (
                r#"[{"type":"nope","column":"a","operator":"=","value":"x"}]"#,
                "unknown type",
            ),
            (
                r#"[{"type":"string","column":"a","operator":"like","value":"x"}]"#,
                "bad operator",
            ),
            (
                r#"[{"type":"string","column":"a","operator":"=","value":1}]"#,
                "value type",
            ),
            (
                r#"[{"type":"datetime","column":"a","operator":"=","value":"2024-01-01T00:00:00Z"}]"#,
                "datetime =",
            ),
            (
                r#"[{"type":"datetime","column":"a","operator":">","value":"yesterday"}]"#,
                "bad date",
            ),
            (
                r#"[{"type":"stringOptions","column":"a","operator":"any of","value":[]}]"#,
                "empty options",
            ),
            (
                r#"[{"type":"number","column":"a","operator":"!=","value":1}]"#,
                "number !=",
            ),
            (
                r#"[{"type":"stringObject","column":"a","operator":"=","value":"x"}]"#,
                "missing key",
            ),
        ] {
            assert!(
                matches!(parse(raw), Err(FilterParseError::Shape { .. })),
                "{why} must be refused"
            );
        }
    }
}
