//! schema.graphql is the SDL the server serves.

#[test]
fn committed_schema_matches_the_served_one() {
    let served = portal_admin::graphql::sdl();
    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql"))
        .expect("schema.graphql at the top of the repo");
    assert!(
        served == committed,
        "schema.graphql is stale: run `cargo run -- print-schema > schema.graphql`"
    );
}
