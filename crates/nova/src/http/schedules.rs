//! Schedules, the original Nova's routes: `GET|POST /functions/{name}/schedules` and
//! `PATCH|DELETE /functions/{name}/schedules/{id}`. A schedule is shown as the store keeps it
//! ([`nova_store::Schedule`]): its last and next fire times in Unix milliseconds.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use nova_store::Schedule;

use super::error::ApiError;
use crate::schedule::{ScheduleSpec, Schedules};

fn spec(body: Result<Json<ScheduleSpec>, JsonRejection>) -> Result<ScheduleSpec, ApiError> {
    body.map(|Json(spec)| spec)
        .map_err(|e| ApiError::bad_request(e.body_text()))
}

pub async fn create(
    State(schedules): State<Schedules>,
    Path(name): Path<String>,
    body: Result<Json<ScheduleSpec>, JsonRejection>,
) -> Result<(StatusCode, Json<Schedule>), ApiError> {
    let created = schedules.create(&name, spec(body)?).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

pub async fn list(
    State(schedules): State<Schedules>,
    Path(name): Path<String>,
) -> Result<Json<Vec<Schedule>>, ApiError> {
    Ok(Json(schedules.list(&name).await?))
}

pub async fn update(
    State(schedules): State<Schedules>,
    Path((name, id)): Path<(String, String)>,
    body: Result<Json<ScheduleSpec>, JsonRejection>,
) -> Result<Json<Schedule>, ApiError> {
    Ok(Json(schedules.update(&name, &id, spec(body)?).await?))
}

pub async fn delete(
    State(schedules): State<Schedules>,
    Path((name, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    schedules.delete(&name, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
