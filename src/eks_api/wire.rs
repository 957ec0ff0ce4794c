//! The restJson1 wire format of the EKS API: JSON bodies, error shapes, request ids.
//!
//! An error is an HTTP status from the model (`error.httpStatusCode`), the error shape's name in the
//! `x-amzn-ErrorType` header, and a JSON body with the shape's `message` member (`agent.md` §3.4
//! describes the convention; EKS's error shapes all carry `message`). Every response carries an
//! `x-amzn-RequestId` (a UUID, as EKS sends). Messages that have been observed verbatim are marked
//! \[obs\]; the others are modelling choices in the same style.

use bytes::Bytes;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::Value;

use crate::http::{self, Response};

/// An EKS API error: shape name, HTTP status (from the model) and message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EksError {
    /// The error shape, e.g. `ResourceNotFoundException`.
    pub code: &'static str,
    pub status: u16,
    pub message: String,
}

impl EksError {
    /// `InvalidParameterException` (400): "The specified parameter is invalid."
    pub fn invalid_parameter(message: impl Into<String>) -> EksError {
        EksError { code: "InvalidParameterException", status: 400, message: message.into() }
    }

    /// `InvalidRequestException` (400): "The request is invalid given the state of the cluster."
    pub fn invalid_request(message: impl Into<String>) -> EksError {
        EksError { code: "InvalidRequestException", status: 400, message: message.into() }
    }

    /// `ResourceNotFoundException` (404).
    pub fn not_found(message: impl Into<String>) -> EksError {
        EksError { code: "ResourceNotFoundException", status: 404, message: message.into() }
    }

    /// `ResourceInUseException` (409), Create only.
    pub fn in_use(message: impl Into<String>) -> EksError {
        EksError { code: "ResourceInUseException", status: 409, message: message.into() }
    }

    /// `ResourceLimitExceededException` (400), Create only.
    pub fn limit_exceeded(message: impl Into<String>) -> EksError {
        EksError { code: "ResourceLimitExceededException", status: 400, message: message.into() }
    }

    /// `ThrottlingException` (429), "Rate exceeded": not an error shape of the EKS model (\[unk\]); the
    /// common AWS throttling error, which every SDK retries as throttling.
    pub fn throttling() -> EksError {
        EksError { code: "ThrottlingException", status: 429, message: "Rate exceeded".into() }
    }

    /// `ServerException` (500), the model's server-side error: "These errors are usually caused by a
    /// server-side issue."
    pub fn server_unavailable() -> EksError {
        EksError { code: "ServerException", status: 500, message: "These errors are usually caused by a server-side issue.".into() }
    }

    /// `UnknownOperationException` (404): no operation has this method and path (the error common to all
    /// AWS APIs; not in the EKS model).
    pub fn unknown_operation() -> EksError {
        EksError { code: "UnknownOperationException", status: 404, message: "The requested operation is not recognized by the service.".into() }
    }
}

/// The messages, in one place.
pub mod msg {
    /// \[obs\] DescribeCluster's message for an unknown cluster; used for every operation.
    pub fn no_cluster(name: &str) -> String {
        format!("No cluster found for name: {name}.")
    }

    /// \[obs\] eksctl #7753, crossplane #1437, eks-hybrid #679 (no trailing period).
    pub fn already_exists(existing_id: &str) -> String {
        format!("Association already exists: {existing_id}")
    }

    /// \[obs\] aws-samples/eks-workshop-v2 #882 (DeletePodIdentityAssociation with a bad id).
    pub fn association_id_length() -> String {
        "The parameter associationId should be 19 characters long.".into()
    }

    pub fn no_association(id: &str) -> String {
        format!("No association found for id: {id}.")
    }

    pub fn limit(cluster: &str, max: usize) -> String {
        format!("Cannot create more than {max} pod identity associations in cluster {cluster}.")
    }

    pub fn required(field: &str) -> String {
        format!("The parameter {field} is required.")
    }

    pub fn not_a(field: &str, kind: &str) -> String {
        format!("The parameter {field} must be a {kind}.")
    }
}

/// A request id: a version-4 UUID from the host's RNG.
pub fn request_id(rng: &mut ChaCha8Rng) -> String {
    let mut b = [0u8; 16];
    rng.fill_bytes(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

fn with_request_id(mut r: Response, request_id: &str) -> Response {
    if let Ok(v) = http::header_value(request_id) {
        r.headers_mut().insert("x-amzn-requestid", v);
    }
    r
}

/// A 200 with a JSON body.
pub fn ok(body: &Value, request_id: &str) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    with_request_id(http::response(200, "application/json", Bytes::from(bytes)), request_id)
}

/// An error response.
pub fn error(err: &EksError, request_id: &str) -> Response {
    let body = serde_json::to_vec(&serde_json::json!({ "message": err.message })).unwrap_or_default();
    let mut r = with_request_id(http::response(err.status, "application/json", Bytes::from(body)), request_id);
    if let Ok(v) = http::header_value(err.code) {
        r.headers_mut().insert("x-amzn-errortype", v);
    }
    r
}

/// A restJson1 timestamp: epoch seconds as a JSON number with millisecond precision
/// (e.g. `1700862734.922`, `agent.md` §4).
pub fn epoch_seconds(ms: u64) -> Value {
    let secs = ms / 1000;
    let frac = ms % 1000;
    if frac == 0 {
        Value::from(secs)
    } else {
        serde_json::Number::from_f64(secs as f64 + frac as f64 / 1000.0).map(Value::Number).unwrap_or(Value::from(secs))
    }
}
