//! The awsQuery wire format STS speaks: form-encoded parameters in, XML out.
//!
//! Facts (`sdk.md` §1.1–§1.5, STS model): `POST /` with `application/x-www-form-urlencoded`
//! (with or without `; charset=utf-8`, any parameter order, `+` or `%20` for spaces; a GET query
//! string is also legal); success XML is `<{Op}Response xmlns=…>` whose **first** child must be
//! `<{Op}Result>` (the Rust SDK is order-sensitive at the top level) followed by
//! `<ResponseMetadata><RequestId>`; errors are `<ErrorResponse>` → `<Error>{Type, Code,
//! Message}</Error>` then `<RequestId>`, `Content-Type: text/xml`, header `x-amzn-RequestId`, and a
//! `Date` header that must come from the simulated clock (`sdk.md` §0.1: the Rust SDK corrects its
//! signing clock from it).

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode};
use indexmap::IndexMap;
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::Rng;

/// The STS XML namespace (`sdk.md` §1.1).
pub const XMLNS: &str = "https://sts.amazonaws.com/doc/2011-06-15/";
/// The only API version STS speaks.
pub const API_VERSION: &str = "2011-06-15";

/// Messages STS sends, with where each wording comes from. `\[obs\]` = seen in real responses
/// (sources in `sdk.md` §1.5/§8); `\[unk\]` = wording not observed, code and status are from the
/// model or the common-errors table.
pub mod msg {
    /// \[obs\] (double space after the comma is in the real message).
    pub const IDP_KEY_RETRIEVAL: &str = "Couldn't retrieve verification key from your identity provider,  please reference AssumeRoleWithWebIdentity documentation for requirements";
    /// \[obs\] aws-sdk-js-v3#6419, aws-load-balancer-controller#2315.
    pub const NO_PROVIDER_PREFIX: &str = "No OpenIDConnect provider found in your account for ";
    /// \[obs\] amazon-eks-irsa-cfn#18.
    pub const INCORRECT_AUDIENCE: &str = "Incorrect token audience";
    /// \[obs\] for `aud` (aws-sdk-ruby#2698); the same pattern is used for `iss`, `sub`, `exp` \[unk\].
    pub const MISSING_CLAIM_PREFIX: &str = "Missing a required claim: ";
    /// \[obs\] crossplane#5578.
    pub const NOT_AUTHORIZED_AWRWI: &str =
        "Not authorized to perform sts:AssumeRoleWithWebIdentity";
    /// \[obs\] d2a4u/sqs4s#270.
    pub const DURATION_EXCEEDS_MAX: &str =
        "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.";
    /// \[unk\] token is not three base64url JSON segments.
    pub const MALFORMED_TOKEN: &str = "The ID Token provided is not a valid JWT";
    /// \[unk\] signature does not verify under the published key.
    pub const BAD_SIGNATURE: &str = "The signature of the web identity token could not be verified";
    /// \[unk\] header `alg` is not one the provider's key supports.
    pub const UNSUPPORTED_ALG_PREFIX: &str = "Unsupported signing algorithm: ";
    /// \[unk\] `nbf` or `iat` lies in the future beyond the leeway.
    pub const NOT_YET_VALID: &str = "The web identity token is not yet valid";
    /// \[unk\] a timestamp claim is not an integer (the model requires integers).
    pub const NON_INTEGER_TIMESTAMP_PREFIX: &str = "Token claim must be an integer timestamp: ";
    /// \[obs\] awslabs/aws-orbit-workbench#771 (sic: no space before the second number).
    pub fn token_expired(now_s: i64, exp_s: i64) -> String {
        format!(
            "Token expired: current date/time {now_s} must be before the expiration date/time{exp_s}"
        )
    }
    /// \[obs\] mozilla-iam/mozilla-aws-cli#146; the number is taken to be the token age in seconds.
    pub fn token_too_old(age_s: i64) -> String {
        format!("Token too old: {age_s}")
    }
    /// \[obs\] common query-protocol wording (s3proxy's STS emulation reproduces it).
    pub fn invalid_action(action: &str, version: &str) -> String {
        format!("Could not find operation {action} for version {version}")
    }
    /// \[obs\] STS error XML in aws-azure-login#251.
    pub const INVALID_CLIENT_TOKEN_ID: &str =
        "The security token included in the request is invalid";
    /// \[obs\] STS/IAM error XML in cfn-sphere#55.
    pub const EXPIRED_SECURITY_TOKEN: &str =
        "The security token included in the request is expired";
    /// \[unk\] wording; code and 403 from the common-errors table.
    pub const MISSING_AUTHENTICATION_TOKEN: &str = "Request is missing Authentication Token";
    /// \[unk\] wording; code and 400 from the common-errors table.
    pub const MISSING_ACTION: &str = "Missing Action";
    /// \[unk\] wording; code and 400 from the common-errors table.
    pub const INCOMPLETE_SIGNATURE: &str = "Authorization header requires 'Credential' parameter.";
}

/// An error answer: code, message, HTTP status and fault side, rendered as `<ErrorResponse>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StsError {
    pub code: &'static str,
    pub message: String,
    pub status: StatusCode,
    /// `Sender` (client fault) or `Receiver` (server fault).
    pub sender: bool,
}

impl StsError {
    pub fn new(code: &'static str, status: StatusCode, message: impl Into<String>) -> StsError {
        StsError {
            code,
            message: message.into(),
            status,
            sender: status.is_client_error(),
        }
    }

    /// `ValidationError` (400) with the Coral message format:
    /// `N validation error(s) detected: <m1>; <m2>` (`sdk.md` §1.3 \[obs\]).
    pub fn validation(messages: &[String]) -> StsError {
        debug_assert!(!messages.is_empty());
        let n = messages.len();
        let plural = if n == 1 { "" } else { "s" };
        StsError::new(
            "ValidationError",
            StatusCode::BAD_REQUEST,
            format!(
                "{n} validation error{plural} detected: {}",
                messages.join("; ")
            ),
        )
    }

    pub fn invalid_identity_token(message: impl Into<String>) -> StsError {
        StsError::new("InvalidIdentityToken", StatusCode::BAD_REQUEST, message)
    }

    pub fn expired_token_exception(message: impl Into<String>) -> StsError {
        StsError::new("ExpiredTokenException", StatusCode::BAD_REQUEST, message)
    }

    pub fn access_denied(message: impl Into<String>) -> StsError {
        StsError::new("AccessDenied", StatusCode::FORBIDDEN, message)
    }
}

/// Request parameters, from the query string and then the form body (the body wins on a
/// duplicate name; within one source the first occurrence wins).
pub fn parse_params(req: &Request<Bytes>) -> IndexMap<String, String> {
    let mut params = IndexMap::new();
    let mut add = |pairs: Vec<(String, String)>| {
        let mut seen = indexmap::IndexSet::new();
        for (k, v) in pairs {
            if seen.insert(k.clone()) {
                params.insert(k, v);
            }
        }
    };
    if let Some(q) = req.uri().query() {
        add(serde_urlencoded::from_str(q).unwrap_or_default());
    }
    if !req.body().is_empty() {
        add(serde_urlencoded::from_bytes(req.body()).unwrap_or_default());
    }
    params
}

/// XML-escapes text content.
pub fn esc(s: &str) -> std::borrow::Cow<'_, str> {
    quick_xml::escape::escape(s)
}

/// `<{op}Response>` with `result_children` (already-rendered, indented 4) inside `<{op}Result>`.
pub fn success_xml(op: &str, result_children: &str, request_id: &str) -> String {
    format!(
        "<{op}Response xmlns=\"{XMLNS}\">\n  <{op}Result>\n{result_children}  </{op}Result>\n  <ResponseMetadata>\n    <RequestId>{}</RequestId>\n  </ResponseMetadata>\n</{op}Response>\n",
        esc(request_id)
    )
}

/// `<ErrorResponse>` exactly as real STS lays it out (`sdk.md` §1.5, aws-sdk-rust#827 bytes).
pub fn error_xml(err: &StsError, request_id: &str) -> String {
    format!(
        "<ErrorResponse xmlns=\"{XMLNS}\">\n  <Error>\n    <Type>{}</Type>\n    <Code>{}</Code>\n    <Message>{}</Message>\n  </Error>\n  <RequestId>{}</RequestId>\n</ErrorResponse>\n",
        if err.sender { "Sender" } else { "Receiver" },
        esc(err.code),
        esc(&err.message),
        esc(request_id)
    )
}

/// An XML response with the STS headers.
pub fn xml_response(
    status: StatusCode,
    body: String,
    request_id: &str,
    now: SystemTime,
) -> Response<Bytes> {
    let len = body.len();
    let mut resp = Response::new(Bytes::from(body));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(
        "x-amzn-RequestId",
        HeaderValue::from_str(request_id).expect("request ids are ASCII"),
    );
    h.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/xml"),
    );
    h.insert(http::header::CONTENT_LENGTH, HeaderValue::from(len));
    h.insert(
        http::header::DATE,
        HeaderValue::from_str(&http_date(now)).expect("HTTP dates are ASCII"),
    );
    resp
}

/// A request id in UUID v4 form from the host's seeded RNG (`x-amzn-RequestId` values are UUIDs).
pub fn request_id(rng: &mut ChaCha8Rng) -> String {
    let mut b = [0u8; 16];
    rng.fill_bytes(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// Whole seconds since the Unix epoch (negative before 1970).
pub fn unix_secs(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    }
}

fn utc(t: SystemTime) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp(unix_secs(t))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

/// RFC 7231 IMF-fixdate, e.g. `Tue, 13 Jun 2023 20:09:03 GMT`.
pub fn http_date(t: SystemTime) -> String {
    let f = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    utc(t)
        .format(&f)
        .expect("formatting a valid date cannot fail")
}

/// ISO 8601 in UTC with a `Z` and whole seconds, e.g. `2026-12-04T14:00:00Z` (STS `Expiration`).
pub fn iso8601(t: SystemTime) -> String {
    let f = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    utc(t)
        .format(&f)
        .expect("formatting a valid date cannot fail")
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::rand_core::SeedableRng;
    use std::time::Duration;

    #[test]
    fn dates() {
        let t = UNIX_EPOCH + Duration::from_secs(1_686_687_343);
        assert_eq!(http_date(t), "Tue, 13 Jun 2023 20:15:43 GMT");
        assert_eq!(iso8601(t), "2023-06-13T20:15:43Z");
    }

    #[test]
    fn request_ids_are_uuid_v4() {
        let id = request_id(&mut ChaCha8Rng::seed_from_u64(1));
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
    }

    #[test]
    fn params_accept_plus_and_percent_20_and_any_order() {
        let req = Request::post("/?Version=2011-06-15")
            .header(
                "content-type",
                "application/x-www-form-urlencoded; charset=utf-8",
            )
            .body(Bytes::from_static(
                b"RoleSessionName=a+b&Action=GetCallerIdentity&X=c%20d",
            ))
            .unwrap();
        let p = parse_params(&req);
        assert_eq!(p["RoleSessionName"], "a b");
        assert_eq!(p["X"], "c d");
        assert_eq!(p["Action"], "GetCallerIdentity");
        assert_eq!(p["Version"], "2011-06-15");
    }

    #[test]
    fn validation_message_format() {
        let e = StsError::validation(&["a".into(), "b".into()]);
        assert_eq!(e.message, "2 validation errors detected: a; b");
        assert_eq!(
            StsError::validation(&["a".into()]).message,
            "1 validation error detected: a"
        );
    }
}
