//! Prints the OpenAPI document the server serves:
//! `cargo run --example print_openapi > openapi/openapi.json`.

fn main() {
    print!("{}", xtrace::openapi::document_json());
}
