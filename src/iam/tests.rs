//! Table-driven tests: each case is named after the `iam.md` rule it demonstrates.

use super::*;

const ACCT: &str = "111122223333";
const ISSUER_HOST: &str = "oidc.eks.us-west-2.amazonaws.com/id/EXAMPLED539D4633E53DE1B716D3041E";
const ROLE_ARN: &str = "arn:aws:iam::111122223333:role/checkout";

fn provider_arn() -> String {
    format!("arn:aws:iam::{ACCT}:oidc-provider/{ISSUER_HOST}")
}

/// The context STS builds for an IRSA AssumeRoleWithWebIdentity.
fn irsa_ctx(sub: &str) -> RequestContext {
    RequestContext::new(
        Principal::Federated(provider_arn()),
        "sts:AssumeRoleWithWebIdentity",
        ROLE_ARN,
    )
    .with_key(&format!("{ISSUER_HOST}:sub"), [sub])
    .with_key(&format!("{ISSUER_HOST}:aud"), ["sts.amazonaws.com"])
}

fn default_ctx() -> RequestContext {
    irsa_ctx("system:serviceaccount:payments:checkout-api")
}

/// A trust policy with `Principal.Federated` = the provider and the given Condition block.
fn trust(condition: &str) -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"Federated":"{}"}},"Action":"sts:AssumeRoleWithWebIdentity","Condition":{condition}}}]}}"#,
        provider_arn()
    )
}

struct Case {
    rule: &'static str,
    policies: Vec<String>,
    ctx: RequestContext,
    want: Decision,
}

fn run(cases: Vec<Case>) {
    let mut failures = Vec::new();
    for c in cases {
        let docs: Vec<PolicyDocument> = c
            .policies
            .iter()
            .map(|p| {
                PolicyDocument::parse(p)
                    .unwrap_or_else(|e| panic!("{}: policy does not parse: {e}\n{p}", c.rule))
            })
            .collect();
        let refs: Vec<&PolicyDocument> = docs.iter().collect();
        let got = evaluate(&refs, &c.ctx);
        if got != c.want {
            failures.push(format!("{}: want {:?}, got {:?}", c.rule, c.want, got));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

fn case(rule: &'static str, policy: String, ctx: RequestContext, want: Decision) -> Case {
    Case {
        rule,
        policies: vec![policy],
        ctx,
        want,
    }
}

use Decision::{Allow, ExplicitDeny, ImplicitDeny};

#[test]
fn decision_model_1_1() {
    let deny_sub = format!(
        r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Deny","Principal":"*","Action":"sts:*","Condition":{{"StringLike":{{"{ISSUER_HOST}:sub":"system:serviceaccount:payments:*"}}}}}}}}"#
    );
    run(vec![
        case(
            "1.1 default is deny: no statement for this action",
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"s3:GetObject"}}"#.into(),
            default_ctx(),
            ImplicitDeny,
        ),
        Case {
            rule: "1.1 an explicit Deny in another policy wins over an Allow",
            policies: vec![trust("{}").replace(r#","Condition":{}"#, ""), deny_sub.clone()],
            ctx: default_ctx(),
            want: ExplicitDeny,
        },
        case(
            "1.1 explicit Deny in the same policy wins regardless of statement order",
            format!(
                r#"{{"Statement":[{{"Effect":"Deny","Principal":"*","Action":"*"}},{{"Effect":"Allow","Principal":{{"Federated":"{}"}},"Action":"*"}}]}}"#,
                provider_arn()
            ),
            default_ctx(),
            ExplicitDeny,
        ),
        Case {
            rule: "1.1 a Deny whose condition does not match leaves the Allow standing",
            policies: vec![trust("{}").replace(r#","Condition":{}"#, ""), deny_sub],
            ctx: irsa_ctx("system:serviceaccount:other:sa"),
            want: Allow,
        },
    ]);
}

#[test]
fn statement_elements_1_2() {
    let allow_action = |action: &str| {
        format!(
            r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Principal":{{"Federated":"{}"}},"Action":{action}}}}}"#,
            provider_arn()
        )
    };
    let with_resource = |res: &str| {
        format!(
            r#"{{"Version":"2012-10-17","Statement":{{"Effect":"Allow","Principal":"*","Action":"sts:*",{res}}}}}"#
        )
    };
    let with_principal =
        |p: &str| format!(r#"{{"Statement":{{"Effect":"Allow","Principal":{p},"Action":"*"}}}}"#);
    let aws =
        |arn: &str| RequestContext::new(Principal::Aws(arn.into()), "sts:AssumeRole", ROLE_ARN);
    run(vec![
        case(
            "1.2 action names are case-insensitive",
            allow_action(r#""STS:assumerolewithwebidentity""#),
            default_ctx(),
            Allow,
        ),
        case(
            "1.2 action wildcard * inside the name",
            allow_action(r#""sts:AssumeRole*""#),
            default_ctx(),
            Allow,
        ),
        case(
            "1.2 action wildcard ? matches one character",
            allow_action(r#""sts:Assume?oleWithWebIdentity""#),
            default_ctx(),
            Allow,
        ),
        case(
            "1.2 action list is an OR",
            allow_action(r#"["s3:GetObject","sts:AssumeRoleWithWebIdentity"]"#),
            default_ctx(),
            Allow,
        ),
        case(
            "1.2 a different service does not match",
            allow_action(r#""s3:*""#),
            default_ctx(),
            ImplicitDeny,
        ),
        case(
            "1.2 NotAction with Allow matches every other action",
            allow_action(r#""s3:*""#).replace("\"Action\"", "\"NotAction\""),
            default_ctx(),
            Allow,
        ),
        case(
            "1.2 NotAction excludes the listed action",
            allow_action(r#""sts:AssumeRoleWith*""#).replace("\"Action\"", "\"NotAction\""),
            default_ctx(),
            ImplicitDeny,
        ),
        case(
            "1.2 Resource matches the exact ARN",
            with_resource(&format!(r#""Resource":"{ROLE_ARN}""#)),
            default_ctx(),
            Allow,
        ),
        case(
            "1.2 Resource ARNs are case-sensitive",
            with_resource(r#""Resource":"arn:aws:iam::111122223333:role/Checkout""#),
            default_ctx(),
            ImplicitDeny,
        ),
        case(
            "1.2 Resource wildcards inside a segment",
            with_resource(r#""Resource":"arn:aws:iam::*:role/check*""#),
            default_ctx(),
            Allow,
        ),
        case(
            "1.2 NotResource is every resource except these",
            with_resource(r#""NotResource":"arn:aws:iam::111122223333:role/other""#),
            default_ctx(),
            Allow,
        ),
        case(
            "1.2 Principal Federated must name this provider",
            with_principal(
                r#"{"Federated":"arn:aws:iam::111122223333:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/OTHER"}"#,
            ),
            default_ctx(),
            ImplicitDeny,
        ),
        case(
            "1.2 Principal * matches everyone",
            with_principal(r#""*""#),
            default_ctx(),
            Allow,
        ),
        case(
            "1.2 Principal * matches anonymous callers",
            with_principal(r#""*""#),
            RequestContext::new(Principal::Anonymous, "s3:GetObject", "arn:aws:s3:::b/k"),
            Allow,
        ),
        case(
            "1.2 Principal AWS account root covers the account's role sessions",
            with_principal(r#"{"AWS":"arn:aws:iam::111122223333:root"}"#),
            aws("arn:aws:sts::111122223333:assumed-role/assoc/eks-c-p-uuid"),
            Allow,
        ),
        case(
            "1.2 Principal AWS account id shorthand",
            with_principal(r#"{"AWS":"111122223333"}"#),
            aws("arn:aws:iam::111122223333:role/assoc"),
            Allow,
        ),
        case(
            "1.2 Principal AWS role ARN covers that role's sessions",
            with_principal(r#"{"AWS":"arn:aws:iam::111122223333:role/team/assoc"}"#),
            aws("arn:aws:sts::111122223333:assumed-role/assoc/s1"),
            Allow,
        ),
        case(
            "1.2 Principal AWS of another account does not match",
            with_principal(r#"{"AWS":"arn:aws:iam::444455556666:root"}"#),
            aws("arn:aws:iam::111122223333:role/assoc"),
            ImplicitDeny,
        ),
        case(
            "1.2 Principal Service for Pod Identity",
            with_principal(r#"{"Service":"pods.eks.amazonaws.com"}"#),
            RequestContext::new(
                Principal::Service("pods.eks.amazonaws.com".into()),
                "sts:AssumeRole",
                ROLE_ARN,
            ),
            Allow,
        ),
        case(
            "1.2 NotPrincipal with Deny spares the listed principal",
            format!(
                r#"{{"Statement":[{{"Effect":"Allow","Principal":"*","Action":"*"}},{{"Effect":"Deny","NotPrincipal":{{"Federated":"{}"}},"Action":"*"}}]}}"#,
                provider_arn()
            ),
            default_ctx(),
            Allow,
        ),
    ]);
}

#[test]
fn irsa_trust_policy_1_7() {
    let sub = format!("{ISSUER_HOST}:sub");
    let aud = format!("{ISSUER_HOST}:aud");
    run(vec![
        case(
            "1.7 StringEquals on :sub and :aud allows the named service account",
            trust(&format!(
                r#"{{"StringEquals":{{"{sub}":"system:serviceaccount:payments:checkout-api","{aud}":"sts.amazonaws.com"}}}}"#
            )),
            default_ctx(),
            Allow,
        ),
        case(
            "1.7 StringEquals on :sub rejects another service account",
            trust(&format!(
                r#"{{"StringEquals":{{"{sub}":"system:serviceaccount:payments:checkout-api"}}}}"#
            )),
            irsa_ctx("system:serviceaccount:payments:other"),
            ImplicitDeny,
        ),
        case(
            "1.7 StringLike system:serviceaccount:<ns>:* allows the whole namespace",
            trust(&format!(
                r#"{{"StringLike":{{"{sub}":"system:serviceaccount:payments:*"}}}}"#
            )),
            irsa_ctx("system:serviceaccount:payments:anything"),
            Allow,
        ),
        case(
            "1.7 StringLike namespace wildcard does not leak into other namespaces",
            trust(&format!(
                r#"{{"StringLike":{{"{sub}":"system:serviceaccount:payments:*"}}}}"#
            )),
            irsa_ctx("system:serviceaccount:paymentsx:sa"),
            ImplicitDeny,
        ),
        case(
            "1.7 several service accounts as several values (OR)",
            trust(&format!(
                r#"{{"StringEquals":{{"{sub}":["system:serviceaccount:a:a","system:serviceaccount:payments:checkout-api"]}}}}"#
            )),
            default_ctx(),
            Allow,
        ),
        case(
            "1.7 :amr is absent for Kubernetes tokens, so ForAnyValue on it is false",
            trust(&format!(
                r#"{{"ForAnyValue:StringLike":{{"{ISSUER_HOST}:amr":"authenticated"}}}}"#
            )),
            default_ctx(),
            ImplicitDeny,
        ),
    ]);
}

#[test]
fn condition_combining_and_missing_keys_1_3() {
    let sub = format!("{ISSUER_HOST}:sub");
    let aud = format!("{ISSUER_HOST}:aud");
    let multi = |values: &[&str]| {
        default_ctx().with_key("cognito-identity.amazonaws.com:amr", values.to_vec())
    };
    run(vec![
        case(
            "1.3 several keys under one operator are ANDed",
            trust(&format!(r#"{{"StringEquals":{{"{sub}":"system:serviceaccount:payments:checkout-api","{aud}":"other"}}}}"#)),
            default_ctx(),
            ImplicitDeny,
        ),
        case(
            "1.3 several operators are ANDed",
            trust(&format!(
                r#"{{"StringEquals":{{"{aud}":"sts.amazonaws.com"}},"StringLike":{{"{sub}":"system:serviceaccount:kube-system:*"}}}}"#
            )),
            default_ctx(),
            ImplicitDeny,
        ),
        case(
            "1.3 negated operator with several values is a NOR (equal to one of them: false)",
            trust(&format!(r#"{{"StringNotEquals":{{"{sub}":["x","system:serviceaccount:payments:checkout-api"]}}}}"#)),
            default_ctx(),
            ImplicitDeny,
        ),
        case(
            "1.3 negated operator with several values is a NOR (differs from all: true)",
            trust(&format!(r#"{{"StringNotEquals":{{"{sub}":["x","y"]}}}}"#)),
            default_ctx(),
            Allow,
        ),
        case(
            "1.3 missing key: a positive operator is false",
            trust(r#"{"StringEquals":{"aws:PrincipalTag/team":"payments"}}"#),
            default_ctx(),
            ImplicitDeny,
        ),
        case(
            "1.3 missing key: a negated operator is true",
            trust(r#"{"StringNotLike":{"aws:PrincipalTag/team":"pay*"}}"#),
            default_ctx(),
            Allow,
        ),
        case(
            "1.3 IfExists: absent key makes the condition true",
            trust(r#"{"StringEqualsIfExists":{"aws:PrincipalTag/team":"payments"}}"#),
            default_ctx(),
            Allow,
        ),
        case(
            "1.3 IfExists: present key is still tested",
            trust(r#"{"StringEqualsIfExists":{"aws:PrincipalTag/team":"payments"}}"#),
            default_ctx().with_key("aws:PrincipalTag/team", ["search"]),
            ImplicitDeny,
        ),
        case(
            "1.3 caveat: a Deny with StringNotEqualsIfExists still denies when the key is missing",
            r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"*"},{"Effect":"Deny","Principal":"*","Action":"*","Condition":{"StringNotEqualsIfExists":{"aws:PrincipalTag/team":"payments"}}}]}"#.to_owned(),
            default_ctx(),
            ExplicitDeny,
        ),
        case("1.3 Null true means the key is absent", trust(r#"{"Null":{"aws:PrincipalTag/team":"true"}}"#), default_ctx(), Allow),
        case(
            "1.3 Null false means the key is present",
            trust(&format!(r#"{{"Null":{{"{sub}":"false"}}}}"#)),
            default_ctx(),
            Allow,
        ),
        case(
            "1.3 Null true fails when the key is present",
            trust(&format!(r#"{{"Null":{{"{sub}":"true"}}}}"#)),
            default_ctx(),
            ImplicitDeny,
        ),
        case(
            "1.3 ForAllValues is vacuously true on an absent key",
            trust(r#"{"ForAllValues:StringEquals":{"cognito-identity.amazonaws.com:amr":["authenticated"]}}"#),
            default_ctx(),
            Allow,
        ),
        case(
            "1.3 ForAllValues is vacuously true on an empty key",
            trust(r#"{"ForAllValues:StringEquals":{"cognito-identity.amazonaws.com:amr":["authenticated"]}}"#),
            multi(&[]),
            Allow,
        ),
        case(
            "1.3 ForAllValues: every request value must match a policy value",
            trust(r#"{"ForAllValues:StringEquals":{"cognito-identity.amazonaws.com:amr":["authenticated"]}}"#),
            multi(&["authenticated", "unauthenticated"]),
            ImplicitDeny,
        ),
        case(
            "1.3 ForAnyValue is false on an absent key",
            trust(r#"{"ForAnyValue:StringEquals":{"cognito-identity.amazonaws.com:amr":"authenticated"}}"#),
            default_ctx(),
            ImplicitDeny,
        ),
        case(
            "1.3 ForAnyValue: one matching request value is enough",
            trust(r#"{"ForAnyValue:StringEquals":{"cognito-identity.amazonaws.com:amr":"authenticated"}}"#),
            multi(&["graph.facebook.com", "authenticated"]),
            Allow,
        ),
        case(
            "1.3 ForAnyValue:StringLikeIfExists parses and applies",
            trust(r#"{"ForAnyValue:StringLikeIfExists":{"cognito-identity.amazonaws.com:amr":"auth*"}}"#),
            default_ctx(),
            Allow,
        ),
    ]);
}

#[test]
fn operators_1_4() {
    let ctx = || {
        default_ctx()
            .with_key("aws:EpochTime", ["1800000000"])
            .with_key("aws:CurrentTime", ["2027-01-15T08:00:00Z"])
            .with_key("aws:SecureTransport", ["true"])
            .with_key("aws:SourceIp", ["10.1.2.3"])
            .with_key(
                "aws:SourceArn",
                ["arn:aws:eks:us-west-2:111122223333:cluster/prod"],
            )
            .with_key("s3:max-keys", ["10"])
    };
    let t = |c: &str| trust(c);
    run(vec![
        case(
            "1.4 StringEquals is case-sensitive",
            t(&format!(
                r#"{{"StringEquals":{{"{ISSUER_HOST}:sub":"System:ServiceAccount:payments:checkout-api"}}}}"#
            )),
            ctx(),
            ImplicitDeny,
        ),
        case(
            "1.4 StringEqualsIgnoreCase ignores case",
            t(&format!(
                r#"{{"StringEqualsIgnoreCase":{{"{ISSUER_HOST}:sub":"System:ServiceAccount:PAYMENTS:checkout-api"}}}}"#
            )),
            ctx(),
            Allow,
        ),
        case(
            "1.4 StringNotEqualsIgnoreCase negates ignoring case",
            t(&format!(
                r#"{{"StringNotEqualsIgnoreCase":{{"{ISSUER_HOST}:aud":"STS.amazonaws.com"}}}}"#
            )),
            ctx(),
            ImplicitDeny,
        ),
        case(
            "1.4 StringLike ? matches exactly one character",
            t(&format!(
                r#"{{"StringLike":{{"{ISSUER_HOST}:aud":"sts.amazonaws.co?"}}}}"#
            )),
            ctx(),
            Allow,
        ),
        case(
            "1.4 StringLike without wildcards is an exact match",
            t(&format!(
                r#"{{"StringLike":{{"{ISSUER_HOST}:aud":"sts.amazonaws"}}}}"#
            )),
            ctx(),
            ImplicitDeny,
        ),
        case(
            "1.4 StringEquals treats * literally",
            t(&format!(
                r#"{{"StringEquals":{{"{ISSUER_HOST}:sub":"system:serviceaccount:payments:*"}}}}"#
            )),
            ctx(),
            ImplicitDeny,
        ),
        case(
            "1.4 NumericLessThanEquals",
            t(r#"{"NumericLessThanEquals":{"s3:max-keys":"10"}}"#),
            ctx(),
            Allow,
        ),
        case(
            "1.4 NumericLessThan",
            t(r#"{"NumericLessThan":{"s3:max-keys":10}}"#),
            ctx(),
            ImplicitDeny,
        ),
        case(
            "1.4 NumericGreaterThan with decimals",
            t(r#"{"NumericGreaterThan":{"s3:max-keys":"9.5"}}"#),
            ctx(),
            Allow,
        ),
        case(
            "1.4 NumericNotEquals",
            t(r#"{"NumericNotEquals":{"s3:max-keys":["1","2"]}}"#),
            ctx(),
            Allow,
        ),
        case(
            "1.4 DateLessThan with aws:CurrentTime (ISO 8601)",
            t(r#"{"DateLessThan":{"aws:CurrentTime":"2027-02-01T00:00:00Z"}}"#),
            ctx(),
            Allow,
        ),
        case(
            "1.4 DateGreaterThan with a bare date",
            t(r#"{"DateGreaterThan":{"aws:CurrentTime":"2027-01-16"}}"#),
            ctx(),
            ImplicitDeny,
        ),
        case(
            "1.4 DateEquals with aws:EpochTime (epoch seconds)",
            t(r#"{"DateEquals":{"aws:EpochTime":"1800000000"}}"#),
            ctx(),
            Allow,
        ),
        case(
            "1.4 Bool",
            t(r#"{"Bool":{"aws:SecureTransport":true}}"#),
            ctx(),
            Allow,
        ),
        case(
            "1.4 Bool false does not match true",
            t(r#"{"Bool":{"aws:SecureTransport":"false"}}"#),
            ctx(),
            ImplicitDeny,
        ),
        case(
            "1.4 IpAddress CIDR",
            t(r#"{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}"#),
            ctx(),
            Allow,
        ),
        case(
            "1.4 NotIpAddress CIDR",
            t(r#"{"NotIpAddress":{"aws:SourceIp":["10.0.0.0/8","192.168.0.0/16"]}}"#),
            ctx(),
            ImplicitDeny,
        ),
        case(
            "1.4 ArnLike matches per part",
            t(r#"{"ArnLike":{"aws:SourceArn":"arn:aws:eks:*:111122223333:cluster/*"}}"#),
            ctx(),
            Allow,
        ),
        case(
            "1.4 ArnLike: * never spans a colon, unlike StringLike",
            t(r#"{"ArnLike":{"aws:SourceArn":"arn:aws:eks:*"}}"#),
            ctx(),
            ImplicitDeny,
        ),
        case(
            "1.4 StringLike: * swallows colons",
            t(r#"{"StringLike":{"aws:SourceArn":"arn:aws:eks:*"}}"#),
            ctx(),
            Allow,
        ),
        case(
            "1.4 ArnNotEquals",
            t(
                r#"{"ArnNotEquals":{"aws:SourceArn":"arn:aws:eks:us-west-2:111122223333:cluster/dev"}}"#,
            ),
            ctx(),
            Allow,
        ),
    ]);
}

#[test]
fn policy_variables_1_5() {
    let ctx = || {
        RequestContext::new(
            Principal::Aws("arn:aws:sts::111122223333:assumed-role/r/s".into()),
            "s3:GetObject",
            "arn:aws:s3:::data/payments/report",
        )
        .with_key("aws:PrincipalTag/team", ["payments"])
        .with_key("s3:ExistingObjectTag/team", ["payments"])
        .with_key("aws:userid", ["AROAEXAMPLE:s"])
    };
    let doc = |version: &str, extra: &str| {
        format!(r#"{{{version}"Statement":{{"Effect":"Allow","Action":"s3:GetObject",{extra}}}}}"#)
    };
    let v12 = r#""Version":"2012-10-17","#;
    run(vec![
        case(
            "1.5 variable in Resource resolves under 2012-10-17",
            doc(
                v12,
                r#""Resource":"arn:aws:s3:::data/${aws:PrincipalTag/team}/*""#,
            ),
            ctx(),
            Allow,
        ),
        case(
            "1.5 without Version 2012-10-17 variables are literal text",
            doc(
                "",
                r#""Resource":"arn:aws:s3:::data/${aws:PrincipalTag/team}/*""#,
            ),
            ctx(),
            ImplicitDeny,
        ),
        case(
            "1.5 variable in a condition value (ABAC)",
            doc(
                v12,
                r#""Resource":"*","Condition":{"StringEquals":{"s3:ExistingObjectTag/team":"${aws:PrincipalTag/team}"}}"#,
            ),
            ctx(),
            Allow,
        ),
        case(
            "1.5 unresolvable variable in a condition matches nothing",
            doc(
                v12,
                r#""Resource":"*","Condition":{"StringEquals":{"s3:ExistingObjectTag/team":"${aws:PrincipalTag/missing}"}}"#,
            ),
            ctx(),
            ImplicitDeny,
        ),
        case(
            "1.5 unresolvable variable in Resource matches no resource",
            doc(v12, r#""Resource":"arn:aws:s3:::data/${aws:username}/*""#),
            ctx(),
            ImplicitDeny,
        ),
        case(
            "1.5 default value for a missing key",
            doc(
                v12,
                r#""Resource":"arn:aws:s3:::data/${aws:PrincipalTag/dept, 'payments'}/*""#,
            ),
            ctx(),
            Allow,
        ),
        case(
            "1.5 ${*} is a literal star, not a wildcard",
            doc(
                v12,
                r#""Resource":"*","Condition":{"StringLike":{"aws:PrincipalTag/team":"pay${*}"}}"#,
            ),
            ctx(),
            ImplicitDeny,
        ),
        case(
            "1.5 key names inside ${} are case-insensitive",
            doc(
                v12,
                r#""Resource":"arn:aws:s3:::data/${AWS:PRINCIPALTAG/TEAM}/*""#,
            ),
            ctx(),
            Allow,
        ),
        case(
            "1.5 aws:userid for a role session is <role-id>:<session>",
            doc(
                v12,
                r#""Resource":"*","Condition":{"StringLike":{"aws:userid":"AROA*:${aws:PrincipalTag/none, 's'}"}}"#,
            ),
            ctx(),
            Allow,
        ),
    ]);
}

#[test]
fn case_rules_1_6() {
    run(vec![
        case(
            "1.6 condition key names are case-insensitive",
            trust(r#"{"StringEquals":{"AWS:PRINCIPALTAG/TEAM":"payments"}}"#),
            default_ctx().with_key("aws:PrincipalTag/team", ["payments"]),
            Allow,
        ),
        case(
            "1.6 condition values are case-sensitive under StringEquals",
            trust(r#"{"StringEquals":{"aws:PrincipalTag/team":"Payments"}}"#),
            default_ctx().with_key("aws:PrincipalTag/team", ["payments"]),
            ImplicitDeny,
        ),
    ]);
}

#[test]
fn explained_reports_deciding_statement() {
    let doc = PolicyDocument::parse(
        r#"{"Statement":[{"Sid":"A","Effect":"Allow","Principal":"*","Action":"*"},{"Sid":"D","Effect":"Deny","Principal":"*","Action":"s3:*"}]}"#,
    )
    .unwrap();
    let e = evaluate_explained(&[&doc], &default_ctx());
    assert_eq!(e.decision, Allow);
    assert_eq!(e.deciding_statement, Some((0, 0, Some("A".into()))));
}

#[test]
fn parse_errors_name_statement_and_field() {
    let cases: [(&str, &str, Option<usize>, &str); 14] = [
        (
            "duplicate operators would silently drop a condition",
            r#"{"Statement":{"Effect":"Allow","Action":"*","Condition":{"StringEquals":{"a":"b"},"StringEquals":{"c":"d"}}}}"#,
            Some(0),
            "Condition",
        ),
        (
            "duplicate statement elements",
            r#"{"Statement":[{"Effect":"Allow","Action":"*"},{"Effect":"Allow","Effect":"Deny","Action":"*"}]}"#,
            Some(1),
            "Effect",
        ),
        ("1.2 a document must be JSON", "{", None, "(document)"),
        (
            "1.2 Version must be a known date",
            r#"{"Version":"2020-01-01","Statement":[]}"#,
            None,
            "Version",
        ),
        (
            "1.2 Statement is required",
            r#"{"Version":"2012-10-17"}"#,
            None,
            "Statement",
        ),
        (
            "1.2 Effect is Allow or Deny",
            r#"{"Statement":[{"Effect":"Allow","Action":"*"},{"Effect":"allow","Action":"*"}]}"#,
            Some(1),
            "Effect",
        ),
        (
            "1.2 Action or NotAction is required",
            r#"{"Statement":{"Effect":"Allow"}}"#,
            Some(0),
            "Action",
        ),
        (
            "1.2 Action and NotAction are exclusive",
            r#"{"Statement":{"Effect":"Allow","Action":"*","NotAction":"s3:*"}}"#,
            Some(0),
            "NotAction",
        ),
        (
            "1.2 Principal type must be known",
            r#"{"Statement":{"Effect":"Allow","Action":"*","Principal":{"Users":"x"}}}"#,
            Some(0),
            "Principal",
        ),
        (
            "1.4 unknown condition operator",
            r#"{"Statement":{"Effect":"Allow","Action":"*","Condition":{"StringEq":{"a":"b"}}}}"#,
            Some(0),
            "Condition",
        ),
        (
            "1.4 Null takes no IfExists",
            r#"{"Statement":{"Effect":"Allow","Action":"*","Condition":{"NullIfExists":{"a":"true"}}}}"#,
            Some(0),
            "Condition",
        ),
        (
            "1.3 condition values are scalars",
            r#"{"Statement":{"Effect":"Allow","Action":"*","Condition":{"StringEquals":{"a":{"b":1}}}}}"#,
            Some(0),
            "Condition",
        ),
        (
            "1.2 unknown statement element",
            r#"{"Statement":{"Effect":"Allow","Action":"*","Actions":"*"}}"#,
            Some(0),
            "Actions",
        ),
        (
            "1.2 lists must not be empty",
            r#"{"Statement":{"Effect":"Allow","Action":[]}}"#,
            Some(0),
            "Action",
        ),
    ];
    for (rule, json, stmt, field) in cases {
        let err = PolicyDocument::parse(json).expect_err(rule);
        assert_eq!(
            (err.statement, err.field.as_str()),
            (stmt, field),
            "{rule}: {err}"
        );
    }
    let err = PolicyDocument::parse(
        r#"{"Statement":[{"Effect":"Allow","Action":"*"},{"Effect":"allow","Action":"*"}]}"#,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "Statement[1].Effect: must be \"Allow\" or \"Deny\""
    );
}

#[test]
fn trust_policy_rules_1_2() {
    let ok = PolicyDocument::parse(&trust("{}")).unwrap();
    assert!(ok.validate_trust_policy().is_ok());
    let cases = [
        (
            "1.2 NotPrincipal cannot be used in role trust policies",
            r#"{"Statement":{"Effect":"Allow","NotPrincipal":"*","Action":"*"}}"#,
            "NotPrincipal",
        ),
        (
            "1.2 a trust policy names a Principal",
            r#"{"Statement":{"Effect":"Allow","Action":"sts:AssumeRole"}}"#,
            "Principal",
        ),
        (
            "1.2 the resource of a trust policy is the role itself",
            r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}}"#,
            "Resource",
        ),
    ];
    for (rule, json, field) in cases {
        let err = PolicyDocument::parse(json)
            .unwrap()
            .validate_trust_policy()
            .expect_err(rule);
        assert_eq!(err.field, field, "{rule}");
    }
}

#[test]
fn malformed_policies_never_panic() {
    use rand_chacha::ChaCha8Rng;
    use rand_chacha::rand_core::{Rng, SeedableRng};
    let seed_doc = trust(&format!(
        r#"{{"StringLike":{{"{ISSUER_HOST}:sub":"system:*:${{aws:x, 'd'}}"}},"ForAllValues:NumericLessThan":{{"k":[1,2.5]}},"IpAddress":{{"ip":"10.0.0.0/99"}},"DateEquals":{{"t":"nope"}}}}"#
    ));
    let ctx = default_ctx()
        .with_key("k", ["x"])
        .with_key("ip", ["::1"])
        .with_key("t", ["2020-01-01"]);
    let doc = PolicyDocument::parse(&seed_doc).unwrap();
    let _ = doc.evaluate(&ctx);
    let mut rng = ChaCha8Rng::seed_from_u64(42);
    let alphabet = br#"{}[]:,"*?$\ aAsS0"#;
    for _ in 0..2000 {
        let mut bytes = seed_doc.clone().into_bytes();
        for _ in 0..(1 + rng.next_u32() % 4) {
            if bytes.is_empty() {
                break;
            }
            let i = (rng.next_u32() as usize) % bytes.len();
            match rng.next_u32() % 3 {
                0 => bytes[i] = alphabet[(rng.next_u32() as usize) % alphabet.len()],
                1 => {
                    bytes.remove(i);
                }
                _ => bytes.truncate(i.max(1)),
            }
        }
        let text = String::from_utf8_lossy(&bytes);
        if let Ok(doc) = PolicyDocument::parse(&text) {
            let _ = doc.validate_trust_policy();
            let _ = doc.evaluate(&ctx);
        }
    }
}
