//! Sends statements in multi-statement requests, several requests at once,
//! and gets every statement its own answer however the server reports a
//! failure in the middle of a request.

use std::{panic, sync::Arc};

use tokio::task::JoinSet;

use super::{
    client::Http,
    response::{Answer, Outcome, Series},
};
use crate::source::SourceError;

pub(super) type StatementResult = Result<Vec<Series>, SourceError>;

/// Statements for one database.
#[derive(Debug)]
pub(super) struct Job {
    pub database: String,
    pub statements: Vec<String>,
}

/// Answers every statement of every job, in the jobs' order. Each request
/// carries up to `per_request` statements of one job; requests run
/// concurrently, as many at once as `http` allows.
///
/// InfluxDB runs the statements of one request one after another, so a
/// batch is cut into at least as many requests as may be in flight: 90
/// statements with 8 in flight go as 8 requests of 12, not one of 90.
pub(super) async fn run(
    http: &Arc<Http>,
    jobs: Vec<Job>,
    per_request: usize,
) -> Vec<Vec<StatementResult>> {
    let total: usize = jobs.iter().map(|job| job.statements.len()).sum();
    let per_request = total
        .div_ceil(http.max_concurrency())
        .clamp(1, per_request.max(1));
    let mut answers: Vec<Vec<Option<StatementResult>>> = jobs
        .iter()
        .map(|job| job.statements.iter().map(|_| None).collect())
        .collect();
    tracing::debug!(statements = total, per_request, "sending statements");
    let mut requests = JoinSet::new();
    for (job_index, job) in jobs.into_iter().enumerate() {
        let database: Arc<str> = job.database.into();
        let mut statements = job.statements.into_iter().enumerate();
        loop {
            let (indices, texts): (Vec<usize>, Vec<String>) =
                statements.by_ref().take(per_request).unzip();
            if texts.is_empty() {
                break;
            }
            let http = Arc::clone(http);
            let database = Arc::clone(&database);
            requests.spawn(async move {
                let results = request(&http, &database, texts).await;
                (job_index, indices, results)
            });
        }
    }
    while let Some(joined) = requests.join_next().await {
        match joined {
            Ok((job_index, indices, results)) => {
                let Some(slots) = answers.get_mut(job_index) else {
                    continue;
                };
                for (index, result) in indices.into_iter().zip(results) {
                    if let Some(slot) = slots.get_mut(index) {
                        *slot = Some(result);
                    }
                }
            }
            // A panic in a request is a bug here; let it surface as one.
            Err(error) => {
                if let Ok(payload) = error.try_into_panic() {
                    panic::resume_unwind(payload);
                }
            }
        }
    }
    answers
        .into_iter()
        .map(|slots| {
            slots
                .into_iter()
                .map(|slot| {
                    slot.unwrap_or_else(|| {
                        Err(SourceError::Protocol(
                            "a statement went unanswered".to_owned(),
                        ))
                    })
                })
                .collect()
        })
        .collect()
}

/// Sends `texts` to `database` in one request, and again for the statements
/// a failure left unanswered, until each has its own result.
///
/// InfluxDB 1.x stops at the first failing statement and answers it and all
/// later ones with "not executed" (1.6 even hides the real error), so a
/// request with one bad statement comes back in three parts: the good ones
/// before it, the bad one (sent alone to learn its error), the rest. A
/// request refused as a whole (a parse error) is sent again one statement
/// at a time. Each round answers at least one statement, so a request of
/// `n` statements takes at most `2n + 1` exchanges.
async fn request(http: &Http, database: &str, texts: Vec<String>) -> Vec<StatementResult> {
    let mut results: Vec<Option<StatementResult>> = texts.iter().map(|_| None).collect();
    let mut pending: Vec<usize> = (0..texts.len()).collect();
    let mut one_at_a_time = false;
    let mut isolate_first = false;
    while !pending.is_empty() {
        let take = if one_at_a_time || isolate_first {
            1
        } else {
            pending.len()
        };
        isolate_first = false;
        let sent: Vec<usize> = pending.drain(..take).collect();
        let text = join(&texts, &sent);
        let mut unanswered = Vec::new();
        match http.query(database, &text, sent.len()).await {
            // Transport, authentication and server errors hold for the
            // whole request, and would for the rest of its statements.
            Err(error) => {
                for index in sent.iter().chain(&pending) {
                    results[*index] = Some(Err(error.clone()));
                }
                pending.clear();
            }
            Ok(Answer::Rejected(message)) => match sent.as_slice() {
                [only] => results[*only] = Some(Err(SourceError::Refused(message))),
                _ => {
                    one_at_a_time = true;
                    unanswered = sent;
                }
            },
            Ok(Answer::Statements(outcomes)) => {
                let mut database_missing = None;
                for (index, outcome) in sent.iter().zip(outcomes) {
                    match outcome {
                        Outcome::Done(result) => {
                            if let Err(error @ SourceError::Refused(message)) = &result
                                && message.starts_with("database not found")
                            {
                                database_missing = Some(error.clone());
                            }
                            results[*index] = Some(result);
                        }
                        Outcome::NotExecuted => unanswered.push(*index),
                    }
                }
                if let Some(failure) = database_missing {
                    // The database is per request: every statement still
                    // waiting fails the same way, and need not be sent again
                    // to learn it.
                    for waiting in unanswered.drain(..).chain(pending.drain(..)) {
                        results[waiting] = Some(Err(failure.clone()));
                    }
                } else if unanswered.len() == sent.len() {
                    if let [only] = sent.as_slice() {
                        results[*only] = Some(Err(SourceError::Refused("not executed".to_owned())));
                        unanswered.clear();
                    } else {
                        // The first statement failed: ask it alone.
                        isolate_first = true;
                    }
                }
            }
        }
        unanswered.append(&mut pending);
        pending = unanswered;
    }
    results
        .into_iter()
        .map(|result| {
            result.unwrap_or_else(|| {
                Err(SourceError::Protocol(
                    "a statement went unanswered".to_owned(),
                ))
            })
        })
        .collect()
}

fn join(texts: &[String], indices: &[usize]) -> String {
    let len = indices.iter().map(|&i| texts[i].len() + 1).sum();
    let mut out = String::with_capacity(len);
    for (n, &i) in indices.iter().enumerate() {
        if n > 0 {
            out.push(';');
        }
        out.push_str(&texts[i]);
    }
    out
}
