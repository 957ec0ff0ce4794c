//! The EKS Auth wire format: restJson1 per the `eks-auth` 2023-11-26 model (`agent.md` §3).
//!
//! * Request: `POST /clusters/{clusterName}/assume-role-for-pod-identity`, JSON body
//!   `{"token": "<jwt>"}` plus the newer optional `eksNodeName`, `instanceId`, `zone` (strings;
//!   accepted and only traced). `clusterName` is 1–100 characters of `[0-9A-Za-z][A-Za-z0-9\-_]*`;
//!   `token` matches `[A-Za-z0-9-_=]+\.[A-Za-z0-9-_=]+\.[A-Za-z0-9-_=]+`.
//! * Success: 200, `application/json`, the five required members `subject`, `audience`,
//!   `podIdentityAssociation`, `assumedRoleUser`, `credentials`; `credentials.expiration` is a
//!   JSON number of epoch seconds (restJson1's default timestamp format).
//! * Errors: the model's nine shapes, each with one member `message`, on the wire as restJson1
//!   does it: the shape name in the `x-amzn-ErrorType` header and a JSON body `{"message": "…"}`
//!   (general restJson1 convention, `agent.md` §3.4; the SDKs read the header first). Every
//!   response carries `x-amzn-RequestId`.

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::http::{self, Response};

/// The model's error shapes with their HTTP status (`agent.md` §3.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ErrorCode {
    AccessDeniedException,
    ExpiredTokenException,
    InvalidParameterException,
    InvalidRequestException,
    InvalidTokenException,
    ResourceNotFoundException,
    ThrottlingException,
    InternalServerException,
    ServiceUnavailableException,
}

impl ErrorCode {
    /// The shape name, as sent in `x-amzn-ErrorType`.
    pub fn name(self) -> &'static str {
        match self {
            ErrorCode::AccessDeniedException => "AccessDeniedException",
            ErrorCode::ExpiredTokenException => "ExpiredTokenException",
            ErrorCode::InvalidParameterException => "InvalidParameterException",
            ErrorCode::InvalidRequestException => "InvalidRequestException",
            ErrorCode::InvalidTokenException => "InvalidTokenException",
            ErrorCode::ResourceNotFoundException => "ResourceNotFoundException",
            ErrorCode::ThrottlingException => "ThrottlingException",
            ErrorCode::InternalServerException => "InternalServerException",
            ErrorCode::ServiceUnavailableException => "ServiceUnavailableException",
        }
    }

    /// The model's `httpStatusCode` (AccessDenied is 400, not 403).
    pub fn status(self) -> u16 {
        match self {
            ErrorCode::AccessDeniedException
            | ErrorCode::ExpiredTokenException
            | ErrorCode::InvalidParameterException
            | ErrorCode::InvalidRequestException
            | ErrorCode::InvalidTokenException => 400,
            ErrorCode::ResourceNotFoundException => 404,
            ErrorCode::ThrottlingException => 429,
            ErrorCode::InternalServerException => 500,
            ErrorCode::ServiceUnavailableException => 503,
        }
    }
}

/// An error answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EksAuthError {
    pub code: ErrorCode,
    pub message: String,
}

impl EksAuthError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> EksAuthError {
        EksAuthError { code, message: message.into() }
    }
}

/// The parsed request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AssumeRoleForPodIdentityRequest {
    pub cluster_name: String,
    pub token: String,
    pub eks_node_name: Option<String>,
    pub instance_id: Option<String>,
    pub zone: Option<String>,
}

/// The cluster name in `/clusters/{clusterName}/assume-role-for-pod-identity`, if the path is that
/// operation's (valid names are plain ASCII, so no percent-decoding is needed).
pub fn cluster_from_path(path: &str) -> Option<&str> {
    path.strip_prefix("/clusters/")?
        .strip_suffix("/assume-role-for-pod-identity")
        .filter(|c| !c.contains('/'))
}

/// `ClusterName`: 1–100 characters, `[0-9A-Za-z][A-Za-z0-9\-_]*`.
pub fn valid_cluster_name(name: &str) -> bool {
    let mut chars = name.chars();
    (1..=100).contains(&name.len())
        && chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// `JwtToken`: three dot-separated segments of `[A-Za-z0-9-_=]+`.
pub fn valid_token_shape(token: &str) -> bool {
    let segs: Vec<&str> = token.split('.').collect();
    segs.len() == 3
        && segs.iter().all(|s| {
            !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'=')
        })
}

/// Parses the request (path already matched). Model violations are `InvalidParameterException`
/// and a body that is not a JSON object `InvalidRequestException` (\[unk\] which code and wording
/// EKS Auth uses; the model has no `ValidationException`).
pub fn parse_request(cluster_name: &str, body: &[u8]) -> Result<AssumeRoleForPodIdentityRequest, EksAuthError> {
    if !valid_cluster_name(cluster_name) {
        return Err(EksAuthError::new(
            ErrorCode::InvalidParameterException,
            format!("Invalid cluster name: {cluster_name}. It must be 1-100 characters matching [0-9A-Za-z][A-Za-z0-9\\-_]*"),
        ));
    }
    let value: Value = serde_json::from_slice(body).map_err(|_| {
        EksAuthError::new(ErrorCode::InvalidRequestException, "The request body is not a valid JSON object.")
    })?;
    let Value::Object(obj) = value else {
        return Err(EksAuthError::new(ErrorCode::InvalidRequestException, "The request body is not a valid JSON object."));
    };
    let string = |name: &str| -> Result<Option<String>, EksAuthError> {
        match obj.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(EksAuthError::new(ErrorCode::InvalidParameterException, format!("{name} must be a string."))),
        }
    };
    let token = string("token")?
        .ok_or_else(|| EksAuthError::new(ErrorCode::InvalidParameterException, "token is required."))?;
    if !valid_token_shape(&token) {
        // Never echo the token.
        return Err(EksAuthError::new(
            ErrorCode::InvalidParameterException,
            "token must match the pattern [A-Za-z0-9-_=]+\\.[A-Za-z0-9-_=]+\\.[A-Za-z0-9-_=]+",
        ));
    }
    Ok(AssumeRoleForPodIdentityRequest {
        cluster_name: cluster_name.to_owned(),
        token,
        eks_node_name: string("eksNodeName")?,
        instance_id: string("instanceId")?,
        zone: string("zone")?,
    })
}

/// `subject`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Subject {
    pub namespace: String,
    pub service_account: String,
}

/// `podIdentityAssociation`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodIdentityAssociationRef {
    pub association_arn: String,
    pub association_id: String,
}

/// `assumedRoleUser`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssumedRoleUser {
    pub arn: String,
    pub assume_role_id: String,
}

/// `credentials` (sensitive in the model: never traced).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Credentials {
    pub session_token: String,
    pub secret_access_key: String,
    pub access_key_id: String,
    /// Epoch seconds.
    pub expiration: u64,
}

/// The 200 body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssumeRoleForPodIdentityResponse {
    pub subject: Subject,
    pub audience: String,
    pub pod_identity_association: PodIdentityAssociationRef,
    pub assumed_role_user: AssumedRoleUser,
    pub credentials: Credentials,
}

fn with_request_id(mut resp: Response, request_id: &str) -> Response {
    if let Ok(v) = http::header_value(request_id) {
        resp.headers_mut().insert("x-amzn-RequestId", v);
    }
    resp
}

/// The 200 response.
pub fn success(body: &AssumeRoleForPodIdentityResponse, request_id: &str) -> Response {
    with_request_id(http::json(200, body), request_id)
}

/// An error response: status, `x-amzn-ErrorType`, `{"message": …}`.
pub fn error(err: &EksAuthError, request_id: &str) -> Response {
    let mut resp = http::json(err.code.status(), &serde_json::json!({ "message": err.message }));
    if let Ok(v) = http::header_value(err.code.name()) {
        resp.headers_mut().insert("x-amzn-ErrorType", v);
    }
    with_request_id(resp, request_id)
}

/// A response to a path or method that is not the operation (\[unk\] what the real front end
/// sends; `UnknownOperationException` is the restJson1 convention).
pub fn unknown_operation(request_id: &str) -> Response {
    let mut resp = http::json(404, &serde_json::json!({ "message": "Unknown operation" }));
    resp.headers_mut().insert("x-amzn-ErrorType", http::header_value("UnknownOperationException").expect("ASCII"));
    with_request_id(resp, request_id)
}

/// The error shape and message of an EKS Auth error response (for clients and tests).
pub fn parse_error(resp: &http::Response) -> Option<(String, String)> {
    let code = resp.headers().get("x-amzn-ErrorType")?.to_str().ok()?;
    let code = code.split(':').next().unwrap_or(code).to_owned();
    let body: Value = serde_json::from_slice(resp.body()).ok()?;
    let message = body.get("message").and_then(Value::as_str).unwrap_or_default().to_owned();
    Some((code, message))
}

/// The success body of a response (for clients and tests).
pub fn parse_success(body: &Bytes) -> Option<AssumeRoleForPodIdentityResponse> {
    serde_json::from_slice(body).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln";

    #[test]
    fn paths_and_names() {
        assert_eq!(cluster_from_path("/clusters/demo/assume-role-for-pod-identity"), Some("demo"));
        assert_eq!(cluster_from_path("/clusters/a/b/assume-role-for-pod-identity"), None);
        assert_eq!(cluster_from_path("/clusters/demo"), None);
        assert!(valid_cluster_name("my-cluster_1"));
        assert!(!valid_cluster_name("-x"));
        assert!(!valid_cluster_name(""));
        assert!(!valid_cluster_name(&"a".repeat(101)));
        assert!(!valid_cluster_name("a.b"));
    }

    #[test]
    fn request_body() {
        let r = parse_request("demo", format!(r#"{{"token":"{TOKEN}","eksNodeName":"node-1"}}"#).as_bytes()).unwrap();
        assert_eq!(r.token, TOKEN);
        assert_eq!(r.eks_node_name.as_deref(), Some("node-1"));
        let code = |body: &str| parse_request("demo", body.as_bytes()).unwrap_err().code;
        assert_eq!(code("not json"), ErrorCode::InvalidRequestException);
        assert_eq!(code("[]"), ErrorCode::InvalidRequestException);
        assert_eq!(code("{}"), ErrorCode::InvalidParameterException);
        assert_eq!(code(r#"{"token": 3}"#), ErrorCode::InvalidParameterException);
        assert_eq!(code(r#"{"token": "a.b"}"#), ErrorCode::InvalidParameterException);
        assert_eq!(code(r#"{"token": "a.b.c d"}"#), ErrorCode::InvalidParameterException);
        assert_eq!(
            parse_request("bad name", format!(r#"{{"token":"{TOKEN}"}}"#).as_bytes()).unwrap_err().code,
            ErrorCode::InvalidParameterException
        );
    }

    #[test]
    fn every_modeled_error_has_its_status() {
        use ErrorCode::*;
        let all = [
            (AccessDeniedException, 400),
            (ExpiredTokenException, 400),
            (InvalidParameterException, 400),
            (InvalidRequestException, 400),
            (InvalidTokenException, 400),
            (ResourceNotFoundException, 404),
            (ThrottlingException, 429),
            (InternalServerException, 500),
            (ServiceUnavailableException, 503),
        ];
        for (code, status) in all {
            let resp = error(&EksAuthError::new(code, "m"), "rid");
            assert_eq!(resp.status().as_u16(), status);
            assert_eq!(resp.headers()["x-amzn-ErrorType"], code.name());
            assert_eq!(resp.headers()["x-amzn-RequestId"], "rid");
            assert_eq!(resp.headers()["content-type"], "application/json");
            assert_eq!(parse_error(&resp), Some((code.name().to_owned(), "m".to_owned())));
        }
    }

    #[test]
    fn success_body_shape() {
        let body = AssumeRoleForPodIdentityResponse {
            subject: Subject { namespace: "ns".into(), service_account: "sa".into() },
            audience: "pods.eks.amazonaws.com".into(),
            pod_identity_association: PodIdentityAssociationRef { association_arn: "arn".into(), association_id: "a-1".into() },
            assumed_role_user: AssumedRoleUser { arn: "arn:r".into(), assume_role_id: "AROA:x".into() },
            credentials: Credentials { session_token: "t".into(), secret_access_key: "s".into(), access_key_id: "ASIA".into(), expiration: 1_800_000_000 },
        };
        let v: Value = serde_json::from_slice(success(&body, "r").body()).unwrap();
        assert_eq!(v["subject"]["serviceAccount"], "sa");
        assert_eq!(v["podIdentityAssociation"]["associationId"], "a-1");
        assert_eq!(v["assumedRoleUser"]["assumeRoleId"], "AROA:x");
        assert_eq!(v["credentials"]["expiration"], 1_800_000_000u64);
        assert!(v["credentials"]["expiration"].is_u64());
    }
}
