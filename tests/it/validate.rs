//! `orgplan validate`: every diagnostic code, the example org, robustness.

use crate::common::run;

#[test]
fn example_org_is_valid() {
    let (stdout, _, code) = run(&["validate"]);
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.contains("policies: valid"), "{stdout}");
    assert!(stdout.contains("0 warnings"), "{stdout}");
}
