//! Filters of the list endpoints as SQL: the per-table column whitelists that Langfuse's
//! advanced `filter` parameter may name, typed conditions over them, their rendering into
//! a `where` clause with binds, and the page + count query the page-based lists share.
//!
//! Both kinds of filter become [`Condition`]s: the simple query parameters (`userId=`,
//! `fromTimestamp=`, …) and the parsed `filter` array. As in Langfuse
//! (`deriveFilters` in packages/shared/src/server/queries/public-api-filter-builder.ts),
//! a `filter` condition on a column replaces the simple parameters on that column; all
//! the rest combine with AND.
//!
//! Column SQL comes from the static tables below, never from the request; values are
//! always binds. Columns of the trace (on observation and score lists) are tested through
//! a semi-join on `traces`, so the page query needs no join for them.

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgPool, Postgres, QueryBuilder};

use crate::domain::filter::{ArrayOp, CmpOp, FilterCondition, NullOp, OptionsOp, StringOp};
use crate::domain::paging::Page;

/// What a column holds, which decides the condition types it accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Text: `string`, `stringOptions`.
    Text,
    /// Text array (tags): `arrayOptions`.
    TextArray,
    /// Timestamp: `datetime`.
    Timestamp,
    /// Number: `number`.
    Number,
    /// Boolean: `boolean`.
    Bool,
    /// JSON object (metadata): `stringObject`, `numberObject`.
    Object,
}

impl Kind {
    fn accepts(self, c: &FilterCondition) -> bool {
        use FilterCondition as F;
        matches!(
            (self, c),
            (_, F::Null { .. })
                | (Kind::Text, F::String { .. } | F::StringOptions { .. })
                | (Kind::TextArray, F::ArrayOptions { .. })
                | (Kind::Timestamp, F::Datetime { .. })
                | (Kind::Number, F::Number { .. })
                | (Kind::Bool, F::Boolean { .. })
                | (
                    Kind::Object,
                    F::StringObject { .. } | F::NumberObject { .. }
                )
        )
    }

    fn expected(self) -> &'static str {
        match self {
            Kind::Text => "string or stringOptions",
            Kind::TextArray => "arrayOptions",
            Kind::Timestamp => "datetime",
            Kind::Number => "number",
            Kind::Bool => "boolean",
            Kind::Object => "stringObject or numberObject",
        }
    }
}

/// One filterable column: its Langfuse name and its SQL.
#[derive(Debug)]
pub struct Column {
    /// Name in the `filter` array (Langfuse's UI column id).
    pub name: &'static str,
    /// SQL expression over the table alias (or over `t` when `on_trace`).
    pub sql: &'static str,
    /// Value kind.
    pub kind: Kind,
    /// A column of the row's trace, tested through a semi-join on `traces t`.
    pub on_trace: bool,
}

/// A column of the table itself (not of its trace).
pub const fn col(name: &'static str, sql: &'static str, kind: Kind) -> Column {
    Column {
        name,
        sql,
        kind,
        on_trace: false,
    }
}

const fn trace_col(name: &'static str, sql: &'static str, kind: Kind) -> Column {
    Column {
        name,
        sql,
        kind,
        on_trace: true,
    }
}

/// A listable table: alias, filterable columns, and how its trace is reached.
#[derive(Debug)]
pub struct Table {
    /// SQL table name.
    pub name: &'static str,
    /// Alias used by the column SQL.
    pub alias: &'static str,
    /// Filterable columns.
    pub columns: &'static [Column],
    /// Column holding the trace id (for `on_trace` columns).
    pub trace_fk: &'static str,
    /// Whether `project_row_counts` (migration 0032) keeps this table's count.
    pub counted: bool,
}

impl Table {
    /// The column called `name`.
    pub fn column(&'static self, name: &str) -> Option<&'static Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// The column called `name`, which the caller knows exists.
    fn known(&'static self, name: &str) -> &'static Column {
        self.column(name)
            .unwrap_or_else(|| panic!("{name} is listed in the {} columns", self.name))
    }
}

// Sum of the usage/cost entries whose key contains `input`/`output` (Langfuse's
// `positionCaseInsensitive(key, 'input') > 0`), numbers only.
macro_rules! key_sum {
    ($col:literal, $part:literal) => {
        concat!(
            "(select sum((e.value #>> '{}')::float8) from jsonb_each(",
            $col,
            ") e where jsonb_typeof(e.value) = 'number' and e.key ilike '%",
            $part,
            "%')"
        )
    };
}

/// Trace columns (Langfuse `tracesTableUiColumnDefinitions`, without score aggregates).
pub static TRACES: Table = Table {
    name: "traces",
    alias: "t",
    trace_fk: "t.id",
    counted: true,
    columns: &[
        col("id", "t.id", Kind::Text),
        col("name", "t.name", Kind::Text),
        col("timestamp", "t.timestamp", Kind::Timestamp),
        col("userId", "t.user_id", Kind::Text),
        col("sessionId", "t.session_id", Kind::Text),
        col("metadata", "t.metadata", Kind::Object),
        col("version", "t.version", Kind::Text),
        col("release", "t.release", Kind::Text),
        col("environment", "t.environment", Kind::Text),
        col("tags", "t.tags", Kind::TextArray),
        col("bookmarked", "t.bookmarked", Kind::Bool),
        col("public", "t.public", Kind::Bool),
        col(
            "latency",
            "(select extract(epoch from max(greatest(o.start_time, coalesce(o.end_time, o.start_time))) \
             - min(least(o.start_time, coalesce(o.end_time, o.start_time))))::float8 \
             from observations o where o.project_id = t.project_id and o.trace_id = t.id)",
            Kind::Number,
        ),
        col(
            "totalCost",
            "(select sum(o.total_cost)::float8 from observations o \
             where o.project_id = t.project_id and o.trace_id = t.id)",
            Kind::Number,
        ),
    ],
};

/// Observation columns (Langfuse `observationsTableUiColumnDefinitions` and the v1/v2
/// simple parameters).
pub static OBSERVATIONS: Table = Table {
    name: "observations",
    alias: "o",
    trace_fk: "o.trace_id",
    counted: true,
    columns: &[
        col("id", "o.id", Kind::Text),
        col("type", "o.type", Kind::Text),
        col("name", "o.name", Kind::Text),
        col("traceId", "o.trace_id", Kind::Text),
        col("parentObservationId", "o.parent_observation_id", Kind::Text),
        col(
            "isRootObservation",
            "(o.parent_observation_id is null)",
            Kind::Bool,
        ),
        col("startTime", "o.start_time", Kind::Timestamp),
        col("endTime", "o.end_time", Kind::Timestamp),
        col(
            "completionStartTime",
            "o.completion_start_time",
            Kind::Timestamp,
        ),
        col("environment", "o.environment", Kind::Text),
        col("level", "o.level", Kind::Text),
        col("statusMessage", "o.status_message", Kind::Text),
        col("version", "o.version", Kind::Text),
        col("model", "o.model", Kind::Text),
        col("promptName", "o.prompt_name", Kind::Text),
        col("promptVersion", "o.prompt_version::float8", Kind::Number),
        col("metadata", "o.metadata", Kind::Object),
        col(
            "latency",
            "extract(epoch from (o.end_time - o.start_time))::float8",
            Kind::Number,
        ),
        col(
            "timeToFirstToken",
            "extract(epoch from (o.completion_start_time - o.start_time))::float8",
            Kind::Number,
        ),
        col(
            "inputTokens",
            key_sum!("o.usage_details", "input"),
            Kind::Number,
        ),
        col(
            "outputTokens",
            key_sum!("o.usage_details", "output"),
            Kind::Number,
        ),
        col(
            "totalTokens",
            "(case when jsonb_typeof(o.usage_details -> 'total') = 'number' \
             then (o.usage_details ->> 'total')::float8 end)",
            Kind::Number,
        ),
        col(
            "tokens",
            "(case when jsonb_typeof(o.usage_details -> 'total') = 'number' \
             then (o.usage_details ->> 'total')::float8 end)",
            Kind::Number,
        ),
        col(
            "inputCost",
            key_sum!("o.cost_details", "input"),
            Kind::Number,
        ),
        col(
            "outputCost",
            key_sum!("o.cost_details", "output"),
            Kind::Number,
        ),
        col("totalCost", "o.total_cost", Kind::Number),
        trace_col("userId", "t.user_id", Kind::Text),
        trace_col("sessionId", "t.session_id", Kind::Text),
        trace_col("traceName", "t.name", Kind::Text),
        trace_col("traceEnvironment", "t.environment", Kind::Text),
        trace_col("traceTags", "t.tags", Kind::TextArray),
        trace_col("tags", "t.tags", Kind::TextArray),
    ],
};

/// Score columns (Langfuse `scoresTableUiColumnDefinitions` and the simple parameters).
pub static SCORES: Table = Table {
    name: "scores",
    alias: "s",
    trace_fk: "s.trace_id",
    counted: false,
    columns: &[
        col("id", "s.id", Kind::Text),
        col("timestamp", "s.timestamp", Kind::Timestamp),
        col("environment", "s.environment", Kind::Text),
        col("traceId", "s.trace_id", Kind::Text),
        col("observationId", "s.observation_id", Kind::Text),
        col("sessionId", "s.session_id", Kind::Text),
        col("datasetRunId", "s.dataset_run_id", Kind::Text),
        col("name", "s.name", Kind::Text),
        col("value", "s.value", Kind::Number),
        col("source", "s.source", Kind::Text),
        col("comment", "s.comment", Kind::Text),
        col("authorUserId", "s.author_user_id", Kind::Text),
        col("dataType", "s.data_type", Kind::Text),
        col("stringValue", "s.string_value", Kind::Text),
        col("configId", "s.config_id", Kind::Text),
        col("queueId", "s.queue_id", Kind::Text),
        col("metadata", "s.metadata", Kind::Object),
        trace_col("traceName", "t.name", Kind::Text),
        trace_col("userId", "t.user_id", Kind::Text),
        trace_col("traceTags", "t.tags", Kind::TextArray),
        trace_col("trace_tags", "t.tags", Kind::TextArray),
    ],
};

/// A value compared with `=`, `<`, … .
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    /// Text.
    Text(String),
    /// Number.
    Number(f64),
    /// Instant.
    Time(DateTime<Utc>),
    /// Boolean.
    Bool(bool),
}

/// The test a [`Condition`] applies to its column.
#[derive(Debug, Clone, PartialEq)]
pub enum Predicate {
    /// `column <op> value`.
    Compare(CmpOp, Scalar),
    /// Substring/prefix/suffix/equality match.
    Text(StringOp, String),
    /// `column` is (not) one of the values.
    Options(OptionsOp, Vec<String>),
    /// Array column against a list.
    Array(ArrayOp, Vec<String>),
    /// Text of a top-level key of an object column (missing key = empty text).
    ObjectText(String, StringOp, String),
    /// Number of a top-level key of an object column (non-numbers never match).
    ObjectNumber(String, CmpOp, f64),
    /// `is null` / `is not null`.
    Null(NullOp),
    /// A number column equal to one of the values.
    NumberIn(Vec<f64>),
}

/// One resolved condition: a whitelisted column and a predicate.
#[derive(Debug, Clone)]
pub struct Condition {
    /// The column.
    pub column: &'static Column,
    /// The test.
    pub predicate: Predicate,
}

impl Condition {
    /// A condition on `table`'s column `name`, which the caller knows exists.
    pub fn on(table: &'static Table, name: &str, predicate: Predicate) -> Self {
        Condition {
            column: table.known(name),
            predicate,
        }
    }

    /// `name = value` (text).
    pub fn text_eq(table: &'static Table, name: &str, value: &str) -> Self {
        Self::on(
            table,
            name,
            Predicate::Compare(CmpOp::Eq, Scalar::Text(value.to_string())),
        )
    }

    /// `name` is one of `values`.
    pub fn any_of(table: &'static Table, name: &str, values: &[String]) -> Self {
        Self::on(
            table,
            name,
            Predicate::Options(OptionsOp::AnyOf, values.to_vec()),
        )
    }

    /// `name <op> at`.
    pub fn time(table: &'static Table, name: &str, op: CmpOp, at: DateTime<Utc>) -> Self {
        Self::on(table, name, Predicate::Compare(op, Scalar::Time(at)))
    }
}

/// Collects the conditions of a list's simple query parameters, skipping absent ones.
#[derive(Debug)]
pub struct Simple {
    table: &'static Table,
    conditions: Vec<Condition>,
}

impl Simple {
    /// Starts an empty set for `table`.
    pub fn new(table: &'static Table) -> Self {
        Simple {
            table,
            conditions: Vec::new(),
        }
    }

    /// `name = v` for each given text value.
    pub fn text_eq(&mut self, pairs: &[(&str, &Option<String>)]) -> &mut Self {
        for (name, v) in pairs {
            if let Some(v) = v {
                let c = Condition::text_eq(self.table, name, v);
                self.conditions.push(c);
            }
        }
        self
    }

    /// `name` is any of the values, for each non-empty list.
    pub fn any_of(&mut self, pairs: &[(&str, &Vec<String>)]) -> &mut Self {
        for (name, vs) in pairs {
            if !vs.is_empty() {
                let c = Condition::any_of(self.table, name, vs);
                self.conditions.push(c);
            }
        }
        self
    }

    /// `from <= name < to`, each bound when given (Langfuse's `from*`/`to*` parameters).
    pub fn range(
        &mut self,
        name: &str,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
    ) -> &mut Self {
        for (op, at) in [(CmpOp::Ge, from), (CmpOp::Lt, to)] {
            if let Some(at) = at {
                let c = Condition::time(self.table, name, op, at);
                self.conditions.push(c);
            }
        }
        self
    }

    /// `predicate` on `name`, when given.
    pub fn when(&mut self, name: &str, predicate: Option<Predicate>) -> &mut Self {
        if let Some(p) = predicate {
            let c = Condition::on(self.table, name, p);
            self.conditions.push(c);
        }
        self
    }

    /// The `advanced` conditions plus these where `advanced` does not name the column.
    pub fn merged_with(&mut self, advanced: &[Condition]) -> Vec<Condition> {
        merge(advanced, std::mem::take(&mut self.conditions))
    }
}

/// Why a `filter` condition does not fit the table.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolveError {
    /// Position in the `filter` array.
    pub index: usize,
    /// What is wrong.
    pub message: String,
}

/// Checks parsed `filter` conditions against `table`'s whitelist and types them.
pub fn resolve(
    table: &'static Table,
    conditions: Vec<FilterCondition>,
) -> Result<Vec<Condition>, ResolveError> {
    conditions
        .into_iter()
        .enumerate()
        .map(|(index, c)| {
            let column = table.column(c.column()).ok_or_else(|| ResolveError {
                index,
                message: format!(
                    "Invalid filter column '{}'. Supported columns: {}",
                    c.column(),
                    table
                        .columns
                        .iter()
                        .map(|c| c.name)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            })?;
            if !column.kind.accepts(&c) {
                return Err(ResolveError {
                    index,
                    message: format!(
                        "Invalid filter type '{}' for column '{}'. Expected filter type '{}'.",
                        c.type_name(),
                        column.name,
                        column.kind.expected()
                    ),
                });
            }
            let predicate = match c {
                FilterCondition::Datetime {
                    operator, value, ..
                } => Predicate::Compare(operator, Scalar::Time(value)),
                FilterCondition::String {
                    operator, value, ..
                } => Predicate::Text(operator, value),
                FilterCondition::Number {
                    operator, value, ..
                } => Predicate::Compare(operator, Scalar::Number(value)),
                FilterCondition::StringOptions {
                    operator, value, ..
                } => Predicate::Options(operator, value),
                FilterCondition::ArrayOptions {
                    operator, value, ..
                } => Predicate::Array(operator, value),
                FilterCondition::StringObject {
                    key,
                    operator,
                    value,
                    ..
                } => Predicate::ObjectText(key, operator, value),
                FilterCondition::NumberObject {
                    key,
                    operator,
                    value,
                    ..
                } => Predicate::ObjectNumber(key, operator, value),
                FilterCondition::Boolean {
                    operator, value, ..
                } => {
                    // `<> v` is `= !v` on a NOT NULL boolean.
                    let v = match operator {
                        crate::domain::filter::BoolOp::Eq => value,
                        crate::domain::filter::BoolOp::Ne => !value,
                    };
                    Predicate::Compare(CmpOp::Eq, Scalar::Bool(v))
                }
                FilterCondition::Null { operator, .. } => Predicate::Null(operator),
            };
            Ok(Condition { column, predicate })
        })
        .collect()
}

/// `advanced` plus the `simple` conditions on columns `advanced` does not name
/// (Langfuse: the `filter` parameter takes precedence per column).
pub fn merge(advanced: &[Condition], simple: Vec<Condition>) -> Vec<Condition> {
    let mut out = advanced.to_vec();
    out.extend(
        simple
            .into_iter()
            .filter(|s| !advanced.iter().any(|a| std::ptr::eq(a.column, s.column))),
    );
    out
}

/// Appends ` where <alias>.project_id = $ and <conditions…>`.
pub fn push_where(
    qb: &mut QueryBuilder<'_, Postgres>,
    table: &'static Table,
    project_id: &str,
    conditions: &[Condition],
) {
    qb.push(" where ")
        .push(table.alias)
        .push(".project_id = ")
        .push_bind(project_id.to_string());
    for c in conditions {
        qb.push(" and ");
        if c.column.on_trace {
            qb.push(table.trace_fk)
                .push(" in (select t.id from traces t where t.project_id = ")
                .push_bind(project_id.to_string())
                .push(" and ");
            push_predicate(qb, c.column.sql, &c.predicate);
            qb.push(")");
        } else {
            push_predicate(qb, c.column.sql, &c.predicate);
        }
    }
}

fn push_scalar(qb: &mut QueryBuilder<'_, Postgres>, v: &Scalar) {
    match v {
        Scalar::Text(s) => qb.push_bind(s.clone()),
        Scalar::Number(n) => qb.push_bind(*n),
        Scalar::Time(t) => qb.push_bind(*t),
        Scalar::Bool(b) => qb.push_bind(*b),
    };
}

/// `lhs` matched against `value` with `op`; `lhs` pushes the left operand (it may bind).
fn push_text_match(
    qb: &mut QueryBuilder<'_, Postgres>,
    lhs: &dyn Fn(&mut QueryBuilder<'_, Postgres>),
    op: StringOp,
    value: &str,
) {
    let v = value.to_string();
    match op {
        StringOp::Eq => {
            lhs(qb);
            qb.push(" = ").push_bind(v);
        }
        StringOp::Contains | StringOp::NotContains => {
            qb.push("strpos(");
            lhs(qb);
            qb.push(", ")
                .push_bind(v)
                .push(if op == StringOp::Contains {
                    ") > 0"
                } else {
                    ") = 0"
                });
        }
        StringOp::StartsWith => {
            qb.push("starts_with(");
            lhs(qb);
            qb.push(", ").push_bind(v).push(")");
        }
        StringOp::EndsWith => {
            qb.push("right(");
            lhs(qb);
            qb.push(", char_length(")
                .push_bind(v.clone())
                .push(")) = ")
                .push_bind(v);
        }
    }
}

fn push_predicate(qb: &mut QueryBuilder<'_, Postgres>, sql: &'static str, p: &Predicate) {
    match p {
        Predicate::Compare(op, v) => {
            qb.push(sql).push(op.sql());
            push_scalar(qb, v);
        }
        Predicate::Text(op, v) => push_text_match(
            qb,
            &|qb| {
                qb.push(sql);
            },
            *op,
            v,
        ),
        Predicate::Options(op, vs) => {
            qb.push(match op {
                OptionsOp::AnyOf => "",
                OptionsOp::NoneOf => "not ",
            })
            .push("(")
            .push(sql)
            .push(" = any(")
            .push_bind(vs.clone())
            .push("))");
        }
        Predicate::Array(op, vs) => {
            let (prefix, op) = match op {
                ArrayOp::AnyOf => ("(", " && "),
                ArrayOp::NoneOf => ("not (", " && "),
                ArrayOp::AllOf => ("(", " @> "),
            };
            qb.push(prefix)
                .push(sql)
                .push(op)
                .push_bind(vs.clone())
                .push(")");
        }
        Predicate::ObjectText(key, op, v) => {
            // A missing key reads as '' (ClickHouse Map semantics, as in Langfuse).
            let key = key.clone();
            push_text_match(
                qb,
                &|qb| {
                    qb.push("coalesce(")
                        .push(sql)
                        .push(" ->> ")
                        .push_bind(key.clone())
                        .push(", '')");
                },
                *op,
                v,
            );
        }
        Predicate::ObjectNumber(key, op, v) => {
            // JSON numbers and numeric strings compare as numbers; anything else never matches.
            qb.push("(select case when x.v ~ '^\\s*-?([0-9]+\\.?[0-9]*|\\.[0-9]+)([eE][-+]?[0-9]+)?\\s*$' \
                     then x.v::float8 end from (select ")
                .push(sql)
                .push(" ->> ")
                .push_bind(key.clone())
                .push(" as v) x)")
                .push(op.sql())
                .push_bind(*v);
        }
        Predicate::NumberIn(vs) => {
            qb.push("(")
                .push(sql)
                .push(" = any(")
                .push_bind(vs.clone())
                .push("))");
        }
        Predicate::Null(op) => {
            qb.push(sql).push(match op {
                NullOp::IsNull => " is null",
                NullOp::IsNotNull => " is not null",
            });
        }
    }
}

/// One page of `select_from` (a `select … from <table> <alias>[ joins]`) under
/// `conditions`, ordered by `order` (SQL from closed lists), with the total count.
/// Page and count run concurrently; an unfiltered count of a counted table reads
/// `project_row_counts` (migration 0032) instead of scanning.
pub async fn fetch_page<R>(
    pool: &PgPool,
    table: &'static Table,
    select_from: &str,
    project_id: &str,
    conditions: &[Condition],
    order: &str,
    page: Page,
) -> Result<(Vec<R>, u64), sqlx::Error>
where
    R: for<'r> FromRow<'r, sqlx::postgres::PgRow> + Send + Unpin,
{
    fetch_page_counting(
        pool,
        table,
        select_from,
        project_id,
        conditions,
        order,
        page,
        None,
    )
    .await
}

/// [`fetch_page`] whose filtered count stops at `count_cap` when given (the web UI's
/// lists show "10,000+" rather than scan every match; the public API always counts all).
#[allow(clippy::too_many_arguments)]
pub async fn fetch_page_counting<R>(
    pool: &PgPool,
    table: &'static Table,
    select_from: &str,
    project_id: &str,
    conditions: &[Condition],
    order: &str,
    page: Page,
    count_cap: Option<u64>,
) -> Result<(Vec<R>, u64), sqlx::Error>
where
    R: for<'r> FromRow<'r, sqlx::postgres::PgRow> + Send + Unpin,
{
    let mut rows_q = QueryBuilder::new(select_from);
    push_where(&mut rows_q, table, project_id, conditions);
    rows_q
        .push(" order by ")
        .push(order)
        .push(" limit ")
        .push_bind(page.limit as i64)
        .push(" offset ")
        .push_bind(page.offset());
    let mut count_q = if table.counted && conditions.is_empty() {
        let mut q = QueryBuilder::new(
            "select coalesce((select sum(n)::bigint from project_row_counts where table_name = ",
        );
        q.push_bind(table.name)
            .push(" and project_id = ")
            .push_bind(project_id.to_string())
            .push("), 0)");
        q
    } else if let Some(cap) = count_cap {
        let mut q = QueryBuilder::new(format!(
            "select count(*) from (select 1 from {} {}",
            table.name, table.alias
        ));
        push_where(&mut q, table, project_id, conditions);
        q.push(" limit ")
            .push_bind(cap.min(i64::MAX as u64) as i64)
            .push(") capped");
        q
    } else {
        let mut q = QueryBuilder::new(format!(
            "select count(*) from {} {}",
            table.name, table.alias
        ));
        push_where(&mut q, table, project_id, conditions);
        q
    };
    let (rows, count) = tokio::try_join!(
        rows_q.build_query_as::<R>().fetch_all(pool),
        count_q.build_query_scalar::<i64>().fetch_one(pool),
    )?;
    Ok((rows, count.max(0) as u64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::filter::parse;

    #[test]
    fn every_column_name_is_unique_per_table() {
        for t in [&TRACES, &OBSERVATIONS, &SCORES] {
            for (i, c) in t.columns.iter().enumerate() {
                assert!(
                    t.columns[..i].iter().all(|o| o.name != c.name),
                    "{} listed twice in {}",
                    c.name,
                    t.name
                );
            }
        }
    }

    #[test]
    fn resolve_refuses_unknown_columns_and_wrong_types() {
        let unknown = parse(r#"[{"type":"string","column":"nope","operator":"=","value":"x"}]"#)
            .expect("valid shape");
        assert!(resolve(&TRACES, unknown).is_err());
        let wrong = parse(r#"[{"type":"number","column":"name","operator":"=","value":1}]"#)
            .expect("valid shape");
        let err = resolve(&TRACES, wrong).expect_err("number on a text column");
        assert!(err.message.contains("name"), "{}", err.message);
    }

    #[test]
    fn merge_lets_the_filter_replace_simple_conditions_on_its_column() {
        let advanced = resolve(
            &TRACES,
            parse(r#"[{"type":"string","column":"userId","operator":"contains","value":"a"}]"#)
                .expect("valid"),
        )
        .expect("known column");
        let simple = vec![
            Condition::text_eq(&TRACES, "userId", "u"),
            Condition::text_eq(&TRACES, "name", "n"),
        ];
        let merged = merge(&advanced, simple);
        assert_eq!(merged.len(), 2);
        assert_eq!(
            merged[0].predicate,
            Predicate::Text(StringOp::Contains, "a".into())
        );
        assert_eq!(merged[1].column.name, "name");
    }
}
