//! Several backends behind one: each runtime goes to the first backend that supports it.
//! Registering a backend is one line where the platform is assembled; callers do not change.

use std::sync::Arc;

use async_trait::async_trait;
use nova_api::{FunctionSpec, Runtime};

use crate::backend::{Backend, Instance, SandboxError, ValidateError};

/// The one check of whether `backend` runs `runtime`, for every place that must refuse a runtime
/// before doing anything: `Ok`, or [`SandboxError::Unsupported`] naming the backend. What a
/// backend runs is its own [`Backend::supports`]; which backend runs a runtime is the [`Router`]'s.
pub fn require_runtime(backend: &dyn Backend, runtime: Runtime) -> Result<(), SandboxError> {
    if backend.supports(runtime) {
        Ok(())
    } else {
        Err(SandboxError::Unsupported {
            backend: backend.name(),
            runtime,
        })
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    /// A backend that runs one runtime and starts nothing.
    struct Only(Runtime, &'static str);

    #[async_trait]
    impl Backend for Only {
        fn name(&self) -> &'static str {
            self.1
        }

        fn supports(&self, runtime: Runtime) -> bool {
            runtime == self.0
        }

        fn validate(&self, _: &FunctionSpec) -> Result<(), ValidateError> {
            Err(ValidateError::InvalidModule(self.1.into()))
        }

        async fn create(&self, _: &FunctionSpec) -> Result<Box<dyn Instance>, SandboxError> {
            Err(SandboxError::Gone)
        }
    }

    fn router() -> Router {
        Router::new(vec![
            Arc::new(Only(Runtime::Go, "go-only")),
            Arc::new(Only(Runtime::Wasm, "wasm-only")),
        ])
    }

    #[test]
    fn a_runtime_is_supported_where_some_backend_runs_it() {
        let r = router();
        assert!(require_runtime(&r, Runtime::Go).is_ok());
        assert!(require_runtime(&r, Runtime::Wasm).is_ok());
        match require_runtime(&r, Runtime::Python) {
            Err(SandboxError::Unsupported { backend, runtime }) => {
                assert_eq!((backend, runtime), ("router", Runtime::Python));
            }
            other => panic!("expected Unsupported, got {other:?}"),
        }
        match require_runtime(&Only(Runtime::Go, "go-only"), Runtime::Wasm) {
            Err(SandboxError::Unsupported { backend, .. }) => assert_eq!(backend, "go-only"),
            other => panic!("expected Unsupported, got {other:?}"),
        }
    }

    #[test]
    fn validation_goes_to_the_backend_of_the_runtime() {
        let r = router();
        let spec = |runtime| FunctionSpec::with_defaults("f", runtime, b"code".to_vec());
        assert_eq!(
            r.validate(&spec(Runtime::Wasm)),
            Err(ValidateError::InvalidModule("wasm-only".into()))
        );
        assert_eq!(
            r.validate(&spec(Runtime::Go)),
            Err(ValidateError::InvalidModule("go-only".into()))
        );
        assert_eq!(
            r.validate(&spec(Runtime::Python)),
            Err(ValidateError::Unsupported(Runtime::Python))
        );
    }
}
