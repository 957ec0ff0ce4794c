//! How EKS Auth talks to STS: the `AssumeRole` query request it sends and the XML it reads back, as
//! pure functions; plus the role session name and the STS → EKS Auth error mapping.
//!
//! Facts (`agent.md` §3.5, `iam.md` §1.8): the session name is `eks-<cluster>-<pod>-<random UUID>`,
//! cut to STS's 64-character limit with the pod name shortened (one observed real value,
//! `eks-k8s-wl-dev-engine-boo-5af5e7ac-5754-49ea-b28f-2c2a2eb95fbb`, 62 characters, keeps the UUID
//! whole; the exact rule is undocumented, see [`role_session_name`]). The six session tags are all
//! transitive. How STS errors surface as EKS Auth errors is not documented (\[unk\]); the mapping
//! is [`map_failure`].

use super::wire::{EksAuthError, ErrorCode};

/// One `AssumeRole` call.
#[derive(Clone, Debug, Default)]
pub struct AssumeRoleCall<'a> {
    pub role_arn: &'a str,
    pub role_session_name: &'a str,
    pub duration_s: u32,
    pub tags: &'a [(String, String)],
    /// Mark every passed tag transitive.
    pub tags_transitive: bool,
    pub external_id: Option<&'a str>,
    pub policy: Option<&'a str>,
}

/// The form body (`Action=AssumeRole&Version=2011-06-15&…`).
pub fn form_body(call: &AssumeRoleCall<'_>) -> String {
    let mut pairs: Vec<(String, String)> = vec![
        ("Action".into(), "AssumeRole".into()),
        ("Version".into(), "2011-06-15".into()),
        ("RoleArn".into(), call.role_arn.into()),
        ("RoleSessionName".into(), call.role_session_name.into()),
        ("DurationSeconds".into(), call.duration_s.to_string()),
    ];
    for (n, (k, v)) in call.tags.iter().enumerate() {
        pairs.push((format!("Tags.member.{}.Key", n + 1), k.clone()));
        pairs.push((format!("Tags.member.{}.Value", n + 1), v.clone()));
    }
    if call.tags_transitive {
        for (n, (k, _)) in call.tags.iter().enumerate() {
            pairs.push((format!("TransitiveTagKeys.member.{}", n + 1), k.clone()));
        }
    }
    if let Some(e) = call.external_id {
        pairs.push(("ExternalId".into(), e.into()));
    }
    if let Some(p) = call.policy {
        pairs.push(("Policy".into(), p.into()));
    }
    serde_urlencoded::to_string(&pairs).unwrap_or_default()
}

/// Credentials from an `AssumeRole` result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StsCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
    /// Epoch seconds.
    pub expiration_s: u64,
    pub assumed_role_arn: String,
    pub assumed_role_id: String,
}

/// Why an `AssumeRole` call failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StsFailure {
    /// The STS error code, or `transport_<code>` when no response came back.
    pub code: String,
    pub message: String,
    /// HTTP status; 0 when no response came back.
    pub status: u16,
}

/// Parses an STS answer: the `AssumeRoleResult` or the `ErrorResponse`.
pub fn parse_response(status: u16, body: &[u8]) -> Result<StsCredentials, StsFailure> {
    let xml = String::from_utf8_lossy(body);
    if status != 200 {
        return Err(StsFailure {
            code: xml_text(&xml, "Code").unwrap_or_else(|| format!("http_{status}")),
            message: xml_text(&xml, "Message").unwrap_or_default(),
            status,
        });
    }
    let bad = |what: &str| StsFailure { code: "malformed_response".into(), message: format!("AssumeRole result without {what}"), status };
    let get = |name: &str| xml_text(&xml, name).ok_or_else(|| bad(name));
    let expiration = get("Expiration")?;
    let expiration_s = time::OffsetDateTime::parse(&expiration, &time::format_description::well_known::Rfc3339)
        .ok()
        .and_then(|t| u64::try_from(t.unix_timestamp()).ok())
        .ok_or_else(|| bad("a valid Expiration"))?;
    Ok(StsCredentials {
        access_key_id: get("AccessKeyId")?,
        secret_access_key: get("SecretAccessKey")?,
        session_token: get("SessionToken")?,
        expiration_s,
        assumed_role_arn: get("Arn")?,
        assumed_role_id: get("AssumedRoleId")?,
    })
}

/// Text of the first element named `name` (entities unescaped).
fn xml_text(xml: &str, name: &str) -> Option<String> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(xml);
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) if e.local_name().as_ref() == name => {
                let raw = reader.read_text(e.name()).ok()?;
                return quick_xml::escape::unescape(&raw).ok().map(|c| c.into_owned());
            }
            Ok(Event::Eof) | Err(_) => return None,
            _ => {}
        }
    }
}

/// The EKS Auth error an STS failure becomes (\[unk\]: modelling choices, each named here):
/// * `AccessDenied` (a trust policy without `sts:TagSession`, a failed condition, a target role
///   the first role may not assume) → `AccessDeniedException`, STS's message kept;
/// * request problems STS reports about what EKS Auth derived from the association
///   (`ValidationError`, `PackedPolicyTooLarge`, `MalformedPolicyDocument`,
///   `InvalidParameterValue`) → `InvalidRequestException` with `<code>: <message>`, so the
///   `PackedPolicyTooLarge` the EKS guide tells users to fix with `disableSessionTags` stays visible;
/// * throttling → `ThrottlingException`;
/// * no response (connect failure, timeout) or an STS 5xx → `ServiceUnavailableException`;
/// * anything else (EKS Auth's own credentials rejected, a malformed answer) →
///   `InternalServerException`.
pub fn map_failure(f: &StsFailure) -> EksAuthError {
    let code = match f.code.as_str() {
        "AccessDenied" => ErrorCode::AccessDeniedException,
        "ValidationError" | "PackedPolicyTooLarge" | "MalformedPolicyDocument" | "InvalidParameterValue" => {
            ErrorCode::InvalidRequestException
        }
        "Throttling" | "ThrottlingException" => ErrorCode::ThrottlingException,
        _ if f.status == 0 || f.status >= 500 => ErrorCode::ServiceUnavailableException,
        _ => ErrorCode::InternalServerException,
    };
    let message = match code {
        ErrorCode::AccessDeniedException => f.message.clone(),
        ErrorCode::InvalidRequestException => format!("{}: {}", f.code, f.message),
        ErrorCode::ThrottlingException => "Rate exceeded".to_owned(),
        ErrorCode::ServiceUnavailableException => "The service is unavailable. Back off and retry the operation.".to_owned(),
        _ => "An internal error occurred.".to_owned(),
    };
    EksAuthError::new(code, message)
}

/// `eks-<cluster>-<pod>-<uuid>`, at most 64 characters: the UUID is kept whole and
/// `eks-<cluster>-<pod>` is cut to `prefix_chars_max` characters, then stripped of trailing `-`.
///
/// With `prefix_chars_max` = 26 this reproduces the one observed value,
/// `eks-k8s-wl-dev-engine-boo-5af5e7ac-…` (62 characters: a 26-character cut ending in `-`,
/// stripped), which a cut at the 27 characters the limit would allow cannot. The real rule is
/// undocumented (`iam.md` §1.8).
pub fn role_session_name(cluster: &str, pod: &str, uuid: &str, prefix_chars_max: usize) -> String {
    let budget = 64usize.saturating_sub(uuid.len() + 1);
    let full = format!("eks-{cluster}-{pod}");
    let cut: String = full.chars().take(prefix_chars_max.min(budget)).collect();
    let name = format!("{}-{uuid}", cut.trim_end_matches('-'));
    debug_assert!(name.len() <= 64);
    name
}

/// A version-4 UUID from 16 random bytes.
pub fn uuid_v4(mut b: [u8; 16]) -> String {
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_names_keep_the_uuid_and_match_the_observed_value() {
        let uuid = "5af5e7ac-5754-49ea-b28f-2c2a2eb95fbb";
        assert_eq!(
            role_session_name("k8s-wl-dev", "engine-boo-7f9c6d5b4-xk2lp", uuid, 26),
            "eks-k8s-wl-dev-engine-boo-5af5e7ac-5754-49ea-b28f-2c2a2eb95fbb"
        );
        assert_eq!(role_session_name("demo", "web-0", uuid, 26), format!("eks-demo-web-0-{uuid}"));
        let long = role_session_name(&"c".repeat(100), &"p".repeat(253), uuid, 64);
        assert_eq!(long.len(), 64);
        assert!(long.ends_with(uuid));
        assert!(long.chars().all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c)));
    }

    #[test]
    fn uuids_are_v4() {
        let u = uuid_v4([0xff; 16]);
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
    }

    #[test]
    fn form_body_carries_tags_as_transitive() {
        let tags = vec![("eks-cluster-name".to_owned(), "demo".to_owned()), ("kubernetes-namespace".to_owned(), "a b".to_owned())];
        let body = form_body(&AssumeRoleCall {
            role_arn: "arn:aws:iam::111122223333:role/r",
            role_session_name: "eks-demo-p-1",
            duration_s: 21600,
            tags: &tags,
            tags_transitive: true,
            external_id: None,
            policy: None,
        });
        let p: Vec<(String, String)> = serde_urlencoded::from_str(&body).unwrap();
        let get = |k: &str| p.iter().find(|(pk, _)| pk == k).map(|(_, v)| v.as_str());
        assert_eq!(get("Action"), Some("AssumeRole"));
        assert_eq!(get("DurationSeconds"), Some("21600"));
        assert_eq!(get("Tags.member.2.Value"), Some("a b"));
        assert_eq!(get("TransitiveTagKeys.member.1"), Some("eks-cluster-name"));
        assert_eq!(get("ExternalId"), None);
    }

    #[test]
    fn parses_results_and_errors() {
        let ok = r#"<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult>
<AssumedRoleUser><Arn>arn:aws:sts::111122223333:assumed-role/r/s</Arn><AssumedRoleId>AROAX:s</AssumedRoleId></AssumedRoleUser>
<Credentials><AccessKeyId>ASIAX</AccessKeyId><SecretAccessKey>se&amp;c</SecretAccessKey><SessionToken>tok</SessionToken>
<Expiration>2027-01-15T14:00:00Z</Expiration></Credentials></AssumeRoleResult></AssumeRoleResponse>"#;
        let c = parse_response(200, ok.as_bytes()).unwrap();
        assert_eq!(c.secret_access_key, "se&c");
        assert_eq!(c.expiration_s, 1_800_021_600);
        assert_eq!(c.assumed_role_id, "AROAX:s");
        let err = r#"<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>User: x is not authorized</Message></Error></ErrorResponse>"#;
        let f = parse_response(403, err.as_bytes()).unwrap_err();
        assert_eq!((f.code.as_str(), f.status), ("AccessDenied", 403));
        assert_eq!(map_failure(&f).code, ErrorCode::AccessDeniedException);
        assert_eq!(map_failure(&f).message, "User: x is not authorized");
        assert_eq!(parse_response(200, b"<x/>").unwrap_err().code, "malformed_response");
    }

    #[test]
    fn failure_mapping() {
        let f = |code: &str, status: u16| map_failure(&StsFailure { code: code.into(), message: "m".into(), status }).code;
        assert_eq!(f("PackedPolicyTooLarge", 400), ErrorCode::InvalidRequestException);
        assert_eq!(f("ValidationError", 400), ErrorCode::InvalidRequestException);
        assert_eq!(f("Throttling", 400), ErrorCode::ThrottlingException);
        assert_eq!(f("transport_timeout", 0), ErrorCode::ServiceUnavailableException);
        assert_eq!(f("http_503", 503), ErrorCode::ServiceUnavailableException);
        assert_eq!(f("InvalidClientTokenId", 403), ErrorCode::InternalServerException);
        let m = map_failure(&StsFailure { code: "PackedPolicyTooLarge".into(), message: "Packed size…".into(), status: 400 });
        assert_eq!(m.message, "PackedPolicyTooLarge: Packed size…");
    }
}
