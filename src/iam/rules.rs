//! The rule matrix: one row per documented rule of `iam.md` §1.1–§1.6, each row a test named
//! after the rule it shows, with the policy JSON, the request context and the expected decision
//! (Allow / ExplicitDeny / ImplicitDeny). Every operator family appears with both outcomes.
//! Rows that pin a modelling choice (where `iam.md` is silent) say so in a comment.
//!
//! Four tables:
//! * `decisions!`: policies of one type through [`evaluate`];
//! * `layered!`: identity, resource, boundary and session policies through [`evaluate_request`];
//! * `rejects!`: bad documents, each rejected with an error naming the statement and field;
//! * `trust_decisions!`: trust policies as STS evaluates them (Federated / Service / AWS).

use super::*;

const SESSION: &str = "arn:aws:sts::111122223333:assumed-role/app/s1";
const ROLE: &str = "arn:aws:iam::111122223333:role/app";
const OBJECT: &str = "arn:aws:s3:::data/payments/report.csv";
const PROVIDER: &str =
    "arn:aws:iam::111122223333:oidc-provider/oidc.eks.us-west-2.amazonaws.com/id/EXAMPLE";

use Decision::{Allow, ExplicitDeny, ImplicitDeny};

/// A role session reading an object: the request most identity policies in the simulation see.
fn req() -> RequestContext {
    RequestContext::new(Principal::Aws(SESSION.into()), "s3:GetObject", OBJECT)
}

/// [`req`] with one single-valued key.
fn with(key: &str, value: &str) -> RequestContext {
    req().with_key(key, [value])
}

/// [`req`] with one multivalued key.
fn with_multi(key: &str, values: &[&str]) -> RequestContext {
    req().with_multivalued_key(key, values.to_vec())
}

fn req_for(action: &str, resource: &str) -> RequestContext {
    RequestContext::new(Principal::Aws(SESSION.into()), action, resource)
}

/// A 2012-10-17 document with the given statements.
fn doc(statements: &str) -> String {
    format!(r#"{{"Version":"2012-10-17","Statement":[{statements}]}}"#)
}

/// One Allow statement with the given elements.
fn allow(elements: &str) -> String {
    doc(&format!(r#"{{"Effect":"Allow",{elements}}}"#))
}

/// Allows `s3:GetObject` on everything when `cond` holds: Allow or ImplicitDeny.
fn allow_if(cond: &str) -> String {
    allow(&format!(
        r#""Action":"s3:GetObject","Resource":"*","Condition":{cond}"#
    ))
}

/// Allows everything, then denies everything when `cond` holds: Allow or ExplicitDeny.
fn deny_if(cond: &str) -> String {
    doc(&format!(
        r#"{{"Effect":"Allow","Action":"*","Resource":"*"}},{{"Effect":"Deny","Action":"*","Resource":"*","Condition":{cond}}}"#
    ))
}

fn check(rule: &str, policies: &[String], ctx: &RequestContext, want: Decision) {
    let docs: Vec<PolicyDocument> = policies
        .iter()
        .map(|p| {
            PolicyDocument::parse(p)
                .unwrap_or_else(|e| panic!("{rule}: policy does not parse: {e}\n{p}"))
        })
        .collect();
    let refs: Vec<&PolicyDocument> = docs.iter().collect();
    assert_eq!(
        evaluate(&refs, ctx),
        want,
        "{rule}\n{policies:#?}\n{ctx:#?}"
    );
}

/// `name: [policies...], context => decision;`: one test per row.
macro_rules! decisions {
    ($($name:ident: [$($policy:expr),+ $(,)?], $ctx:expr => $want:ident;)+) => {
        $(
            #[test]
            fn $name() {
                check(stringify!($name), &[$(String::from($policy)),+], &$ctx, $want);
            }
        )+
    };
}

// §1.1 Decision model.
decisions! {
    default_deny_when_no_statement_matches:
        [allow(r#""Action":"s3:PutObject","Resource":"*""#)], req() => ImplicitDeny;
    matching_allow_statement_allows:
        [allow(r#""Action":"s3:GetObject","Resource":"*""#)], req() => Allow;
    explicit_deny_beats_allow:
        [doc(r#"{"Effect":"Allow","Action":"s3:*","Resource":"*"},{"Effect":"Deny","Action":"s3:GetObject","Resource":"*"}"#)],
        req() => ExplicitDeny;
    explicit_deny_wins_regardless_of_statement_order:
        [doc(r#"{"Effect":"Deny","Action":"*","Resource":"*"},{"Effect":"Allow","Action":"*","Resource":"*"}"#)],
        req() => ExplicitDeny;
    explicit_deny_in_another_policy_beats_allow:
        [allow(r#""Action":"*","Resource":"*""#),
         doc(r#"{"Effect":"Deny","Action":"s3:GetObject","Resource":"arn:aws:s3:::data/*"}"#)],
        req() => ExplicitDeny;
    deny_whose_condition_fails_leaves_allow_standing:
        [deny_if(r#"{"StringEquals":{"aws:PrincipalTag/team":"search"}}"#)],
        with("aws:PrincipalTag/team", "payments") => Allow;
    deny_alone_without_allow_is_explicit_deny:
        [doc(r#"{"Effect":"Deny","Action":"*","Resource":"*"}"#)], req() => ExplicitDeny;
}

// §1.2 Action / NotAction.
decisions! {
    action_names_are_case_insensitive:
        [allow(r#""Action":"S3:getobject","Resource":"*""#)], req() => Allow;
    action_star_matches_inside_the_name:
        [allow(r#""Action":"s3:Get*","Resource":"*""#)], req() => Allow;
    action_star_alone_matches_every_action:
        [allow(r#""Action":"*","Resource":"*""#)], req() => Allow;
    action_question_mark_matches_one_char:
        [allow(r#""Action":"s3:GetObjec?","Resource":"*""#)], req() => Allow;
    action_question_mark_needs_exactly_one_char:
        [allow(r#""Action":"s3:GetObject?","Resource":"*""#)], req() => ImplicitDeny;
    action_list_is_an_or:
        [allow(r#""Action":["s3:PutObject","s3:GetObject"],"Resource":"*""#)], req() => Allow;
    action_of_another_service_does_not_match:
        [allow(r#""Action":"sts:*","Resource":"*""#)], req() => ImplicitDeny;
    action_prefix_without_wildcard_does_not_match:
        [allow(r#""Action":"s3:Get","Resource":"*""#)], req() => ImplicitDeny;
    not_action_matches_every_other_action:
        [allow(r#""NotAction":"iam:*","Resource":"*""#)], req() => Allow;
    not_action_excludes_the_listed_actions:
        [allow(r#""NotAction":["iam:*","s3:Get*"],"Resource":"*""#)], req() => ImplicitDeny;
    not_action_with_deny_denies_everything_except_these:
        [doc(r#"{"Effect":"Allow","Action":"*","Resource":"*"},{"Effect":"Deny","NotAction":"iam:*","Resource":"*"}"#)],
        req() => ExplicitDeny;
    not_action_with_deny_spares_the_listed_actions:
        [doc(r#"{"Effect":"Allow","Action":"*","Resource":"*"},{"Effect":"Deny","NotAction":"s3:*","Resource":"*"}"#)],
        req() => Allow;
}

// §1.2 Resource / NotResource.
decisions! {
    resource_exact_arn_matches:
        [allow(r#""Action":"s3:GetObject","Resource":"arn:aws:s3:::data/payments/report.csv""#)],
        req() => Allow;
    resource_arns_are_case_sensitive:
        [allow(r#""Action":"s3:GetObject","Resource":"arn:aws:s3:::data/Payments/report.csv""#)],
        req() => ImplicitDeny;
    resource_star_matches_every_resource:
        [allow(r#""Action":"s3:GetObject","Resource":"*""#)], req() => Allow;
    resource_star_inside_a_segment:
        [allow(r#""Action":"s3:GetObject","Resource":"arn:aws:s3:::data/*""#)], req() => Allow;
    resource_several_wildcards_in_one_segment:
        [allow(r#""Action":"s3:GetObject","Resource":"arn:aws:s3:::da?a/*/report.*""#)],
        req() => Allow;
    resource_question_mark_matches_one_char:
        [allow(r#""Action":"s3:GetObject","Resource":"arn:aws:s3:::data/payments/report.cs?""#)],
        req() => Allow;
    resource_question_mark_needs_exactly_one_char:
        [allow(r#""Action":"s3:GetObject","Resource":"arn:aws:s3:::data/payments/report.csv?""#)],
        req() => ImplicitDeny;
    resource_wildcard_never_spans_a_segment_colon:
        [allow(r#""Action":"iam:GetRole","Resource":"arn:aws:iam::*""#)],
        req_for("iam:GetRole", ROLE) => ImplicitDeny;
    resource_wildcard_per_segment_matches:
        [allow(r#""Action":"iam:GetRole","Resource":"arn:aws:iam::*:role/*""#)],
        req_for("iam:GetRole", ROLE) => Allow;
    resource_list_is_an_or:
        [allow(r#""Action":"s3:GetObject","Resource":["arn:aws:s3:::other/*","arn:aws:s3:::data/*"]"#)],
        req() => Allow;
    not_resource_is_every_resource_except_these:
        [allow(r#""Action":"s3:GetObject","NotResource":"arn:aws:s3:::secret/*""#)], req() => Allow;
    not_resource_excludes_the_listed_resources:
        [allow(r#""Action":"s3:GetObject","NotResource":"arn:aws:s3:::data/*""#)],
        req() => ImplicitDeny;
    not_resource_with_deny_denies_all_other_resources:
        [doc(r#"{"Effect":"Allow","Action":"*","Resource":"*"},{"Effect":"Deny","Action":"*","NotResource":"arn:aws:s3:::public/*"}"#)],
        req() => ExplicitDeny;
}

// §1.3 Combining rules.
decisions! {
    keys_under_one_operator_are_anded_one_fails:
        [allow_if(r#"{"StringEquals":{"aws:PrincipalTag/team":"payments","aws:PrincipalTag/env":"prod"}}"#)],
        req().with_key("aws:PrincipalTag/team", ["payments"]).with_key("aws:PrincipalTag/env", ["dev"])
        => ImplicitDeny;
    keys_under_one_operator_are_anded_all_hold:
        [allow_if(r#"{"StringEquals":{"aws:PrincipalTag/team":"payments","aws:PrincipalTag/env":"prod"}}"#)],
        req().with_key("aws:PrincipalTag/team", ["payments"]).with_key("aws:PrincipalTag/env", ["prod"])
        => Allow;
    operators_in_a_block_are_anded:
        [allow_if(r#"{"StringEquals":{"aws:PrincipalTag/team":"payments"},"Bool":{"aws:SecureTransport":"true"}}"#)],
        req().with_key("aws:PrincipalTag/team", ["payments"]).with_key("aws:SecureTransport", ["false"])
        => ImplicitDeny;
    values_of_one_key_are_ored:
        [allow_if(r#"{"StringEquals":{"aws:PrincipalTag/team":["search","payments"]}}"#)],
        with("aws:PrincipalTag/team", "payments") => Allow;
    values_of_one_key_are_ored_none_matches:
        [allow_if(r#"{"StringEquals":{"aws:PrincipalTag/team":["search","ads"]}}"#)],
        with("aws:PrincipalTag/team", "payments") => ImplicitDeny;
    negated_operator_values_are_nored_equal_to_one_is_false:
        [allow_if(r#"{"StringNotEquals":{"aws:PrincipalTag/team":["search","payments"]}}"#)],
        with("aws:PrincipalTag/team", "payments") => ImplicitDeny;
    negated_operator_values_are_nored_differs_from_all_is_true:
        [allow_if(r#"{"StringNotEquals":{"aws:PrincipalTag/team":["search","ads"]}}"#)],
        with("aws:PrincipalTag/team", "payments") => Allow;
    // Modelling choice: a plain operator on a key with several values matches if any does.
    plain_operator_on_multivalued_key_matches_any_value:
        [allow_if(r#"{"StringEquals":{"aws:TagKeys":"env"}}"#)],
        with_multi("aws:TagKeys", &["team", "env"]) => Allow;
    plain_negated_operator_on_multivalued_key_needs_every_value_to_differ:
        [allow_if(r#"{"StringNotEquals":{"aws:TagKeys":"env"}}"#)],
        with_multi("aws:TagKeys", &["team", "env"]) => ImplicitDeny;
}

// §1.3 Missing keys, IfExists, Null.
decisions! {
    missing_key_positive_operator_is_false:
        [allow_if(r#"{"StringEquals":{"aws:PrincipalTag/team":"payments"}}"#)], req() => ImplicitDeny;
    missing_key_negated_operator_is_true:
        [allow_if(r#"{"StringNotLike":{"aws:PrincipalTag/team":"pay*"}}"#)], req() => Allow;
    missing_key_arn_not_like_is_true:
        [allow_if(r#"{"ArnNotLike":{"aws:SourceArn":"arn:aws:eks:*:*:cluster/*"}}"#)], req() => Allow;
    missing_key_numeric_operator_is_false:
        [allow_if(r#"{"NumericLessThan":{"s3:max-keys":"100"}}"#)], req() => ImplicitDeny;
    if_exists_absent_key_is_true:
        [allow_if(r#"{"StringEqualsIfExists":{"aws:PrincipalTag/team":"payments"}}"#)],
        req() => Allow;
    if_exists_present_key_is_tested_and_fails:
        [allow_if(r#"{"StringEqualsIfExists":{"aws:PrincipalTag/team":"payments"}}"#)],
        with("aws:PrincipalTag/team", "search") => ImplicitDeny;
    if_exists_present_key_is_tested_and_holds:
        [allow_if(r#"{"StringEqualsIfExists":{"aws:PrincipalTag/team":"payments"}}"#)],
        with("aws:PrincipalTag/team", "payments") => Allow;
    if_exists_applies_to_numeric_operators:
        [allow_if(r#"{"NumericLessThanIfExists":{"s3:max-keys":"100"}}"#)], req() => Allow;
    if_exists_applies_to_date_operators:
        [allow_if(r#"{"DateLessThanIfExists":{"aws:TokenIssueTime":"2027-01-01T00:00:00Z"}}"#)],
        req() => Allow;
    if_exists_applies_to_bool:
        [allow_if(r#"{"BoolIfExists":{"aws:MultiFactorAuthPresent":"true"}}"#)], req() => Allow;
    if_exists_applies_to_arn_operators:
        [allow_if(r#"{"ArnLikeIfExists":{"aws:SourceArn":"arn:aws:eks:*:*:cluster/prod"}}"#)],
        req() => Allow;
    if_exists_applies_to_ip_operators:
        [allow_if(r#"{"IpAddressIfExists":{"aws:SourceIp":"10.0.0.0/8"}}"#)], req() => Allow;
    deny_with_negated_if_exists_still_denies_when_key_missing:
        [deny_if(r#"{"StringNotEqualsIfExists":{"aws:PrincipalTag/team":"payments"}}"#)],
        req() => ExplicitDeny;
    deny_with_negated_if_exists_spares_the_matching_value:
        [deny_if(r#"{"StringNotEqualsIfExists":{"aws:PrincipalTag/team":"payments"}}"#)],
        with("aws:PrincipalTag/team", "payments") => Allow;
    null_true_matches_an_absent_key:
        [allow_if(r#"{"Null":{"aws:PrincipalTag/team":"true"}}"#)], req() => Allow;
    null_true_fails_on_a_present_key:
        [allow_if(r#"{"Null":{"aws:PrincipalTag/team":"true"}}"#)],
        with("aws:PrincipalTag/team", "payments") => ImplicitDeny;
    null_false_matches_a_present_key:
        [allow_if(r#"{"Null":{"aws:PrincipalTag/team":"false"}}"#)],
        with("aws:PrincipalTag/team", "payments") => Allow;
    null_false_fails_on_an_absent_key:
        [allow_if(r#"{"Null":{"aws:PrincipalTag/team":false}}"#)], req() => ImplicitDeny;
    null_true_matches_an_empty_string_value:
        [allow_if(r#"{"Null":{"aws:PrincipalTag/team":"true"}}"#)],
        with("aws:PrincipalTag/team", "") => Allow;
    null_false_fails_on_an_empty_string_value:
        [allow_if(r#"{"Null":{"aws:PrincipalTag/team":"false"}}"#)],
        with("aws:PrincipalTag/team", "") => ImplicitDeny;
    deny_when_tag_is_missing_with_null:
        [deny_if(r#"{"Null":{"aws:RequestTag/team":"true"}}"#)], req() => ExplicitDeny;
    // Modelling choice: a value other than true/false under Null matches nothing.
    null_with_a_value_other_than_true_or_false_matches_nothing:
        [allow_if(r#"{"Null":{"aws:PrincipalTag/team":"maybe"}}"#)], req() => ImplicitDeny;
}

// §1.3 Set operators.
decisions! {
    for_all_values_absent_key_is_true:
        [allow_if(r#"{"ForAllValues:StringEquals":{"aws:TagKeys":["team","env"]}}"#)],
        req() => Allow;
    for_all_values_empty_key_is_true:
        [allow_if(r#"{"ForAllValues:StringEquals":{"aws:TagKeys":["team","env"]}}"#)],
        with_multi("aws:TagKeys", &[]) => Allow;
    for_all_values_empty_string_value_is_true:
        [allow_if(r#"{"ForAllValues:StringEquals":{"aws:TagKeys":["team","env"]}}"#)],
        with_multi("aws:TagKeys", &[""]) => Allow;
    for_all_values_every_request_value_must_match:
        [allow_if(r#"{"ForAllValues:StringEquals":{"aws:TagKeys":["team","env"]}}"#)],
        with_multi("aws:TagKeys", &["team", "owner"]) => ImplicitDeny;
    for_all_values_all_request_values_match:
        [allow_if(r#"{"ForAllValues:StringEquals":{"aws:TagKeys":["team","env"]}}"#)],
        with_multi("aws:TagKeys", &["env", "team"]) => Allow;
    for_all_values_with_string_like:
        [allow_if(r#"{"ForAllValues:StringLike":{"aws:TagKeys":"eks-*"}}"#)],
        with_multi("aws:TagKeys", &["eks-cluster-name", "eks-cluster-arn"]) => Allow;
    for_all_values_with_negated_operator_every_value_differs:
        [allow_if(r#"{"ForAllValues:StringNotEquals":{"aws:TagKeys":["secret","owner"]}}"#)],
        with_multi("aws:TagKeys", &["team", "env"]) => Allow;
    for_all_values_with_negated_operator_one_value_equal:
        [allow_if(r#"{"ForAllValues:StringNotEquals":{"aws:TagKeys":["secret","owner"]}}"#)],
        with_multi("aws:TagKeys", &["team", "secret"]) => ImplicitDeny;
    for_any_value_absent_key_is_false:
        [allow_if(r#"{"ForAnyValue:StringEquals":{"aws:TagKeys":"team"}}"#)], req() => ImplicitDeny;
    for_any_value_empty_key_is_false:
        [allow_if(r#"{"ForAnyValue:StringEquals":{"aws:TagKeys":"team"}}"#)],
        with_multi("aws:TagKeys", &[]) => ImplicitDeny;
    for_any_value_empty_string_value_is_false:
        [allow_if(r#"{"ForAnyValue:StringEquals":{"aws:TagKeys":["","team"]}}"#)],
        with_multi("aws:TagKeys", &[""]) => ImplicitDeny;
    for_any_value_one_matching_request_value_is_enough:
        [allow_if(r#"{"ForAnyValue:StringEquals":{"aws:TagKeys":"team"}}"#)],
        with_multi("aws:TagKeys", &["env", "team"]) => Allow;
    for_any_value_no_matching_request_value_is_false:
        [allow_if(r#"{"ForAnyValue:StringEquals":{"aws:TagKeys":"team"}}"#)],
        with_multi("aws:TagKeys", &["env", "owner"]) => ImplicitDeny;
    for_any_value_with_negated_operator_one_value_differs:
        [allow_if(r#"{"ForAnyValue:StringNotEquals":{"aws:TagKeys":"team"}}"#)],
        with_multi("aws:TagKeys", &["team", "env"]) => Allow;
    for_any_value_string_like_if_exists_absent_key_is_true:
        [allow_if(r#"{"ForAnyValue:StringLikeIfExists":{"aws:TagKeys":"team*"}}"#)],
        req() => Allow;
    for_any_value_string_like_if_exists_present_key_is_tested:
        [allow_if(r#"{"ForAnyValue:StringLikeIfExists":{"aws:TagKeys":"team*"}}"#)],
        with_multi("aws:TagKeys", &["env"]) => ImplicitDeny;
    for_any_value_with_numeric_operator:
        [allow_if(r#"{"ForAnyValue:NumericGreaterThan":{"s3:sizes":"100"}}"#)],
        with_multi("s3:sizes", &["5", "500"]) => Allow;
    for_all_values_deny_vacuous_on_absent_key_still_denies:
        [deny_if(r#"{"ForAllValues:StringEquals":{"aws:TagKeys":"team"}}"#)], req() => ExplicitDeny;
}

// §1.4 String operators.
decisions! {
    string_equals_matches_the_exact_value:
        [allow_if(r#"{"StringEquals":{"aws:PrincipalTag/team":"payments"}}"#)],
        with("aws:PrincipalTag/team", "payments") => Allow;
    string_equals_is_case_sensitive:
        [allow_if(r#"{"StringEquals":{"aws:PrincipalTag/team":"Payments"}}"#)],
        with("aws:PrincipalTag/team", "payments") => ImplicitDeny;
    string_equals_treats_star_literally:
        [allow_if(r#"{"StringEquals":{"aws:PrincipalTag/team":"pay*"}}"#)],
        with("aws:PrincipalTag/team", "payments") => ImplicitDeny;
    string_equals_star_matches_a_literal_star:
        [allow_if(r#"{"StringEquals":{"aws:PrincipalTag/team":"pay*"}}"#)],
        with("aws:PrincipalTag/team", "pay*") => Allow;
    string_equals_matches_an_empty_string_value:
        [allow_if(r#"{"StringEquals":{"aws:PrincipalTag/team":""}}"#)],
        with("aws:PrincipalTag/team", "") => Allow;
    string_not_equals_true_when_different:
        [allow_if(r#"{"StringNotEquals":{"aws:PrincipalTag/team":"search"}}"#)],
        with("aws:PrincipalTag/team", "payments") => Allow;
    string_not_equals_false_when_equal:
        [allow_if(r#"{"StringNotEquals":{"aws:PrincipalTag/team":"payments"}}"#)],
        with("aws:PrincipalTag/team", "payments") => ImplicitDeny;
    string_not_equals_is_case_sensitive:
        [allow_if(r#"{"StringNotEquals":{"aws:PrincipalTag/team":"PAYMENTS"}}"#)],
        with("aws:PrincipalTag/team", "payments") => Allow;
    string_equals_ignore_case_ignores_case:
        [allow_if(r#"{"StringEqualsIgnoreCase":{"aws:PrincipalTag/team":"PayMents"}}"#)],
        with("aws:PrincipalTag/team", "payments") => Allow;
    string_equals_ignore_case_still_needs_the_same_text:
        [allow_if(r#"{"StringEqualsIgnoreCase":{"aws:PrincipalTag/team":"PAYMENT"}}"#)],
        with("aws:PrincipalTag/team", "payments") => ImplicitDeny;
    string_equals_ignore_case_treats_star_literally:
        [allow_if(r#"{"StringEqualsIgnoreCase":{"aws:PrincipalTag/team":"PAY*"}}"#)],
        with("aws:PrincipalTag/team", "payments") => ImplicitDeny;
    string_not_equals_ignore_case_false_when_equal_ignoring_case:
        [allow_if(r#"{"StringNotEqualsIgnoreCase":{"aws:PrincipalTag/team":"PAYMENTS"}}"#)],
        with("aws:PrincipalTag/team", "payments") => ImplicitDeny;
    string_not_equals_ignore_case_true_when_different:
        [allow_if(r#"{"StringNotEqualsIgnoreCase":{"aws:PrincipalTag/team":"SEARCH"}}"#)],
        with("aws:PrincipalTag/team", "payments") => Allow;
    string_like_star_matches_any_run:
        [allow_if(r#"{"StringLike":{"aws:PrincipalTag/team":"p*s"}}"#)],
        with("aws:PrincipalTag/team", "payments") => Allow;
    string_like_star_matches_an_empty_run:
        [allow_if(r#"{"StringLike":{"aws:PrincipalTag/team":"payments*"}}"#)],
        with("aws:PrincipalTag/team", "payments") => Allow;
    string_like_several_stars:
        [allow_if(r#"{"StringLike":{"aws:PrincipalTag/team":"*ay*en*"}}"#)],
        with("aws:PrincipalTag/team", "payments") => Allow;
    string_like_question_mark_matches_one_char:
        [allow_if(r#"{"StringLike":{"aws:PrincipalTag/team":"pa?ments"}}"#)],
        with("aws:PrincipalTag/team", "payments") => Allow;
    string_like_question_mark_does_not_match_zero_chars:
        [allow_if(r#"{"StringLike":{"aws:PrincipalTag/team":"payments?"}}"#)],
        with("aws:PrincipalTag/team", "payments") => ImplicitDeny;
    string_like_question_mark_does_not_match_two_chars:
        [allow_if(r#"{"StringLike":{"aws:PrincipalTag/team":"p?ments"}}"#)],
        with("aws:PrincipalTag/team", "payments") => ImplicitDeny;
    string_like_is_case_sensitive:
        [allow_if(r#"{"StringLike":{"aws:PrincipalTag/team":"PAY*"}}"#)],
        with("aws:PrincipalTag/team", "payments") => ImplicitDeny;
    string_like_without_wildcards_is_an_exact_match:
        [allow_if(r#"{"StringLike":{"aws:PrincipalTag/team":"pay"}}"#)],
        with("aws:PrincipalTag/team", "payments") => ImplicitDeny;
    string_like_star_swallows_colons:
        [allow_if(r#"{"StringLike":{"aws:SourceArn":"arn:aws:eks:*"}}"#)],
        with("aws:SourceArn", "arn:aws:eks:us-west-2:111122223333:cluster/prod") => Allow;
    string_not_like_true_when_no_pattern_matches:
        [allow_if(r#"{"StringNotLike":{"aws:PrincipalTag/team":["sea*","ads?"]}}"#)],
        with("aws:PrincipalTag/team", "payments") => Allow;
    string_not_like_false_when_a_pattern_matches:
        [allow_if(r#"{"StringNotLike":{"aws:PrincipalTag/team":["sea*","pay*"]}}"#)],
        with("aws:PrincipalTag/team", "payments") => ImplicitDeny;
}

// §1.4 Numeric operators.
decisions! {
    numeric_equals_matches_the_same_number:
        [allow_if(r#"{"NumericEquals":{"s3:max-keys":"10"}}"#)], with("s3:max-keys", "10") => Allow;
    numeric_equals_compares_numbers_not_text:
        [allow_if(r#"{"NumericEquals":{"s3:max-keys":"10.0"}}"#)], with("s3:max-keys", "10") => Allow;
    numeric_equals_fails_on_a_different_number:
        [allow_if(r#"{"NumericEquals":{"s3:max-keys":11}}"#)], with("s3:max-keys", "10") => ImplicitDeny;
    numeric_not_equals_true_when_different:
        [allow_if(r#"{"NumericNotEquals":{"s3:max-keys":["1","2"]}}"#)],
        with("s3:max-keys", "10") => Allow;
    numeric_not_equals_false_when_equal:
        [allow_if(r#"{"NumericNotEquals":{"s3:max-keys":["1","10"]}}"#)],
        with("s3:max-keys", "10") => ImplicitDeny;
    numeric_less_than_true_below:
        [allow_if(r#"{"NumericLessThan":{"s3:max-keys":"11"}}"#)], with("s3:max-keys", "10") => Allow;
    numeric_less_than_false_at_the_bound:
        [allow_if(r#"{"NumericLessThan":{"s3:max-keys":10}}"#)], with("s3:max-keys", "10") => ImplicitDeny;
    numeric_less_than_equals_true_at_the_bound:
        [allow_if(r#"{"NumericLessThanEquals":{"s3:max-keys":"10"}}"#)],
        with("s3:max-keys", "10") => Allow;
    numeric_less_than_equals_false_above:
        [allow_if(r#"{"NumericLessThanEquals":{"s3:max-keys":"9"}}"#)],
        with("s3:max-keys", "10") => ImplicitDeny;
    numeric_greater_than_takes_decimals:
        [allow_if(r#"{"NumericGreaterThan":{"s3:max-keys":"9.5"}}"#)],
        with("s3:max-keys", "10") => Allow;
    numeric_greater_than_false_at_the_bound:
        [allow_if(r#"{"NumericGreaterThan":{"s3:max-keys":"10"}}"#)],
        with("s3:max-keys", "10") => ImplicitDeny;
    numeric_greater_than_equals_true_at_the_bound:
        [allow_if(r#"{"NumericGreaterThanEquals":{"s3:max-keys":"10"}}"#)],
        with("s3:max-keys", "10") => Allow;
    numeric_greater_than_equals_false_below:
        [allow_if(r#"{"NumericGreaterThanEquals":{"s3:max-keys":"10.5"}}"#)],
        with("s3:max-keys", "10") => ImplicitDeny;
    numeric_compares_negative_numbers:
        [allow_if(r#"{"NumericLessThan":{"k":"-1"}}"#)], with("k", "-2.5") => Allow;
    // Modelling choices: a value that is not a number satisfies neither the operator nor its
    // negation; a policy value that is not a number matches nothing.
    numeric_request_value_not_a_number_is_no_match:
        [allow_if(r#"{"NumericLessThan":{"s3:max-keys":"100"}}"#)],
        with("s3:max-keys", "ten") => ImplicitDeny;
    numeric_not_equals_request_value_not_a_number_is_no_match:
        [allow_if(r#"{"NumericNotEquals":{"s3:max-keys":"100"}}"#)],
        with("s3:max-keys", "ten") => ImplicitDeny;
    numeric_policy_value_not_a_number_matches_nothing:
        [allow_if(r#"{"NumericNotEquals":{"s3:max-keys":"ten"}}"#)],
        with("s3:max-keys", "10") => ImplicitDeny;
    numeric_nan_is_not_a_number:
        [allow_if(r#"{"NumericNotEquals":{"s3:max-keys":"1"}}"#)],
        with("s3:max-keys", "NaN") => ImplicitDeny;
    numeric_takes_no_policy_variables:
        [allow_if(r#"{"NumericEquals":{"s3:max-keys":"${aws:PrincipalTag/limit}"}}"#)],
        req().with_key("s3:max-keys", ["10"]).with_key("aws:PrincipalTag/limit", ["10"]) => ImplicitDeny;
}

// §1.4 Date operators.
decisions! {
    date_less_than_iso8601_true:
        [allow_if(r#"{"DateLessThan":{"aws:CurrentTime":"2027-02-01T00:00:00Z"}}"#)],
        with("aws:CurrentTime", "2027-01-15T08:00:00Z") => Allow;
    date_less_than_iso8601_false_at_the_bound:
        [allow_if(r#"{"DateLessThan":{"aws:CurrentTime":"2027-01-15T08:00:00Z"}}"#)],
        with("aws:CurrentTime", "2027-01-15T08:00:00Z") => ImplicitDeny;
    date_less_than_equals_true_at_the_bound:
        [allow_if(r#"{"DateLessThanEquals":{"aws:CurrentTime":"2027-01-15T08:00:00Z"}}"#)],
        with("aws:CurrentTime", "2027-01-15T08:00:00Z") => Allow;
    date_greater_than_false_before:
        [allow_if(r#"{"DateGreaterThan":{"aws:CurrentTime":"2027-01-16T00:00:00Z"}}"#)],
        with("aws:CurrentTime", "2027-01-15T08:00:00Z") => ImplicitDeny;
    date_greater_than_equals_true_at_the_bound:
        [allow_if(r#"{"DateGreaterThanEquals":{"aws:CurrentTime":"2027-01-15T08:00:00Z"}}"#)],
        with("aws:CurrentTime", "2027-01-15T08:00:00Z") => Allow;
    date_equals_epoch_seconds:
        [allow_if(r#"{"DateEquals":{"aws:EpochTime":"1800000000"}}"#)],
        with("aws:EpochTime", "1800000000") => Allow;
    date_equals_epoch_json_number:
        [allow_if(r#"{"DateEquals":{"aws:EpochTime":1800000000}}"#)],
        with("aws:EpochTime", "1800000000") => Allow;
    date_compares_iso8601_with_epoch:
        [allow_if(r#"{"DateGreaterThan":{"aws:EpochTime":"2027-01-15T07:59:59Z"}}"#)],
        with("aws:EpochTime", "1800000000") => Allow; // 1800000000 = 2027-01-15T08:00:00Z
    date_iso8601_offsets_are_honoured:
        [allow_if(r#"{"DateEquals":{"aws:CurrentTime":"2027-01-15T09:00:00+01:00"}}"#)],
        with("aws:CurrentTime", "2027-01-15T08:00:00Z") => Allow;
    date_iso8601_fractional_seconds:
        [allow_if(r#"{"DateLessThan":{"aws:CurrentTime":"2027-01-15T08:00:00.500Z"}}"#)],
        with("aws:CurrentTime", "2027-01-15T08:00:00Z") => Allow;
    date_bare_date_is_midnight_utc:
        [allow_if(r#"{"DateGreaterThan":{"aws:CurrentTime":"2027-01-16"}}"#)],
        with("aws:CurrentTime", "2027-01-15T08:00:00Z") => ImplicitDeny;
    date_not_equals_true_when_different:
        [allow_if(r#"{"DateNotEquals":{"aws:TokenIssueTime":"2027-01-01T00:00:00Z"}}"#)],
        with("aws:TokenIssueTime", "2027-01-15T08:00:00Z") => Allow;
    date_not_equals_false_when_equal:
        [allow_if(r#"{"DateNotEquals":{"aws:TokenIssueTime":"2027-01-15T08:00:00Z"}}"#)],
        with("aws:TokenIssueTime", "2027-01-15T08:00:00Z") => ImplicitDeny;
    date_request_value_not_a_date_is_no_match:
        [allow_if(r#"{"DateNotEquals":{"aws:CurrentTime":"2027-01-01T00:00:00Z"}}"#)],
        with("aws:CurrentTime", "soon") => ImplicitDeny;
    date_policy_value_not_a_date_matches_nothing:
        [allow_if(r#"{"DateLessThan":{"aws:CurrentTime":"tomorrow"}}"#)],
        with("aws:CurrentTime", "2027-01-15T08:00:00Z") => ImplicitDeny;
    date_takes_no_policy_variables:
        [allow_if(r#"{"DateEquals":{"aws:CurrentTime":"${aws:TokenIssueTime}"}}"#)],
        req().with_key("aws:CurrentTime", ["2027-01-15T08:00:00Z"])
            .with_key("aws:TokenIssueTime", ["2027-01-15T08:00:00Z"]) => ImplicitDeny;
}

// §1.4 Bool, Binary, IP.
decisions! {
    bool_true_matches_true:
        [allow_if(r#"{"Bool":{"aws:SecureTransport":"true"}}"#)],
        with("aws:SecureTransport", "true") => Allow;
    bool_json_boolean_value:
        [allow_if(r#"{"Bool":{"aws:SecureTransport":true}}"#)],
        with("aws:SecureTransport", "true") => Allow;
    bool_false_does_not_match_true:
        [allow_if(r#"{"Bool":{"aws:SecureTransport":"false"}}"#)],
        with("aws:SecureTransport", "true") => ImplicitDeny;
    bool_deny_insecure_transport:
        [deny_if(r#"{"Bool":{"aws:SecureTransport":"false"}}"#)],
        with("aws:SecureTransport", "false") => ExplicitDeny;
    bool_request_value_not_a_boolean_is_no_match:
        [allow_if(r#"{"Bool":{"aws:SecureTransport":"true"}}"#)],
        with("aws:SecureTransport", "yes") => ImplicitDeny;
    // The AWS docs contradict each other on variables in Bool (§1.4); pinned: not expanded.
    bool_takes_no_policy_variables:
        [allow_if(r#"{"Bool":{"aws:SecureTransport":"${aws:PrincipalTag/secure}"}}"#)],
        req().with_key("aws:SecureTransport", ["true"]).with_key("aws:PrincipalTag/secure", ["true"])
        => ImplicitDeny;
    binary_equals_compares_the_base64_text:
        [allow_if(r#"{"BinaryEquals":{"k":"QmluYXJ5VmFsdWU="}}"#)], with("k", "QmluYXJ5VmFsdWU=") => Allow;
    binary_equals_fails_on_other_bytes:
        [allow_if(r#"{"BinaryEquals":{"k":"QmluYXJ5VmFsdWU="}}"#)], with("k", "T3RoZXI=") => ImplicitDeny;
    ip_address_inside_the_cidr:
        [allow_if(r#"{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}"#)], with("aws:SourceIp", "10.1.2.3") => Allow;
    ip_address_outside_the_cidr:
        [allow_if(r#"{"IpAddress":{"aws:SourceIp":"10.0.0.0/16"}}"#)], with("aws:SourceIp", "10.1.2.3") => ImplicitDeny;
    ip_address_without_prefix_is_one_host:
        [allow_if(r#"{"IpAddress":{"aws:SourceIp":"10.1.2.3"}}"#)], with("aws:SourceIp", "10.1.2.3") => Allow;
    ip_address_ipv6_cidr:
        [allow_if(r#"{"IpAddress":{"aws:SourceIp":"fd00:ec2::/32"}}"#)], with("aws:SourceIp", "fd00:ec2::23") => Allow;
    ip_address_families_do_not_mix:
        [allow_if(r#"{"IpAddress":{"aws:SourceIp":"0.0.0.0/0"}}"#)], with("aws:SourceIp", "::1") => ImplicitDeny;
    not_ip_address_true_outside_every_range:
        [allow_if(r#"{"NotIpAddress":{"aws:SourceIp":["192.168.0.0/16","172.16.0.0/12"]}}"#)],
        with("aws:SourceIp", "10.1.2.3") => Allow;
    not_ip_address_false_inside_one_range:
        [allow_if(r#"{"NotIpAddress":{"aws:SourceIp":["10.0.0.0/8","192.168.0.0/16"]}}"#)],
        with("aws:SourceIp", "10.1.2.3") => ImplicitDeny;
    ip_address_request_value_not_an_address_is_no_match:
        [allow_if(r#"{"NotIpAddress":{"aws:SourceIp":"10.0.0.0/8"}}"#)],
        with("aws:SourceIp", "localhost") => ImplicitDeny;
    ip_address_policy_prefix_too_long_matches_nothing:
        [allow_if(r#"{"IpAddress":{"aws:SourceIp":"10.0.0.0/33"}}"#)],
        with("aws:SourceIp", "10.0.0.0") => ImplicitDeny;
}

// §1.4 ARN operators.
decisions! {
    arn_like_matches_each_part_separately:
        [allow_if(r#"{"ArnLike":{"aws:SourceArn":"arn:aws:eks:*:111122223333:cluster/*"}}"#)],
        with("aws:SourceArn", "arn:aws:eks:us-west-2:111122223333:cluster/prod") => Allow;
    arn_like_star_never_spans_a_colon:
        [allow_if(r#"{"ArnLike":{"aws:SourceArn":"arn:aws:eks:*"}}"#)],
        with("aws:SourceArn", "arn:aws:eks:us-west-2:111122223333:cluster/prod") => ImplicitDeny;
    arn_like_question_mark_matches_one_char:
        [allow_if(r#"{"ArnLike":{"aws:SourceArn":"arn:aws:eks:us-west-?:111122223333:cluster/prod"}}"#)],
        with("aws:SourceArn", "arn:aws:eks:us-west-2:111122223333:cluster/prod") => Allow;
    arn_like_is_case_sensitive:
        [allow_if(r#"{"ArnLike":{"aws:SourceArn":"arn:aws:eks:*:111122223333:cluster/Prod"}}"#)],
        with("aws:SourceArn", "arn:aws:eks:us-west-2:111122223333:cluster/prod") => ImplicitDeny;
    arn_like_resource_part_may_contain_colons:
        [allow_if(r#"{"ArnLike":{"aws:SourceArn":"arn:aws:logs:*:*:log-group:*"}}"#)],
        with("aws:SourceArn", "arn:aws:logs:us-east-1:111122223333:log-group:g:*") => Allow;
    arn_like_value_that_is_not_an_arn_does_not_match:
        [allow_if(r#"{"ArnLike":{"aws:SourceArn":"arn:aws:eks:*:*:*"}}"#)],
        with("aws:SourceArn", "prod") => ImplicitDeny;
    arn_equals_takes_wildcards_like_arn_like:
        [allow_if(r#"{"ArnEquals":{"aws:SourceArn":"arn:aws:eks:*:111122223333:cluster/*"}}"#)],
        with("aws:SourceArn", "arn:aws:eks:us-west-2:111122223333:cluster/prod") => Allow;
    arn_equals_exact_arn:
        [allow_if(r#"{"ArnEquals":{"aws:SourceArn":"arn:aws:eks:us-west-2:111122223333:cluster/prod"}}"#)],
        with("aws:SourceArn", "arn:aws:eks:us-west-2:111122223333:cluster/prod") => Allow;
    arn_not_equals_true_when_different:
        [allow_if(r#"{"ArnNotEquals":{"aws:SourceArn":"arn:aws:eks:us-west-2:111122223333:cluster/dev"}}"#)],
        with("aws:SourceArn", "arn:aws:eks:us-west-2:111122223333:cluster/prod") => Allow;
    arn_not_equals_false_when_equal:
        [allow_if(r#"{"ArnNotEquals":{"aws:SourceArn":"arn:aws:eks:us-west-2:111122223333:cluster/prod"}}"#)],
        with("aws:SourceArn", "arn:aws:eks:us-west-2:111122223333:cluster/prod") => ImplicitDeny;
    arn_not_like_true_when_no_pattern_matches:
        [allow_if(r#"{"ArnNotLike":{"aws:SourceArn":"arn:aws:eks:*:444455556666:cluster/*"}}"#)],
        with("aws:SourceArn", "arn:aws:eks:us-west-2:111122223333:cluster/prod") => Allow;
    arn_not_like_false_when_a_pattern_matches:
        [allow_if(r#"{"ArnNotLike":{"aws:SourceArn":"arn:aws:eks:*:111122223333:cluster/*"}}"#)],
        with("aws:SourceArn", "arn:aws:eks:us-west-2:111122223333:cluster/prod") => ImplicitDeny;
}

// §1.5 Policy variables.
decisions! {
    variable_in_resource_resolves:
        [allow(r#""Action":"s3:GetObject","Resource":"arn:aws:s3:::data/${aws:PrincipalTag/team}/*""#)],
        with("aws:PrincipalTag/team", "payments") => Allow;
    variable_in_resource_resolves_to_another_value:
        [allow(r#""Action":"s3:GetObject","Resource":"arn:aws:s3:::data/${aws:PrincipalTag/team}/*""#)],
        with("aws:PrincipalTag/team", "search") => ImplicitDeny;
    variable_in_resource_unresolvable_matches_no_resource:
        [allow(r#""Action":"s3:GetObject","Resource":"arn:aws:s3:::data/${aws:PrincipalTag/team}/*""#)],
        req() => ImplicitDeny;
    variable_in_not_resource_unresolvable_matches_no_resource:
        [allow(r#""Action":"s3:GetObject","NotResource":"arn:aws:s3:::data/${aws:PrincipalTag/team}/*""#)],
        req() => Allow;
    variable_before_the_resource_part_is_not_expanded:
        [allow(r#""Action":"dynamodb:GetItem","Resource":"arn:aws:dynamodb:${aws:RequestedRegion}:111122223333:table/t""#)],
        req_for("dynamodb:GetItem", "arn:aws:dynamodb:us-west-2:111122223333:table/t")
            .with_key("aws:RequestedRegion", ["us-west-2"]) => ImplicitDeny;
    variables_need_version_2012_10_17_in_resource:
        [r#"{"Version":"2008-10-17","Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::data/${aws:PrincipalTag/team}/*"}}"#],
        with("aws:PrincipalTag/team", "payments") => ImplicitDeny;
    variables_need_version_2012_10_17_in_conditions:
        [r#"{"Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"*","Condition":{"StringEquals":{"s3:ExistingObjectTag/team":"${aws:PrincipalTag/team}"}}}}"#],
        req().with_key("aws:PrincipalTag/team", ["payments"]).with_key("s3:ExistingObjectTag/team", ["payments"])
        => ImplicitDeny;
    variable_in_condition_value_abac_same_tag_allows:
        [allow_if(r#"{"StringEquals":{"s3:ExistingObjectTag/eks-cluster-name":"${aws:PrincipalTag/eks-cluster-name}"}}"#)],
        req().with_key("aws:PrincipalTag/eks-cluster-name", ["blue"])
            .with_key("s3:ExistingObjectTag/eks-cluster-name", ["blue"]) => Allow;
    variable_in_condition_value_abac_other_tag_denies:
        [allow_if(r#"{"StringEquals":{"s3:ExistingObjectTag/eks-cluster-name":"${aws:PrincipalTag/eks-cluster-name}"}}"#)],
        req().with_key("aws:PrincipalTag/eks-cluster-name", ["blue"])
            .with_key("s3:ExistingObjectTag/eks-cluster-name", ["green"]) => ImplicitDeny;
    variable_in_condition_unresolvable_matches_nothing:
        [allow_if(r#"{"StringEquals":{"s3:ExistingObjectTag/team":"${aws:PrincipalTag/team}"}}"#)],
        with("s3:ExistingObjectTag/team", "payments") => ImplicitDeny;
    variable_in_negated_condition_unresolvable_matches_nothing:
        [deny_if(r#"{"StringNotEquals":{"s3:ExistingObjectTag/team":"${aws:PrincipalTag/team}"}}"#)],
        with("s3:ExistingObjectTag/team", "payments") => Allow;
    variable_in_negated_condition_abac_deny_other_team:
        [deny_if(r#"{"StringNotEquals":{"s3:ExistingObjectTag/team":"${aws:PrincipalTag/team}"}}"#)],
        req().with_key("aws:PrincipalTag/team", ["search"]).with_key("s3:ExistingObjectTag/team", ["payments"])
        => ExplicitDeny;
    variable_in_string_like_with_wildcard_around_it:
        [allow_if(r#"{"StringLike":{"s3:prefix":"home/${aws:PrincipalTag/team}/*"}}"#)],
        req().with_key("aws:PrincipalTag/team", ["payments"]).with_key("s3:prefix", ["home/payments/a/b"])
        => Allow;
    // Modelling choice: text substituted from a variable is literal, even under StringLike.
    variable_substituted_text_is_literal_under_string_like:
        [allow_if(r#"{"StringLike":{"s3:prefix":"${aws:PrincipalTag/team}"}}"#)],
        req().with_key("aws:PrincipalTag/team", ["*"]).with_key("s3:prefix", ["anything"]) => ImplicitDeny;
    variable_in_arn_like_condition:
        [allow_if(r#"{"ArnLike":{"aws:SourceArn":"arn:aws:eks:*:*:cluster/${aws:PrincipalTag/eks-cluster-name}"}}"#)],
        req().with_key("aws:PrincipalTag/eks-cluster-name", ["prod"])
            .with_key("aws:SourceArn", ["arn:aws:eks:us-west-2:111122223333:cluster/prod"]) => Allow;
    variable_default_value_used_when_key_missing:
        [allow(r#""Action":"s3:GetObject","Resource":"arn:aws:s3:::data/${aws:PrincipalTag/team, 'payments'}/*""#)],
        req() => Allow;
    variable_default_value_ignored_when_key_present:
        [allow(r#""Action":"s3:GetObject","Resource":"arn:aws:s3:::data/${aws:PrincipalTag/team, 'payments'}/*""#)],
        with("aws:PrincipalTag/team", "search") => ImplicitDeny;
    variable_literal_star_escape_is_not_a_wildcard:
        [allow_if(r#"{"StringLike":{"aws:PrincipalTag/team":"pay${*}"}}"#)],
        with("aws:PrincipalTag/team", "payments") => ImplicitDeny;
    variable_literal_star_escape_matches_a_star:
        [allow_if(r#"{"StringLike":{"aws:PrincipalTag/team":"pay${*}"}}"#)],
        with("aws:PrincipalTag/team", "pay*") => Allow;
    variable_literal_question_mark_escape:
        [allow_if(r#"{"StringLike":{"aws:PrincipalTag/team":"pay${?}"}}"#)],
        with("aws:PrincipalTag/team", "pay?") => Allow;
    variable_literal_question_mark_escape_is_not_a_wildcard:
        [allow_if(r#"{"StringLike":{"aws:PrincipalTag/team":"pay${?}"}}"#)],
        with("aws:PrincipalTag/team", "payX") => ImplicitDeny;
    variable_literal_dollar_escape:
        [allow_if(r#"{"StringEquals":{"aws:PrincipalTag/cost":"${$}{x}"}}"#)],
        with("aws:PrincipalTag/cost", "${x}") => Allow;
    variable_key_names_are_case_insensitive:
        [allow(r#""Action":"s3:GetObject","Resource":"arn:aws:s3:::data/${AWS:PRINCIPALTAG/TEAM}/*""#)],
        with("aws:PrincipalTag/team", "payments") => Allow;
    variable_from_a_multivalued_key_is_unresolvable:
        [allow(r#""Action":"s3:GetObject","Resource":"arn:aws:s3:::data/${aws:TagKeys}/*""#)],
        with_multi("aws:TagKeys", &["payments"]) => ImplicitDeny;
    variable_aws_userid_is_role_id_and_session_name:
        [allow(r#""Action":"s3:GetObject","Resource":"arn:aws:s3:::home/${aws:userid}/*""#)],
        req_for("s3:GetObject", "arn:aws:s3:::home/AROAEXAMPLEID:eks-prod-pod-1234/f")
            .with_key("aws:userid", ["AROAEXAMPLEID:eks-prod-pod-1234"]) => Allow;
    variable_aws_username_is_absent_for_role_sessions:
        [allow(r#""Action":"s3:GetObject","Resource":"arn:aws:s3:::home/${aws:username}/*""#)],
        req_for("s3:GetObject", "arn:aws:s3:::home/app/f").with_key("aws:userid", ["AROAEXAMPLEID:s1"])
        => ImplicitDeny;
    variable_in_action_is_literal:
        [allow(r#""Action":"s3:${aws:PrincipalTag/verb}","Resource":"*""#)],
        with("aws:PrincipalTag/verb", "GetObject") => ImplicitDeny;
}

// §1.6 Case rules.
decisions! {
    condition_key_names_are_case_insensitive:
        [allow_if(r#"{"StringEquals":{"AWS:PRINCIPALTAG/TEAM":"payments"}}"#)],
        with("aws:PrincipalTag/team", "payments") => Allow;
    condition_tag_key_part_is_case_insensitive:
        [allow_if(r#"{"StringEquals":{"aws:ResourceTag/TagKey1":"v"}}"#)],
        with("aws:resourcetag/tagkey1", "v") => Allow;
    condition_values_are_case_sensitive_under_string_equals:
        [allow_if(r#"{"StringEquals":{"aws:ResourceTag/TagKey1":"V"}}"#)],
        with("aws:ResourceTag/TagKey1", "v") => ImplicitDeny;
    condition_values_ignore_case_under_string_equals_ignore_case:
        [allow_if(r#"{"StringEqualsIgnoreCase":{"aws:ResourceTag/TagKey1":"V"}}"#)],
        with("aws:ResourceTag/TagKey1", "v") => Allow;
    null_key_names_are_case_insensitive:
        [allow_if(r#"{"Null":{"AWS:PrincipalTag/Team":"false"}}"#)],
        with("aws:principaltag/team", "payments") => Allow;
}

/// The request an identity policy of the role `app` sees from a principal in another account.
fn cross_account_req() -> RequestContext {
    RequestContext::new(
        Principal::Aws("arn:aws:sts::444455556666:assumed-role/reader/s9".into()),
        "s3:GetObject",
        OBJECT,
    )
}

/// A bucket policy allowing `s3:GetObject` on `data/*` to the given `AWS` principal.
fn bucket_allows(principal: &str) -> String {
    doc(&format!(
        r#"{{"Effect":"Allow","Principal":{{"AWS":"{principal}"}},"Action":"s3:GetObject","Resource":"arn:aws:s3:::data/*"}}"#
    ))
}

fn identity_allows() -> String {
    allow(r#""Action":"s3:GetObject","Resource":"*""#)
}

fn identity_allows_other() -> String {
    allow(r#""Action":"s3:PutObject","Resource":"*""#)
}

/// The policy types of one request, owned, for the `layered!` table.
#[derive(Default)]
struct Layers {
    identity: Vec<String>,
    resource: Vec<String>,
    boundary: Option<String>,
    session: Vec<String>,
    cross_account: bool,
    resource_policy_required: bool,
}

fn check_layers(rule: &str, layers: Layers, ctx: &RequestContext, want: Decision) {
    let parse = |p: &String| {
        PolicyDocument::parse(p).unwrap_or_else(|e| panic!("{rule}: policy does not parse: {e}"))
    };
    let identity: Vec<_> = layers.identity.iter().map(parse).collect();
    let resource: Vec<_> = layers.resource.iter().map(parse).collect();
    let boundary = layers.boundary.as_ref().map(parse);
    let session: Vec<_> = layers.session.iter().map(parse).collect();
    let set = PolicySet {
        identity: identity.iter().collect(),
        resource: resource.iter().collect(),
        boundary: boundary.as_ref(),
        session: session.iter().collect(),
        cross_account: layers.cross_account,
        resource_policy_required: layers.resource_policy_required,
    };
    assert_eq!(evaluate_request(&set, ctx), want, "{rule}");
}

/// `name: Layers { .. }, context => decision;`: one test per row.
macro_rules! layered {
    ($($name:ident: $layers:expr, $ctx:expr => $want:ident;)+) => {
        $(
            #[test]
            fn $name() {
                check_layers(stringify!($name), $layers, &$ctx, $want);
            }
        )+
    };
}

// §1.1 Combining policy types.
layered! {
    same_account_identity_allow_alone_is_enough:
        Layers { identity: vec![identity_allows()], ..Layers::default() }, req() => Allow;
    same_account_resource_allow_alone_is_enough:
        Layers { resource: vec![bucket_allows(ROLE)], ..Layers::default() }, req() => Allow;
    no_allow_anywhere_is_implicit_deny:
        Layers { identity: vec![identity_allows_other()], resource: vec![bucket_allows("arn:aws:iam::444455556666:root")],
                 ..Layers::default() }, req() => ImplicitDeny;
    explicit_deny_in_resource_policy_beats_identity_allow:
        Layers { identity: vec![identity_allows()],
                 resource: vec![doc(r#"{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::data/*"}"#)],
                 ..Layers::default() }, req() => ExplicitDeny;
    explicit_deny_in_session_policy_beats_resource_allow_naming_the_session:
        Layers { resource: vec![bucket_allows(SESSION)],
                 session: vec![doc(r#"{"Effect":"Deny","Action":"*","Resource":"*"}"#)],
                 ..Layers::default() }, req() => ExplicitDeny;
    cross_account_needs_identity_and_resource_allow_identity_only:
        Layers { identity: vec![identity_allows()], cross_account: true, ..Layers::default() },
        cross_account_req() => ImplicitDeny;
    cross_account_needs_identity_and_resource_allow_resource_only:
        Layers { resource: vec![bucket_allows("arn:aws:iam::444455556666:root")], cross_account: true,
                 ..Layers::default() }, cross_account_req() => ImplicitDeny;
    cross_account_allows_when_both_sides_allow:
        Layers { identity: vec![identity_allows()], resource: vec![bucket_allows("arn:aws:iam::444455556666:root")],
                 cross_account: true, ..Layers::default() }, cross_account_req() => Allow;
    boundary_without_allow_caps_identity_allow:
        Layers { identity: vec![identity_allows()], boundary: Some(identity_allows_other()), ..Layers::default() },
        req() => ImplicitDeny;
    boundary_allow_keeps_identity_allow:
        Layers { identity: vec![identity_allows()], boundary: Some(allow(r#""Action":"s3:*","Resource":"*""#)),
                 ..Layers::default() }, req() => Allow;
    boundary_alone_grants_nothing:
        Layers { boundary: Some(identity_allows()), ..Layers::default() }, req() => ImplicitDeny;
    session_policy_without_allow_caps_identity_allow:
        Layers { identity: vec![identity_allows()], session: vec![identity_allows_other()], ..Layers::default() },
        req() => ImplicitDeny;
    session_policy_allow_keeps_identity_allow:
        Layers { identity: vec![identity_allows()], session: vec![identity_allows()], ..Layers::default() },
        req() => Allow;
    session_policy_alone_grants_nothing:
        Layers { session: vec![identity_allows()], ..Layers::default() }, req() => ImplicitDeny;
    resource_policy_naming_the_session_arn_is_not_capped:
        Layers { resource: vec![bucket_allows(SESSION)], session: vec![identity_allows_other()],
                 boundary: Some(identity_allows_other()), ..Layers::default() }, req() => Allow;
    resource_policy_naming_the_role_arn_is_capped_by_session_policy:
        Layers { resource: vec![bucket_allows(ROLE)], session: vec![identity_allows_other()], ..Layers::default() },
        req() => ImplicitDeny;
    resource_policy_naming_the_role_arn_is_capped_by_boundary:
        Layers { resource: vec![bucket_allows(ROLE)], boundary: Some(identity_allows_other()), ..Layers::default() },
        req() => ImplicitDeny;
    trust_policy_must_allow_identity_allow_is_not_enough:
        Layers { identity: vec![allow(r#""Action":"sts:AssumeRole","Resource":"*""#)],
                 resource: vec![doc(r#"{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/other"},"Action":"sts:AssumeRole"}"#)],
                 resource_policy_required: true, ..Layers::default() },
        req_for("sts:AssumeRole", "arn:aws:iam::111122223333:role/target") => ImplicitDeny;
    trust_policy_allowing_the_principal_allows:
        Layers { resource: vec![doc(r#"{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/app"},"Action":"sts:AssumeRole"}"#)],
                 resource_policy_required: true, ..Layers::default() },
        req_for("sts:AssumeRole", "arn:aws:iam::111122223333:role/target") => Allow;
}

/// The request STS evaluates a trust policy with.
fn trust_req(principal: Principal, action: &str) -> RequestContext {
    RequestContext::new(principal, action, "arn:aws:iam::111122223333:role/target")
}

fn trust(principal: &str, action: &str) -> String {
    doc(&format!(
        r#"{{"Effect":"Allow","Principal":{principal},"Action":{action}}}"#
    ))
}

fn federated() -> Principal {
    Principal::Federated(PROVIDER.into())
}

fn pods() -> Principal {
    Principal::Service("pods.eks.amazonaws.com".into())
}

fn aws(arn: &str) -> Principal {
    Principal::Aws(arn.into())
}

macro_rules! trust_decisions {
    ($($name:ident: [$($policy:expr),+ $(,)?], $ctx:expr => $want:ident;)+) => {
        $(
            #[test]
            fn $name() {
                let policies = [$(String::from($policy)),+];
                for p in &policies {
                    PolicyDocument::parse(p)
                        .and_then(|d| d.validate_trust_policy())
                        .unwrap_or_else(|e| panic!("{}: not a valid trust policy: {e}", stringify!($name)));
                }
                check(stringify!($name), &policies, &$ctx, $want);
            }
        )+
    };
}

// §1.2 Principal, §1.7–§1.8 trust policies.
trust_decisions! {
    principal_federated_matches_the_oidc_provider:
        [trust(&format!(r#"{{"Federated":"{PROVIDER}"}}"#), r#""sts:AssumeRoleWithWebIdentity""#)],
        trust_req(federated(), "sts:AssumeRoleWithWebIdentity") => Allow;
    principal_federated_other_provider_does_not_match:
        [trust(r#"{"Federated":"arn:aws:iam::111122223333:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/OTHER"}"#,
               r#""sts:AssumeRoleWithWebIdentity""#)],
        trust_req(federated(), "sts:AssumeRoleWithWebIdentity") => ImplicitDeny;
    principal_service_matches_pod_identity:
        [trust(r#"{"Service":"pods.eks.amazonaws.com"}"#, r#"["sts:AssumeRole","sts:TagSession"]"#)],
        trust_req(pods(), "sts:AssumeRole") => Allow;
    principal_service_other_service_does_not_match:
        [trust(r#"{"Service":"ec2.amazonaws.com"}"#, r#"["sts:AssumeRole","sts:TagSession"]"#)],
        trust_req(pods(), "sts:AssumeRole") => ImplicitDeny;
    pod_identity_trust_allows_tag_session_when_listed:
        [trust(r#"{"Service":"pods.eks.amazonaws.com"}"#, r#"["sts:AssumeRole","sts:TagSession"]"#)],
        trust_req(pods(), "sts:TagSession") => Allow;
    pod_identity_trust_without_tag_session_denies_it:
        [trust(r#"{"Service":"pods.eks.amazonaws.com"}"#, r#""sts:AssumeRole""#)],
        trust_req(pods(), "sts:TagSession") => ImplicitDeny;
    principal_type_must_match_the_caller:
        [trust(r#"{"Federated":"pods.eks.amazonaws.com"}"#, r#""sts:AssumeRole""#)],
        trust_req(pods(), "sts:AssumeRole") => ImplicitDeny;
    principal_aws_account_root_covers_the_accounts_sessions:
        [trust(r#"{"AWS":"arn:aws:iam::111122223333:root"}"#, r#""sts:AssumeRole""#)],
        trust_req(aws(SESSION), "sts:AssumeRole") => Allow;
    principal_aws_account_id_is_the_account_root:
        [trust(r#"{"AWS":"111122223333"}"#, r#""sts:AssumeRole""#)],
        trust_req(aws(ROLE), "sts:AssumeRole") => Allow;
    principal_aws_role_arn_covers_its_sessions:
        [trust(r#"{"AWS":"arn:aws:iam::111122223333:role/team/app"}"#, r#""sts:AssumeRole""#)],
        trust_req(aws(SESSION), "sts:AssumeRole") => Allow;
    principal_aws_role_arn_does_not_cover_other_roles_sessions:
        [trust(r#"{"AWS":"arn:aws:iam::111122223333:role/other"}"#, r#""sts:AssumeRole""#)],
        trust_req(aws(SESSION), "sts:AssumeRole") => ImplicitDeny;
    principal_aws_other_account_does_not_match:
        [trust(r#"{"AWS":"arn:aws:iam::444455556666:root"}"#, r#""sts:AssumeRole""#)],
        trust_req(aws(SESSION), "sts:AssumeRole") => ImplicitDeny;
    principal_list_is_an_or:
        [trust(&format!(r#"{{"Service":"pods.eks.amazonaws.com","Federated":"{PROVIDER}"}}"#), r#""sts:*""#)],
        trust_req(federated(), "sts:AssumeRoleWithWebIdentity") => Allow;
    principal_star_matches_everyone:
        [trust(r#""*""#, r#""sts:AssumeRole""#)], trust_req(pods(), "sts:AssumeRole") => Allow;
    principal_star_matches_anonymous_callers:
        [trust(r#""*""#, r#""sts:AssumeRole""#)], trust_req(Principal::Anonymous, "sts:AssumeRole") => Allow;
    // Modelling choice (§1 is silent): only a bare "*" covers an unauthenticated caller.
    principal_map_does_not_match_anonymous_callers:
        [trust(r#"{"AWS":"*"}"#, r#""sts:AssumeRole""#)], trust_req(Principal::Anonymous, "sts:AssumeRole") => ImplicitDeny;
    irsa_trust_sub_and_aud_conditions_allow_the_service_account:
        [doc(&format!(
            r#"{{"Effect":"Allow","Principal":{{"Federated":"{PROVIDER}"}},"Action":"sts:AssumeRoleWithWebIdentity","Condition":{{"StringEquals":{{"oidc.eks.us-west-2.amazonaws.com/id/EXAMPLE:sub":"system:serviceaccount:ns:sa","oidc.eks.us-west-2.amazonaws.com/id/EXAMPLE:aud":"sts.amazonaws.com"}}}}}}"#
        ))],
        trust_req(federated(), "sts:AssumeRoleWithWebIdentity")
            .with_key("oidc.eks.us-west-2.amazonaws.com/id/EXAMPLE:sub", ["system:serviceaccount:ns:sa"])
            .with_key("oidc.eks.us-west-2.amazonaws.com/id/EXAMPLE:aud", ["sts.amazonaws.com"]) => Allow;
    irsa_trust_sub_condition_rejects_another_service_account:
        [doc(&format!(
            r#"{{"Effect":"Allow","Principal":{{"Federated":"{PROVIDER}"}},"Action":"sts:AssumeRoleWithWebIdentity","Condition":{{"StringEquals":{{"oidc.eks.us-west-2.amazonaws.com/id/EXAMPLE:sub":"system:serviceaccount:ns:sa"}}}}}}"#
        ))],
        trust_req(federated(), "sts:AssumeRoleWithWebIdentity")
            .with_key("oidc.eks.us-west-2.amazonaws.com/id/EXAMPLE:sub", ["system:serviceaccount:ns:other"]) => ImplicitDeny;
}

// §1.2 NotPrincipal (resource policies other than trust policies).
decisions! {
    not_principal_with_deny_spares_the_listed_principal:
        [doc(r#"{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"},{"Effect":"Deny","NotPrincipal":{"AWS":["arn:aws:iam::111122223333:root","arn:aws:sts::111122223333:assumed-role/app/s1"]},"Action":"*","Resource":"*"}"#)],
        req() => Allow;
    not_principal_with_deny_denies_every_other_principal:
        [doc(r#"{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"},{"Effect":"Deny","NotPrincipal":{"AWS":"arn:aws:iam::111122223333:role/admin"},"Action":"*","Resource":"*"}"#)],
        req() => ExplicitDeny;
}

/// Where a document is checked.
#[derive(Clone, Copy, Debug)]
enum Check {
    Parse,
    Identity,
    Trust,
}

fn check_rejected(rule: &str, json: &str, how: Check, statement: Option<usize>, field: &str) {
    let result = PolicyDocument::parse(json).and_then(|d| match how {
        Check::Parse => Ok(d),
        Check::Identity => d.validate_identity_policy().map(|()| d),
        Check::Trust => d.validate_trust_policy().map(|()| d),
    });
    let err = match result {
        Ok(_) => panic!("{rule}: accepted, want an error on {field}"),
        Err(e) => e,
    };
    assert_eq!(
        (err.statement, err.field.as_str()),
        (statement, field),
        "{rule}: {err}"
    );
    assert!(
        err.to_string().contains(field),
        "{rule}: message '{err}' does not name {field}"
    );
}

/// `name: json, Check => (statement, field);`: one test per row.
macro_rules! rejects {
    ($($name:ident: $json:expr, $how:ident => ($stmt:expr, $field:expr);)+) => {
        $(
            #[test]
            fn $name() {
                check_rejected(stringify!($name), $json, Check::$how, $stmt, $field);
            }
        )+
    };
}

// Bad documents: an error naming the statement and field, never a panic.
rejects! {
    rejects_text_that_is_not_json: r#"{"Statement":"#, Parse => (None, "(document)");
    rejects_a_document_that_is_not_an_object: r#"["Allow"]"#, Parse => (None, "(document)");
    rejects_an_unknown_top_level_element:
        r#"{"Version":"2012-10-17","Statements":[]}"#, Parse => (None, "Statements");
    rejects_an_unknown_version:
        r#"{"Version":"2012-10-18","Statement":{"Effect":"Allow","Action":"*"}}"#, Parse => (None, "Version");
    rejects_a_version_that_is_not_a_string:
        r#"{"Version":2012,"Statement":{"Effect":"Allow","Action":"*"}}"#, Parse => (None, "Version");
    rejects_a_missing_statement: r#"{"Version":"2012-10-17"}"#, Parse => (None, "Statement");
    rejects_an_empty_statement_array:
        r#"{"Version":"2012-10-17","Statement":[]}"#, Parse => (None, "Statement");
    rejects_a_statement_that_is_not_an_object:
        r#"{"Statement":[{"Effect":"Allow","Action":"*"},"Allow"]}"#, Parse => (Some(1), "(statement)");
    rejects_a_missing_effect: r#"{"Statement":{"Action":"*"}}"#, Parse => (Some(0), "Effect");
    rejects_an_effect_in_the_wrong_case:
        r#"{"Statement":{"Effect":"allow","Action":"*"}}"#, Parse => (Some(0), "Effect");
    rejects_a_missing_action: r#"{"Statement":{"Effect":"Allow","Resource":"*"}}"#, Parse => (Some(0), "Action");
    rejects_action_with_not_action:
        r#"{"Statement":{"Effect":"Allow","Action":"*","NotAction":"s3:*"}}"#, Parse => (Some(0), "NotAction");
    rejects_an_action_that_is_not_a_string:
        r#"{"Statement":{"Effect":"Allow","Action":[1]}}"#, Parse => (Some(0), "Action");
    rejects_an_empty_action_list: r#"{"Statement":{"Effect":"Allow","Action":[]}}"#, Parse => (Some(0), "Action");
    rejects_resource_with_not_resource:
        r#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"*","NotResource":"*"}}"#,
        Parse => (Some(0), "NotResource");
    rejects_a_wildcard_in_the_resource_service_part:
        r#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"arn:aws:s*:::data/*"}}"#,
        Parse => (Some(0), "Resource");
    rejects_a_wildcard_in_the_not_resource_service_part:
        r#"{"Statement":{"Effect":"Allow","Action":"*","NotResource":"arn:aws:?3:::data/*"}}"#,
        Parse => (Some(0), "NotResource");
    rejects_an_unknown_principal_type:
        r#"{"Statement":{"Effect":"Allow","Action":"*","Principal":{"User":"x"}}}"#, Parse => (Some(0), "Principal");
    rejects_a_principal_that_is_a_number:
        r#"{"Statement":{"Effect":"Allow","Action":"*","Principal":7}}"#, Parse => (Some(0), "Principal");
    rejects_an_empty_principal_map:
        r#"{"Statement":{"Effect":"Allow","Action":"*","Principal":{}}}"#, Parse => (Some(0), "Principal");
    rejects_principal_with_not_principal:
        r#"{"Statement":{"Effect":"Allow","Action":"*","Principal":"*","NotPrincipal":"*"}}"#,
        Parse => (Some(0), "NotPrincipal");
    rejects_a_condition_that_is_not_an_object:
        r#"{"Statement":{"Effect":"Allow","Action":"*","Condition":["StringEquals"]}}"#, Parse => (Some(0), "Condition");
    rejects_an_unknown_condition_operator:
        r#"{"Statement":{"Effect":"Allow","Action":"*","Condition":{"StringMatches":{"k":"v"}}}}"#,
        Parse => (Some(0), "Condition");
    rejects_an_operator_in_the_wrong_case:
        r#"{"Statement":{"Effect":"Allow","Action":"*","Condition":{"stringequals":{"k":"v"}}}}"#,
        Parse => (Some(0), "Condition");
    rejects_an_unknown_set_qualifier:
        r#"{"Statement":{"Effect":"Allow","Action":"*","Condition":{"ForSomeValues:StringEquals":{"k":"v"}}}}"#,
        Parse => (Some(0), "Condition");
    rejects_null_if_exists:
        r#"{"Statement":{"Effect":"Allow","Action":"*","Condition":{"NullIfExists":{"k":"true"}}}}"#,
        Parse => (Some(0), "Condition");
    rejects_a_set_qualifier_on_null:
        r#"{"Statement":{"Effect":"Allow","Action":"*","Condition":{"ForAnyValue:Null":{"k":"true"}}}}"#,
        Parse => (Some(0), "Condition");
    rejects_an_operator_without_keys:
        r#"{"Statement":{"Effect":"Allow","Action":"*","Condition":{"StringEquals":{}}}}"#, Parse => (Some(0), "Condition");
    rejects_a_key_without_values:
        r#"{"Statement":{"Effect":"Allow","Action":"*","Condition":{"StringEquals":{"k":[]}}}}"#,
        Parse => (Some(0), "Condition");
    rejects_a_condition_value_that_is_an_object:
        r#"{"Statement":{"Effect":"Allow","Action":"*","Condition":{"StringEquals":{"k":{"v":1}}}}}"#,
        Parse => (Some(0), "Condition");
    rejects_a_condition_value_that_is_null:
        r#"{"Statement":{"Effect":"Allow","Action":"*","Condition":{"Null":{"k":null}}}}"#, Parse => (Some(0), "Condition");
    rejects_a_duplicate_condition_operator:
        r#"{"Statement":{"Effect":"Allow","Action":"*","Condition":{"StringEquals":{"a":"b"},"StringEquals":{"c":"d"}}}}"#,
        Parse => (Some(0), "Condition");
    rejects_a_duplicate_statement_element:
        r#"{"Statement":[{"Effect":"Allow","Action":"*"},{"Effect":"Allow","Action":"*","Action":"s3:*"}]}"#,
        Parse => (Some(1), "Action");
    identity_policy_rejects_principal:
        r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}}"#, Identity => (Some(0), "Principal");
    identity_policy_rejects_not_principal:
        r#"{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"},{"Effect":"Deny","NotPrincipal":{"AWS":"1"},"Action":"*","Resource":"*"}]}"#,
        Identity => (Some(1), "NotPrincipal");
    identity_policy_needs_a_resource:
        r#"{"Statement":{"Effect":"Allow","Action":"s3:GetObject"}}"#, Identity => (Some(0), "Resource");
    trust_policy_rejects_not_principal:
        r#"{"Statement":{"Effect":"Allow","NotPrincipal":{"AWS":"1"},"Action":"sts:AssumeRole"}}"#, Trust => (Some(0), "NotPrincipal");
    trust_policy_needs_a_principal:
        r#"{"Statement":{"Effect":"Allow","Action":"sts:AssumeRole"}}"#, Trust => (Some(0), "Principal");
    trust_policy_rejects_a_resource:
        r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole","Resource":"*"}}"#,
        Trust => (Some(0), "Resource");
}

#[test]
fn identity_policy_with_resource_and_no_principal_is_valid() {
    let d = PolicyDocument::parse(&identity_allows()).unwrap();
    assert_eq!(d.validate_identity_policy(), Ok(()));
    let d = PolicyDocument::parse(&allow(
        r#""Action":"s3:*","NotResource":"arn:aws:s3:::x/*""#,
    ))
    .unwrap();
    assert_eq!(d.validate_identity_policy(), Ok(()));
}
