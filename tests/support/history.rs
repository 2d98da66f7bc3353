//! Recorded histories and a checker for them: many clients run random operations against one
//! [`Users`] (in process over a store, or over HTTP through the client), every call's start, end
//! and answer is recorded, and the history is checked against a model of the API.
//!
//! - **Per user, linearizability** (Wing & Gong's search with Lowe's memoisation, as Porcupine
//!   does it): some order of the calls on one user, consistent with real time, explains every
//!   answer by a register model (a user is not yet created, present at a version, or deleted). A
//!   `5xx` or a missing answer is indeterminate: the call may have taken effect at any point after
//!   it was sent, or never. A listing is a read of every user it shows, and of every user it does
//!   not show in the id range it covers. A find by email that answers a user is a read of that
//!   user, which must hold the address (in any case).
//! - **Across users**, what no single-user model can see: the final table holds no email twice;
//!   a `409 email_taken` is never answered for an address no one else ever asked for (each user
//!   changes to addresses of its own), and for a contested address only while another user could
//!   hold it; a find answers `404` only if no user surely held the address throughout the call;
//!   creates sharing an idempotency key answer one user.
//!
//! A failure prints the smallest failing piece of one user's history: the shortest prefix that
//! fails (calls still running at its end counted as indeterminate, so that a prefix of a good
//! history is always good), without the reads that do not matter.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use shared::contract::encode_cursor;
use shared::domain::{Precondition, UserId, email_key};
use shared::users::{CreateUser, ErrorKind, UserPage, UserRecord, UserUpdate, Users, UsersError};

/// How a run is made: its seed, its clients and how long they go on.
#[derive(Debug, Clone, Copy)]
pub struct Workload {
    pub seed: u64,
    pub clients: usize,
    /// Calls per client, at most.
    pub calls_per_client: usize,
    /// The run stops here even if the calls are not all made.
    pub duration: Duration,
    /// Users created before the clients start, so that they have someone to work on.
    pub initial_users: usize,
    /// The newest users the clients work on: few, so that they meet on them.
    pub hot_users: usize,
}

impl Workload {
    /// Eight clients making at most `calls_per_client` calls each, for at most `duration`.
    pub fn new(seed: u64, calls_per_client: usize, duration: Duration) -> Self {
        Self {
            seed,
            clients: 8,
            calls_per_client,
            duration,
            initial_users: 6,
            hot_users: 6,
        }
    }
}

/// The seeds a history test runs, one history of its usual size each: `fixed` in the test
/// command; with `HISTORY_SECONDS=S`, new seeds for S seconds (`HISTORY_SEED`, then the next, and
/// so on; by default from the clock), for whoever changes the store. Many histories of a size the
/// search decides quickly, rather than one long one, so a long run never outgrows the checker.
/// A failing history names its seed: `HISTORY_SEED=<it> HISTORY_SECONDS=1` runs it again first.
pub fn seeds(fixed: &'static [u64]) -> Box<dyn Iterator<Item = u64> + Send> {
    let seconds = std::env::var("HISTORY_SECONDS")
        .ok()
        .and_then(|s| s.parse::<u64>().ok());
    let Some(seconds) = seconds else {
        return Box::new(fixed.iter().copied());
    };
    let first = std::env::var("HISTORY_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |since| since.as_secs())
        });
    let deadline = Instant::now() + Duration::from_secs(seconds);
    Box::new((first..).take_while(move |_| Instant::now() < deadline))
}

/// The fields of a change, as sent.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Changes {
    pub name: Option<String>,
    pub email: Option<String>,
    pub age: Option<u8>,
}

/// One call, as sent.
#[derive(Debug, Clone)]
pub enum Call {
    Create {
        name: String,
        email: String,
        age: u8,
        key: Option<String>,
    },
    Get(UserId),
    Update {
        id: UserId,
        changes: Changes,
        precondition: Precondition,
    },
    Delete {
        id: UserId,
        precondition: Precondition,
    },
    List {
        limit: u32,
        after: Option<UserId>,
    },
    /// A find by email.
    Find(String),
}

/// One answer, as received.
#[derive(Debug, Clone)]
pub enum Answer {
    User(UserRecord),
    Deleted,
    Page(UserPage),
    NotFound,
    EmailTaken,
    PreconditionFailed,
    IdempotencyKeyReused,
    /// Unavailable, throttled, no answer: the call may or may not have taken effect.
    Indeterminate(String),
    /// An answer the API must never give to these calls (a 500, an invalid argument).
    Wrong(String),
}

impl From<UsersError> for Answer {
    fn from(error: UsersError) -> Self {
        match error.kind {
            ErrorKind::NotFound => Answer::NotFound,
            ErrorKind::EmailTaken => Answer::EmailTaken,
            ErrorKind::PreconditionFailed => Answer::PreconditionFailed,
            ErrorKind::IdempotencyKeyReused => Answer::IdempotencyKeyReused,
            ErrorKind::Unavailable { reason, .. } => Answer::Indeterminate(reason),
            other => Answer::Wrong(other.to_string()),
        }
    }
}

/// A call, its answer, who made it and when, in nanoseconds since the run started. An
/// indeterminate call's effect may come as late as the end of the run.
#[derive(Debug, Clone)]
pub struct Event {
    pub client: usize,
    pub call: Call,
    pub answer: Answer,
    pub invoked: u64,
    pub completed: u64,
}

/// Every call of a run, and the users as they were once it had settled.
pub struct History {
    pub events: Vec<Event>,
    /// When the final listing began: every indeterminate call had taken effect, or never will.
    pub settled: u64,
    pub final_users: Vec<UserRecord>,
}

/// Runs `workload` against `users`. `during` runs alongside the clients, given the run's
/// deadline (a test's faults: kill a process, restart it).
pub async fn record(
    users: Arc<dyn Users>,
    workload: Workload,
    during: impl Future<Output = ()> + Send + 'static,
) -> History {
    let start = Instant::now();
    let clock = move || start.elapsed().as_nanos() as u64;
    let events = Arc::new(Mutex::new(Vec::new()));
    let known = Arc::new(Mutex::new(Vec::new()));
    let mut rng = fastrand::Rng::with_seed(workload.seed);
    for n in 0..workload.initial_users {
        // Under a test's faults a setup create can go unanswered: it is sent again under the
        // same idempotency key, so every attempt is the one user the answer names.
        let call = Call::Create {
            name: format!("i{n}"),
            email: format!("i{n}.{}@example.com", rng.u32(..)),
            age: 30,
            key: Some(format!("setup-{}-{n}", workload.seed)),
        };
        let mut tries = 0;
        let event = loop {
            let event = perform(users.as_ref(), call.clone(), 0, &clock).await;
            match &event.answer {
                Answer::Indeterminate(_) if tries < 20 => tries += 1,
                _ => break event,
            }
        };
        match &event.answer {
            Answer::User(user) => known.lock().unwrap().push(user.id),
            other => panic!("the initial user {n} was not created: {other:?}"),
        }
        events.lock().unwrap().push(event);
    }
    let deadline = tokio::time::Instant::now() + workload.duration;
    let faults = tokio::spawn(during);
    let mut clients = Vec::new();
    for client in 1..=workload.clients {
        let (users, events, known) = (users.clone(), events.clone(), known.clone());
        let mut rng =
            fastrand::Rng::with_seed(workload.seed ^ (client as u64).wrapping_mul(0x9e37_79b9));
        clients.push(tokio::spawn(async move {
            let mut versions = HashMap::new();
            for n in 0..workload.calls_per_client {
                if tokio::time::Instant::now() >= deadline {
                    break;
                }
                let hot = {
                    let known = known.lock().unwrap();
                    known[known.len().saturating_sub(workload.hot_users)..].to_vec()
                };
                let tag = format!("{client}.{n}");
                let (call, twice) = next_call(&mut rng, &hot, &versions, &tag);
                let made = if twice {
                    let (a, b) = futures::join!(
                        perform(users.as_ref(), call.clone(), client, &clock),
                        perform(users.as_ref(), call, client, &clock)
                    );
                    vec![a, b]
                } else {
                    vec![perform(users.as_ref(), call, client, &clock).await]
                };
                for event in &made {
                    if let Answer::User(user) = &event.answer {
                        versions.insert(user.id, user.version.unwrap_or(1));
                        if matches!(event.call, Call::Create { .. }) {
                            let mut known = known.lock().unwrap();
                            if !known.contains(&user.id) {
                                known.push(user.id);
                            }
                        }
                    }
                }
                events.lock().unwrap().extend(made);
            }
        }));
    }
    for client in clients {
        client.await.expect("a client task panicked");
    }
    faults.await.expect("the fault task panicked");
    // Calls still travelling (a held request, a retry) land or die within this.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let settled = clock();
    let final_users = list_all(users.as_ref()).await;
    let events = std::mem::take(&mut *events.lock().unwrap());
    History {
        events,
        settled,
        final_users,
    }
}

/// Every user, by cursor, retrying what is unavailable for a while (the run has ended; a fault
/// may still be passing).
async fn list_all(users: &dyn Users) -> Vec<UserRecord> {
    let (mut all, mut cursor) = (Vec::new(), None::<String>);
    loop {
        let mut tries = 0;
        let page = loop {
            match users.list(Some(100), cursor.as_deref()).await {
                Ok(page) => break page,
                Err(error) if tries < 20 => {
                    tries += 1;
                    eprintln!("final listing: {error}; trying again");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Err(error) => panic!("the final listing failed: {error}"),
            }
        };
        all.extend(page.users);
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return all,
        }
    }
}

/// Addresses several users ask for.
const CONTESTED: [&str; 3] = [
    "shared0@example.com",
    "shared1@example.com",
    "shared2@example.com",
];

/// An address only `id` ever asks for: a `409` for it is always false.
fn private_email(id: UserId, tag: &str) -> String {
    format!("own{id}.{tag}@example.com")
}

fn contested(rng: &mut fastrand::Rng) -> String {
    let address = CONTESTED[rng.usize(..CONTESTED.len())];
    // Uniqueness ignores case: mix it.
    if rng.bool() {
        address.to_uppercase()
    } else {
        address.to_owned()
    }
}

/// The next call of a client and whether it is sent twice at once (a double submit).
fn next_call(
    rng: &mut fastrand::Rng,
    hot: &[UserId],
    versions: &HashMap<UserId, u64>,
    tag: &str,
) -> (Call, bool) {
    let id = hot[rng.usize(..hot.len())];
    let precondition = |rng: &mut fastrand::Rng| match rng.u8(..10) {
        0..=4 => Precondition::None,
        5 | 6 => Precondition::Exists,
        _ => Precondition::Version(versions.get(&id).copied().unwrap_or(1)),
    };
    let twice = rng.u8(..10) == 0;
    let call = match rng.u8(..100) {
        0..=9 => {
            let email = if rng.u8(..3) == 0 {
                contested(rng)
            } else {
                format!("new.{tag}@example.com")
            };
            Call::Create {
                name: format!("c{tag}"),
                email,
                age: rng.u8(18..90),
                key: rng.bool().then(|| format!("key-{tag}")),
            }
        }
        10..=34 => Call::Get(id),
        35..=74 => {
            let mut changes = Changes::default();
            match rng.u8(..4) {
                0 => changes.name = Some(format!("u{tag}")),
                1 => changes.age = Some(rng.u8(18..90)),
                2 => changes.email = Some(private_email(id, tag)),
                _ => changes.email = Some(contested(rng)),
            }
            if rng.u8(..4) == 0 {
                changes.age = Some(rng.u8(18..90));
            }
            Call::Update {
                id,
                changes,
                precondition: precondition(rng),
            }
        }
        75..=82 => Call::Delete {
            id,
            precondition: match precondition(rng) {
                Precondition::Exists => Precondition::None,
                other => other,
            },
        },
        83..=90 => Call::Find(contested(rng)),
        _ => Call::List {
            limit: rng.u32(1..=10),
            after: rng
                .bool()
                .then(|| UserId::new(id.get().saturating_sub(3)).unwrap_or(id)),
        },
    };
    (call, twice)
}

async fn perform(users: &dyn Users, call: Call, client: usize, clock: &impl Fn() -> u64) -> Event {
    let invoked = clock();
    let answer = match &call {
        Call::Create {
            name,
            email,
            age,
            key,
        } => users
            .create(
                CreateUser {
                    name: name.clone(),
                    email: email.clone(),
                    age: Some(i64::from(*age)),
                },
                key.as_deref(),
            )
            .await
            .map_or_else(Answer::from, Answer::User),
        Call::Get(id) => users.get(*id).await.map_or_else(Answer::from, Answer::User),
        Call::Update {
            id,
            changes,
            precondition,
        } => users
            .update(
                *id,
                UserUpdate {
                    name: changes.name.clone(),
                    email: changes.email.clone(),
                    age: changes.age.map(i64::from),
                },
                *precondition,
            )
            .await
            .map_or_else(Answer::from, Answer::User),
        Call::Delete { id, precondition } => users
            .delete(*id, *precondition)
            .await
            .map_or_else(Answer::from, |()| Answer::Deleted),
        Call::List { limit, after } => {
            let cursor = after.map(encode_cursor);
            users
                .list(Some(*limit), cursor.as_deref())
                .await
                .map_or_else(Answer::from, Answer::Page)
        }
        Call::Find(email) => users
            .find_by_email(email)
            .await
            .map_or_else(Answer::from, Answer::User),
    };
    let completed = clock();
    Event {
        client,
        call,
        answer,
        invoked,
        completed,
    }
}

// ---------------------------------------------------------------------------------------------
// The model and the search.

/// A user's fields, as the model holds them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Fields {
    name: String,
    email: String,
    age: u8,
    version: u64,
}

impl Fields {
    fn of(user: &UserRecord) -> Self {
        Self {
            name: user.name.clone(),
            email: user.email.clone(),
            age: user.age,
            version: user.version.unwrap_or(0),
        }
    }
}

/// One user in the register model.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum State {
    NotYet,
    Present(Fields),
    Deleted,
}

/// What one call did to one user, as the model checks it.
#[derive(Debug, Clone)]
enum Step {
    /// A create of this user, or (with a key) a replay of its create.
    Create {
        name: String,
        email: String,
        age: u8,
        keyed: bool,
        /// `None`: indeterminate. `Some(None)`: a replay found the user deleted.
        answer: Option<Option<Fields>>,
    },
    /// A read: the user as it was (`None`: not there).
    Read(Option<Fields>),
    Update {
        changes: Changes,
        precondition: Precondition,
        answer: Outcome,
    },
    Delete {
        precondition: Precondition,
        answer: Outcome,
    },
}

/// How a write ended, as far as one user goes.
#[derive(Debug, Clone)]
enum Outcome {
    Done(Option<Fields>),
    NotFound,
    PreconditionFailed,
    EmailTaken,
    Indeterminate,
}

fn holds(precondition: Precondition, state: &State) -> Result<&Fields, Outcome> {
    match (precondition, state) {
        (Precondition::Version(v), State::Present(f)) if f.version != v => {
            Err(Outcome::PreconditionFailed)
        }
        (_, State::Present(f)) => Ok(f),
        (Precondition::None, _) => Err(Outcome::NotFound),
        _ => Err(Outcome::PreconditionFailed),
    }
}

fn applied(current: &Fields, changes: &Changes) -> Fields {
    Fields {
        name: changes.name.clone().unwrap_or_else(|| current.name.clone()),
        email: changes
            .email
            .clone()
            .unwrap_or_else(|| current.email.clone()),
        age: changes.age.unwrap_or(current.age),
        version: current.version + 1,
    }
}

/// The states `step` can lead to from `state`; none when it cannot happen there.
///
/// An indeterminate write offers only its effect: "it never happened" is the search leaving it
/// out ([`linearizable`] is done once every answered call is placed), which is never worse than
/// placing it as a no-op and keeps its no-op from doubling the states searched.
fn next_states(state: &State, step: &Step) -> Vec<State> {
    match step {
        Step::Read(seen) => match (seen, state) {
            (Some(seen), State::Present(f)) if seen == f => vec![state.clone()],
            (None, State::NotYet | State::Deleted) => vec![state.clone()],
            _ => vec![],
        },
        Step::Create {
            name,
            email,
            age,
            keyed,
            answer,
        } => {
            let made = Fields {
                name: name.clone(),
                email: email.clone(),
                age: *age,
                version: 1,
            };
            match (answer, state) {
                (None, State::NotYet) => vec![State::Present(made)],
                (Some(Some(f)), State::NotYet) if *f == made => vec![State::Present(made)],
                // A replay answers the user as it is now.
                (Some(Some(f)), State::Present(now)) if *keyed && f == now => vec![state.clone()],
                (Some(None), State::Deleted) if *keyed => vec![state.clone()],
                _ => vec![],
            }
        }
        Step::Update {
            changes,
            precondition,
            answer,
        } => {
            let allowed = holds(*precondition, state);
            match (answer, allowed) {
                (Outcome::Indeterminate, Ok(f)) => vec![State::Present(applied(f, changes))],
                (Outcome::Done(Some(seen)), Ok(f)) if *seen == applied(f, changes) => {
                    vec![State::Present(seen.clone())]
                }
                // Taken by someone else: only if the address is another than the user's own
                // (the checks across users decide whether someone could hold it).
                (Outcome::EmailTaken, Ok(f)) => match &changes.email {
                    Some(e) if email_key(e) != email_key(&f.email) => vec![state.clone()],
                    _ => vec![],
                },
                (Outcome::NotFound, Err(Outcome::NotFound))
                | (Outcome::PreconditionFailed, Err(Outcome::PreconditionFailed)) => {
                    vec![state.clone()]
                }
                _ => vec![],
            }
        }
        Step::Delete {
            precondition,
            answer,
        } => match (answer, holds(*precondition, state)) {
            (Outcome::Indeterminate, Ok(_)) => vec![State::Deleted],
            (Outcome::Done(None), Ok(_)) => vec![State::Deleted],
            (Outcome::NotFound, Err(Outcome::NotFound))
            | (Outcome::PreconditionFailed, Err(Outcome::PreconditionFailed)) => {
                vec![state.clone()]
            }
            _ => vec![],
        },
    }
}

impl State {
    /// Where the state is in a user's life, which only moves forward: not yet made, then each
    /// version, then deleted.
    fn rank(&self) -> u64 {
        match self {
            State::NotYet => 0,
            State::Present(f) => f.version,
            State::Deleted => u64::MAX,
        }
    }
}

impl Step {
    /// The highest rank a state may have when this answered step takes effect (`u64::MAX`: no
    /// bound). A search that has moved past it can never place the step.
    fn ceiling(&self) -> u64 {
        match self {
            Step::Read(Some(f)) => f.version,
            Step::Create {
                answer: Some(Some(f)),
                ..
            } => f.version,
            Step::Update {
                answer: Outcome::Done(Some(f)),
                ..
            } => f.version.saturating_sub(1),
            Step::Delete {
                answer: Outcome::Done(_),
                ..
            } => u64::MAX - 1,
            _ => u64::MAX,
        }
    }
}

/// One call on one user, with its real-time interval.
#[derive(Debug, Clone)]
struct Op {
    invoked: u64,
    /// `u64::MAX`-like for indeterminate calls: the end of the run.
    completed: u64,
    step: Step,
    /// The event it came from, for the report.
    event: usize,
}

impl Op {
    /// Whether the op is a read (dropped when a failing history is shrunk, if it does not
    /// matter: dropping a read never makes a good history bad). Writes are kept, those that
    /// changed nothing too: they show what was asked.
    fn is_read(&self) -> bool {
        matches!(self.step, Step::Read(_))
    }

    /// Whether the call went unanswered: it may have taken effect any time after it was sent.
    fn is_indeterminate(&self) -> bool {
        matches!(
            self.step,
            Step::Create { answer: None, .. }
                | Step::Update {
                    answer: Outcome::Indeterminate,
                    ..
                }
                | Step::Delete {
                    answer: Outcome::Indeterminate,
                    ..
                }
        )
    }
}

/// The verdict of a search.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    Linearizable,
    NotLinearizable,
    /// The search was stopped at its budget.
    Undecided,
}

const SEARCH_BUDGET: u64 = 20_000_000;

/// Wing & Gong's search with Lowe's cache of (calls linearized, state) pairs, and the steps it
/// took (how close it came to its budget).
fn linearizable(ops: &[Op]) -> (Verdict, u64) {
    #[derive(Clone, Copy)]
    enum Entry {
        Call(usize),
        Return(usize),
    }
    let mut entries: Vec<(u64, u8, Entry)> = Vec::with_capacity(ops.len() * 2);
    for (i, op) in ops.iter().enumerate() {
        // At equal times a call sorts first: the two calls count as concurrent. An unanswered
        // call's return sorts after every other: the walk never has to place it.
        entries.push((op.invoked, 0, Entry::Call(i)));
        entries.push(match op.is_indeterminate() {
            false => (op.completed, 1, Entry::Return(i)),
            true => (u64::MAX, 2, Entry::Return(i)),
        });
    }
    entries.sort_by_key(|(time, order, _)| (*time, *order));
    let n = entries.len();
    // A doubly linked list over the entries, with a head at index n.
    let (mut next, mut prev) = (vec![0usize; n + 1], vec![0usize; n + 1]);
    let mut order = vec![n];
    order.extend(0..n);
    order.push(n);
    for w in order.windows(2) {
        next[w[0]] = w[1];
        prev[w[1]] = w[0];
    }
    let mut return_of = vec![0usize; ops.len()];
    for (index, (_, _, entry)) in entries.iter().enumerate() {
        if let Entry::Return(op) = entry {
            return_of[*op] = index;
        }
    }
    let lift = |next: &mut Vec<usize>, prev: &mut Vec<usize>, e: usize| {
        let (p, x) = (prev[e], next[e]);
        next[p] = x;
        prev[x] = p;
    };
    let unlift = |next: &mut Vec<usize>, prev: &mut Vec<usize>, e: usize| {
        let (p, x) = (prev[e], next[e]);
        next[p] = e;
        prev[x] = e;
    };
    let words = ops.len().div_ceil(64);
    let mut linearized = vec![0u64; words];
    let mut cache: HashSet<(Vec<u64>, State)> = HashSet::new();
    let mut stack: Vec<(usize, State, usize)> = Vec::new();
    let mut state = State::NotYet;
    let mut entry = next[n];
    let mut first_alternative = 0;
    let mut steps = 0u64;
    // The lowest ceiling of the answered calls other than `op` not yet placed: a state above it
    // leaves one of them with nowhere to go.
    let lowest_ceiling = |linearized: &[u64], op: usize| {
        ops.iter()
            .enumerate()
            .filter(|(i, other)| {
                *i != op && !other.is_indeterminate() && linearized[i / 64] & (1 << (i % 64)) == 0
            })
            .map(|(_, other)| other.step.ceiling())
            .min()
            .unwrap_or(u64::MAX)
    };
    // Answered calls not placed yet: when none is left, the unanswered rest never happened.
    let mut unplaced = ops.iter().filter(|op| !op.is_indeterminate()).count();
    while unplaced > 0 {
        steps += 1;
        if steps > SEARCH_BUDGET {
            return (Verdict::Undecided, steps);
        }
        if entry == n {
            // Cannot happen: a return always stops the walk first.
            return (Verdict::NotLinearizable, steps);
        }
        let dead_end = match entries[entry].2 {
            Entry::Call(op) => {
                let alternatives = next_states(&state, &ops[op].step);
                let mut chosen = None;
                let mut seen_before = false;
                for (k, candidate) in alternatives.into_iter().enumerate().skip(first_alternative) {
                    if candidate.rank() > lowest_ceiling(&linearized, op) {
                        continue;
                    }
                    let mut bits = linearized.clone();
                    bits[op / 64] |= 1 << (op % 64);
                    if cache.insert((bits.clone(), candidate.clone())) {
                        chosen = Some((k, candidate, bits));
                        break;
                    }
                    seen_before = true;
                }
                first_alternative = 0;
                match chosen {
                    Some((k, candidate, bits)) => {
                        stack.push((entry, std::mem::replace(&mut state, candidate), k));
                        linearized = bits;
                        unplaced -= usize::from(!ops[op].is_indeterminate());
                        lift(&mut next, &mut prev, entry);
                        lift(&mut next, &mut prev, return_of[op]);
                        entry = next[n];
                        false
                    }
                    // A read that fits the state but was placed here before, and failed: leaving
                    // it for later cannot do better (see below).
                    None if seen_before && ops[op].is_read() => true,
                    None => {
                        entry = next[entry];
                        false
                    }
                }
            }
            Entry::Return(_) => true,
        };
        if dead_end {
            // Undo the last placement and try its next alternative. A read is placed the moment
            // it fits and never left for later instead: it changes nothing, so any order that
            // places it later also works with it moved to that moment (everything that ended
            // before it began is already placed). Its placement is undone with the one before.
            loop {
                let Some((call, before, k)) = stack.pop() else {
                    return (Verdict::NotLinearizable, steps);
                };
                let Entry::Call(op) = entries[call].2 else {
                    unreachable!("only calls are stacked")
                };
                unlift(&mut next, &mut prev, return_of[op]);
                unlift(&mut next, &mut prev, call);
                linearized[op / 64] &= !(1 << (op % 64));
                unplaced += usize::from(!ops[op].is_indeterminate());
                state = before;
                if !ops[op].is_read() {
                    entry = call;
                    first_alternative = k + 1;
                    break;
                }
            }
        }
    }
    (Verdict::Linearizable, steps)
}

// ---------------------------------------------------------------------------------------------
// Building each user's history, and the checks across users.

/// Each user's ops, and the violations found while building them.
struct Split {
    per_user: BTreeMap<UserId, Vec<Op>>,
    problems: Vec<String>,
}

fn outcome(answer: &Answer) -> Option<Outcome> {
    Some(match answer {
        Answer::User(user) => Outcome::Done(Some(Fields::of(user))),
        Answer::Deleted => Outcome::Done(None),
        Answer::NotFound => Outcome::NotFound,
        Answer::PreconditionFailed => Outcome::PreconditionFailed,
        Answer::EmailTaken => Outcome::EmailTaken,
        Answer::Indeterminate(_) => Outcome::Indeterminate,
        _ => return None,
    })
}

fn split(history: &History) -> Split {
    let end = history.settled;
    let mut problems = Vec::new();
    let mut per_user: BTreeMap<UserId, Vec<Op>> = BTreeMap::new();
    // The user each create request made: by key, else by the unique name it was sent with.
    let mut made_by_key: HashMap<&str, UserId> = HashMap::new();
    let mut made_by_name: HashMap<&str, UserId> = HashMap::new();
    for (index, event) in history.events.iter().enumerate() {
        if let (Call::Create { key, name, .. }, Answer::User(user)) = (&event.call, &event.answer) {
            if let Some(key) = key
                && let Some(other) = made_by_key.insert(key, user.id)
                && other != user.id
            {
                problems.push(format!(
                    "event {index}: creates under idempotency key {key} answered users {other} and {}",
                    user.id
                ));
            }
            made_by_name.entry(name).or_insert(user.id);
        }
    }
    // Users seen but never answered to a create: made by an indeterminate create, found by name.
    let seen = history
        .final_users
        .iter()
        .chain(history.events.iter().flat_map(|e| match &e.answer {
            Answer::Page(page) => page.users.iter().collect::<Vec<_>>(),
            _ => Vec::new(),
        }));
    for user in seen {
        made_by_name.entry(&user.name).or_insert(user.id);
    }
    for (index, event) in history.events.iter().enumerate() {
        let completed = match event.answer {
            Answer::Indeterminate(_) => end,
            _ => event.completed,
        };
        let mut push = |id: UserId, step: Step| {
            per_user.entry(id).or_default().push(Op {
                invoked: event.invoked,
                completed,
                step,
                event: index,
            });
        };
        if let Answer::Wrong(message) = &event.answer {
            problems.push(format!(
                "event {index}: {:?} answered {message}",
                event.call
            ));
            continue;
        }
        if let Answer::IdempotencyKeyReused = &event.answer {
            problems.push(format!(
                "event {index}: {:?} answered idempotency_key_reused, though no key is reused",
                event.call
            ));
            continue;
        }
        match &event.call {
            Call::Create {
                name,
                email,
                age,
                key,
            } => {
                let id = key
                    .as_deref()
                    .and_then(|key| made_by_key.get(key))
                    .or_else(|| made_by_name.get(name.as_str()));
                let answer = match &event.answer {
                    Answer::User(user) => Some(Some(Fields::of(user))),
                    Answer::NotFound if key.is_some() => Some(None),
                    Answer::Indeterminate(_) => None,
                    Answer::EmailTaken => continue,
                    other => {
                        problems.push(format!("event {index}: a create answered {other:?}"));
                        continue;
                    }
                };
                if let Some(id) = id {
                    push(
                        *id,
                        Step::Create {
                            name: name.clone(),
                            email: email.clone(),
                            age: *age,
                            keyed: key.is_some(),
                            answer,
                        },
                    );
                }
            }
            Call::Get(id) => match &event.answer {
                Answer::User(user) => push(*id, Step::Read(Some(Fields::of(user)))),
                Answer::NotFound => push(*id, Step::Read(None)),
                _ => {}
            },
            // A user found is a read of that user, which must hold the address; a miss is
            // checked across users ([`email_problems`]).
            Call::Find(email) => {
                if let Answer::User(user) = &event.answer {
                    if email_key(&user.email) != email_key(email) {
                        problems.push(format!(
                            "event {index}: a find of {email} answered user {} holding {}",
                            user.id, user.email
                        ));
                    }
                    push(user.id, Step::Read(Some(Fields::of(user))));
                }
            }
            Call::Update {
                id,
                changes,
                precondition,
            } => {
                if let Some(answer) = outcome(&event.answer) {
                    push(
                        *id,
                        Step::Update {
                            changes: changes.clone(),
                            precondition: *precondition,
                            answer,
                        },
                    );
                }
            }
            Call::Delete { id, precondition } => {
                if let Some(answer) = outcome(&event.answer) {
                    push(
                        *id,
                        Step::Delete {
                            precondition: *precondition,
                            answer,
                        },
                    );
                }
            }
            Call::List { limit, after } => {
                let Answer::Page(page) = &event.answer else {
                    continue;
                };
                if page.users.len() > *limit as usize {
                    problems.push(format!(
                        "event {index}: a page of {} users for limit {limit}",
                        page.users.len()
                    ));
                }
                if page.users.windows(2).any(|w| w[0].id >= w[1].id) {
                    problems.push(format!("event {index}: a page out of id order"));
                }
                let low = after.map_or(0, UserId::get);
                let high = match (&page.next_cursor, page.users.last()) {
                    (Some(_), Some(last)) => last.id.get(),
                    (Some(_), None) => {
                        problems.push(format!("event {index}: an empty page with a cursor"));
                        continue;
                    }
                    (None, _) => u64::MAX,
                };
                let shown: HashSet<UserId> = page.users.iter().map(|u| u.id).collect();
                for user in &page.users {
                    if user.id.get() <= low {
                        problems.push(format!(
                            "event {index}: user {} listed after {low}",
                            user.id
                        ));
                    }
                    push(user.id, Step::Read(Some(Fields::of(user))));
                }
                let absent: Vec<UserId> = made_by_name
                    .values()
                    .copied()
                    .collect::<HashSet<_>>()
                    .into_iter()
                    .filter(|id| id.get() > low && id.get() <= high && !shown.contains(id))
                    .collect();
                for id in absent {
                    push(id, Step::Read(None));
                }
            }
        }
    }
    // The settled table is a read of every user, after everything.
    let after_all = end + 1;
    let listed: HashMap<UserId, &UserRecord> =
        history.final_users.iter().map(|u| (u.id, u)).collect();
    for (id, ops) in per_user.iter_mut() {
        ops.push(Op {
            invoked: after_all,
            completed: after_all + 1,
            step: Step::Read(listed.get(id).map(|u| Fields::of(u))),
            event: usize::MAX,
        });
    }
    for user in &history.final_users {
        if !per_user.contains_key(&user.id) {
            problems.push(format!(
                "user {} ({}) is in the table, and no call made it",
                user.id, user.name
            ));
        }
    }
    Split { per_user, problems }
}

/// The checks no single user's model can make: emails across users.
fn email_problems(history: &History, split: &Split) -> Vec<String> {
    let mut problems = Vec::new();
    let mut holders: HashMap<String, Vec<UserId>> = HashMap::new();
    for user in &history.final_users {
        holders
            .entry(email_key(&user.email))
            .or_default()
            .push(user.id);
    }
    for (email, ids) in holders {
        if ids.len() > 1 {
            problems.push(format!("the settled table gives {email} to users {ids:?}"));
        }
    }
    // When each user may hold each address: from each write that asked for it until a write that
    // surely moved away from it completed.
    struct Claim {
        from: u64,
        until: u64,
    }
    let mut claims: HashMap<(UserId, String), Vec<Claim>> = HashMap::new();
    for (id, ops) in &split.per_user {
        for op in ops {
            let (email, done) = match &op.step {
                Step::Create { email, answer, .. } => (email, answer.is_some()),
                Step::Update {
                    changes:
                        Changes {
                            email: Some(email), ..
                        },
                    answer,
                    ..
                } => match answer {
                    Outcome::Done(_) => (email, true),
                    Outcome::Indeterminate => (email, false),
                    _ => continue,
                },
                _ => continue,
            };
            let key = email_key(email);
            let start = op.invoked;
            // The earliest completed write after this one that surely moved the user away.
            let until = ops
                .iter()
                .filter(|later| done && later.invoked > op.completed)
                .filter(|later| match &later.step {
                    Step::Delete {
                        answer: Outcome::Done(_),
                        ..
                    } => true,
                    Step::Update {
                        answer: Outcome::Done(Some(f)),
                        ..
                    } => email_key(&f.email) != key,
                    _ => false,
                })
                .map(|later| later.completed)
                .min()
                .unwrap_or(u64::MAX);
            claims
                .entry((*id, key))
                .or_default()
                .push(Claim { from: start, until });
        }
    }
    let could_hold = |email: &str, not: Option<UserId>, invoked: u64, completed: u64| {
        let key = email_key(email);
        claims.iter().any(|((holder, k), spans)| {
            *k == key
                && Some(*holder) != not
                && spans
                    .iter()
                    .any(|span| span.from < completed && span.until > invoked)
        })
    };
    for (index, event) in history.events.iter().enumerate() {
        if let (Call::Find(email), Answer::NotFound) = (&event.call, &event.answer)
            && let Some(holder) = surely_held(split, email, event.invoked, event.completed)
        {
            problems.push(format!(
                "event {index}: {} answered 404, while user {holder} held {email} throughout",
                describe_call(&event.call)
            ));
        }
        if !matches!(event.answer, Answer::EmailTaken) {
            continue;
        }
        let (email, user) = match &event.call {
            Call::Create { email, .. } => (email, None),
            Call::Update {
                id,
                changes: Changes {
                    email: Some(email), ..
                },
                ..
            } => (email, Some(*id)),
            other => {
                problems.push(format!("event {index}: {other:?} answered email_taken"));
                continue;
            }
        };
        if !could_hold(email, user, event.invoked, event.completed) {
            problems.push(format!(
                "event {index}: {} answered 409 email_taken for {email}, which no other user could hold then",
                describe_call(&event.call)
            ));
        }
    }
    problems
}

/// A user that held `email` from before `invoked` until after `completed` whatever the order of
/// the calls: a write that surely gave it the address completed before `invoked`, and nothing
/// that could have taken it away (a move to another address, a delete, answered or not) may be
/// ordered between that write and `completed`.
fn surely_held(split: &Split, email: &str, invoked: u64, completed: u64) -> Option<UserId> {
    let key = email_key(email);
    let gave = |step: &Step| match step {
        Step::Create {
            answer: Some(Some(fields)),
            ..
        }
        | Step::Update {
            answer: Outcome::Done(Some(fields)),
            ..
        } => email_key(&fields.email) == key,
        _ => false,
    };
    let may_take = |step: &Step| match step {
        Step::Update {
            changes: Changes {
                email: Some(other), ..
            },
            answer: Outcome::Done(_) | Outcome::Indeterminate,
            ..
        } => email_key(other) != key,
        Step::Delete {
            answer: Outcome::Done(_) | Outcome::Indeterminate,
            ..
        } => true,
        _ => false,
    };
    split.per_user.iter().find_map(|(id, ops)| {
        ops.iter()
            .filter(|write| gave(&write.step) && write.completed < invoked)
            .any(|write| {
                !ops.iter().any(|other| {
                    other.event != write.event
                        && may_take(&other.step)
                        && other.completed > write.invoked
                        && other.invoked < completed
                })
            })
            .then_some(*id)
    })
}

/// Checks `history`; on failure, panics with every problem and the smallest failing history of
/// each user that is not linearizable.
pub fn check(history: &History) -> Summary {
    let split = split(history);
    let mut problems = split.problems.clone();
    problems.extend(email_problems(history, &split));
    let mut summary = Summary::default();
    for (id, ops) in &split.per_user {
        summary.users += 1;
        summary.ops += ops.len();
        let (verdict, steps) = linearizable(ops);
        summary.longest_search = summary.longest_search.max(steps);
        match verdict {
            Verdict::Linearizable => {}
            Verdict::Undecided => problems.push(format!(
                "user {id}: the search gave up after {SEARCH_BUDGET} steps on {} calls: make the run smaller",
                ops.len()
            )),
            Verdict::NotLinearizable => {
                let smallest = shrink(ops, history.settled);
                problems.push(format!(
                    "user {id}: no order of its {} calls explains every answer; the smallest failing history ({} calls):\n{}",
                    ops.len(),
                    smallest.len(),
                    render(&smallest, history)
                ));
            }
        }
    }
    for event in &history.events {
        match event.answer {
            Answer::Indeterminate(_) => summary.indeterminate += 1,
            Answer::EmailTaken => summary.email_taken += 1,
            _ => {}
        }
        if let (Call::Find(_), Answer::NotFound) = (&event.call, &event.answer) {
            summary.finds_missed += 1;
        }
    }
    summary.calls = history.events.len();
    summary.problems = problems;
    summary
}

/// What a check saw.
#[derive(Debug, Default)]
pub struct Summary {
    pub calls: usize,
    pub users: usize,
    pub ops: usize,
    pub indeterminate: usize,
    pub email_taken: usize,
    /// Finds by email answered 404, each checked against the users that surely held the address.
    pub finds_missed: usize,
    /// The most steps one user's search took (its budget is `SEARCH_BUDGET`).
    pub longest_search: u64,
    pub problems: Vec<String>,
}

impl Summary {
    /// Panics with the problems, if there are any.
    pub fn assert_none(&self, what: &str) {
        eprintln!(
            "{what}: {} calls, {} users, {} per-user ops, {} indeterminate, {} email_taken, {} finds missed, longest search {} steps",
            self.calls,
            self.users,
            self.ops,
            self.indeterminate,
            self.email_taken,
            self.finds_missed,
            self.longest_search
        );
        assert!(
            self.problems.is_empty(),
            "{what}: {} problem(s) in the history:\n\n{}",
            self.problems.len(),
            self.problems.join("\n\n")
        );
    }
}

/// The shortest failing prefix of `ops` (calls still running at its end made indeterminate),
/// then without the reads that do not matter to the failure.
fn shrink(ops: &[Op], settled: u64) -> Vec<Op> {
    let mut sorted = ops.to_vec();
    sorted.sort_by_key(|op| op.invoked);
    let prefix = |k: usize| -> Vec<Op> {
        let cut = sorted[k - 1].invoked;
        sorted[..k]
            .iter()
            .filter_map(|op| {
                let mut op = op.clone();
                if op.completed > cut && k < sorted.len() {
                    op.completed = settled;
                    match &mut op.step {
                        Step::Read(_) => return None,
                        Step::Create { answer, .. } => *answer = None,
                        Step::Update { answer, .. } | Step::Delete { answer, .. } => {
                            *answer = Outcome::Indeterminate
                        }
                    }
                }
                Some(op)
            })
            .collect()
    };
    let (mut low, mut high) = (1, sorted.len());
    while low < high {
        let mid = (low + high) / 2;
        if linearizable(&prefix(mid)).0 == Verdict::NotLinearizable {
            high = mid;
        } else {
            low = mid + 1;
        }
    }
    let mut smallest = prefix(high);
    let mut i = 0;
    while i < smallest.len() {
        if smallest[i].is_read() {
            let mut without = smallest.clone();
            without.remove(i);
            if linearizable(&without).0 == Verdict::NotLinearizable {
                smallest = without;
                continue;
            }
        }
        i += 1;
    }
    smallest
}

fn describe_call(call: &Call) -> String {
    let precondition = |p: &Precondition| match p {
        Precondition::None => String::new(),
        Precondition::Exists => " If-Match: *".to_owned(),
        Precondition::Version(v) => format!(" If-Match: \"{v}\""),
    };
    match call {
        Call::Create {
            name,
            email,
            age,
            key,
        } => format!(
            "POST /users {{\"name\":\"{name}\",\"email\":\"{email}\",\"age\":{age}}}{}",
            key.as_ref()
                .map(|k| format!(" Idempotency-Key: {k}"))
                .unwrap_or_default()
        ),
        Call::Get(id) => format!("GET /users/{id}"),
        Call::Update {
            id,
            changes,
            precondition: p,
        } => {
            let mut body = Vec::new();
            if let Some(name) = &changes.name {
                body.push(format!("\"name\":\"{name}\""));
            }
            if let Some(email) = &changes.email {
                body.push(format!("\"email\":\"{email}\""));
            }
            if let Some(age) = changes.age {
                body.push(format!("\"age\":{age}"));
            }
            format!(
                "PATCH /users/{id} {{{}}}{}",
                body.join(","),
                precondition(p)
            )
        }
        Call::Delete {
            id,
            precondition: p,
        } => format!("DELETE /users/{id}{}", precondition(p)),
        Call::List { limit, after } => format!(
            "GET /users?limit={limit}{}",
            after.map(|a| format!(" (after {a})")).unwrap_or_default()
        ),
        Call::Find(email) => format!("POST /users/find {{\"email\":\"{email}\"}}"),
    }
}

fn describe_answer(answer: &Answer) -> String {
    let user = |u: &UserRecord| {
        format!(
            "{{id {}, v{}, {:?}, {:?}, age {}}}",
            u.id,
            u.version.unwrap_or(0),
            u.name,
            u.email,
            u.age
        )
    };
    match answer {
        Answer::User(u) => format!("200 {}", user(u)),
        Answer::Deleted => "204".to_owned(),
        Answer::Page(page) => format!(
            "200 [{}]{}",
            page.users.iter().map(user).collect::<Vec<_>>().join(", "),
            if page.next_cursor.is_some() {
                " +more"
            } else {
                ""
            }
        ),
        Answer::NotFound => "404 user_not_found".to_owned(),
        Answer::EmailTaken => "409 email_taken".to_owned(),
        Answer::PreconditionFailed => "412 precondition_failed".to_owned(),
        Answer::IdempotencyKeyReused => "422 idempotency_key_reused".to_owned(),
        Answer::Indeterminate(why) => format!("503 (indeterminate: {why})"),
        Answer::Wrong(why) => format!("WRONG {why}"),
    }
}

fn render(ops: &[Op], history: &History) -> String {
    let mut out = String::new();
    let ms = |ns: u64| ns as f64 / 1e6;
    for op in ops {
        if op.event == usize::MAX {
            let _ = writeln!(out, "  [settled]  the final listing: {:?}", op.step);
            continue;
        }
        let event = &history.events[op.event];
        let counted = if op.completed == history.settled
            && !matches!(event.answer, Answer::Indeterminate(_))
        {
            "  (still running at the cut: counted as indeterminate)"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "  {:>10.3} .. {:>10.3} ms  client {}  {}  ->  {}{counted}",
            ms(event.invoked),
            ms(event.completed),
            event.client,
            describe_call(&event.call),
            describe_answer(&event.answer)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: u64, version: u64, age: u8) -> UserRecord {
        UserRecord {
            id: UserId::new(id).unwrap(),
            name: "a".into(),
            email: "a@example.com".into(),
            age,
            version: Some(version),
        }
    }

    fn event(call: Call, answer: Answer, invoked: u64, completed: u64) -> Event {
        Event {
            client: 1,
            call,
            answer,
            invoked,
            completed,
        }
    }

    fn create() -> Event {
        event(
            Call::Create {
                name: "a".into(),
                email: "a@example.com".into(),
                age: 30,
                key: None,
            },
            Answer::User(user(1, 1, 30)),
            0,
            1,
        )
    }

    fn age(to: u8) -> Call {
        Call::Update {
            id: UserId::new(1).unwrap(),
            changes: Changes {
                age: Some(to),
                ..Changes::default()
            },
            precondition: Precondition::None,
        }
    }

    fn history(events: Vec<Event>, final_users: Vec<UserRecord>) -> History {
        History {
            events,
            settled: 1_000,
            final_users,
        }
    }

    #[test]
    fn a_sequential_history_that_adds_up_is_linearizable() {
        let h = history(
            vec![
                create(),
                event(age(40), Answer::User(user(1, 2, 40)), 2, 3),
                event(
                    Call::Get(UserId::new(1).unwrap()),
                    Answer::User(user(1, 2, 40)),
                    4,
                    5,
                ),
            ],
            vec![user(1, 2, 40)],
        );
        assert!(check(&h).problems.is_empty(), "{:?}", check(&h).problems);
    }

    #[test]
    fn an_update_applied_twice_over_a_later_one_is_found() {
        // The lost update of the issue: 32 at v2, 19 at v3, then 32 again at v4.
        let h = history(
            vec![
                create(),
                event(age(32), Answer::User(user(1, 2, 32)), 2, 3),
                event(age(19), Answer::User(user(1, 3, 19)), 4, 5),
            ],
            vec![user(1, 4, 32)],
        );
        let summary = check(&h);
        assert_eq!(summary.problems.len(), 1, "{:?}", summary.problems);
        assert!(summary.problems[0].contains("no order"));
    }

    #[test]
    fn an_indeterminate_update_may_or_may_not_have_happened() {
        for final_age in [30, 50] {
            let version = if final_age == 50 { 2 } else { 1 };
            let h = history(
                vec![
                    create(),
                    event(age(50), Answer::Indeterminate("503".into()), 2, 3),
                ],
                vec![user(1, version, final_age)],
            );
            assert!(check(&h).problems.is_empty(), "{:?}", check(&h).problems);
        }
    }

    #[test]
    fn unanswered_writes_do_not_make_the_search_try_every_subset() {
        // Fourteen unanswered updates, then the user as none of them (or only the sixth) left it.
        // A search that tried each subset of them took over a million steps here.
        for (version, final_age) in [(1, 30), (2, 46)] {
            let mut events = vec![create()];
            events.extend((0..14).map(|k| {
                event(
                    age(41 + k as u8),
                    Answer::Indeterminate("503".into()),
                    2 + k,
                    3 + k,
                )
            }));
            let summary = check(&history(events, vec![user(1, version, final_age)]));
            assert!(summary.problems.is_empty(), "{:?}", summary.problems);
            assert!(
                summary.longest_search < 1_000,
                "{} steps",
                summary.longest_search
            );
        }
    }

    #[test]
    fn a_read_of_a_state_that_never_was_is_found() {
        let h = history(
            vec![
                create(),
                event(
                    Call::Get(UserId::new(1).unwrap()),
                    Answer::User(user(1, 1, 31)),
                    2,
                    3,
                ),
            ],
            vec![user(1, 1, 30)],
        );
        assert_eq!(check(&h).problems.len(), 1);
    }

    #[test]
    fn concurrent_calls_may_take_effect_in_either_order() {
        // Two concurrent updates, a read between them in real time of the second's result.
        let h = history(
            vec![
                create(),
                event(age(40), Answer::User(user(1, 3, 40)), 2, 10),
                event(age(41), Answer::User(user(1, 2, 41)), 3, 9),
                event(
                    Call::Get(UserId::new(1).unwrap()),
                    Answer::User(user(1, 3, 40)),
                    11,
                    12,
                ),
            ],
            vec![user(1, 3, 40)],
        );
        assert!(check(&h).problems.is_empty(), "{:?}", check(&h).problems);
    }

    #[test]
    fn a_409_for_an_address_no_one_else_asked_for_is_found() {
        let id = UserId::new(1).unwrap();
        let call = Call::Update {
            id,
            changes: Changes {
                email: Some(private_email(id, "x")),
                ..Changes::default()
            },
            precondition: Precondition::None,
        };
        let h = history(
            vec![create(), event(call, Answer::EmailTaken, 2, 3)],
            vec![user(1, 1, 30)],
        );
        let summary = check(&h);
        assert_eq!(summary.problems.len(), 1, "{:?}", summary.problems);
        assert!(summary.problems[0].contains("no other user could hold"));
    }

    fn find(email: &str, answer: Answer, invoked: u64, completed: u64) -> Event {
        event(Call::Find(email.into()), answer, invoked, completed)
    }

    #[test]
    fn a_find_that_misses_an_address_surely_held_is_found() {
        let h = history(
            vec![create(), find("A@example.com", Answer::NotFound, 2, 3)],
            vec![user(1, 1, 30)],
        );
        let summary = check(&h);
        assert_eq!(summary.problems.len(), 1, "{:?}", summary.problems);
        assert!(summary.problems[0].contains("held A@example.com throughout"));
    }

    #[test]
    fn a_find_may_miss_an_address_its_holder_is_moving_away_from() {
        let id = UserId::new(1).unwrap();
        let moved = UserRecord {
            email: "b@example.com".into(),
            ..user(1, 2, 30)
        };
        let call = Call::Update {
            id,
            changes: Changes {
                email: Some("b@example.com".into()),
                ..Changes::default()
            },
            precondition: Precondition::None,
        };
        let h = history(
            vec![
                create(),
                event(call, Answer::User(moved.clone()), 2, 5),
                find("a@example.com", Answer::NotFound, 3, 4),
            ],
            vec![moved],
        );
        check(&h).assert_none("a find during the move");
    }

    #[test]
    fn a_find_that_answers_someone_else_or_a_state_that_never_was_is_found() {
        let wrong_address = history(
            vec![
                create(),
                find("z@example.com", Answer::User(user(1, 1, 30)), 2, 3),
            ],
            vec![user(1, 1, 30)],
        );
        let summary = check(&wrong_address);
        assert!(
            summary
                .problems
                .iter()
                .any(|p| p.contains("holding a@example.com")),
            "{:?}",
            summary.problems
        );
        let never_was = history(
            vec![
                create(),
                find("a@example.com", Answer::User(user(1, 1, 99)), 2, 3),
            ],
            vec![user(1, 1, 30)],
        );
        assert_eq!(check(&never_was).problems.len(), 1);
    }
}
