//! Prints the fixed test key for a prefix and label (see `fixtures::formats::fixed_key`), for
//! `tests/documents/make-documents` to write into the documents it generates.
//!
//! `cargo run -p keyward-scan --example fixed-key -- PREFIX LABEL`

fn main() {
    let mut args = std::env::args().skip(1);
    let prefix = args.next().unwrap_or_else(|| "fixture".to_owned());
    let label = args.next().unwrap_or_default();
    println!(
        "{}",
        keyward_scan::fixtures::formats::fixed_key(&prefix, &label)
    );
}
