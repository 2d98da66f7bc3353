//! Metric handles registered once per label combination, then reused by every request.

use std::sync::OnceLock;

/// One metric handle per label combination, a (row, column) pair such as (operation, outcome),
/// registered with the installed recorder the first time the combination is used.
///
/// `metrics::counter!` with labels builds a key, hashes it and looks it up in the recorder's
/// registry on every call: on `local-api`'s read path that was the largest single cost in user
/// space. A handle increments an atomic instead. Registration is lazy, not done at start-up,
/// because the Lambda runner installs its recorder after it builds the API, and so that only the
/// series a process actually uses are ever exported.
pub(crate) struct HandleTable<T, const ROWS: usize, const COLUMNS: usize>(
    [[OnceLock<T>; COLUMNS]; ROWS],
);

impl<T, const ROWS: usize, const COLUMNS: usize> HandleTable<T, ROWS, COLUMNS> {
    pub(crate) const fn new() -> Self {
        Self([const { [const { OnceLock::new() }; COLUMNS] }; ROWS])
    }

    /// The handle at (`row`, `column`), registered by `register` on first use.
    pub(crate) fn get(&self, row: usize, column: usize, register: impl FnOnce() -> T) -> &T {
        self.0[row][column].get_or_init(register)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registers_each_slot_once_and_keeps_slots_apart() {
        let table = HandleTable::<usize, 2, 3>::new();
        let mut registrations = 0;
        for ((row, column), value) in [((0, 2), 10), ((1, 0), 12), ((0, 2), 99), ((1, 0), 99)] {
            let handle = *table.get(row, column, || {
                registrations += 1;
                value
            });
            assert_eq!(handle, if row == 0 { 10 } else { 12 });
        }
        assert_eq!(registrations, 2);
    }
}
