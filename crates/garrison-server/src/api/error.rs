//! The API's errors: a stable code and a message safe to show any client; causes that are
//! ours (a database failure) go to the server's log, never into a response.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use garrison_model::access::Role;
use serde::Serialize;

/// The body of every error response.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable, for programs: `unauthenticated`, `invalid_token`, `forbidden`, `not_found`,
    /// `invalid_request`, `conflict`, `unavailable`, `busy`, `internal`.
    pub code: String,
    /// For people; never holds a secret or an internal cause.
    pub message: String,
}

/// Every error answer a route may give, for the OpenAPI document.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
pub enum ErrorResponses {
    /// The request is malformed (parameters, body).
    #[response(status = 400)]
    InvalidRequest(ErrorBody),
    /// No credentials, or credentials that are not valid (unknown, forged, revoked, expired).
    #[response(status = 401)]
    Unauthenticated(ErrorBody),
    /// Valid credentials whose role does not allow this.
    #[response(status = 403)]
    Forbidden(ErrorBody),
    /// No such resource.
    #[response(status = 404)]
    NotFound(ErrorBody),
    /// The resource is not in a state that allows this.
    #[response(status = 409)]
    Conflict(ErrorBody),
    /// The server cannot do this now (the store is busy, the responder is not configured).
    #[response(status = 503)]
    Unavailable(ErrorBody),
    /// A fault of the server's, described in its log.
    #[response(status = 500)]
    Internal(ErrorBody),
}

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn unauthenticated() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "this route needs an API token (Authorization: Bearer gar_…)",
        )
    }

    pub fn invalid_token(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "invalid_token", message)
    }

    pub fn forbidden(needed: Role, held: Role) -> ApiError {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!("this needs the {needed} role; the credentials hold {held}"),
        )
    }

    /// Refused for a reason other than the role.
    pub fn forbidden_because(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    }

    pub fn conflict(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, "conflict", message)
    }

    pub fn unavailable(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
    }

    /// A fault of ours: the cause is logged, the client hears only that it happened.
    pub fn internal(cause: impl std::fmt::Display) -> ApiError {
        tracing::error!("garrison api: internal error: {cause}");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; the server's log has the cause",
        )
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub fn code(&self) -> &'static str {
        self.code
    }
}

impl From<garrison_store::StoreError> for ApiError {
    fn from(error: garrison_store::StoreError) -> ApiError {
        if error.is_retryable() {
            tracing::warn!("garrison api: store busy: {error}");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                "the store is busy; try again",
            )
        } else {
            ApiError::internal(error)
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_owned(),
                message: self.message,
            },
        };
        let mut response = (self.status, axum::Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            let challenge = if self.code == "invalid_token" {
                "Bearer realm=\"garrison\", error=\"invalid_token\""
            } else {
                "Bearer realm=\"garrison\""
            };
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
        }
        response
    }
}

/// JSON object bodies, whose malformation is answered in the API's error shape.
pub struct ApiJson<T>(pub T);

impl<S, T> axum::extract::FromRequest<S> for ApiJson<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        // Every body the API takes is an object: serde would also read a struct from an array.
        let axum::Json(value) = axum::Json::<serde_json::Value>::from_request(request, state)
            .await
            .map_err(|rejection| ApiError::invalid(rejection.body_text()))?;
        if !value.is_object() {
            return Err(ApiError::invalid("the body must be a JSON object"));
        }
        serde_json::from_value(value)
            .map(ApiJson)
            .map_err(|error| ApiError::invalid(format!("the body does not fit: {error}")))
    }
}

/// Query parameters, whose malformation is answered in the API's error shape.
pub struct ApiQuery<T>(pub T);

impl<S, T> axum::extract::FromRequestParts<S> for ApiQuery<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(value)| ApiQuery(value))
            .map_err(|rejection| ApiError::invalid(rejection.body_text()))
    }
}

/// Path parameters, whose malformation is answered in the API's error shape.
pub struct ApiPath<T>(pub T);

impl<S, T> axum::extract::FromRequestParts<S> for ApiPath<T>
where
    T: serde::de::DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(value)| ApiPath(value))
            .map_err(|rejection| ApiError::invalid(rejection.body_text()))
    }
}
