//! Secrets as the function service sees them: setting or deleting one stales every resolved
//! spec (a function's `$SECRET:` references are resolved into its spec) and the instances of the
//! functions that use it.

use nova_store::ListQuery;

use super::{Functions, ServiceError};

impl Functions {
    pub fn secrets(&self) -> Result<&crate::secrets::Secrets, ServiceError> {
        self.inner
            .secrets
            .as_deref()
            .ok_or_else(crate::app::secrets_unavailable)
    }

    /// Sets a secret; functions that use it get the new value on their next cold start.
    pub async fn set_secret(&self, name: &str, value: &str) -> Result<(), ServiceError> {
        self.secrets()?.set(name, value).await?;
        self.secret_changed(name).await
    }

    pub async fn delete_secret(&self, name: &str) -> Result<bool, ServiceError> {
        let deleted = self.secrets()?.delete(name).await?;
        self.secret_changed(name).await?;
        Ok(deleted)
    }

    /// Drops cached specs and the instances of every function whose env names the secret.
    async fn secret_changed(&self, name: &str) -> Result<(), ServiceError> {
        self.write_specs().clear();
        self.announce(crate::invalidation::EVERYTHING);
        let mut offset = 0;
        loop {
            let query = ListQuery {
                search: None,
                limit: 500,
                offset,
            };
            let page = self.inner.functions.list_functions(&query).await?;
            for f in page
                .iter()
                .filter(|f| crate::secrets::refers_to(&f.env_vars, name))
            {
                self.inner.dataplane.evict(&f.name).await;
            }
            if page.len() < 500 {
                return Ok(());
            }
            offset += 500;
        }
    }
}
