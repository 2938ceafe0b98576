//! Timestamps on the wire: ISO 8601 with milliseconds and `Z`, as Langfuse (JS `Date`) writes them.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serializer;

/// `2024-05-01T12:00:00.000Z`.
pub fn format(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Serde `serialize_with` for `DateTime<Utc>`.
pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format(t))
}

/// Serde `serialize_with` for `Option<DateTime<Utc>>` (null when absent).
pub fn serialize_opt<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.serialize_str(&format(t)),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_with_milliseconds_and_z() {
        let t = chrono::DateTime::parse_from_rfc3339("2024-05-01T14:00:00.5+02:00")
            .unwrap()
            .with_timezone(&chrono::Utc);
        assert_eq!(super::format(&t), "2024-05-01T12:00:00.500Z");
    }
}
