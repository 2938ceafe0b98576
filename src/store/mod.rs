//! The store layer: the only place SQL lives. Plain async functions per table family;
//! every data function takes the project id as its first data argument.

pub mod ingest;
pub mod models;
pub mod projects;
pub mod tsmetrics;
