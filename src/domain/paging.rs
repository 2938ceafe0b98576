//! Pagination and ordering values, parsed at the HTTP edge and used by the store.

/// `page`/`limit` of a page-based list, validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// 1-based page.
    pub page: u64,
    /// Items per page.
    pub limit: u64,
}

impl Page {
    /// Rows to skip.
    pub fn offset(&self) -> i64 {
        ((self.page - 1).saturating_mul(self.limit)).min(i64::MAX as u64) as i64
    }
}

/// Sort direction of `orderBy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Ascending.
    Asc,
    /// Descending.
    Desc,
}

impl Direction {
    /// SQL keyword.
    pub fn sql(self) -> &'static str {
        match self {
            Direction::Asc => "asc",
            Direction::Desc => "desc",
        }
    }
}
