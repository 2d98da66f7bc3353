//! Metric handles registered once per label combination, then reused by every request.

use std::sync::OnceLock;

/// One metric handle per slot (a label combination), registered with the installed recorder the
/// first time the slot is used.
///
/// `metrics::counter!` with labels builds a key, hashes it and looks it up in the recorder's
/// registry on every call: on `local-api`'s read path that was the largest single cost in user
/// space. A handle increments an atomic instead. Registration is lazy, not done at start-up,
/// because the Lambda runner installs its recorder after it builds the API, and so that only the
/// series a process actually uses are ever exported.
pub(crate) struct HandleTable<T, const N: usize>([OnceLock<T>; N]);

impl<T, const N: usize> HandleTable<T, N> {
    pub(crate) const fn new() -> Self {
        Self([const { OnceLock::new() }; N])
    }

    /// The handle in `slot`, registered by `register` on first use.
    pub(crate) fn get(&self, slot: usize, register: impl FnOnce() -> T) -> &T {
        self.0[slot].get_or_init(register)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registers_each_slot_once_and_keeps_slots_apart() {
        let table = HandleTable::<usize, 3>::new();
        let mut registrations = 0;
        for (slot, value) in [(0, 10), (2, 12), (0, 99), (2, 99)] {
            let handle = *table.get(slot, || {
                registrations += 1;
                value
            });
            assert_eq!(handle, if slot == 0 { 10 } else { 12 });
        }
        assert_eq!(registrations, 2);
    }
}
