//! A hop between a client and a server that loses answers on purpose, as a network does: for the
//! first requests of the kinds a test names, it forwards the request whole, lets the server answer
//! (so the server has acted on it), and then drops the answer (closing the client's connection) or
//! holds it back for a while. Everything else passes through.
//!
//! A request's kind is its DynamoDB operation (`TransactWriteItems`, from `X-Amz-Target`), or else
//! its method and path (`POST /users`).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::proxy::{self, exchange, kind_of, read_http_message};

/// What happens to one answer.
#[derive(Debug, Clone, Copy)]
pub enum Loss {
    /// The client's connection is closed instead.
    Drop,
    /// The answer is sent after this long (by when the client has usually given up on it).
    Delay(Duration),
    /// The answer is held until [`LossyHop::release_held`] (at once, from then on).
    UntilReleased,
}

/// Lose the answers to the first `count` requests of `kind`, as `loss` says.
#[derive(Debug, Clone)]
pub struct Rule {
    pub kind: &'static str,
    pub count: usize,
    pub loss: Loss,
}

/// Lose the answers to about one in `one_in` requests of the kinds named, at random from `seed`:
/// a network that keeps losing answers for a whole run.
#[derive(Debug, Clone)]
pub struct RandomLoss {
    pub kinds: Vec<&'static str>,
    pub one_in: u32,
    pub loss: Loss,
    pub seed: u64,
}

#[derive(Default)]
struct State {
    rules: Vec<Rule>,
    random: Option<(RandomLoss, fastrand::Rng)>,
    /// Requests forwarded so far, by kind.
    seen: HashMap<String, usize>,
    /// Answers lost so far, by kind.
    lost: HashMap<String, usize>,
    /// Requests forwarded and not yet answered (or dropped), and the most there ever were.
    in_flight: usize,
    most_in_flight: usize,
}

/// A running hop on a loopback port; it stops with the test process.
#[derive(Clone)]
pub struct LossyHop {
    address: SocketAddr,
    state: Arc<Mutex<State>>,
    /// Open once the answers held [`Loss::UntilReleased`] may go.
    released: Arc<tokio::sync::watch::Sender<bool>>,
}

impl LossyHop {
    /// A hop in front of `upstream` (`host:port`) losing answers by `rules`.
    pub async fn start(upstream: &str, rules: Vec<Rule>) -> Self {
        let state = Arc::new(Mutex::new(State {
            rules,
            ..State::default()
        }));
        let released = Arc::new(tokio::sync::watch::Sender::new(false));
        let make = |address| Self {
            address,
            state,
            released,
        };
        proxy::start(
            upstream,
            make,
            |hop: Self, downstream, upstream| async move { hop.serve(downstream, &upstream).await },
        )
        .await
    }

    /// The hop's URL.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.address)
    }

    /// How many requests of `kind` it forwarded.
    pub fn seen(&self, kind: &str) -> usize {
        self.state
            .lock()
            .unwrap()
            .seen
            .get(kind)
            .copied()
            .unwrap_or(0)
    }

    /// How many answers to requests of `kind` it lost.
    pub fn lost(&self, kind: &str) -> usize {
        self.state
            .lock()
            .unwrap()
            .lost
            .get(kind)
            .copied()
            .unwrap_or(0)
    }

    /// The most requests it ever held at once between forwarding them and answering: how many
    /// calls the client had in flight.
    pub fn most_in_flight(&self) -> usize {
        self.state.lock().unwrap().most_in_flight
    }

    /// Lets every answer held [`Loss::UntilReleased`] go, and those held from now on at once.
    pub fn release_held(&self) {
        self.released.send_replace(true);
    }

    /// Replaces the rules (what was lost and seen so far stays counted).
    pub fn set_rules(&self, rules: Vec<Rule>) {
        self.state.lock().unwrap().rules = rules;
    }

    /// Loses answers at random from now on, as `loss` says (beside the counted rules).
    pub fn set_random_loss(&self, loss: RandomLoss) {
        let rng = fastrand::Rng::with_seed(loss.seed);
        self.state.lock().unwrap().random = Some((loss, rng));
    }

    /// Forwards each request on a client connection over a connection of its own to `upstream`.
    async fn serve(&self, mut downstream: TcpStream, upstream: &str) {
        while let Some(request) = read_http_message(&mut downstream).await {
            let kind = kind_of(&request);
            let _held = Held::new(&self.state);
            let Some(answer) = exchange(upstream, &request).await else {
                return;
            };
            match self.loss_for(&kind) {
                Some(Loss::Drop) => return,
                Some(Loss::Delay(delay)) => {
                    tokio::time::sleep(delay).await;
                    let _ = downstream.write_all(&answer).await;
                    return;
                }
                Some(Loss::UntilReleased) => {
                    let _ = self.released.subscribe().wait_for(|open| *open).await;
                    let _ = downstream.write_all(&answer).await;
                    return;
                }
                None => {
                    if downstream.write_all(&answer).await.is_err() {
                        return;
                    }
                }
            }
        }
    }

    /// Counts a forwarded request of `kind` and says what happens to its answer.
    fn loss_for(&self, kind: &str) -> Option<Loss> {
        let mut state = self.state.lock().unwrap();
        *state.seen.entry(kind.to_owned()).or_default() += 1;
        let counted = state
            .rules
            .iter_mut()
            .find(|rule| rule.kind == kind && rule.count > 0)
            .map(|rule| {
                rule.count -= 1;
                rule.loss
            });
        let loss = counted.or_else(|| {
            let (random, rng) = state.random.as_mut()?;
            (random.kinds.contains(&kind) && rng.u32(..random.one_in) == 0).then_some(random.loss)
        })?;
        *state.lost.entry(kind.to_owned()).or_default() += 1;
        Some(loss)
    }
}

/// One request between being read and being answered, counted in [`State::in_flight`].
struct Held<'a>(&'a Mutex<State>);

impl<'a> Held<'a> {
    fn new(state: &'a Mutex<State>) -> Self {
        let mut counts = state.lock().unwrap();
        counts.in_flight += 1;
        counts.most_in_flight = counts.most_in_flight.max(counts.in_flight);
        Self(state)
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.0.lock().unwrap().in_flight -= 1;
    }
}
