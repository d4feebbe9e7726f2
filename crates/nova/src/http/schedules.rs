//! Schedules, the original Nova's routes: `GET|POST /functions/{name}/schedules` and
//! `PATCH|DELETE /functions/{name}/schedules/{id}`. A schedule is shown as the store keeps it
//! ([`nova_store::Schedule`]): its last and next fire times in Unix milliseconds; plus the
//! original's names for its fields ([`original::schedule`]).

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::Value;

use super::error::ApiError;
use super::original;
use crate::schedule::{ScheduleSpec, Schedules};

fn spec(body: Result<Json<ScheduleSpec>, JsonRejection>) -> Result<ScheduleSpec, ApiError> {
    body.map(|Json(spec)| spec)
        .map_err(|e| ApiError::bad_request(e.body_text()))
}

pub async fn create(
    State(schedules): State<Schedules>,
    Path(name): Path<String>,
    body: Result<Json<ScheduleSpec>, JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let created = schedules.create(&name, spec(body)?).await?;
    Ok((StatusCode::CREATED, Json(original::schedule(&created))))
}

pub async fn list(
    State(schedules): State<Schedules>,
    Path(name): Path<String>,
) -> Result<Json<Vec<Value>>, ApiError> {
    let listed = schedules.list(&name).await?;
    Ok(Json(listed.iter().map(original::schedule).collect()))
}

pub async fn update(
    State(schedules): State<Schedules>,
    Path((name, id)): Path<(String, String)>,
    body: Result<Json<ScheduleSpec>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let updated = schedules.update(&name, &id, spec(body)?).await?;
    Ok(Json(original::schedule(&updated)))
}

pub async fn delete(
    State(schedules): State<Schedules>,
    Path((name, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    schedules.delete(&name, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
