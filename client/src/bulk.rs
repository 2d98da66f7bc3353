//! Bulk jobs (the CLI's `import`): as many calls at once as the API sustains, not as many as the
//! caller asks for, and a slow or throttling API waited out rather than turned into failed rows.
//!
//! An interactive call fails fast: its caller is a person. A bulk job has all the time it needs,
//! so it runs differently on the same [`UsersClient`](crate::UsersClient):
//! - [`AdaptiveLimit`]: additive increase, multiplicative decrease (AIMD, as TCP does) of the
//!   calls in flight, between 1 and the configured ceiling. Every answer grows the limit a
//!   little; a sign of overload (a timeout, `429`, `503`, every circuit open) halves it, once per
//!   round of calls, and a `Retry-After` (or the soonest probe of the open circuits) pauses new
//!   calls until then.
//! - [`run`]: items whose call failed as unavailable go to the back of the queue and are tried
//!   again (by the same idempotent request: an import row keeps its key), until each has an
//!   answer, or until no call has had one for [`BulkSettings::patience`].
//!
//! tower has a fixed concurrency limit but no adaptive one; this is the one rule the job needs.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use crate::{ErrorKind, UsersError};

/// The calls a bulk job may have in flight: between 1 and its ceiling, adapted to the answers.
#[derive(Debug)]
pub struct AdaptiveLimit {
    ceiling: usize,
    state: Mutex<LimitState>,
    changed: Notify,
}

#[derive(Debug)]
struct LimitState {
    limit: f64,
    in_flight: usize,
    /// Counts decreases: a call started before the last one cannot cause another, so one burst of
    /// failures halves the limit once, not once per failed call.
    epoch: u64,
    paused_until: Option<Instant>,
}

impl AdaptiveLimit {
    /// A limit starting at `ceiling` (at least 1).
    pub fn new(ceiling: usize) -> Arc<Self> {
        let ceiling = ceiling.max(1);
        Arc::new(Self {
            ceiling,
            state: Mutex::new(LimitState {
                limit: ceiling as f64,
                in_flight: 0,
                epoch: 0,
                paused_until: None,
            }),
            changed: Notify::new(),
        })
    }

    /// Calls allowed in flight now.
    pub fn current(&self) -> usize {
        self.state.lock().unwrap().limit as usize
    }

    /// Waits for a slot (and for the end of any pause), then holds it until the permit is used.
    pub async fn acquire(self: &Arc<Self>) -> Permit {
        loop {
            let changed = self.changed.notified();
            let paused_until = {
                let mut state = self.state.lock().unwrap();
                match state.paused_until {
                    Some(until) if until > Instant::now() => Some(until),
                    _ => {
                        if state.in_flight < state.limit as usize {
                            state.in_flight += 1;
                            return Permit {
                                limit: self.clone(),
                                epoch: state.epoch,
                            };
                        }
                        None
                    }
                }
            };
            match paused_until {
                Some(until) => tokio::time::sleep_until(until).await,
                None => changed.await,
            }
        }
    }

    fn release(&self, outcome: Signal, epoch: u64) {
        let mut state = self.state.lock().unwrap();
        state.in_flight -= 1;
        match outcome {
            Signal::Answered => {
                state.limit = (state.limit + 1.0 / state.limit).min(self.ceiling as f64);
            }
            Signal::Overloaded(retry_after) => {
                if epoch == state.epoch {
                    state.limit = (state.limit / 2.0).max(1.0);
                    state.epoch += 1;
                }
                if let Some(wait) = retry_after {
                    let until = Instant::now() + wait;
                    state.paused_until = Some(state.paused_until.map_or(until, |u| u.max(until)));
                }
            }
        }
        drop(state);
        self.changed.notify_waiters();
    }
}

enum Signal {
    Answered,
    Overloaded(Option<Duration>),
}

/// One slot of an [`AdaptiveLimit`], to be given back with what its call met.
#[derive(Debug)]
pub struct Permit {
    limit: Arc<AdaptiveLimit>,
    epoch: u64,
}

impl Permit {
    /// The API answered (a success or a refusal): the limit grows a little.
    pub fn answered(self) {
        self.limit.release(Signal::Answered, self.epoch);
    }

    /// The API was overloaded or unreachable: the limit halves (once per round of calls), and new
    /// calls wait `retry_after` when the API said so.
    pub fn overloaded(self, retry_after: Option<Duration>) {
        self.limit
            .release(Signal::Overloaded(retry_after), self.epoch);
    }
}

/// How a bulk job runs.
#[derive(Debug, Clone)]
pub struct BulkSettings {
    /// Most calls in flight at once.
    pub ceiling: usize,
    /// How long the job goes on without any call being answered before it gives up.
    pub patience: Duration,
    /// Pause before retrying when an unavailable answer named no time.
    pub pause: Duration,
}

/// What became of one item of a bulk job.
#[derive(Debug)]
pub enum Outcome<T> {
    /// The call succeeded.
    Done(T),
    /// The API refused the item (invalid, email taken...): retrying would not help.
    Refused(UsersError),
    /// The API did not answer in the job's patience: the last failure, and whether the item was
    /// ever sent.
    NotDone {
        last_error: Option<UsersError>,
        attempted: bool,
    },
}

/// Where a bulk job stands, for a progress display.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    pub done: usize,
    pub refused: usize,
    /// Items whose last call was unavailable, waiting for another try.
    pub retrying: usize,
    pub concurrency: usize,
}

/// Whether a failure is the API's answer about the item (final) or a sign that it could not
/// answer now (worth another try, later).
fn is_transient(error: &UsersError) -> bool {
    matches!(error.kind, ErrorKind::Unavailable { .. })
}

/// Calls `call` for every item, at the concurrency the API sustains, retrying items whose call
/// was unavailable until each has an answer or the API stayed silent for `settings.patience`.
/// `progress` sees the counts after every call. Outcomes come back in the items' order.
pub async fn run<I, T, F, Fut>(
    items: Vec<I>,
    settings: &BulkSettings,
    call: F,
    mut progress: impl FnMut(Progress),
) -> Vec<Outcome<T>>
where
    I: Clone + Send + 'static,
    T: Send + 'static,
    F: Fn(I) -> Fut,
    Fut: Future<Output = Result<T, UsersError>> + Send + 'static,
{
    let limit = AdaptiveLimit::new(settings.ceiling);
    let mut outcomes: Vec<Option<Outcome<T>>> = items.iter().map(|_| None).collect();
    let mut attempted = vec![false; items.len()];
    let mut last_errors: Vec<Option<UsersError>> = items.iter().map(|_| None).collect();
    let mut queue: VecDeque<usize> = (0..items.len()).collect();
    let mut calls = tokio::task::JoinSet::new();
    let mut counts = Progress::default();
    let mut last_answer = Instant::now();
    // One timer for the whole job, moved on only when it fires early (answers came meanwhile): a
    // timer per loop would be registered in and removed from tokio's timer wheel for every item.
    let patience_ends = tokio::time::sleep_until(last_answer + settings.patience);
    tokio::pin!(patience_ends);
    loop {
        let silent_too_long = last_answer.elapsed() >= settings.patience;
        // Start calls while there are items and slots, unless the API has been silent too long.
        if !silent_too_long && let Some(&index) = queue.front() {
            tokio::select! {
                permit = limit.acquire() => {
                    queue.pop_front();
                    attempted[index] = true;
                    let call = call(items[index].clone());
                    calls.spawn(async move { (index, permit, call.await) });
                    continue;
                }
                Some(joined) = calls.join_next(), if !calls.is_empty() => {
                    let (index, permit, result) = joined.expect("a bulk call panicked");
                    settle(index, permit, result, settings, &mut Settling {
                        outcomes: &mut outcomes, last_errors: &mut last_errors, queue: &mut queue,
                        counts: &mut counts, last_answer: &mut last_answer,
                    });
                }
                () = &mut patience_ends => {
                    patience_ends.as_mut().reset(last_answer + settings.patience);
                }
            }
        } else if let Some(joined) = calls.join_next().await {
            let (index, permit, result) = joined.expect("a bulk call panicked");
            settle(
                index,
                permit,
                result,
                settings,
                &mut Settling {
                    outcomes: &mut outcomes,
                    last_errors: &mut last_errors,
                    queue: &mut queue,
                    counts: &mut counts,
                    last_answer: &mut last_answer,
                },
            );
        } else {
            break;
        }
        counts.concurrency = limit.current();
        progress(counts);
    }
    outcomes
        .into_iter()
        .zip(attempted)
        .zip(last_errors)
        .map(|((outcome, attempted), last_error)| {
            outcome.unwrap_or(Outcome::NotDone {
                last_error,
                attempted,
            })
        })
        .collect()
}

/// Calls `call` until it succeeds or is refused, waiting out unavailable answers (their
/// `Retry-After`, else `settings.pause`) for up to `settings.patience`: one step of a sequential
/// bulk job, such as a page of an export.
pub async fn patiently<T, F, Fut>(settings: &BulkSettings, mut call: F) -> Result<T, UsersError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, UsersError>>,
{
    let deadline = Instant::now() + settings.patience;
    loop {
        match call().await {
            Err(error) if is_transient(&error) => {
                let wait = match &error.kind {
                    ErrorKind::Unavailable {
                        retry_after: Some(wait),
                        ..
                    } => *wait,
                    _ => settings.pause,
                };
                if Instant::now() + wait >= deadline {
                    return Err(error);
                }
                tokio::time::sleep(wait).await;
            }
            answered => return answered,
        }
    }
}

/// The job's bookkeeping that one finished call updates.
struct Settling<'a, T> {
    outcomes: &'a mut Vec<Option<Outcome<T>>>,
    last_errors: &'a mut Vec<Option<UsersError>>,
    queue: &'a mut VecDeque<usize>,
    counts: &'a mut Progress,
    last_answer: &'a mut Instant,
}

fn settle<T>(
    index: usize,
    permit: Permit,
    result: Result<T, UsersError>,
    settings: &BulkSettings,
    job: &mut Settling<'_, T>,
) {
    let was_retrying = job.last_errors[index].is_some();
    match result {
        Err(error) if is_transient(&error) => {
            let retry_after = match &error.kind {
                ErrorKind::Unavailable { retry_after, .. } => *retry_after,
                _ => None,
            };
            permit.overloaded(Some(retry_after.unwrap_or(settings.pause)));
            job.last_errors[index] = Some(error);
            job.queue.push_back(index);
            if !was_retrying {
                job.counts.retrying += 1;
            }
            return;
        }
        Err(error) => {
            permit.answered();
            job.counts.refused += 1;
            job.outcomes[index] = Some(Outcome::Refused(error));
        }
        Ok(value) => {
            permit.answered();
            job.counts.done += 1;
            job.outcomes[index] = Some(Outcome::Done(value));
        }
    }
    if was_retrying {
        job.counts.retrying -= 1;
        job.last_errors[index] = None;
    }
    *job.last_answer = Instant::now();
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    fn unavailable(retry_after: Option<Duration>) -> UsersError {
        UsersError {
            kind: ErrorKind::Unavailable {
                retry_after,
                reason: "test".into(),
            },
            request_id: None,
        }
    }

    fn settings(ceiling: usize) -> BulkSettings {
        BulkSettings {
            ceiling,
            patience: Duration::from_secs(60),
            pause: Duration::from_millis(100),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_limit_halves_once_per_round_of_failures_and_grows_back_with_answers() {
        let limit = AdaptiveLimit::new(32);
        assert_eq!(limit.current(), 32);
        let permits: Vec<_> = futures_join(&limit, 32).await;
        // A whole round of calls fails: one halving, not 32.
        for permit in permits {
            permit.overloaded(None);
        }
        assert_eq!(limit.current(), 16);
        // The next round fails too: halved again.
        let permits = futures_join(&limit, 16).await;
        for permit in permits {
            permit.overloaded(None);
        }
        assert_eq!(limit.current(), 8);
        // Answers grow it by about one per round.
        for _ in 0..8 {
            limit.acquire().await.answered();
        }
        assert_eq!(limit.current(), 8, "8 answers at limit 8: +1 in all, 8.9..");
        for _ in 0..200 {
            limit.acquire().await.answered();
        }
        assert!(
            limit.current() > 20 && limit.current() <= 32,
            "{}",
            limit.current()
        );
        for _ in 0..10_000 {
            limit.acquire().await.answered();
        }
        assert_eq!(limit.current(), 32, "never above the ceiling");
        // Never below one.
        for _ in 0..10 {
            limit.acquire().await.overloaded(None);
        }
        assert_eq!(limit.current(), 1);
    }

    async fn futures_join(limit: &Arc<AdaptiveLimit>, n: usize) -> Vec<Permit> {
        let mut permits = Vec::new();
        for _ in 0..n {
            permits.push(limit.acquire().await);
        }
        permits
    }

    #[tokio::test(start_paused = true)]
    async fn no_more_calls_than_the_limit_and_none_during_a_retry_after() {
        let limit = AdaptiveLimit::new(2);
        let first = limit.acquire().await;
        let second = limit.acquire().await;
        let third = tokio::spawn({
            let limit = limit.clone();
            async move { limit.acquire().await }
        });
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(!third.is_finished(), "a third call waits for a slot");
        let started = Instant::now();
        // Overload halves the limit to one and pauses new calls; the other call's answer
        // frees its slot and grows the limit back to two.
        first.overloaded(Some(Duration::from_secs(5)));
        second.answered();
        let third = third.await.unwrap();
        assert_eq!(
            started.elapsed(),
            Duration::from_secs(5),
            "the freed slot waits out Retry-After"
        );
        drop(third);
    }

    #[tokio::test(start_paused = true)]
    async fn unavailable_items_are_retried_until_answered_and_refusals_are_final() {
        let calls = Arc::new(AtomicUsize::new(0));
        let counter = calls.clone();
        let outcomes = run(
            (0..10).collect(),
            &settings(4),
            move |item: u32| {
                let n = counter.fetch_add(1, Ordering::SeqCst);
                async move {
                    match item {
                        // Item 3 is refused; every item's first two calls are unavailable.
                        3 => Err(UsersError {
                            kind: ErrorKind::EmailTaken,
                            request_id: None,
                        }),
                        _ if n < 20 => Err(unavailable(None)),
                        _ => Ok(item * 10),
                    }
                }
            },
            |_| {},
        )
        .await;
        for (item, outcome) in outcomes.iter().enumerate() {
            match (item, outcome) {
                (3, Outcome::Refused(e)) => assert!(matches!(e.kind, ErrorKind::EmailTaken)),
                (_, Outcome::Done(value)) => assert_eq!(*value, item as u32 * 10),
                other => panic!("{other:?}"),
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_sequential_step_waits_out_unavailable_answers_within_its_patience() {
        let settings = BulkSettings {
            ceiling: 1,
            patience: Duration::from_secs(10),
            pause: Duration::from_secs(1),
        };
        let calls = AtomicUsize::new(0);
        let answer = patiently(&settings, || {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            async move {
                if n < 3 {
                    Err(unavailable(Some(Duration::from_secs(2))))
                } else {
                    Ok(n)
                }
            }
        })
        .await;
        assert_eq!(answer.unwrap(), 3);
        let started = Instant::now();
        let never = patiently(&settings, || async { Err::<(), _>(unavailable(None)) }).await;
        assert!(matches!(
            never.unwrap_err().kind,
            ErrorKind::Unavailable { .. }
        ));
        assert!(
            started.elapsed() <= Duration::from_secs(10),
            "{:?}",
            started.elapsed()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_api_ends_the_job_after_its_patience_saying_what_was_never_sent() {
        let started = Instant::now();
        let mut last = Progress::default();
        let outcomes = run(
            (0..100).collect(),
            &BulkSettings {
                ceiling: 4,
                patience: Duration::from_secs(30),
                pause: Duration::from_secs(1),
            },
            |_: u32| async { Err::<(), _>(unavailable(Some(Duration::from_secs(2)))) },
            |progress| last = progress,
        )
        .await;
        let elapsed = started.elapsed();
        assert!(
            elapsed >= Duration::from_secs(30) && elapsed <= Duration::from_secs(33),
            "{elapsed:?}"
        );
        let never_sent = outcomes
            .iter()
            .filter(|o| {
                matches!(
                    o,
                    Outcome::NotDone {
                        attempted: false,
                        ..
                    }
                )
            })
            .count();
        let sent = outcomes
            .iter()
            .filter(|o| {
                matches!(
                    o,
                    Outcome::NotDone {
                        attempted: true,
                        last_error: Some(_)
                    }
                )
            })
            .count();
        assert_eq!(never_sent + sent, 100);
        assert!(
            never_sent > 0 && sent > 0,
            "{never_sent} never sent, {sent} sent"
        );
        assert_eq!(last.done, 0);
        assert_eq!(last.concurrency, 1);
    }
}
