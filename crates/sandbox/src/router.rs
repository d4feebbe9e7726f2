//! Several backends behind one: each runtime goes to the first backend that supports it.
//! Registering a backend is one line where the platform is assembled; callers do not change.

use std::sync::Arc;

use async_trait::async_trait;
use nova_api::{FunctionSpec, Runtime};

use crate::backend::{Backend, Instance, SandboxError, ValidateError};

pub struct Router {
    backends: Vec<Arc<dyn Backend>>,
}

impl Router {
    pub fn new(backends: Vec<Arc<dyn Backend>>) -> Router {
        Router { backends }
    }

    fn for_runtime(&self, runtime: Runtime) -> Option<&Arc<dyn Backend>> {
        self.backends.iter().find(|b| b.supports(runtime))
    }
}

#[async_trait]
impl Backend for Router {
    fn name(&self) -> &'static str {
        "router"
    }

    fn supports(&self, runtime: Runtime) -> bool {
        self.for_runtime(runtime).is_some()
    }

    fn validate(&self, spec: &FunctionSpec) -> Result<(), ValidateError> {
        match self.for_runtime(spec.runtime) {
            Some(b) => b.validate(spec),
            None => Err(ValidateError::Unsupported(spec.runtime)),
        }
    }

    async fn create(&self, spec: &FunctionSpec) -> Result<Box<dyn Instance>, SandboxError> {
        match self.for_runtime(spec.runtime) {
            Some(b) => b.create(spec).await,
            None => Err(SandboxError::Unsupported {
                backend: self.name(),
                runtime: spec.runtime,
            }),
        }
    }

    async fn shutdown(&self) {
        for b in &self.backends {
            b.shutdown().await;
        }
    }
}
