//! Types shared by the API, ingest and store layers.

pub mod time;
