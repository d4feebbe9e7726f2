//! An entry of the exchange: a value addressed by `(contextID, family, Key)` and guarded by a
//! read token and a write token.

/// The address of an entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EntryId {
    /// The slice (ORCA) or lease (Chameleon) the entry belongs to.
    pub context_id: String,
    /// What the value holds: `users`, `interfaces`, `hostsall`, `pubkeysall`, ….
    pub family: String,
    /// Usually the reservation (VM) id.
    pub key: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub id: EntryId,
    pub read_token: String,
    pub write_token: String,
    /// The body of the write, verbatim (clients send `{"val_": "<JSON as a string>"}`).
    pub value: String,
    /// Unix seconds of the last write, read or enumerate (what keeps it from expiring).
    pub last_access: i64,
}

impl Entry {
    /// What the entry counts against the quotas: every string it stores, in bytes.
    pub fn size(&self) -> u64 {
        [
            &self.id.context_id,
            &self.id.family,
            &self.id.key,
            &self.read_token,
            &self.write_token,
            &self.value,
        ]
        .iter()
        .map(|s| s.len() as u64)
        .sum()
    }
}
