//! Path segments whose rejection is a JSON error like every other one: axum's own `Path` answers
//! a segment that is not UTF-8 in plain text.

use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use axum::response::Response;
use serde::de::DeserializeOwned;

use super::reply;

/// The route's parameters, deserialized like `Path<T>`; refused with `{"error": …}` and the
/// rejection's own status (400 for a segment that is not UTF-8).
pub struct Segments<T>(pub T);

impl<S, T> FromRequestParts<S> for Segments<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(Segments(value)),
            Err(rejection) => Err(reply::error_with(rejection.status(), rejection.body_text())),
        }
    }
}
