//! S3's REST-XML wire format: error bodies, request ids, and the encoding of object keys in paths.
//!
//! An error is an HTTP status, `Content-Type: application/xml`, and a body
//! `<Error><Code>…</Code><Message>…</Message>…<RequestId>…</RequestId><HostId>…</HostId></Error>`
//! with, depending on the code, extra elements naming what was wrong (`<Key>`, `<BucketName>`,
//! `<AWSAccessKeyId>`, …) (S3 API reference, "Error responses"). Every response carries
//! `x-amz-request-id` (16 upper-case hex digits) and `x-amz-id-2`. The codes, statuses and messages
//! below are the S3 error reference's; the few that are modelling choices say so.

use std::fmt;

use base64::Engine;
use bytes::Bytes;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::http::{self, Response};

/// An S3 error as a client sees it: the `Code` and `Message` of the XML body and the HTTP status.
/// A request that got no HTTP response at all has status 0 and the transport's error code
/// (`timeout`, `connect_refused`, …) as its code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Error {
    pub code: String,
    pub message: String,
    pub status: u16,
}

impl S3Error {
    pub fn new(code: &str, status: u16, message: impl Into<String>) -> S3Error {
        S3Error { code: code.to_owned(), message: message.into(), status }
    }
}

impl fmt::Display for S3Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}): {}", self.code, self.status, self.message)
    }
}

impl std::error::Error for S3Error {}

/// An error the service answers with: the error and the extra elements of its XML body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub error: S3Error,
    pub extra: Vec<(&'static str, String)>,
}

impl Reply {
    fn new(code: &str, status: u16, message: impl Into<String>) -> Reply {
        Reply { error: S3Error::new(code, status, message), extra: Vec::new() }
    }

    fn with(mut self, element: &'static str, value: impl Into<String>) -> Reply {
        self.extra.push((element, value.into()));
        self
    }

    /// `NoSuchKey` (404).
    pub fn no_such_key(key: &str) -> Reply {
        Reply::new("NoSuchKey", 404, "The specified key does not exist.").with("Key", key)
    }

    /// `NoSuchBucket` (404).
    pub fn no_such_bucket(bucket: &str) -> Reply {
        Reply::new("NoSuchBucket", 404, "The specified bucket does not exist.").with("BucketName", bucket)
    }

    /// `AccessDenied` (403) with a message (see [`access_denied_message`]).
    pub fn access_denied(message: impl Into<String>) -> Reply {
        Reply::new("AccessDenied", 403, message)
    }

    /// `InvalidAccessKeyId` (403): no such access key.
    pub fn invalid_access_key_id(akid: &str) -> Reply {
        Reply::new("InvalidAccessKeyId", 403, "The AWS Access Key Id you provided does not exist in our records.")
            .with("AWSAccessKeyId", akid)
    }

    /// `ExpiredToken` (400). S3 also echoes the session token as `<Token-0>`; this simulator leaves it
    /// out, since secrets never leave the services that hold them.
    pub fn expired_token() -> Reply {
        Reply::new("ExpiredToken", 400, "The provided token has expired.")
    }

    /// `InvalidToken` (400): the session token does not belong to the access key (`<Token-0>` left
    /// out as for [`Reply::expired_token`]).
    pub fn invalid_token() -> Reply {
        Reply::new("InvalidToken", 400, "The provided token is malformed or otherwise invalid.")
    }

    /// `AuthorizationHeaderMalformed` (400).
    pub fn authorization_header_malformed(detail: &str) -> Reply {
        Reply::new("AuthorizationHeaderMalformed", 400, format!("The authorization header is malformed; {detail}"))
    }

    /// `AuthorizationHeaderMalformed` (400) for a request signed for another region.
    pub fn wrong_region(got: &str, want: &str) -> Reply {
        Reply::authorization_header_malformed(&format!("the region '{got}' is wrong; expecting '{want}'")).with("Region", want)
    }

    /// `InvalidArgument` (400) for an `Authorization` header that is not SigV4.
    pub fn unsupported_authorization_type() -> Reply {
        Reply::new("InvalidArgument", 400, "Unsupported Authorization Type").with("ArgumentName", "Authorization")
    }

    /// `AccessDenied` (403) for a signed request without a usable date.
    pub fn missing_date() -> Reply {
        Reply::access_denied("AWS authentication requires a valid Date or x-amz-date header")
    }

    /// `RequestTimeTooSkewed` (403).
    pub fn request_time_too_skewed(request_time: &str, server_time: &str, max_ms: u64) -> Reply {
        Reply::new("RequestTimeTooSkewed", 403, "The difference between the request time and the current time is too large.")
            .with("RequestTime", request_time)
            .with("ServerTime", server_time)
            .with("MaxAllowedSkewMilliseconds", max_ms.to_string())
    }

    /// `InvalidRequest` (400): SigV4 requests to S3 must carry `x-amz-content-sha256`.
    pub fn missing_content_sha256() -> Reply {
        Reply::new("InvalidRequest", 400, "Missing required header for this request: x-amz-content-sha256")
    }

    /// `XAmzContentSHA256Mismatch` (400).
    pub fn content_sha256_mismatch(client: &str, computed: &str) -> Reply {
        Reply::new("XAmzContentSHA256Mismatch", 400, "The provided 'x-amz-content-sha256' header does not match what was computed.")
            .with("ClientComputedContentSHA256", client)
            .with("S3ComputedContentSHA256", computed)
    }

    /// `InvalidURI` (400): a path that does not decode.
    pub fn invalid_uri(uri: &str) -> Reply {
        Reply::new("InvalidURI", 400, "Couldn't parse the specified URI.").with("URI", uri)
    }

    /// `NotImplemented` (501). S3's own message is about headers; the message here, naming what this
    /// simulator serves, is a modelling choice.
    pub fn not_implemented(what: &str) -> Reply {
        Reply::new("NotImplemented", 501, format!("{what} is not implemented by this simulator: it serves GetObject and PutObject."))
    }

    /// `SlowDown` (503), "Please reduce your request rate." (S3 API reference, error codes): what S3
    /// answers when it throttles.
    pub fn slow_down() -> Reply {
        Reply::new("SlowDown", 503, "Please reduce your request rate.")
    }

    /// `ServiceUnavailable` (503), "Service is unable to handle request." (S3 API reference).
    pub fn service_unavailable() -> Reply {
        Reply::new("ServiceUnavailable", 503, "Service is unable to handle request.")
    }

    /// `InternalError` (500), e.g. when the session lookup fails.
    pub fn internal_error() -> Reply {
        Reply::new("InternalError", 500, "We encountered an internal error. Please try again.")
    }
}

/// Why a policy evaluation denied, for the message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DenyReason {
    /// A matching `Deny` statement in a policy of this type.
    Explicit(&'static str),
    /// No policy of this type allows the action.
    Implicit(&'static str),
}

/// The `AccessDenied` message for a same-account request (S3 user guide, "Troubleshoot access denied
/// (403 Forbidden) errors"; IAM user guide, "Troubleshoot access denied error messages"):
/// `User: <arn> is not authorized to perform: <action> on resource: "<arn>" because no <type> policy
/// allows the <action> action`, or `… with an explicit deny in a(n) <type> policy`.
pub fn access_denied_message(user_arn: &str, action: &str, resource: &str, reason: DenyReason) -> String {
    let context = match reason {
        DenyReason::Explicit(kind) => format!("with an explicit deny in {} {kind} policy", article(kind)),
        DenyReason::Implicit(kind) => format!("because no {kind} policy allows the {action} action"),
    };
    format!("User: {user_arn} is not authorized to perform: {action} on resource: \"{resource}\" {context}")
}

fn article(word: &str) -> &'static str {
    if word.starts_with(['a', 'e', 'i', 'o', 'u']) { "an" } else { "a" }
}

/// The classic message, for anonymous and cross-account callers.
pub const ACCESS_DENIED: &str = "Access Denied";

/// A fresh `x-amz-request-id` (16 upper-case hex digits) and `x-amz-id-2` from the host's RNG.
pub fn request_ids(rng: &mut ChaCha8Rng) -> (String, String) {
    let mut id = [0u8; 8];
    rng.fill_bytes(&mut id);
    let mut host = [0u8; 54];
    rng.fill_bytes(&mut host);
    let request_id = id.iter().map(|b| format!("{b:02X}")).collect();
    (request_id, base64::engine::general_purpose::STANDARD.encode(host))
}

/// Adds the request-id headers every S3 response carries.
pub fn with_ids(mut r: Response, request_id: &str, host_id: &str) -> Response {
    if let Ok(v) = http::header_value(request_id) {
        r.headers_mut().insert("x-amz-request-id", v);
    }
    if let Ok(v) = http::header_value(host_id) {
        r.headers_mut().insert("x-amz-id-2", v);
    }
    r
}

fn esc(s: &str) -> String {
    quick_xml::escape::escape(s).into_owned()
}

/// The XML body of an error.
pub fn error_xml(reply: &Reply, request_id: &str, host_id: &str) -> String {
    let mut s = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error>");
    s.push_str(&format!("<Code>{}</Code><Message>{}</Message>", esc(&reply.error.code), esc(&reply.error.message)));
    for (element, value) in &reply.extra {
        s.push_str(&format!("<{element}>{}</{element}>", esc(value)));
    }
    s.push_str(&format!("<RequestId>{}</RequestId><HostId>{}</HostId></Error>", esc(request_id), esc(host_id)));
    s
}

/// An error response.
pub fn error_response(reply: &Reply, request_id: &str, host_id: &str) -> Response {
    let body = error_xml(reply, request_id, host_id);
    with_ids(http::response(reply.error.status, "application/xml", Bytes::from(body)), request_id, host_id)
}

/// Text of the first element reached by following `path` (element names, any depth between), for
/// reading error bodies on the client side.
pub fn xml_text(xml: &str, path: &[&str]) -> Option<String> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut matched = 0usize;
    let mut hits: Vec<bool> = Vec::new();
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) => {
                let hit = matched < path.len() && e.local_name().as_ref() == path[matched];
                if hit {
                    matched += 1;
                }
                hits.push(hit);
                if matched == path.len() {
                    return reader.read_text(e.name()).ok().map(|raw| unescape(&raw));
                }
            }
            Ok(Event::End(_)) if hits.pop() == Some(true) => matched -= 1,
            Ok(Event::Eof) | Err(_) => return None,
            _ => {}
        }
    }
}

fn unescape(t: &str) -> String {
    quick_xml::escape::unescape(t).map(|c| c.into_owned()).unwrap_or_else(|_| t.to_owned())
}

/// An error from a non-2xx response: `Code` and `Message` of the XML body, or `http_<status>` when the
/// body is not an S3 error document.
pub fn parse_error(status: u16, body: &[u8]) -> S3Error {
    let xml = String::from_utf8_lossy(body);
    match xml_text(&xml, &["Error", "Code"]) {
        Some(code) => S3Error { code, message: xml_text(&xml, &["Error", "Message"]).unwrap_or_default(), status },
        None => S3Error { code: format!("http_{status}"), message: String::new(), status },
    }
}

/// URI-encodes an object key for a path-style URL and SigV4's canonical URI, as S3 expects: every byte
/// but the unreserved characters (`A-Z a-z 0-9 - . _ ~`) and `/` is `%XX` (upper-case hex). S3 encodes
/// the path once (SigV4 documentation: "Do not normalize URI paths for requests to Amazon S3").
pub fn encode_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for b in key.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Decodes `%XX` escapes in a path; `None` for a bad escape or a result that is not UTF-8.
pub fn decode_path(path: &str) -> Option<String> {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = path.get(i + 1..i + 3).filter(|h| h.bytes().all(|c| c.is_ascii_hexdigit()))?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}
