//! For unit tests: run code with a metrics recorder of its own and read back what it recorded.

use std::future::Future;

use metrics_util::debugging::{DebugValue, DebuggingRecorder};

/// A counter as recorded: name, `label=value` pairs in key order, and count.
pub(crate) type CounterValue = (String, Vec<String>, u64);

/// Runs `work` to completion on a current-thread runtime with a recorder of its own (handles
/// registered inside keep reporting to it afterwards), and returns its output and every counter
/// it left, sorted.
pub(crate) fn recorded<F: Future>(work: impl FnOnce() -> F) -> (F::Output, Vec<CounterValue>) {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a test runtime");
    let output = metrics::with_local_recorder(&recorder, || runtime.block_on(work()));
    let mut counters: Vec<CounterValue> = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .filter_map(|(key, _, _, value)| match value {
            DebugValue::Counter(count) => {
                let labels = key
                    .key()
                    .labels()
                    .map(|l| format!("{}={}", l.key(), l.value()))
                    .collect();
                Some((key.key().name().to_owned(), labels, count))
            }
            _ => None,
        })
        .collect();
    counters.sort();
    (output, counters)
}

/// The counters named `name` that moved, as (labels, count).
pub(crate) fn moved(counters: &[CounterValue], name: &str) -> Vec<(Vec<String>, u64)> {
    counters
        .iter()
        .filter(|(n, _, count)| n == name && *count > 0)
        .map(|(_, labels, count)| (labels.clone(), *count))
        .collect()
}
