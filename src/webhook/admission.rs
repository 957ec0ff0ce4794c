//! The AdmissionReview `admission.k8s.io/v1` wire format, and [`review`]: one request body in, one
//! response body out, as upstream's `Modifier.Handle` + `MutatePod` (`pkg/handler/handler.go`).
//!
//! These are our own serde types: `k8s-openapi` has no `admission.k8s.io` group (it is not in the
//! API server's OpenAPI document). Field names and order follow Go's `k8s.io/api/admission/v1`, so
//! the JSON we write is what upstream writes (modulo Go's escaping of `<`, `>`, `&`).
//!
//! Upstream behaviour kept here (reference §4):
//! * the response echoes the request's `apiVersion`/`kind` (PR #310) and `request.uid`;
//! * nothing to inject: `{"uid", "allowed": true}`, no patch;
//! * otherwise `allowed: true`, `patchType: "JSONPatch"`, `patch` = base64 of the JSON Patch;
//! * `request.namespace` (not the Pod's `metadata.namespace`) names the ServiceAccount's namespace.
//!
//! Deliberate differences, all on malformed input the API server never sends: upstream answers
//! with `allowed: false` and a Go decoder message; [`review`] returns a [`WebhookError`] naming the
//! field, and [`error_response`] renders upstream's deny body from it. A missing or empty
//! `request.uid` is an error here (upstream would echo `""`), and so is a `null` `request.object`
//! (upstream decodes it as an empty Pod and lets it through unmutated).

use std::collections::BTreeMap;

use k8s_openapi::api::authentication::v1::UserInfo;
use k8s_openapi::api::core::v1::{Pod, ServiceAccount};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{mutate, Mutation, PodIdentityAssociationRef, WebhookConfig, WebhookError};

/// The only `Content-Type` upstream accepts, compared for exact equality (no parameters).
pub const CONTENT_TYPE_JSON: &str = "application/json";
/// Upstream's plain-text body for any other `Content-Type`, sent with HTTP 415.
pub const BAD_CONTENT_TYPE_BODY: &str = "Invalid Content-Type, expected `application/json`\n";
/// Upstream's status message when the body has no `request` (`MutatePod`'s `badRequest`).
pub const BAD_CONTENT_MESSAGE: &str = "bad content";
/// `patchType` of every patch the webhook sends.
pub const PATCH_TYPE_JSON_PATCH: &str = "JSONPatch";

/// `AdmissionReview` (`admission.k8s.io/v1`): a request from the API server, or our response.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdmissionReview {
    /// `AdmissionReview` when the API server sends it; echoed back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// `admission.k8s.io/v1` (or `v1beta1`, same shape) when sent; echoed back. Non-EKS API servers
    /// reject v1 responses without it (issues #225, #132).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// Set by the API server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<AdmissionRequest>,
    /// Set by the webhook.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<AdmissionResponse>,
}

/// `AdmissionRequest`: what is being admitted. The webhook reads `uid`, `namespace` and `object`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdmissionRequest {
    /// Identifies this admission call; the response must carry the same value.
    pub uid: String,
    /// Kind of `object` (`{"version":"v1","kind":"Pod"}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<GroupVersionKind>,
    /// Resource being acted on (`{"version":"v1","resource":"pods"}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<GroupVersionResource>,
    /// Subresource, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_resource: Option<String>,
    /// Kind originally requested, before conversion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_kind: Option<GroupVersionKind>,
    /// Resource originally requested, before conversion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_resource: Option<GroupVersionResource>,
    /// Subresource originally requested.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_sub_resource: Option<String>,
    /// Object name; often empty on CREATE (`generateName`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Namespace of the request: where the webhook looks up the ServiceAccount and association.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// `CREATE`, `UPDATE`, ... The shipped webhook registration sends only `CREATE`; the handler
    /// does not check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
    /// Who made the request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_info: Option<UserInfo>,
    /// The Pod being created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<Value>,
    /// Previous object (UPDATE/DELETE only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_object: Option<Value>,
    /// True for dry-run requests; this webhook has no side effects, so it does not care.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dry_run: Option<bool>,
    /// Operation options (`CreateOptions`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<Value>,
}

/// `AdmissionResponse`, in Go's field order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdmissionResponse {
    /// Copied from `request.uid`.
    #[serde(default)]
    pub uid: String,
    /// `true` unless the request was malformed.
    #[serde(default)]
    pub allowed: bool,
    /// Set on errors, with the message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<AdmissionStatus>,
    /// The JSON Patch bytes; base64 on the wire (Go `[]byte`).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "base64_bytes")]
    pub patch: Option<Vec<u8>>,
    /// [`PATCH_TYPE_JSON_PATCH`] whenever `patch` is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patch_type: Option<String>,
    /// Never set by this webhook.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit_annotations: Option<BTreeMap<String, String>>,
    /// Never set by this webhook.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warnings: Option<Vec<String>>,
}

/// The `status` of a response (`metav1.Status`), as much of it as the webhook uses. Go always
/// writes `"metadata":{}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdmissionStatus {
    /// Always `{}`.
    #[serde(default)]
    pub metadata: serde_json::Map<String, Value>,
    /// Why the request was denied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Machine-readable reason; unused by this webhook.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// HTTP-like code; unused by this webhook.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<i32>,
}

/// `metav1.GroupVersionKind`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupVersionKind {
    /// API group, empty for core.
    #[serde(default)]
    pub group: String,
    /// API version.
    #[serde(default)]
    pub version: String,
    /// Kind.
    #[serde(default)]
    pub kind: String,
}

/// `metav1.GroupVersionResource`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupVersionResource {
    /// API group, empty for core.
    #[serde(default)]
    pub group: String,
    /// API version.
    #[serde(default)]
    pub version: String,
    /// Resource (plural).
    #[serde(default)]
    pub resource: String,
}

/// One reviewed request: the response body and what the webhook decided.
#[derive(Debug, Clone, PartialEq)]
pub struct Reviewed {
    /// The AdmissionReview response, serialised.
    pub body: Vec<u8>,
    /// `request.uid`, echoed in the body.
    pub uid: String,
    /// `request.namespace` (empty if absent).
    pub namespace: String,
    /// The Pod's `spec.serviceAccountName` (empty if absent).
    pub service_account: String,
    /// The decision and patch.
    pub mutation: Mutation,
}

/// Review one AdmissionReview request body and return the response body.
///
/// `lookup_sa(namespace, name)` is the webhook's ServiceAccount cache and
/// `lookup_assoc(namespace, name)` its Pod Identity association set, both as of this request; both
/// are called with `request.namespace` and the Pod's `spec.serviceAccountName`. `rng` feeds the Pod
/// Identity jitter. Malformed input is an `Err` naming the field (see [`error_response`] for the
/// body upstream would send then).
pub fn review<R, S, A>(
    cfg: &WebhookConfig,
    request_body: &[u8],
    lookup_sa: S,
    lookup_assoc: A,
    rng: &mut R,
) -> Result<Vec<u8>, WebhookError>
where
    R: rand::Rng + ?Sized,
    S: Fn(&str, &str) -> Option<ServiceAccount>,
    A: Fn(&str, &str) -> Option<PodIdentityAssociationRef>,
{
    review_with_outcome(cfg, request_body, lookup_sa, lookup_assoc, rng).map(|r| r.body)
}

/// [`review`], also returning the decision (for traces and metrics).
pub fn review_with_outcome<R, S, A>(
    cfg: &WebhookConfig,
    request_body: &[u8],
    lookup_sa: S,
    lookup_assoc: A,
    rng: &mut R,
) -> Result<Reviewed, WebhookError>
where
    R: rand::Rng + ?Sized,
    S: Fn(&str, &str) -> Option<ServiceAccount>,
    A: Fn(&str, &str) -> Option<PodIdentityAssociationRef>,
{
    let (review, request) = parse_request(request_body)?;
    let mut pod = parse_pod(request.object.as_ref())?;

    // Upstream overwrites the Pod's namespace with the request's before anything reads it.
    let namespace = request.namespace.clone().unwrap_or_default();
    pod.metadata.namespace = (!namespace.is_empty()).then(|| namespace.clone());
    let service_account =
        pod.spec.as_ref().and_then(|s| s.service_account_name.clone()).unwrap_or_default();

    let assoc = lookup_assoc(&namespace, &service_account);
    let sa = lookup_sa(&namespace, &service_account);
    let mutation = mutate(cfg, &pod, sa.as_ref(), assoc.as_ref(), rng)?;

    let patch = match &mutation.patch {
        Some(p) => Some(serde_json::to_vec(p).map_err(|e| WebhookError::Encode { reason: e.to_string() })?),
        None => None,
    };
    let response = AdmissionResponse {
        uid: request.uid.clone(),
        allowed: true,
        patch_type: patch.as_ref().map(|_| PATCH_TYPE_JSON_PATCH.to_owned()),
        patch,
        ..AdmissionResponse::default()
    };
    let body = encode_response(review.kind, review.api_version, response)?;
    Ok(Reviewed { body, uid: request.uid, namespace, service_account, mutation })
}

/// The body upstream sends when it cannot handle a request: HTTP 200 with `allowed: false` (a deny;
/// the shipped `failurePolicy: Ignore` does not apply, since the webhook did answer) and the error
/// text in `status.message`. Echoes `apiVersion`/`kind` and `request.uid` when the body has them.
pub fn error_response(request_body: &[u8], err: &WebhookError) -> Vec<u8> {
    let parsed: Option<Value> = serde_json::from_slice(request_body).ok();
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
    let root = parsed.as_ref();
    let message = match err {
        WebhookError::MissingField { field: "request" } => BAD_CONTENT_MESSAGE.to_owned(),
        other => other.to_string(),
    };
    let response = AdmissionResponse {
        uid: text(root.and_then(|r| r.get("request")).and_then(|r| r.get("uid"))).unwrap_or_default(),
        allowed: false,
        status: Some(AdmissionStatus { message: Some(message), ..AdmissionStatus::default() }),
        ..AdmissionResponse::default()
    };
    let kind = text(root.and_then(|r| r.get("kind")));
    let api_version = text(root.and_then(|r| r.get("apiVersion")));
    // Serialising these plain structs cannot fail; fall back to a fixed body rather than panic.
    encode_response(kind, api_version, response)
        .unwrap_or_else(|_| br#"{"response":{"uid":"","allowed":false}}"#.to_vec())
}

fn encode_response(
    kind: Option<String>,
    api_version: Option<String>,
    response: AdmissionResponse,
) -> Result<Vec<u8>, WebhookError> {
    let review = AdmissionReview { kind, api_version, request: None, response: Some(response) };
    serde_json::to_vec(&review).map_err(|e| WebhookError::Encode { reason: e.to_string() })
}

/// Decode the envelope, checking the fields the webhook needs one by one so the error names them.
fn parse_request(body: &[u8]) -> Result<(AdmissionReview, AdmissionRequest), WebhookError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        // Upstream: a nil body is "bad content", like a review without `request`.
        return Err(WebhookError::MissingField { field: "request" });
    }
    let root: Value = serde_json::from_slice(body).map_err(|e| WebhookError::InvalidJson { reason: e.to_string() })?;
    let Some(object) = root.as_object() else {
        return Err(WebhookError::InvalidField { field: "(body)".into(), reason: format!("expected an object, found {}", type_name(&root)) });
    };
    let request = match object.get("request") {
        None | Some(Value::Null) => return Err(WebhookError::MissingField { field: "request" }),
        Some(r) => r,
    };
    let Some(request_object) = request.as_object() else {
        return Err(WebhookError::InvalidField { field: "request".into(), reason: format!("expected an object, found {}", type_name(request)) });
    };
    match request_object.get("uid") {
        None | Some(Value::Null) => return Err(WebhookError::MissingField { field: "request.uid" }),
        Some(Value::String(uid)) if uid.is_empty() => {
            return Err(WebhookError::InvalidField { field: "request.uid".into(), reason: "empty".into() });
        }
        Some(Value::String(_)) => {}
        Some(other) => {
            return Err(WebhookError::InvalidField { field: "request.uid".into(), reason: format!("expected a string, found {}", type_name(other)) });
        }
    }
    let mut review: AdmissionReview = serde_path_to_error::deserialize(root).map_err(|e| WebhookError::InvalidField {
        field: e.path().to_string(),
        reason: e.into_inner().to_string(),
    })?;
    let request = review.request.take().ok_or(WebhookError::MissingField { field: "request" })?;
    Ok((review, request))
}

fn parse_pod(object: Option<&Value>) -> Result<Pod, WebhookError> {
    let object = match object {
        None | Some(Value::Null) => return Err(WebhookError::MissingField { field: "request.object" }),
        Some(o) => o,
    };
    serde_path_to_error::deserialize(object).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." { "request.object".to_owned() } else { format!("request.object.{path}") };
        WebhookError::InvalidPod { field, reason: e.into_inner().to_string() }
    })
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Go encodes `[]byte` as standard base64 (with padding).
mod base64_bytes {
    use base64::Engine as _;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(bytes: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match bytes {
            Some(b) => s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(b)),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        match Option::<String>::deserialize(d)? {
            Some(text) => base64::engine::general_purpose::STANDARD
                .decode(text.as_bytes())
                .map(Some)
                .map_err(serde::de::Error::custom),
            None => Ok(None),
        }
    }
}

/// Decode a response's base64 patch into a JSON Patch (for the API server side and tests).
pub fn decode_patch(response: &AdmissionResponse) -> Result<Option<json_patch::Patch>, WebhookError> {
    match &response.patch {
        None => Ok(None),
        Some(bytes) => serde_json::from_slice(bytes)
            .map(Some)
            .map_err(|e| WebhookError::InvalidField { field: "response.patch".into(), reason: e.to_string() }),
    }
}

